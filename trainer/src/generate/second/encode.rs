//! GIF writing for the second renderer, through the `gif` crate, with frame layouts and disposal
//! methods the primary renderer's encoder never uses, so decoders are checked on them too.
//!
//! Frames are compared by the colours they show (with local palettes the same colour has
//! different indices in different frames), never by index.

use anyhow::{Context, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::quantise::Quantised;

/// How frames after the first are laid out and disposed of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameLayout {
    /// Every frame whole, disposal Keep.
    Full,
    /// Every frame whole, disposal Background (each frame covers what the disposal cleared).
    FullDisposeBackground,
    /// After the first, only the bounding box of the pixels that changed since the previous
    /// frame, unchanged pixels transparent; disposal Keep.
    Difference,
    /// The first frame whole and kept; every later frame is the bounding box of where it differs
    /// from the first (unchanged pixels transparent) with disposal Previous, so the canvas returns
    /// to the first frame before the next one is drawn.
    OverFirst,
}

impl FrameLayout {
    /// Probabilities: full 1/5, full with Background disposal 3/20, difference 7/20, over the
    /// first frame with Previous disposal 3/10.
    pub fn sample(rng: &mut ChaCha8Rng) -> FrameLayout {
        match rng.random_range(0..20) {
            0..4 => FrameLayout::Full,
            4..7 => FrameLayout::FullDisposeBackground,
            7..14 => FrameLayout::Difference,
            _ => FrameLayout::OverFirst,
        }
    }
}

/// The written GIF and how many frames it holds.
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub frames: usize,
}

/// A pixel rectangle, `x1`/`y1` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rect {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

/// The bounding box of the pixels whose RGB differs between `a` and `b`.
fn difference(a: &[u8], b: &[u8], width: usize) -> Option<Rect> {
    let mut r: Option<Rect> = None;
    for (i, (p, q)) in a.chunks_exact(3).zip(b.chunks_exact(3)).enumerate() {
        if p != q {
            let (x, y) = (i % width, i / width);
            r = Some(match r {
                None => Rect { x0: x, y0: y, x1: x + 1, y1: y + 1 },
                Some(r) => Rect { x0: r.x0.min(x), y0: r.y0, x1: r.x1.max(x + 1), y1: y + 1 },
            });
        }
    }
    r
}

/// One frame to write: which quantised frame, and the delay it stays on screen.
struct Kept {
    frame: usize,
    delay: u16,
}

/// The frames to write: all of them, or with identical consecutive frames merged.
fn keep(shown: &[Vec<u8>], delays: &[u16], merge: bool) -> Vec<Kept> {
    let mut kept: Vec<Kept> = Vec::with_capacity(shown.len());
    for (f, &delay) in delays.iter().enumerate().take(shown.len()) {
        match kept.last_mut() {
            Some(last) if merge && shown[last.frame] == shown[f] => last.delay = last.delay.saturating_add(delay),
            _ => kept.push(Kept { frame: f, delay }),
        }
    }
    kept
}

