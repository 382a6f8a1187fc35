//! What can go wrong decoding a GIF.

use ::gif::DecodingError;

/// Why a GIF could not be decoded; `Display` gives a one-line message for users.
#[derive(Debug, thiserror::Error)]
// Each variant's fields are named in its #[error] message and its doc line.
#[allow(missing_docs)]
pub enum GifError {
    /// The file does not start with a GIF signature.
    #[error("not a GIF file (bad signature)")]
    NotAGif,
    /// The file, or one image's pixel data, ends early (Pillow refuses such files too).
    #[error("GIF data is truncated: the file or an image's data ends too early")]
    Truncated,
    /// The `gif` crate rejected the stream (bad LZW data, malformed blocks, ...).
    #[error("GIF data is truncated or corrupt: {source}")]
    Corrupt {
        #[source]
        source: DecodingError,
    },
    /// A zero-area canvas or frame rectangle (`what` names it).
    #[error("{what} has no pixels")]
    Empty { what: String },
    /// A `DecodeLimits` bound was exceeded: `what` names the item, `actual` and `limit` are in `unit`.
    #[error("{what} exceeds the limit of {limit} {unit}")]
    TooLarge { what: String, limit: u64, actual: u64, unit: &'static str },
    /// A valid GIF stream without a single image.
    #[error("GIF contains no frames")]
    NoFrames,
}

impl From<DecodingError> for GifError {
    fn from(err: DecodingError) -> Self {
        match err {
            DecodingError::UnexpectedEof => Self::Truncated,
            source => Self::Corrupt { source },
        }
    }
}
