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
//! Known differences: Pillow grows the canvas when a frame reaches outside the logical screen;
//! we clip to the screen. A frame without a graphic control extension keeps the previous disposal
//! in Pillow, but the `gif` crate reports it as "keep" (method 1).

use std::num::NonZeroU64;

use ::gif::{ColorOutput, DecodeOptions, DecodingError, DisposalMethod, MemoryLimit};

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

/// Decodes every frame of a GIF into composited RGBA canvases, as Pillow shows them.
pub fn decode_gif(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedGif, GifError> {
    if !(bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a")) {
        return Err(GifError::NotAGif);
    }
    // Read the logical screen descriptor ourselves so the canvas is checked before the gif
    // crate (or we) allocate anything.
    let Some(&[w0, w1, h0, h1, flags, background]) = bytes.get(6..12).map(<&[u8; 6]>::try_from).and_then(Result::ok)
    else {
        return Err(GifError::Truncated);
    };
    let (width, height) = (u16::from_le_bytes([w0, w1]), u16::from_le_bytes([h0, h1]));
    let pixels = u64::from(width) * u64::from(height);
    let what = || format!("GIF canvas {width}x{height}");
    if pixels == 0 {
        return Err(GifError::Empty { what: what() });
    }
    check(what, pixels, limits.max_canvas_pixels, "pixels")?;
    // Pillow uses the raw background byte when there is a global palette, else index 0.
    let has_palette = flags & 0x80 != 0;
    let background = if has_palette { background } else { 0 };
    // gif 0.14 misreads a trailer right after the global palette as a cut-off file.
    let palette_len = if has_palette { 3 << ((flags & 7) + 1) } else { 0 };
    if bytes.get(13 + palette_len) == Some(&b';') {
        return Err(GifError::NoFrames);
    }

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

    let mut canvas = Canvas::new(usize::from(width), usize::from(height), background);
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
        let count = frames.len() + 1;
        check(|| format!("GIF animation of {count} frames"), count as u64, limits.max_frames as u64, "frames")?;
        let total = (count as u64).saturating_mul(pixels * 4);
        check(
            || format!("decoded GIF ({count} RGBA frames of {width}x{height})"),
            total,
            limits.max_total_bytes,
            "bytes",
        )?;
        let area = (info.width * info.height) as u64;
        let frame_what =
            || format!("GIF frame {} ({}x{} at {},{})", count - 1, info.width, info.height, info.left, info.top);
        if area == 0 {
            return Err(GifError::Empty { what: frame_what() });
        }
        check(frame_what, area, limits.max_canvas_pixels, "pixels")?;

        // Frame-sized index buffer (bounded by the check above), reused across frames.
        indices.clear();
        indices.resize(area as usize, 0);
        // `Decoder::read_into_buffer` would deinterlace, but gif 0.14.2 reports interlaced
        // frames of odd width as truncated; reading the frame in one piece and deinterlacing
        // in `draw` works for every width.
        if !decoder.fill_buffer(&mut indices)? {
            return Err(GifError::Truncated); // rule 7
        }
        canvas.draw(&info, &indices);
        frames.push(GifFrame { rgba: canvas.rgba.clone(), delay_ms: info.delay_ms });
    }
    if frames.is_empty() {
        return Err(GifError::NoFrames);
    }
    Ok(DecodedGif { width: u32::from(width), height: u32::from(height), frames })
}

/// `Err(TooLarge)` when `actual > limit`; `what` is only formatted on failure.
fn check(what: impl FnOnce() -> String, actual: u64, limit: u64, unit: &'static str) -> Result<(), GifError> {
    if actual > limit {
        return Err(GifError::TooLarge { what: what(), limit, actual, unit });
    }
    Ok(())
}

