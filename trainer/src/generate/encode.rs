//! GIF writing: a per-GIF palette built from the colours we know we drew, fast pixel mapping,
//! and several encoder styles (global or local palettes, full or sub-rectangle frames, merged
//! identical frames) so that readers are exercised on everything the contract allows.

use anyhow::{Context, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use gif::DisposalMethod::Keep;

use super::render::{BackgroundImage, Rect};
use super::world::Background;

/// Coverage levels for which an object/background blend gets its own palette entry.
const BLEND_LEVELS: u32 = 8;
/// Palette entries for colours; one more is kept for the transparent index.
const MAX_COLOURS: usize = 255;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// One global palette, or a per-frame local palette holding only that frame's colours.
    pub global_palette: bool,
    /// Frames after the first encode only the bounding box of changed pixels, with unchanged
    /// pixels transparent.
    pub subrect: bool,
    /// Identical consecutive frames become one frame with the summed delay.
    pub merge: bool,
}

impl Style {
    /// Full frames are rarer on busy backgrounds: a noisy background barely compresses, and
    /// repeating it in every frame makes those GIFs ten times larger than the rest.
    pub fn sample(rng: &mut ChaCha8Rng, background: &Background) -> Style {
        let subrect = match background {
            Background::Flat(_) => 0.5,
            Background::Gradient { .. } => 0.6,
            Background::Noise { .. } => 0.8,
        };
        Style { global_palette: rng.random_bool(0.5), subrect: rng.random_bool(subrect), merge: rng.random_bool(0.3) }
    }
}

/// The palette: every background colour and object shade exactly, then blends of each object
/// shade with (a sample of) the background colours at a few coverages for anti-aliased edges.
pub fn build_palette(bg: &[[u8; 3]], objects: &[[u8; 3]]) -> Vec<[u8; 3]> {
    let mut pal: Vec<[u8; 3]> = Vec::with_capacity(MAX_COLOURS);
    let push = |pal: &mut Vec<[u8; 3]>, c: [u8; 3]| {
        if pal.len() < MAX_COLOURS && !pal.contains(&c) {
            pal.push(c);
        }
    };
    for &c in objects.iter().chain(bg) {
        push(&mut pal, c);
    }
    let room = MAX_COLOURS.saturating_sub(pal.len());
    let per_bg = (BLEND_LEVELS - 1) as usize * objects.len().max(1);
    let reps = (room / per_bg).clamp(1, bg.len().max(1));
    for r in 0..reps {
        let b = bg[r * bg.len() / reps];
        for &o in objects {
            for k in 1..BLEND_LEVELS {
                let blend = std::array::from_fn(|i| {
                    let (b, o) = (u32::from(b[i]), u32::from(o[i]));
                    ((b * (BLEND_LEVELS - k) + o * k + BLEND_LEVELS / 2) / BLEND_LEVELS) as u8
                });
                push(&mut pal, blend);
            }
        }
    }
    pal
}

/// Nearest-colour mapping with an open-addressing cache keyed by the exact RGB value.
pub struct Quantiser {
    palette: Vec<[u8; 3]>,
    keys: Vec<u32>,
    values: Vec<u8>,
    used: usize,
}

const CACHE_BITS: u32 = 13;

impl Quantiser {
    pub fn new(palette: Vec<[u8; 3]>) -> Quantiser {
        let n = 1 << CACHE_BITS;
        Quantiser { palette, keys: vec![0; n], values: vec![0; n], used: 0 }
    }

    pub fn palette(&self) -> &[[u8; 3]] {
        &self.palette
    }

    fn nearest(&self, c: [u8; 3]) -> u8 {
        let mut best = (u32::MAX, 0usize);
        for (i, p) in self.palette.iter().enumerate() {
            let d: u32 = (0..3).map(|k| (i32::from(p[k]) - i32::from(c[k])).unsigned_abs().pow(2)).sum();
            if d < best.0 {
                best = (d, i);
            }
        }
        best.1 as u8
    }

    pub fn map(&mut self, c: [u8; 3]) -> u8 {
        // Bit 24 marks an occupied slot, so black is a valid key.
        let key = u32::from_le_bytes([c[0], c[1], c[2], 1]);
        let mask = (1usize << CACHE_BITS) - 1;
        let mut slot = (key.wrapping_mul(0x9E37_79B1) >> (32 - CACHE_BITS)) as usize;
        loop {
            match self.keys[slot] {
                k if k == key => return self.values[slot],
                0 => break,
                _ => slot = (slot + 1) & mask,
            }
        }
        let v = self.nearest(c);
        // Keep the table at most 3/4 full so probes stay short; beyond that, search every time.
        if self.used < (mask + 1) * 3 / 4 {
            self.keys[slot] = key;
            self.values[slot] = v;
            self.used += 1;
        }
        v
    }
}

/// Palette indices of the background, computed once per GIF.
pub fn background_indices(bg: &BackgroundImage, q: &mut Quantiser) -> Vec<u8> {
    bg.rgb.chunks_exact(3).map(|p| q.map([p[0], p[1], p[2]])).collect()
}

