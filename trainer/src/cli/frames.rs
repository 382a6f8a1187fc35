//! `trainer frames`: options and implementation in [`trainer::frames`].

pub use trainer::frames::{FramesOptions as Options, run};
