//! Sampled frames into model input: alpha over a fixed grey, area-resampling to a square and
//! per-channel normalisation (`prepare.rs`), and the closer look cropped from prepared frames
//! around where a question looked ([`zoom`]).

mod prepare;
pub mod zoom;

pub use prepare::{PreparedClip, PreprocessConfig, gather_clip, normalise, prepare_clip, resize_rgba, time_buckets};