/// What compositing needs from one frame's descriptor, copied out of the decoder.
struct FrameInfo {
    left: usize,
    top: usize,
    width: usize,
    height: usize,
    transparent: Option<u8>,
    interlaced: bool,
    dispose: DisposalMethod,
    delay_ms: u32,
    /// The frame's palette (local, else global) as RGB.
    palette: Vec<u8>,
}

impl FrameInfo {
    fn new(frame: &gif::Frame<'_>, global_palette: &[u8]) -> Self {
        Self {
            left: usize::from(frame.left),
            top: usize::from(frame.top),
            width: usize::from(frame.width),
            height: usize::from(frame.height),
            transparent: frame.transparent,
            interlaced: frame.interlaced,
            dispose: frame.dispose,
            delay_ms: u32::from(frame.delay) * 10,
            palette: frame.palette.clone().unwrap_or_else(|| global_palette.to_vec()),
        }
    }

    /// Colour of `index` as Pillow's palette image shows it: black past the palette's end.
    fn colour(&self, index: u8) -> [u8; 3] {
        let at = usize::from(index) * 3;
        match self.palette.get(at..at + 3) {
            Some(&[r, g, b]) => [r, g, b],
            _ => [0, 0, 0],
        }
    }

    /// Pillow's `_rgb()`, used for disposal fills once the image is RGB: palette entry 0
    /// stands in for an index past the palette's end.
    fn colour_or_first(&self, index: u8) -> [u8; 3] {
        if usize::from(index) * 3 + 3 <= self.palette.len() { self.colour(index) } else { self.colour(0) }
    }

    /// Frame rows in the order they are stored: interlaced GIFs store every 8th row from 0,
    /// then every 8th from 4, every 4th from 2, and every 2nd from 1.
    fn row_order(&self) -> impl Iterator<Item = usize> + '_ {
        let passes: &[(usize, usize)] = if self.interlaced { &[(0, 8), (4, 8), (2, 4), (1, 2)] } else { &[(0, 1)] };
        passes.iter().flat_map(move |&(start, step)| (start..self.height).step_by(step))
    }
}

/// A rectangle clipped to the canvas, `x0..x1` by `y0..y1`.
#[derive(Clone, Copy)]
struct Rect {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

/// What a frame's disposal puts back over its rectangle before the next frame.
enum Restore {
    Fill([u8; 4]),
    /// The rectangle's pixels before the frame was drawn, row-major.
    Pixels(Vec<u8>),
}

/// The composited canvas, carried from frame to frame.
struct Canvas {
    width: usize,
    height: usize,
    /// Screen background index (Pillow's `info["background"]`).
    background: u8,
    /// RGBA, empty until frame 0 is drawn.
    rgba: Vec<u8>,
    /// Pillow's RGB mode (frame 0 had no transparent index): alpha is always 255.
    opaque: bool,
    /// Pillow's sticky `disposal_method`.
    disposal: u8,
    pending: Option<(Rect, Restore)>,
}

impl Canvas {
    fn new(width: usize, height: usize, background: u8) -> Self {
        Self { width, height, background, rgba: Vec::new(), opaque: true, disposal: 0, pending: None }
    }

