//! `trainer demo`: options and implementation in [`trainer::demo`].

pub use trainer::inference::demo::{DemoOptions as Options, run};
