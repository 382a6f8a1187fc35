//! `trainer pretrain`: its options are recorded in `pretrain.json`, so they live with the
//! implementation in [`trainer::pretrain`].

pub use trainer::pretrain::{PretrainOptions as Options, run};
