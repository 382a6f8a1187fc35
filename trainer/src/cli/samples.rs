//! `trainer samples`: options and implementation in [`trainer::samples`].

pub use trainer::samples::{SamplesOptions as Options, run};
