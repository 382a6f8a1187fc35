//! Objects of the varied drawing: the primary renderer's shapes (its signed distances), with
//! edges made in one of several ways and fills that may shade or flicker within the colour's
//! jitter band.
//!
//! Hard edges (scenes without anti-aliasing) come from one point per pixel, anywhere in it, or
//! from a majority of a grid of points. Anti-aliased edges come from a box filter over a grid of
//! 2 to 8 points a side, from stratified random points, from a supersampled mask resampled with a
//! tent, Gaussian, Mitchell–Netravali or Lanczos filter (wider than a pixel), or from the signed
//! distance itself through a linear ramp.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::generate::render::{Rect, signed_distance};
use crate::generate::world::{COLOUR_JITTER, Object, Scene, Shape, State};

/// A reconstruction filter for the supersampled mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// The pixel's own square.
    Box,
    /// Triangle, one pixel either side.
    Tent,
    /// σ = 0.5 px, cut at 1.5 px.
    Gaussian,
    /// Mitchell–Netravali (B = C = 1/3), two pixels either side.
    Mitchell,
    /// Lanczos with two lobes.
    Lanczos,
}

impl Filter {
    /// Half width of the support, px.
    fn radius(self) -> f32 {
        match self {
            Filter::Box => 0.5,
            Filter::Tent => 1.0,
            Filter::Gaussian => 1.5,
            Filter::Mitchell | Filter::Lanczos => 2.0,
        }
    }

    fn weight(self, u: f32) -> f32 {
        let a = u.abs();
        match self {
            Filter::Box => f32::from(u8::from(a < 0.5)),
            Filter::Tent => (1.0 - a).max(0.0),
            Filter::Gaussian => (-a * a / (2.0 * 0.25)).exp(),
            Filter::Mitchell => {
                let (b, c) = (1.0 / 3.0, 1.0 / 3.0);
                if a < 1.0 {
                    ((12.0 - 9.0 * b - 6.0 * c) * a.powi(3) + (-18.0 + 12.0 * b + 6.0 * c) * a * a + (6.0 - 2.0 * b))
                        / 6.0
                } else if a < 2.0 {
                    ((-b - 6.0 * c) * a.powi(3)
                        + (6.0 * b + 30.0 * c) * a * a
                        + (-12.0 * b - 48.0 * c) * a
                        + (8.0 * b + 24.0 * c))
                        / 6.0
                } else {
                    0.0
                }
            }
            Filter::Lanczos => {
                if a < 1e-4 {
                    1.0
                } else if a < 2.0 {
                    let p = std::f32::consts::PI * a;
                    2.0 * p.sin() * (p / 2.0).sin() / (p * p)
                } else {
                    0.0
                }
            }
        }
    }
}

/// How an object's edge pixels are covered.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Edges {
    /// Hard: in or out by one point at (`dx`, `dy`) px from the pixel's centre.
    Point { dx: f32, dy: f32 },
    /// Hard: in when at least half of `n`×`n` points are.
    Majority { n: u8 },
    /// Anti-aliased: `n`×`n` points per pixel, resampled with `filter`.
    Resampled { filter: Filter, n: u8 },
    /// Anti-aliased: `n`×`n` stratified random points (one pattern for the GIF).
    Jittered { n: u8, seed: u64 },
    /// Anti-aliased: coverage falls linearly over `width` px across the edge.
    Ramp { width: f32 },
}

