//! Animated-GIF decoding into fully composited RGBA frames, matching Pillow.
//!
//! The `gif` crate parses the stream and undoes the LZW compression (we ask it for palette
//! indices); this module composites the frames itself, because the training data's reference
//! decodes (`shared/data/reference-decodes.json`, made by `shared/tools/gif_reference.py`) come
//! from Pillow (>= 10, default `LoadingStrategy.RGB_AFTER_FIRST`), whose rules differ from the
//! GIF spec and from browsers. The rules below were read from `PIL/GifImagePlugin.py` (Pillow
//! 13.0.0 reproduces the reference byte for byte) and checked on hand-made GIFs:
//!
//! 1. Frame 0 starts from a canvas filled with its transparent index when it has one (that
//!    palette colour with alpha 0), else with palette index 0, opaque. Frame 0's transparent
//!    pixels therefore show as alpha 0.
//! 2. When frame 0 has no transparent index, Pillow turns the image into RGB: every later frame
//!    is fully opaque, and "restore to background" paints the transparent index's *colour*.
//! 3. Disposal is sticky: a frame whose disposal field is 0 keeps the previous method.
//! 4. "Restore to background" fills the frame's rectangle with the frame's transparent index if
//!    it has one (alpha 0), else with the screen's background index (0 without a global palette).
//!    On frame 0 an index past the palette is black; on later frames it is palette entry 0.
//! 5. "Restore to previous" on frame 0 restores to the transparent index, or does nothing.
//! 6. Pixels whose index is past the end of the palette are black.
//! 7. A frame whose data ends early, or whose rectangle is empty, is an error.
//!
//! `canvas.rs` composites by these rules; `limits.rs` bounds what a file may make us allocate.
//!
//! Known differences: Pillow grows the canvas when a frame reaches outside the logical screen;
//! we clip to the screen. A frame without a graphic control extension keeps the previous disposal
//! in Pillow, but the `gif` crate reports it as "keep" (method 1).

use std::num::NonZeroU64;

use ::gif::{ColorOutput, DecodeOptions, DecodingError, MemoryLimit};

use super::canvas::{Canvas, FrameInfo};
use super::error::GifError;
use super::limits::{DecodeLimits, check};

/// One fully composited frame.
#[derive(Debug, Clone, PartialEq)]
pub struct GifFrame {
    /// `width * height * 4` bytes, row-major RGBA, the whole canvas as shown at this frame.
    pub rgba: Vec<u8>,
    /// Delay from the graphic control extension in milliseconds (0 when absent).
    pub delay_ms: u32,
}

/// A decoded animation: the logical screen size and every composited frame.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedGif {
    /// Logical screen width, in pixels.
    pub width: u32,
    /// Logical screen height, in pixels.
    pub height: u32,
    /// Every frame composited onto the screen, in display order.
    pub frames: Vec<GifFrame>,
}

