//! `trainer calibrate`: options and implementation in [`trainer::calibrate`] (recipes run it too).

pub use trainer::eval::calibrate::{CalibrateOptions as Options, run};