impl Edges {
    /// Hard edges: point 1/2, majority 1/2. Anti-aliased: box 3/10, other filters 2/5, jittered
    /// 3/20, ramp 3/20.
    pub fn sample(rng: &mut ChaCha8Rng, antialias: bool) -> Edges {
        if !antialias {
            return if rng.random_bool(0.5) {
                Edges::Point { dx: rng.random_range(-0.45..0.45), dy: rng.random_range(-0.45..0.45) }
            } else {
                Edges::Majority { n: rng.random_range(2..=4) }
            };
        }
        match rng.random_range(0..20) {
            0..6 => Edges::Resampled { filter: Filter::Box, n: [2, 3, 5, 6, 8][rng.random_range(0..5)] },
            6..14 => Edges::Resampled {
                filter: [Filter::Tent, Filter::Gaussian, Filter::Mitchell, Filter::Lanczos][rng.random_range(0..4)],
                n: rng.random_range(3..=4),
            },
            14..17 => Edges::Jittered { n: rng.random_range(3..=5), seed: rng.random() },
            _ => Edges::Ramp { width: rng.random_range(0.6..1.8) },
        }
    }

    /// How far beyond the shape a pixel may be touched, px.
    fn reach(&self) -> f32 {
        match *self {
            Edges::Point { .. } | Edges::Majority { .. } | Edges::Jittered { .. } => 0.75,
            Edges::Resampled { filter, .. } => filter.radius() + 0.75,
            Edges::Ramp { width } => width / 2.0 + 0.75,
        }
    }
}

/// How an object's pixels are coloured: its shade everywhere, or offset in grey (lighter or
/// darker) across the object or from frame to frame, always within `COLOUR_JITTER` of the CSS
/// colour, as the contract allows any shade.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fill {
    Flat,
    /// Light from `angle_deg`: up to ±`depth` across the object.
    Shaded {
        angle_deg: f32,
        depth: u8,
    },
    /// Each frame the whole object offset by up to ±`depth`.
    Flicker {
        depth: u8,
        seed: u64,
    },
}

impl Fill {
    /// Flat 1/2, shaded 3/10, flicker 1/5.
    pub fn sample(rng: &mut ChaCha8Rng) -> Fill {
        match rng.random_range(0..10) {
            0..5 => Fill::Flat,
            5..8 => Fill::Shaded { angle_deg: rng.random_range(0.0..360.0), depth: rng.random_range(6..=14) },
            _ => Fill::Flicker { depth: rng.random_range(3..=8), seed: rng.random() },
        }
    }
}

/// Per-GIF drawing parameters, prepared once.
pub struct Painter {
    edges: Edges,
    fill: Fill,
    /// Jittered sample offsets from the pixel's centre.
    points: Vec<[f32; 2]>,
}

/// A grey offset of `shade` kept within the jitter band of `css`.
fn offset_within(shade: [u8; 3], css: [u8; 3], d: f32) -> [f32; 3] {
    std::array::from_fn(|c| {
        let lo = (i32::from(css[c]) - COLOUR_JITTER).max(0) as f32;
        let hi = (i32::from(css[c]) + COLOUR_JITTER).min(255) as f32;
        (f32::from(shade[c]) + d).clamp(lo, hi)
    })
}