/// Maps a rendered frame to palette indices: background pixels come from `bg_index`, only the
/// rectangles the objects touched are looked up.
pub fn index_frame(
    rgb: &[u8],
    bg: &BackgroundImage,
    bg_index: &[u8],
    rects: &[Rect],
    size: usize,
    q: &mut Quantiser,
) -> Vec<u8> {
    let mut out = bg_index.to_vec();
    for r in rects {
        for y in r.y0..r.y1 {
            for x in r.x0..r.x1 {
                let i = y * size + x;
                let p = &rgb[i * 3..i * 3 + 3];
                if p != &bg.rgb[i * 3..i * 3 + 3] {
                    out[i] = q.map([p[0], p[1], p[2]]);
                }
            }
        }
    }
    out
}

/// The smallest rectangle holding every pixel that differs between two frames.
fn changed_rect(prev: &[u8], cur: &[u8], size: usize) -> Option<Rect> {
    let mut r: Option<Rect> = None;
    for y in 0..size {
        let (a, b) = (&prev[y * size..(y + 1) * size], &cur[y * size..(y + 1) * size]);
        let Some(first) = a.iter().zip(b).position(|(p, c)| p != c) else {
            continue;
        };
        let last = a.iter().zip(b).rposition(|(p, c)| p != c).unwrap_or(first);
        r = Some(match r {
            None => Rect { x0: first, y0: y, x1: last + 1, y1: y + 1 },
            Some(r) => Rect { x0: r.x0.min(first), y0: r.y0, x1: r.x1.max(last + 1), y1: y + 1 },
        });
    }
    r
}

/// One frame to write: the pixels (palette indices) of `rect`, `None` meaning transparent
/// (here: unchanged), and how it is disposed of.
pub(crate) struct PlannedFrame {
    pub rect: Rect,
    pub pixels: Vec<Option<u8>>,
    pub delay: u16,
    pub dispose: gif::DisposalMethod,
}

fn plan_frames(frames: &[Vec<u8>], delays: &[u16], size: usize, style: Style) -> Vec<PlannedFrame> {
    let full = Rect { x0: 0, y0: 0, x1: size, y1: size };
    let mut out: Vec<PlannedFrame> = Vec::with_capacity(frames.len());
    let mut prev: Option<&Vec<u8>> = None;
    for (cur, &delay) in frames.iter().zip(delays) {
        let Some(p) = prev else {
            out.push(PlannedFrame { rect: full, pixels: cur.iter().map(|&v| Some(v)).collect(), delay, dispose: Keep });
            prev = Some(cur);
            continue;
        };
        let changed = changed_rect(p, cur, size);
        if changed.is_none() && style.merge {
            if let Some(last) = out.last_mut() {
                last.delay = last.delay.saturating_add(delay);
            }
            continue;
        }
        let pending = if style.subrect {
            // An identical frame still needs one pixel: a transparent one.
            let rect = changed.unwrap_or(Rect { x0: 0, y0: 0, x1: 1, y1: 1 });
            let mut pixels = Vec::with_capacity((rect.x1 - rect.x0) * (rect.y1 - rect.y0));
            for y in rect.y0..rect.y1 {
                for x in rect.x0..rect.x1 {
                    let i = y * size + x;
                    pixels.push((cur[i] != p[i]).then_some(cur[i]));
                }
            }
            PlannedFrame { rect, pixels, delay, dispose: Keep }
        } else {
            PlannedFrame { rect: full, pixels: cur.iter().map(|&v| Some(v)).collect(), delay, dispose: Keep }
        };
        out.push(pending);
        prev = Some(cur);
    }
    out
}

fn flat(colours: impl IntoIterator<Item = [u8; 3]>) -> Vec<u8> {
    colours.into_iter().flatten().collect()
}

/// Encodes index frames (one per rendered frame, global palette indices) into GIF bytes;
/// returns the bytes and the number of frames written.
pub fn write_gif(
    size: usize,
    palette: &[[u8; 3]],
    frames: &[Vec<u8>],
    delays: &[u16],
    style: Style,
) -> Result<(Vec<u8>, usize)> {
    let plan = plan_frames(frames, delays, size, style);
    Ok((write_planned(size, palette, style.global_palette, &plan)?, plan.len()))
}

