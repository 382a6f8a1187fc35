//! `trainer export`: options and implementation in [`trainer::train::export`].

pub use trainer::train::export::{ExportOptions as Options, run};
