//! `trainer export`: options and implementation in [`trainer::export`].

pub use trainer::export::{ExportOptions as Options, run};