    /// Applies the previous frame's disposal, then draws this frame from its palette
    /// `indices` (`info.width * info.height`, rows in the order they were stored).
    fn draw(&mut self, info: &FrameInfo, indices: &[u8]) {
        let first = self.rgba.is_empty();
        if first {
            // Rule 1: the canvas starts as the transparent index, else index 0.
            let fill = info.transparent.unwrap_or(0);
            let [r, g, b] = info.colour(fill);
            let alpha = if info.transparent.is_some() { 0 } else { 255 };
            self.opaque = info.transparent.is_none();
            self.rgba = [r, g, b, alpha].repeat(self.width * self.height);
        } else if let Some((rect, restore)) = self.pending.take() {
            self.restore(rect, &restore);
        }

        self.disposal = match info.dispose {
            DisposalMethod::Any => self.disposal, // rule 3
            DisposalMethod::Keep => 1,
            DisposalMethod::Background => 2,
            DisposalMethod::Previous => 3,
        };
        let rect = Rect {
            x0: info.left.min(self.width),
            y0: info.top.min(self.height),
            x1: (info.left + info.width).min(self.width),
            y1: (info.top + info.height).min(self.height),
        };
        let fill = |[r, g, b]: [u8; 3], alpha| Restore::Fill([r, g, b, alpha]);
        self.pending = match (self.disposal, info.transparent, first) {
            (0 | 1, _, _) => None,
            // Rule 4; on frame 0 Pillow fills palette indices, later RGB(A) colours.
            (2, Some(t), true) => Some(fill(info.colour(t), 0)),
            (2, None, true) => Some(fill(info.colour(self.background), 255)),
            (2, Some(t), false) => Some(fill(info.colour_or_first(t), 0)),
            (2, None, false) => Some(fill(info.colour_or_first(self.background), 255)),
            // Rule 5: before frame 0 there is nothing to go back to.
            (_, Some(t), true) => Some(fill(info.colour(t), 0)),
            (_, None, true) => None,
            (_, _, false) => Some(Restore::Pixels(self.copy(rect))),
        }
        .map(|restore| (rect, restore));

        // Drawn pixels are always opaque, in RGB and RGBA mode alike.
        let lut: [[u8; 4]; 256] = std::array::from_fn(|i| {
            let [r, g, b] = info.colour(i as u8);
            [r, g, b, 255]
        });
        // Only the part of the frame inside the canvas is drawn (Pillow would grow the canvas).
        let span = (rect.x1 - rect.x0) * 4;
        for (y, row) in info.row_order().zip(indices.chunks_exact(info.width)) {
            let cy = info.top + y;
            if cy >= self.height {
                continue; // checked first so the offset below stays within the canvas (and `usize`)
            }
            let start = (cy * self.width + rect.x0) * 4;
            let Some(dst) = self.rgba.get_mut(start..start + span) else { continue };
            for (px, &index) in dst.chunks_exact_mut(4).zip(row) {
                // Transparent pixels leave the canvas alone. On frame 0 the canvas already
                // holds the transparent index, so this is the same as Pillow's raw copy.
                if Some(index) != info.transparent {
                    px.copy_from_slice(&lut[usize::from(index)]);
                }
            }
        }
    }

    /// Writes one pixel at byte offset `at`; alpha is forced opaque in RGB mode (rule 2).
    fn put(&mut self, at: usize, [r, g, b, a]: [u8; 4]) {
        let alpha = if self.opaque { 255 } else { a };
        if let Some(px) = self.rgba.get_mut(at..at + 4) {
            px.copy_from_slice(&[r, g, b, alpha]);
        }
    }

    fn copy(&self, rect: Rect) -> Vec<u8> {
        let mut out = Vec::with_capacity((rect.x1 - rect.x0) * (rect.y1 - rect.y0) * 4);
        for y in rect.y0..rect.y1 {
            let start = (y * self.width + rect.x0) * 4;
            out.extend_from_slice(self.rgba.get(start..start + (rect.x1 - rect.x0) * 4).unwrap_or_default());
        }
        out
    }

    fn restore(&mut self, rect: Rect, restore: &Restore) {
        let row_bytes = (rect.x1 - rect.x0) * 4;
        for (i, y) in (rect.y0..rect.y1).enumerate() {
            let start = (y * self.width + rect.x0) * 4;
            match restore {
                Restore::Fill(colour) => {
                    for x in 0..rect.x1 - rect.x0 {
                        self.put(start + x * 4, *colour);
                    }
                }
                Restore::Pixels(saved) => {
                    let src = saved.get(i * row_bytes..(i + 1) * row_bytes);
                    if let (Some(dst), Some(src)) = (self.rgba.get_mut(start..start + row_bytes), src) {
                        dst.copy_from_slice(src);
                    }
                }
            }
        }
    }
}
