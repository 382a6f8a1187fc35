//! `trainer predict`: options and implementation in [`trainer::predict`].

pub use trainer::inference::predict::{PredictOptions as Options, run};
