//! Rasterising a scene to RGB frames: the background once per GIF, then the objects per frame.
//!
//! Shapes are signed distance functions in unit coordinates (half the size = 1, y down).
//! Anti-aliasing is coverage supersampling (4x4) on the pixels near an edge only; pixels whose
//! centre is farther than half a pixel diagonal from the edge are fully in or out.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::world::{Background, Scene, Shape, State, geometry};

/// Levels of a gradient: few enough to put every background colour in the palette exactly.
const GRADIENT_STEPS: usize = 32;
const SUPERSAMPLE: usize = 4;

/// The rendered background and the distinct colours it uses.
pub struct BackgroundImage {
    pub rgb: Vec<u8>,
    pub colours: Vec<[u8; 3]>,
}

/// A pixel rectangle, `x1`/`y1` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

fn lerp(a: [u8; 3], b: [u8; 3], t: f32) -> [u8; 3] {
    std::array::from_fn(|i| (f32::from(a[i]) + (f32::from(b[i]) - f32::from(a[i])) * t).round() as u8)
}

pub fn background(bg: &Background, size: usize) -> BackgroundImage {
    let mut rgb = Vec::with_capacity(size * size * 3);
    let mut colours: Vec<[u8; 3]> = Vec::new();
    match *bg {
        Background::Flat(c) => {
            colours.push(c);
            for _ in 0..size * size {
                rgb.extend_from_slice(&c);
            }
        }
        Background::Gradient { from, to, direction } => {
            let steps: Vec<[u8; 3]> =
                (0..GRADIENT_STEPS).map(|k| lerp(from, to, k as f32 / (GRADIENT_STEPS - 1) as f32)).collect();
            let span = (size - 1).max(1) as f32;
            for y in 0..size {
                for x in 0..size {
                    let t = match direction {
                        0 => x as f32 / span,
                        1 => y as f32 / span,
                        2 => (x + y) as f32 / (2.0 * span),
                        _ => (span - x as f32 + y as f32) / (2.0 * span),
                    };
                    let k = (t * (GRADIENT_STEPS - 1) as f32).round() as usize;
                    rgb.extend_from_slice(&steps[k.min(GRADIENT_STEPS - 1)]);
                }
            }
            colours = steps;
        }
        Background::Noise { base, amplitude, seed } => {
            // Grey noise (the same offset on every channel) keeps the colour count small.
            let amp = i32::from(amplitude);
            let shade = |n: i32| base.map(|c| (i32::from(c) + n).clamp(0, 255) as u8);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for _ in 0..size * size {
                rgb.extend_from_slice(&shade(rng.random_range(-amp..=amp)));
            }
            colours = (-amp..=amp).map(shade).collect();
        }
    }
    colours.dedup();
    let mut seen = Vec::with_capacity(colours.len());
    for c in colours {
        if !seen.contains(&c) {
            seen.push(c);
        }
    }
    BackgroundImage { rgb, colours: seen }
}

fn sd_box(x: f32, y: f32, hx: f32, hy: f32) -> f32 {
    let (dx, dy) = (x.abs() - hx, y.abs() - hy);
    dx.max(0.0).hypot(dy.max(0.0)) + dx.max(dy).min(0.0)
}