/// Encodes quantised frames (one per rendered frame); `global_palette` writes the first frame's
/// palette once as the global table (the quantiser then gave every frame the same palette).
pub fn write_gif(
    size: usize,
    frames: &[Quantised],
    delays: &[u16],
    global_palette: bool,
    layout: FrameLayout,
    merge: bool,
) -> Result<Encoded> {
    let side = u16::try_from(size).context("canvas too large for a GIF")?;
    let shown: Vec<Vec<u8>> = frames.iter().map(Quantised::shown).collect();
    let plan = keep(&shown, delays, merge);
    let flat = |p: &[[u8; 3]]| -> Vec<u8> { p.iter().flatten().copied().chain([0, 0, 0]).collect() };
    let global = match (global_palette, frames.first()) {
        (true, Some(first)) => flat(&first.palette),
        _ => Vec::new(),
    };
    let mut bytes = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut bytes, side, side, &global)?;
        enc.set_repeat(gif::Repeat::Infinite)?;
        for (k, kept) in plan.iter().enumerate() {
            let q = &frames[kept.frame];
            // The entry after the palette is the transparent one (palettes hold at most 255).
            let transparent = u8::try_from(q.palette.len()).context("palette has more than 255 colours")?;
            let reference = match layout {
                _ if k == 0 => None,
                FrameLayout::Full | FrameLayout::FullDisposeBackground => None,
                FrameLayout::Difference => Some(&shown[plan[k - 1].frame]),
                FrameLayout::OverFirst => Some(&shown[plan[0].frame]),
            };
            let dispose = match layout {
                FrameLayout::FullDisposeBackground => gif::DisposalMethod::Background,
                FrameLayout::OverFirst if k > 0 => gif::DisposalMethod::Previous,
                _ => gif::DisposalMethod::Keep,
            };
            let full = Rect { x0: 0, y0: 0, x1: size, y1: size };
            let (rect, buffer, trns) = match reference {
                None => (full, q.indices.clone(), None),
                Some(before) => {
                    // An unchanged frame still needs one pixel: a transparent one.
                    let rect =
                        difference(before, &shown[kept.frame], size).unwrap_or(Rect { x0: 0, y0: 0, x1: 1, y1: 1 });
                    let mut buf = Vec::with_capacity((rect.x1 - rect.x0) * (rect.y1 - rect.y0));
                    for y in rect.y0..rect.y1 {
                        for x in rect.x0..rect.x1 {
                            let i = y * size + x;
                            let same = before[i * 3..i * 3 + 3] == shown[kept.frame][i * 3..i * 3 + 3];
                            buf.push(if same { transparent } else { q.indices[i] });
                        }
                    }
                    (rect, buf, Some(transparent))
                }
            };
            let frame = gif::Frame {
                delay: kept.delay,
                dispose,
                transparent: trns,
                left: rect.x0 as u16,
                top: rect.y0 as u16,
                width: (rect.x1 - rect.x0) as u16,
                height: (rect.y1 - rect.y0) as u16,
                palette: (!global_palette).then(|| flat(&q.palette)),
                buffer: std::borrow::Cow::Owned(buffer),
                ..gif::Frame::default()
            };
            enc.write_frame(&frame)?;
        }
    }
    Ok(Encoded { bytes, frames: plan.len() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_model::gif::{DecodeLimits, decode_gif};

    pub const LAYOUTS: [FrameLayout; 4] =
        [FrameLayout::Full, FrameLayout::FullDisposeBackground, FrameLayout::Difference, FrameLayout::OverFirst];

    /// Five 7x7 frames over two palettes: a change, a repeat, a change back, a new colour.
    fn frames(global: bool) -> Vec<Quantised> {
        let size = 7;
        let a = vec![[10, 20, 30], [200, 100, 0], [0, 0, 255]];
        let b = if global { a.clone() } else { vec![[0, 0, 255], [10, 20, 30], [200, 100, 0], [9, 9, 9]] };
        let mut out = Vec::new();
        let mut idx = vec![0u8; size * size];
        out.push(Quantised { palette: a.clone(), indices: idx.clone() });
        idx[8] = 1;
        out.push(Quantised { palette: a.clone(), indices: idx.clone() });
        // The same picture through the other palette: merged or written as unchanged.
        let remap = |i: u8| b.iter().position(|&c| c == a[usize::from(i)]).unwrap() as u8;
        out.push(Quantised { palette: b.clone(), indices: idx.iter().map(|&i| remap(i)).collect() });
        idx[8] = 0;
        idx[40] = 2;
        out.push(Quantised { palette: a.clone(), indices: idx.clone() });
        out.push(Quantised { palette: a.clone(), indices: vec![2; size * size] });
        out
    }

    #[test]
    fn every_layout_decodes_to_the_frames_shown() {
        let delays = [4, 5, 6, 7, 8];
        for global in [false, true] {
            let frames = frames(global);
            for layout in LAYOUTS {
                for merge in [false, true] {
                    let e = write_gif(7, &frames, &delays, global, layout, merge).unwrap();
                    let d = decode_gif(&e.bytes, &DecodeLimits::default()).unwrap();
                    assert_eq!(d.frames.len(), e.frames);
                    let expect: Vec<usize> = if merge { vec![0, 1, 3, 4] } else { (0..5).collect() };
                    assert_eq!(d.frames.len(), expect.len(), "{layout:?} {merge}");
                    for (got, &f) in d.frames.iter().zip(&expect) {
                        let rgb: Vec<u8> = got.rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
                        assert_eq!(rgb, frames[f].shown(), "{layout:?} {merge} {global} frame {f}");
                        assert!(got.rgba.chunks_exact(4).all(|p| p[3] == 255));
                    }
                    let total: u32 = d.frames.iter().map(|f| f.delay_ms).sum();
                    assert_eq!(total, 300);
                }
            }
        }
    }
}
