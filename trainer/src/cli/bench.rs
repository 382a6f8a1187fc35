//! `trainer bench`: options and implementation in [`trainer::bench`].

pub use trainer::bench::{BenchOptions as Options, run};
