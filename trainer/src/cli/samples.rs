//! `trainer samples`: options and implementation in [`trainer::samples`].

pub use trainer::generate::samples::{SamplesOptions as Options, run};
