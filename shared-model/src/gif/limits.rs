//! Bounds on what a GIF file may make the decoder allocate.

use super::error::GifError;

/// Hard limits checked before anything large is allocated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeLimits {
    /// Largest logical screen (and largest single frame rectangle), in pixels.
    pub max_canvas_pixels: u64,
    /// Largest number of frames.
    pub max_frames: usize,
    /// Largest total size of the decoded RGBA frames, in bytes.
    pub max_total_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self { max_canvas_pixels: 4096 * 4096, max_frames: 4000, max_total_bytes: 1 << 30 }
    }
}

/// `Err(TooLarge)` when `actual > limit`; `what` is only formatted on failure.
pub(super) fn check(
    what: impl FnOnce() -> String,
    actual: u64,
    limit: u64,
    unit: &'static str,
) -> Result<(), GifError> {
    if actual > limit {
        return Err(GifError::TooLarge { what: what(), limit, actual, unit });
    }
    Ok(())
}
