//! GIF writing for the varied drawing: frame layouts with every disposal method (unspecified,
//! Keep, Background, Previous), sub-rectangles with or without transparency, global or local
//! palettes, identical frames merged or not.
//!
//! The planner follows what a decoder's canvas holds after each frame and its disposal (a pixel
//! cleared by Background disposal counts as unknown, since decoders clear to transparency or to
//! the background colour), and writes, for every frame, the bounding box of the pixels the canvas
//! gets wrong, so each frame decodes exactly to what was drawn.

use anyhow::Result;
use gif::DisposalMethod;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::generate::encode::{PlannedFrame, write_planned};
use crate::generate::render::Rect;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Every frame whole, disposal unspecified.
    FullUnspecified,
    /// After the first, the box of changed pixels, unchanged ones transparent; disposal Keep.
    KeepChanges,
    /// After the first, the box of changed pixels, every pixel written; disposal Keep.
    OpaqueChanges,
    /// After the first, frames disposed to the background: each one repaints the box the previous
    /// one cleared as well as its own changes.
    BackgroundCleared,
    /// Odd frames disposed to the previous canvas: the frame after one is drawn over the frame
    /// before it.
    PreviousAlternating,
}

impl Layout {
    /// Full 1/5, keep 1/4, opaque 3/20, background 1/5, previous 1/5.
    pub fn sample(rng: &mut ChaCha8Rng) -> Layout {
        match rng.random_range(0..20) {
            0..4 => Layout::FullUnspecified,
            4..9 => Layout::KeepChanges,
            9..12 => Layout::OpaqueChanges,
            12..16 => Layout::BackgroundCleared,
            _ => Layout::PreviousAlternating,
        }
    }

    fn transparency(self) -> bool {
        matches!(self, Layout::KeepChanges | Layout::BackgroundCleared | Layout::PreviousAlternating)
    }

    fn disposal(self, k: usize) -> DisposalMethod {
        match self {
            Layout::FullUnspecified => DisposalMethod::Any,
            _ if k == 0 => DisposalMethod::Keep,
            Layout::KeepChanges | Layout::OpaqueChanges => DisposalMethod::Keep,
            Layout::BackgroundCleared => DisposalMethod::Background,
            Layout::PreviousAlternating if k % 2 == 1 => DisposalMethod::Previous,
            Layout::PreviousAlternating => DisposalMethod::Keep,
        }
    }
}

/// Merges identical consecutive frames (summing their delays) when asked.
fn merged<'a>(frames: &'a [Vec<u8>], delays: &[u16], merge: bool) -> Vec<(&'a Vec<u8>, u16)> {
    let mut out: Vec<(&Vec<u8>, u16)> = Vec::with_capacity(frames.len());
    for (f, &d) in frames.iter().zip(delays) {
        match out.last_mut() {
            Some(last) if merge && last.0 == f => last.1 = last.1.saturating_add(d),
            _ => out.push((f, d)),
        }
    }
    out
}

