//! `trainer bench`: options and implementation in [`trainer::bench`].

pub use trainer::inference::bench::{BenchOptions as Options, run};
