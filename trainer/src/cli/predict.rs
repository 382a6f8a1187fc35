//! `trainer predict`: options and implementation in [`trainer::predict`].

pub use trainer::predict::{PredictOptions as Options, run};