fn sd_star(x: f32, y: f32) -> f32 {
    use std::f32::consts::{PI, TAU};
    // Fold into the wedge [0°, 36°] around the top tip (angles from +y up); by symmetry the
    // nearest boundary there is the edge from the tip T to the inner vertex V.
    let sector = TAU / 5.0;
    let (ux, uy) = (x, -y);
    let r = ux.hypot(uy);
    let mut a = ux.atan2(uy);
    a -= (a / sector).round() * sector;
    let (s, c) = a.abs().sin_cos();
    let (qx, qy) = (r * s, r * c);
    let outer = geometry::STAR_OUTER;
    let inner = outer * geometry::STAR_INNER_RATIO;
    let (tx, ty) = (0.0, outer);
    let (vs, vc) = (PI / 5.0).sin_cos();
    let (vx, vy) = (inner * vs, inner * vc);
    let (ex, ey) = (vx - tx, vy - ty);
    let (px, py) = (qx - tx, qy - ty);
    let h = ((px * ex + py * ey) / (ex * ex + ey * ey)).clamp(0.0, 1.0);
    let d = (px - ex * h).hypot(py - ey * h);
    // The origin lies on the inner side of line TV: same sign of the cross product means inside.
    let side = ex * py - ey * px;
    let origin_side = ex * (-ty) - ey * (-tx);
    if side * origin_side >= 0.0 { -d } else { d }
}

/// Signed distance in unit coordinates (negative inside). Exact inside; outside it may
/// underestimate, which is safe for the in/out early exit.
pub fn signed_distance(shape: Shape, x: f32, y: f32) -> f32 {
    match shape {
        Shape::Circle => x.hypot(y) - 1.0,
        Shape::Square => sd_box(x, y, 1.0, 1.0),
        Shape::Cross => {
            let t = geometry::CROSS_HALF_THICKNESS;
            sd_box(x, y, 1.0, t).min(sd_box(x, y, t, 1.0))
        }
        Shape::Diamond => {
            let a = geometry::DIAMOND_HALF_WIDTH;
            (x.abs() / a + y.abs() - 1.0) / (1.0 / (a * a) + 1.0).sqrt()
        }
        Shape::Triangle => {
            // Apex (0, -1), base corners (±1, 1).
            let side = (2.0 * x.abs() - y - 1.0) / 5f32.sqrt();
            side.max(y - 1.0)
        }
        Shape::Star => sd_star(x, y),
    }
}

/// Draws one object over `out` (RGB, `size` px square) and returns the rectangle it touched.
fn draw_object(out: &mut [u8], size: usize, shape: Shape, rgb: [u8; 3], s: &State, antialias: bool) -> Option<Rect> {
    if !s.visible {
        return None;
    }
    let scale = s.size / 2.0;
    let (hx, hy) = shape.half_extent(s.angle != 0.0);
    let clampi = |v: f32| (v.max(0.0) as usize).min(size);
    let rect = Rect {
        x0: clampi((s.x - hx * scale).floor() - 1.0),
        y0: clampi((s.y - hy * scale).floor() - 1.0),
        x1: clampi((s.x + hx * scale).ceil() + 1.0),
        y1: clampi((s.y + hy * scale).ceil() + 1.0),
    };
    // Sample point (px coordinates) -> unit coordinates of the upright shape.
    let (sin, cos) = s.angle.sin_cos();
    let to_local = |px: f32, py: f32| {
        let (dx, dy) = ((px - s.x) / scale, (py - s.y) / scale);
        (cos * dx + sin * dy, -sin * dx + cos * dy)
    };
    let edge = 0.75 / scale;
    let full = (SUPERSAMPLE * SUPERSAMPLE) as u32;
    for py in rect.y0..rect.y1 {
        for px in rect.x0..rect.x1 {
            let (lx, ly) = to_local(px as f32 + 0.5, py as f32 + 0.5);
            let d = signed_distance(shape, lx, ly);
            let cover = if !antialias {
                if d <= 0.0 { full } else { 0 }
            } else if d <= -edge {
                full
            } else if d >= edge {
                0
            } else {
                let mut n = 0;
                for sy in 0..SUPERSAMPLE {
                    for sx in 0..SUPERSAMPLE {
                        let fx = px as f32 + (sx as f32 + 0.5) / SUPERSAMPLE as f32;
                        let fy = py as f32 + (sy as f32 + 0.5) / SUPERSAMPLE as f32;
                        let (lx, ly) = to_local(fx, fy);
                        n += u32::from(signed_distance(shape, lx, ly) <= 0.0);
                    }
                }
                n
            };
            if cover == 0 {
                continue;
            }
            let i = (py * size + px) * 3;
            for c in 0..3 {
                let (b, o) = (u32::from(out[i + c]), u32::from(rgb[c]));
                out[i + c] = ((b * (full - cover) + o * cover + full / 2) / full) as u8;
            }
        }
    }
    Some(rect)
}