/// Writes `plan` as a looping GIF: with a global palette (`palette` plus an entry for
/// transparency), or with a local palette per frame (its colours in order of first use, plus a
/// transparent entry when the frame has transparent pixels).
pub(crate) fn write_planned(
    size: usize,
    palette: &[[u8; 3]],
    global_palette: bool,
    plan: &[PlannedFrame],
) -> Result<Vec<u8>> {
    let side = u16::try_from(size).context("canvas too large for a GIF")?;
    let transparent = u8::try_from(palette.len()).context("palette has more than 255 colours")?;
    let mut bytes = Vec::new();
    {
        let global = if global_palette {
            // The transparent index needs an entry of its own.
            flat(palette.iter().copied().chain([[0, 0, 0]]))
        } else {
            Vec::new()
        };
        let mut enc = gif::Encoder::new(&mut bytes, side, side, &global)?;
        enc.set_repeat(gif::Repeat::Infinite)?;
        for p in plan {
            let has_transparent = p.pixels.iter().any(Option::is_none);
            let (buffer, local, trns) = if global_palette {
                let buf: Vec<u8> = p.pixels.iter().map(|v| v.unwrap_or(transparent)).collect();
                (buf, None, has_transparent.then_some(transparent))
            } else {
                // Local palette: only this frame's colours, in order of first use.
                let mut remap = [u16::MAX; 256];
                let mut local: Vec<[u8; 3]> = Vec::new();
                let mut buf = Vec::with_capacity(p.pixels.len());
                for v in &p.pixels {
                    let Some(g) = *v else {
                        buf.push(u8::MAX); // patched below once the local size is known
                        continue;
                    };
                    if remap[usize::from(g)] == u16::MAX {
                        remap[usize::from(g)] = local.len() as u16;
                        local.push(palette[usize::from(g)]);
                    }
                    buf.push(remap[usize::from(g)] as u8);
                }
                let t = local.len() as u8;
                if has_transparent {
                    local.push([0, 0, 0]);
                    for (b, v) in buf.iter_mut().zip(&p.pixels) {
                        if v.is_none() {
                            *b = t;
                        }
                    }
                }
                (buf, Some(flat(local)), has_transparent.then_some(t))
            };
            let frame = gif::Frame {
                delay: p.delay,
                dispose: p.dispose,
                transparent: trns,
                left: p.rect.x0 as u16,
                top: p.rect.y0 as u16,
                width: (p.rect.x1 - p.rect.x0) as u16,
                height: (p.rect.y1 - p.rect.y0) as u16,
                palette: local,
                buffer: std::borrow::Cow::Owned(buffer),
                ..gif::Frame::default()
            };
            enc.write_frame(&frame)?;
        }
    }
    Ok(bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Decodes a GIF and composites every frame (sub-rectangles, transparency, disposal Keep)
    /// into full RGB canvases; returns (frames, delays in cs).
    pub(crate) fn decode(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<u16>, usize) {
        let mut opts = gif::DecodeOptions::new();
        opts.set_color_output(gif::ColorOutput::RGBA);
        let mut dec = opts.read_info(bytes).unwrap();
        let w = usize::from(dec.width());
        let mut canvas = vec![0u8; w * w * 3];
        let (mut frames, mut delays) = (Vec::new(), Vec::new());
        while let Some(f) = dec.read_next_frame().unwrap() {
            assert_eq!(f.dispose, gif::DisposalMethod::Keep);
            let (l, t, fw) = (usize::from(f.left), usize::from(f.top), usize::from(f.width));
            for (i, px) in f.buffer.chunks_exact(4).enumerate() {
                if px[3] == 0 {
                    continue;
                }
                let (x, y) = (l + i % fw, t + i / fw);
                canvas[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&px[..3]);
            }
            frames.push(canvas.clone());
            delays.push(f.delay);
        }
        (frames, delays, w)
    }

    #[test]
    fn quantiser_is_exact_on_palette_colours() {
        let pal = build_palette(&[[200, 200, 200], [210, 205, 190]], &[[250, 10, 5], [0, 0, 0]]);
        let mut q = Quantiser::new(pal.clone());
        for (i, &c) in pal.iter().enumerate() {
            assert_eq!(q.map(c), i as u8);
            assert_eq!(q.map(c), i as u8); // cached
        }
        assert!(pal.len() <= MAX_COLOURS);
    }

    #[test]
    fn every_style_round_trips() {
        let size = 7;
        let palette = vec![[10, 20, 30], [200, 100, 0], [0, 0, 255]];
        let mut frames = vec![vec![0u8; size * size]; 5];
        frames[1][8] = 1;
        frames[2] = frames[1].clone(); // identical: merged or a 1-pixel transparent frame
        frames[3][40] = 2;
        frames[4] = vec![2; size * size];
        let delays = [4, 5, 6, 7, 8];
        for bits in 0..8 {
            let style = Style { global_palette: bits & 1 == 1, subrect: bits & 2 == 2, merge: bits & 4 == 4 };
            let (bytes, written) = write_gif(size, &palette, &frames, &delays, style).unwrap();
            let (decoded, dels, w) = decode(&bytes);
            assert_eq!(w, size);
            assert_eq!(decoded.len(), written);
            let expect: Vec<&Vec<u8>> = if style.merge {
                vec![&frames[0], &frames[1], &frames[3], &frames[4]]
            } else {
                frames.iter().collect()
            };
            assert_eq!(decoded.len(), expect.len(), "{style:?}");
            for (d, e) in decoded.iter().zip(expect) {
                let rgb: Vec<u8> = e.iter().flat_map(|&i| palette[usize::from(i)]).collect();
                assert_eq!(d, &rgb, "{style:?}");
            }
            let total: u16 = dels.iter().sum();
            assert_eq!(total, 30);
        }
    }
}
