//! `trainer demo`: options and implementation in [`trainer::demo`].

pub use trainer::demo::{DemoOptions as Options, run};
