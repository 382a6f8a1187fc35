//! GIF files: decoding into composited RGBA frames as Pillow shows them ([`decode_gif`];
//! `canvas.rs` composites), within limits a caller sets ([`DecodeLimits`], `limits.rs`).

mod canvas;
mod decode;
mod error;
mod limits;

pub use decode::{DecodedGif, GifFrame, decode_gif};
pub use error::GifError;
pub use limits::DecodeLimits;