/// Decodes every frame of a GIF into composited RGBA canvases, as Pillow shows them.
pub fn decode_gif(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedGif, GifError> {
    let screen = Screen::read(bytes, limits)?;
    let mut options = DecodeOptions::new();
    options.set_color_output(ColorOutput::Indexed);
    // Pillow skips extensions it does not know; the crate rejects them unless told otherwise.
    options.allow_unknown_blocks(true);
    // We decode into our own index buffer, so the crate only buffers metadata (XMP, ICC):
    // a canvas worth of bytes is plenty.
    options.set_memory_limit(
        NonZeroU64::new(limits.max_canvas_pixels).map_or(MemoryLimit::Bytes(NonZeroU64::MIN), MemoryLimit::Bytes),
    );
    let mut decoder = options.read_info(bytes)?;
    let global_palette = decoder.global_palette().map(<[u8]>::to_vec).unwrap_or_default();

    let (width, height) = (screen.width, screen.height);
    let mut canvas = Canvas::new(usize::from(width), usize::from(height), screen.background);
    let mut frames: Vec<GifFrame> = Vec::new();
    let mut indices = Vec::new();
    // Every pass reads at least one block from `bytes`, and every frame is counted against
    // `max_frames` and `max_total_bytes`, so the loop ends on any input.
    loop {
        let info = match decoder.next_frame_info() {
            Ok(Some(frame)) => FrameInfo::new(frame, &global_palette),
            Ok(None) => break,
            // Pillow ends the animation quietly when the file stops between frames.
            Err(DecodingError::UnexpectedEof) if !frames.is_empty() => break,
            Err(err) => return Err(err.into()),
        };
        let area = screen.check_frame(limits, frames.len(), &info)?;
        // Frame-sized index buffer (bounded by the check above), reused across frames.
        indices.clear();
        indices.resize(area, 0);
        // `Decoder::read_into_buffer` would deinterlace, but gif 0.14.2 reports interlaced
        // frames of odd width as truncated; reading the frame in one piece and deinterlacing
        // in `draw` works for every width.
        if !decoder.fill_buffer(&mut indices)? {
            return Err(GifError::Truncated); // rule 7
        }
        canvas.draw(&info, &indices);
        frames.push(GifFrame { rgba: canvas.rgba().to_vec(), delay_ms: info.delay_ms });
    }
    if frames.is_empty() {
        return Err(GifError::NoFrames);
    }
    Ok(DecodedGif { width: u32::from(width), height: u32::from(height), frames })
}

/// The logical screen descriptor, read by us so that the canvas is checked before the `gif`
/// crate (or we) allocate anything.
struct Screen {
    width: u16,
    height: u16,
    /// Pillow's background index: the raw byte when there is a global palette, else 0.
    background: u8,
}

impl Screen {
    /// Reads the signature and the screen descriptor, and checks the canvas against `limits`.
    fn read(bytes: &[u8], limits: &DecodeLimits) -> Result<Screen, GifError> {
        if !(bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a")) {
            return Err(GifError::NotAGif);
        }
        let Some(&[w0, w1, h0, h1, flags, background]) =
            bytes.get(6..12).map(<&[u8; 6]>::try_from).and_then(Result::ok)
        else {
            return Err(GifError::Truncated);
        };
        let (width, height) = (u16::from_le_bytes([w0, w1]), u16::from_le_bytes([h0, h1]));
        let screen = Screen { width, height, background: 0 };
        let what = || format!("GIF canvas {width}x{height}");
        if screen.pixels() == 0 {
            return Err(GifError::Empty { what: what() });
        }
        check(what, screen.pixels(), limits.max_canvas_pixels, "pixels")?;
        let has_palette = flags & 0x80 != 0;
        // gif 0.14 misreads a trailer right after the global palette as a cut-off file.
        let palette_len = if has_palette { 3 << ((flags & 7) + 1) } else { 0 };
        if bytes.get(13 + palette_len) == Some(&b';') {
            return Err(GifError::NoFrames);
        }
        Ok(Screen { background: if has_palette { background } else { 0 }, ..screen })
    }

    fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Checks frame number `index` (`info`) and the animation up to it against `limits`;
    /// returns the frame's area in pixels.
    fn check_frame(&self, limits: &DecodeLimits, index: usize, info: &FrameInfo) -> Result<usize, GifError> {
        let (count, (width, height)) = (index + 1, (self.width, self.height));
        check(|| format!("GIF animation of {count} frames"), count as u64, limits.max_frames as u64, "frames")?;
        let total = (count as u64).saturating_mul(self.pixels() * 4);
        let what = || format!("decoded GIF ({count} RGBA frames of {width}x{height})");
        check(what, total, limits.max_total_bytes, "bytes")?;
        let area = (info.width * info.height) as u64;
        let frame_what = || format!("GIF frame {index} ({}x{} at {},{})", info.width, info.height, info.left, info.top);
        if area == 0 {
            return Err(GifError::Empty { what: frame_what() });
        }
        check(frame_what, area, limits.max_canvas_pixels, "pixels")?;
        Ok(area as usize)
    }
}