/// Renders frame `f` into `out` (RGB) and returns the rectangles where it may differ from the
/// background. Later objects are drawn first so the first object is always on top.
pub fn draw_frame(scene: &Scene, f: usize, bg: &BackgroundImage, out: &mut Vec<u8>) -> Vec<Rect> {
    out.clear();
    out.extend_from_slice(&bg.rgb);
    scene
        .objects
        .iter()
        .rev()
        .filter_map(|o| draw_object(out, scene.canvas, o.shape, o.rgb, &o.track[f], scene.antialias))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rasterises one shape at `size` px (no anti-aliasing) and returns the covered pixel mask.
    fn mask(shape: Shape, size: f32, angle: f32) -> (Vec<bool>, usize) {
        let canvas = 64;
        let mut out = vec![0u8; canvas * canvas * 3];
        let s = State { x: 32.0, y: 32.0, size, angle, visible: true };
        draw_object(&mut out, canvas, shape, [255, 255, 255], &s, false);
        (out.chunks(3).map(|p| p[0] == 255).collect(), canvas)
    }

    #[test]
    fn shapes_stay_within_their_extent() {
        for shape in Shape::ALL {
            for angle in [0.0, 0.3, 1.1, 2.5] {
                let size = 36.0;
                let (m, canvas) = mask(shape, size, angle);
                let (hx, hy) = shape.half_extent(angle != 0.0);
                for (i, &on) in m.iter().enumerate() {
                    if on {
                        let (x, y) = ((i % canvas) as f32 + 0.5, (i / canvas) as f32 + 0.5);
                        assert!((x - 32.0).abs() <= hx * size / 2.0 + 0.01, "{shape:?}");
                        assert!((y - 32.0).abs() <= hy * size / 2.0 + 0.01, "{shape:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn upright_shapes_span_their_size() {
        for shape in Shape::ALL {
            let (m, canvas) = mask(shape, 20.0, 0.0);
            let on: Vec<usize> = (0..m.len()).filter(|&i| m[i]).collect();
            let span = |v: Vec<usize>| v.iter().max().unwrap() - v.iter().min().unwrap() + 1;
            let width = span(on.iter().map(|i| i % canvas).collect());
            let height = span(on.iter().map(|i| i / canvas).collect());
            // Star tips are thinner than a pixel at the very end.
            let across = width.max(height);
            assert!((18..=21).contains(&across), "{shape:?} is {width}x{height} px");
            // The centre is inside every shape.
            assert!(m[32 * canvas + 32], "{shape:?}");
        }
    }

    #[test]
    fn star_distance_is_signed() {
        assert!(signed_distance(Shape::Star, 0.0, 0.0) < 0.0);
        assert!(signed_distance(Shape::Star, 0.0, -1.0) < 0.0); // near the top tip
        assert!(signed_distance(Shape::Star, 0.0, -1.1) > 0.0);
        assert!(signed_distance(Shape::Star, 0.0, 0.7) > 0.0); // between the two lower tips
        assert!(signed_distance(Shape::Star, 0.7, -0.7) > 0.0); // between top and right tips
    }

    #[test]
    fn antialiased_edges_blend() {
        let canvas = 40;
        let mut out = vec![0u8; canvas * canvas * 3];
        let s = State { x: 20.3, y: 19.6, size: 21.0, angle: 0.0, visible: true };
        draw_object(&mut out, canvas, Shape::Circle, [200, 200, 200], &s, true);
        let levels: std::collections::BTreeSet<u8> = out.iter().copied().collect();
        assert!(levels.len() > 5);
    }
}
