//! `trainer train`: its options are the library's [`trainer::train::TrainOptions`], which
//! `training.json` records and recipes set.

pub use trainer::train::{TrainOptions as Options, run};
