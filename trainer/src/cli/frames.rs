//! `trainer frames`: options and implementation in [`trainer::frames`].

pub use trainer::inference::frames::{FramesOptions as Options, run};
