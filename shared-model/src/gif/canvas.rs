//! Compositing frames onto the logical screen by Pillow's rules (see `decode.rs`).

use ::gif::DisposalMethod;

/// What compositing needs from one frame's descriptor, copied out of the decoder.
pub(super) struct FrameInfo {
    pub(super) left: usize,
    pub(super) top: usize,
    pub(super) width: usize,
    pub(super) height: usize,
    transparent: Option<u8>,
    interlaced: bool,
    dispose: DisposalMethod,
    pub(super) delay_ms: u32,
    /// The frame's palette (local, else global) as RGB.
    palette: Vec<u8>,
}

impl FrameInfo {
    pub(super) fn new(frame: &::gif::Frame<'_>, global_palette: &[u8]) -> Self {
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
pub(super) struct Canvas {
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
    pub(super) fn new(width: usize, height: usize, background: u8) -> Self {
        Self { width, height, background, rgba: Vec::new(), opaque: true, disposal: 0, pending: None }
    }

    /// The canvas as shown now, row-major RGBA.
    pub(super) fn rgba(&self) -> &[u8] {
        &self.rgba
    }

    /// Applies the previous frame's disposal, then draws this frame from its palette
    /// `indices` (`info.width * info.height`, rows in the order they were stored).
    pub(super) fn draw(&mut self, info: &FrameInfo, indices: &[u8]) {
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
