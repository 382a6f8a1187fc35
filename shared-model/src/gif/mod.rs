//! GIF files: decoding into composited RGBA frames as Pillow shows them ([`decode`]), within
//! limits a caller sets ([`DecodeLimits`]).

mod decode;

pub use decode::{DecodeLimits, DecodedGif, GifError, GifFrame, decode_gif};