/// A small hash of (seed, frame) in [-1, 1], for flicker.
fn frame_noise(seed: u64, frame: usize) -> f32 {
    let mut z = seed ^ (frame as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

impl Painter {
    pub fn new(edges: Edges, fill: Fill) -> Painter {
        let points = match edges {
            Edges::Jittered { n, seed } => {
                use rand::SeedableRng;
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let n = usize::from(n.max(1));
                let step = 1.0 / n as f32;
                (0..n * n)
                    .map(|k| {
                        let (i, j) = ((k % n) as f32, (k / n) as f32);
                        [(i + rng.random_range(0.0..1.0)) * step - 0.5, (j + rng.random_range(0.0..1.0)) * step - 0.5]
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        Painter { edges, fill, points }
    }

    /// Renders frame `f` of `scene` over `background` into `out` and returns the rectangles where
    /// it may differ from the background. Later objects are drawn first so the first object is on
    /// top, as in the plain drawing.
    pub fn draw_frame(&self, scene: &Scene, f: usize, background: &[u8], out: &mut Vec<u8>) -> Vec<Rect> {
        out.clear();
        out.extend_from_slice(background);
        scene.objects.iter().rev().filter_map(|o| self.draw_object(out, scene.canvas, o, f)).collect()
    }

    /// Coverage in [0, 1] of the pixels of `rect`, row-major.
    fn coverage(&self, shape: Shape, s: &State, rect: Rect) -> Vec<f32> {
        let scale = s.size / 2.0;
        let (sin, cos) = s.angle.sin_cos();
        let inside = |px: f32, py: f32| {
            let (dx, dy) = ((px - s.x) / scale, (py - s.y) / scale);
            signed_distance(shape, cos * dx + sin * dy, -sin * dx + cos * dy) <= 0.0
        };
        // Distance of the pixel centre to the edge, px (exact inside, at most the true distance outside).
        let centre_distance = |x: usize, y: usize| {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let (dx, dy) = ((px - s.x) / scale, (py - s.y) / scale);
            signed_distance(shape, cos * dx + sin * dy, -sin * dx + cos * dy) * scale
        };
        let (w, h) = (rect.x1 - rect.x0, rect.y1 - rect.y0);
        let mut out = vec![0.0f32; w * h];
        match self.edges {
            Edges::Point { dx, dy } => {
                for y in 0..h {
                    for x in 0..w {
                        let (px, py) = ((rect.x0 + x) as f32 + 0.5 + dx, (rect.y0 + y) as f32 + 0.5 + dy);
                        out[y * w + x] = f32::from(u8::from(inside(px, py)));
                    }
                }
            }
            Edges::Ramp { width } => {
                for y in 0..h {
                    for x in 0..w {
                        let d = centre_distance(rect.x0 + x, rect.y0 + y);
                        out[y * w + x] = (0.5 - d / width).clamp(0.0, 1.0);
                    }
                }
            }
            Edges::Jittered { .. } => {
                let n = self.points.len() as f32;
                for y in 0..h {
                    for x in 0..w {
                        let d = centre_distance(rect.x0 + x, rect.y0 + y);
                        out[y * w + x] = if d <= -0.75 {
                            1.0
                        } else if d >= 0.75 {
                            0.0
                        } else {
                            let (cx, cy) = ((rect.x0 + x) as f32 + 0.5, (rect.y0 + y) as f32 + 0.5);
                            self.points.iter().filter(|p| inside(cx + p[0], cy + p[1])).count() as f32 / n
                        };
                    }
                }
            }
            Edges::Majority { n } => {
                let box_cover = resampled(Filter::Box, usize::from(n.max(1)), rect, &centre_distance, &inside);
                out = box_cover.into_iter().map(|c| f32::from(u8::from(c >= 0.5))).collect();
            }
            Edges::Resampled { filter, n } => {
                out = resampled(filter, usize::from(n.max(1)), rect, &centre_distance, &inside);
            }
        }
        out
    }

    fn draw_object(&self, out: &mut [u8], size: usize, o: &Object, f: usize) -> Option<Rect> {
        let s = &o.track[f];
        if !s.visible {
            return None;
        }
        let scale = s.size / 2.0;
        let (hx, hy) = o.shape.half_extent(s.angle != 0.0);
        let reach = self.edges.reach();
        let clampi = |v: f32| (v.max(0.0) as usize).min(size);
        let rect = Rect {
            x0: clampi((s.x - hx * scale - reach).floor()),
            y0: clampi((s.y - hy * scale - reach).floor()),
            x1: clampi((s.x + hx * scale + reach).ceil() + 1.0),
            y1: clampi((s.y + hy * scale + reach).ceil() + 1.0),
        };
        if rect.x1 <= rect.x0 || rect.y1 <= rect.y0 {
            return None;
        }
        let cover = self.coverage(o.shape, s, rect);
        let css = o.colour.css();
        let flat = offset_within(o.rgb, css, 0.0);
        let flicker = match self.fill {
            Fill::Flicker { depth, seed } => Some(offset_within(o.rgb, css, f32::from(depth) * frame_noise(seed, f))),
            _ => None,
        };
        let light = match self.fill {
            Fill::Shaded { angle_deg, depth } => {
                let (sin, cos) = angle_deg.to_radians().sin_cos();
                Some((cos, sin, f32::from(depth)))
            }
            _ => None,
        };
        let radius = hx.max(hy) * scale;
        let w = rect.x1 - rect.x0;
        for y in rect.y0..rect.y1 {
            for x in rect.x0..rect.x1 {
                let c = cover[(y - rect.y0) * w + (x - rect.x0)].clamp(0.0, 1.0);
                if c <= 1.0 / 512.0 {
                    continue;
                }
                let colour = match (flicker, light) {
                    (Some(shade), _) => shade,
                    (None, Some((cos, sin, depth))) => {
                        // -1 on the lit side, +1 on the far side of the object.
                        let t = ((x as f32 + 0.5 - s.x) * cos + (y as f32 + 0.5 - s.y) * sin) / radius.max(1.0);
                        offset_within(o.rgb, css, -depth * t.clamp(-1.0, 1.0))
                    }
                    _ => flat,
                };
                let i = (y * size + x) * 3;
                for k in 0..3 {
                    let b = f32::from(out[i + k]);
                    out[i + k] = (b + (colour[k] - b) * c).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        Some(rect)
    }
}

/// Coverage of every pixel of `rect` from an `n`×`n` supersampled mask resampled with `filter`
/// (separably, normalised so that a fully covered neighbourhood gives 1). Subsamples of pixels
/// whose centre is well inside or outside are not evaluated one by one.
fn resampled(
    filter: Filter,
    n: usize,
    rect: Rect,
    centre_distance: &dyn Fn(usize, usize) -> f32,
    inside: &dyn Fn(f32, f32) -> bool,
) -> Vec<f32> {
    let (w, h) = (rect.x1 - rect.x0, rect.y1 - rect.y0);
    let (mw, mh) = (w * n, h * n);
    let mut mask = vec![0.0f32; mw * mh];
    for y in 0..h {
        for x in 0..w {
            let d = centre_distance(rect.x0 + x, rect.y0 + y);
            let whole = if d <= -0.75 {
                Some(1.0)
            } else if d >= 0.75 {
                Some(0.0)
            } else {
                None
            };
            for j in 0..n {
                for i in 0..n {
                    let v = whole.unwrap_or_else(|| {
                        let px = (rect.x0 + x) as f32 + (i as f32 + 0.5) / n as f32;
                        let py = (rect.y0 + y) as f32 + (j as f32 + 0.5) / n as f32;
                        f32::from(u8::from(inside(px, py)))
                    });
                    mask[(y * n + j) * mw + x * n + i] = v;
                }
            }
        }
    }
    // 1D weights over the subsamples of a pixel and its neighbours: subsample s (counted from the
    // pixel's first) lies (s + 0.5) / n - 0.5 px from its centre.
    let reach = filter.radius().ceil() as i32;
    let taps: Vec<(i32, f32)> = (-reach * n as i32..(reach + 1) * n as i32)
        .map(|s| (s, filter.weight((s as f32 + 0.5) / n as f32 - 0.5)))
        .filter(|&(_, wgt)| wgt != 0.0)
        .collect();
    let total: f32 = taps.iter().map(|t| t.1).sum();
    let taps: Vec<(i32, f32)> = taps.into_iter().map(|(s, wgt)| (s, wgt / total)).collect();
    let mut rows = vec![0.0f32; w * mh];
    for r in 0..mh {
        for x in 0..w {
            let mut acc = 0.0;
            for &(s, wgt) in &taps {
                let at = (x * n) as i32 + s;
                if at >= 0 && (at as usize) < mw {
                    acc += wgt * mask[r * mw + at as usize];
                }
            }
            rows[r * w + x] = acc;
        }
    }
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for &(s, wgt) in &taps {
                let at = (y * n) as i32 + s;
                if at >= 0 && (at as usize) < mh {
                    acc += wgt * rows[at as usize * w + x];
                }
            }
            out[y * w + x] = acc;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::world::{Colour, Segment};

    fn object(shape: Shape, size: f32) -> Object {
        let s = State { x: 30.3, y: 29.6, size, angle: 0.4, visible: true };
        Object { colour: Colour::Blue, shape, rgb: [10, 20, 240], segments: Vec::<Segment>::new(), track: vec![s] }
    }

    /// Every way of making edges covers the object's middle fully, leaves far pixels alone, and
    /// anti-aliases exactly when it should.
    #[test]
    fn edges_cover_the_shape_and_blend_only_when_antialiased() {
        let size = 60;
        let edges = [
            Edges::Point { dx: 0.3, dy: -0.2 },
            Edges::Majority { n: 3 },
            Edges::Resampled { filter: Filter::Box, n: 5 },
            Edges::Resampled { filter: Filter::Tent, n: 3 },
            Edges::Resampled { filter: Filter::Gaussian, n: 4 },
            Edges::Resampled { filter: Filter::Mitchell, n: 3 },
            Edges::Resampled { filter: Filter::Lanczos, n: 4 },
            Edges::Jittered { n: 4, seed: 3 },
            Edges::Ramp { width: 1.2 },
        ];
        for e in edges {
            for shape in Shape::ALL {
                let painter = Painter::new(e, Fill::Flat);
                let mut out = vec![128u8; size * size * 3];
                let o = object(shape, 24.0);
                let rect = painter.draw_object(&mut out, size, &o, 0).unwrap();
                let at = |x: usize, y: usize| out[(y * size + x) * 3..(y * size + x) * 3 + 3].to_vec();
                assert_eq!(at(30, 29), vec![10, 20, 240], "{e:?} {shape:?}");
                assert_eq!(at(2, 2), vec![128; 3]);
                assert!(rect.x0 <= 30 && rect.x1 > 30);
                let levels: std::collections::BTreeSet<u8> = out.chunks_exact(3).map(|p| p[2]).collect();
                let hard = matches!(e, Edges::Point { .. } | Edges::Majority { .. });
                assert_eq!(levels.len() == 2, hard, "{e:?} {shape:?}: {} levels", levels.len());
            }
        }
    }

    #[test]
    fn fills_stay_within_the_colour_band() {
        let size = 60;
        for fill in [Fill::Shaded { angle_deg: 30.0, depth: 14 }, Fill::Flicker { depth: 8, seed: 1 }] {
            let painter = Painter::new(Edges::Point { dx: 0.0, dy: 0.0 }, fill);
            let mut shades = std::collections::BTreeSet::new();
            let o = object(Shape::Square, 30.0);
            let track = vec![o.track[0]; 6];
            let o = Object { track, ..o };
            for f in 0..6 {
                let mut out = vec![128u8; size * size * 3];
                painter.draw_object(&mut out, size, &o, f);
                for p in out.chunks_exact(3).filter(|p| p != &[128, 128, 128]) {
                    for (c, css) in Colour::Blue.css().iter().enumerate() {
                        assert!(i32::from(p[c]).abs_diff(i32::from(*css)) <= COLOUR_JITTER as u32, "{fill:?} {p:?}");
                    }
                    shades.insert([p[0], p[1], p[2]]);
                }
            }
            assert!(shades.len() >= 3, "{fill:?}");
        }
    }

    #[test]
    fn filters_sum_to_one_over_a_covered_neighbourhood() {
        for filter in [Filter::Box, Filter::Tent, Filter::Gaussian, Filter::Mitchell, Filter::Lanczos] {
            let rect = Rect { x0: 0, y0: 0, x1: 9, y1: 9 };
            let c = resampled(filter, 3, rect, &|_, _| -10.0, &|_, _| true);
            assert!((c[4 * 9 + 4] - 1.0).abs() < 1e-4, "{filter:?}");
        }
    }
}