fn plan(frames: &[(&Vec<u8>, u16)], size: usize, layout: Layout) -> Vec<PlannedFrame> {
    let full = Rect { x0: 0, y0: 0, x1: size, y1: size };
    // What the decoder's canvas shows before the next frame; `None` where disposal cleared it.
    let mut canvas: Vec<Option<u8>> = vec![None; size * size];
    let mut out = Vec::with_capacity(frames.len());
    for (k, &(cur, delay)) in frames.iter().enumerate() {
        let dispose = layout.disposal(k);
        let rect = if k == 0 || layout == Layout::FullUnspecified {
            full
        } else {
            let mut r: Option<Rect> = None;
            for y in 0..size {
                for x in 0..size {
                    let i = y * size + x;
                    if canvas[i] != Some(cur[i]) {
                        r = Some(match r {
                            None => Rect { x0: x, y0: y, x1: x + 1, y1: y + 1 },
                            Some(r) => Rect { x0: r.x0.min(x), y0: r.y0, x1: r.x1.max(x + 1), y1: y + 1 },
                        });
                    }
                }
            }
            // A frame identical to the canvas still needs one pixel.
            r.unwrap_or(Rect { x0: 0, y0: 0, x1: 1, y1: 1 })
        };
        let mut pixels = Vec::with_capacity((rect.x1 - rect.x0) * (rect.y1 - rect.y0));
        for y in rect.y0..rect.y1 {
            for x in rect.x0..rect.x1 {
                let i = y * size + x;
                let unchanged = canvas[i] == Some(cur[i]);
                pixels.push((!(unchanged && layout.transparency() && k > 0)).then_some(cur[i]));
            }
        }
        let before = matches!(dispose, DisposalMethod::Previous).then(|| canvas.clone());
        for y in rect.y0..rect.y1 {
            for x in rect.x0..rect.x1 {
                let i = y * size + x;
                if let Some(v) = pixels[(y - rect.y0) * (rect.x1 - rect.x0) + x - rect.x0] {
                    canvas[i] = Some(v);
                }
            }
        }
        match dispose {
            DisposalMethod::Previous => canvas = before.unwrap_or(canvas),
            DisposalMethod::Background => {
                for y in rect.y0..rect.y1 {
                    canvas[y * size + rect.x0..y * size + rect.x1].fill(None);
                }
            }
            DisposalMethod::Any | DisposalMethod::Keep => {}
        }
        out.push(PlannedFrame { rect, pixels, delay, dispose });
    }
    out
}

/// Encodes index frames (one per rendered frame) into GIF bytes; returns the bytes and the number
/// of frames written.
pub fn write_gif(
    size: usize,
    palette: &[[u8; 3]],
    frames: &[Vec<u8>],
    delays: &[u16],
    layout: Layout,
    global_palette: bool,
    merge: bool,
) -> Result<(Vec<u8>, usize)> {
    let planned = plan(&merged(frames, delays, merge), size, layout);
    Ok((write_planned(size, palette, global_palette, &planned)?, planned.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_model::gif::{DecodeLimits, decode_gif};

    #[test]
    fn every_layout_decodes_to_the_frames() {
        let size = 9;
        let palette = vec![[10, 20, 30], [200, 100, 0], [0, 0, 255], [90, 90, 90]];
        let mut frames = vec![vec![0u8; size * size]; 7];
        frames[1][10] = 1;
        frames[2] = frames[1].clone();
        frames[3][40] = 2;
        frames[3][41] = 3;
        frames[4] = vec![2; size * size];
        frames[5][80] = 3;
        frames[6][0] = 1;
        let delays = [4, 5, 6, 7, 8, 9, 10];
        let layouts = [
            Layout::FullUnspecified,
            Layout::KeepChanges,
            Layout::OpaqueChanges,
            Layout::BackgroundCleared,
            Layout::PreviousAlternating,
        ];
        for layout in layouts {
            for (global, merge) in [(true, false), (false, true), (true, true), (false, false)] {
                let (bytes, written) = write_gif(size, &palette, &frames, &delays, layout, global, merge).unwrap();
                let d = decode_gif(&bytes, &DecodeLimits::default()).unwrap();
                assert_eq!(d.frames.len(), written);
                let expect: Vec<&Vec<u8>> = if merge {
                    [0, 1, 3, 4, 5, 6].iter().map(|&i| &frames[i]).collect()
                } else {
                    frames.iter().collect()
                };
                assert_eq!(d.frames.len(), expect.len(), "{layout:?}");
                for (k, (got, e)) in d.frames.iter().zip(expect).enumerate() {
                    let want: Vec<u8> =
                        e.iter().flat_map(|&i| palette[usize::from(i)].into_iter().chain([255])).collect();
                    assert_eq!(got.rgba, want, "{layout:?} global {global} merge {merge} frame {k}");
                }
                assert_eq!(d.frames.iter().map(|f| f.delay_ms).sum::<u32>(), 490);
            }
        }
    }
}
