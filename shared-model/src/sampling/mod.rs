//! Which frames the model sees: the GIF's time line and the strategies that pick times on it
//! (`timeline.rs`), and CLIP-Cut's question-conditioned choice among a pool of them ([`clipcut`]).

pub mod clipcut;
mod timeline;

pub use timeline::{
    CLIPCUT_DEFAULT_K, DEFAULT_DELAY_MS, FrameSource, MIN_DELAY_MS, SampledFrame, SamplingError, SamplingStrategy,
    Timeline, clipcut_pool, seed_of,
};
