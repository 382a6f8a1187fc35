//! The second renderer's backgrounds: within the contract (flat, a two-colour linear gradient, or
//! flat with mild noise; light or dark greys, beige, pale tints), but of kinds the primary
//! renderer never draws: gradients at any angle, per-channel pixel noise, smooth value noise,
//! blocky noise and sparse speckle.
//!
//! Colours come from the scene's background, which the world already chose to contrast with
//! every object; where a kind needs a second colour, it is the first one made a little lighter or
//! darker, whichever keeps farther from the objects.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::generate::world::{Background, Scene};

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BackgroundStyle {
    Flat {
        colour: [u8; 3],
    },
    /// Linear from `from` to `to` along the direction `angle_deg` (0 = left to right, 90 = top to
    /// bottom), spanning the whole canvas.
    Gradient {
        from: [u8; 3],
        to: [u8; 3],
        angle_deg: f32,
    },
    /// Every channel of every pixel offset independently by up to ±`amplitude`.
    PixelNoise {
        base: [u8; 3],
        amplitude: u8,
        seed: u64,
    },
    /// Grey offsets of up to ±`amplitude` on a lattice of `cell` px, smoothly interpolated.
    ValueNoise {
        base: [u8; 3],
        amplitude: u8,
        cell: u8,
        seed: u64,
    },
    /// Square cells of `cell` px, each offset (grey) by up to ±`amplitude`.
    BlockNoise {
        base: [u8; 3],
        amplitude: u8,
        cell: u8,
        seed: u64,
    },
    /// `per_mille` of the pixels lighter or darker by `amplitude` (grey), the rest flat.
    Speckle {
        base: [u8; 3],
        amplitude: u8,
        per_mille: u16,
        seed: u64,
    },
}

fn distance(a: [u8; 3], b: [u8; 3]) -> i32 {
    (0..3).map(|i| (i32::from(a[i]) - i32::from(b[i])).pow(2)).sum()
}

fn offset(c: [u8; 3], d: i32) -> [u8; 3] {
    c.map(|v| (i32::from(v) + d).clamp(0, 255) as u8)
}

/// `base` made lighter or darker by `step`, whichever keeps farther from every object shade.
fn companion(base: [u8; 3], step: i32, shades: &[[u8; 3]]) -> [u8; 3] {
    let worst = |c: [u8; 3]| shades.iter().map(|&s| distance(c, s)).min().unwrap_or(i32::MAX);
    let (up, down) = (offset(base, step), offset(base, -step));
    if worst(up) >= worst(down) { up } else { down }
}

impl BackgroundStyle {
    /// Probabilities: flat 1/5, gradient 3/10, pixel noise 3/20, value noise 3/20, block noise
    /// 1/10, speckle 1/10.
    pub fn sample(rng: &mut ChaCha8Rng, scene: &Scene) -> BackgroundStyle {
        let shades: Vec<[u8; 3]> = scene.objects.iter().map(|o| o.rgb).collect();
        let (base, other) = match scene.background {
            Background::Flat(c) => (c, None),
            Background::Gradient { from, to, .. } => (from, Some(to)),
            Background::Noise { base, .. } => (base, None),
        };
        match rng.random_range(0..20) {
            0..4 => BackgroundStyle::Flat { colour: base },
            4..10 => {
                let to = other.unwrap_or_else(|| companion(base, rng.random_range(12..=22), &shades));
                let (from, to) = if rng.random_bool(0.5) { (base, to) } else { (to, base) };
                BackgroundStyle::Gradient { from, to, angle_deg: rng.random_range(0.0..360.0) }
            }
            10..13 => BackgroundStyle::PixelNoise { base, amplitude: rng.random_range(3..=6), seed: rng.random() },
            13..16 => BackgroundStyle::ValueNoise {
                base,
                amplitude: rng.random_range(5..=9),
                cell: [4, 8, 16][rng.random_range(0..3)],
                seed: rng.random(),
            },
            16..18 => BackgroundStyle::BlockNoise {
                base,
                amplitude: rng.random_range(4..=7),
                cell: rng.random_range(2..=5),
                seed: rng.random(),
            },
            _ => BackgroundStyle::Speckle {
                base,
                amplitude: rng.random_range(14..=24),
                per_mille: rng.random_range(15..=50),
                seed: rng.random(),
            },
        }
    }
}

fn smoothstep(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// Paints the background, RGB, `size` px square.
pub fn paint(style: &BackgroundStyle, size: usize) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(size * size * 3);
    match *style {
        BackgroundStyle::Flat { colour } => {
            for _ in 0..size * size {
                rgb.extend_from_slice(&colour);
            }
        }
        BackgroundStyle::Gradient { from, to, angle_deg } => {
            let (sin, cos) = angle_deg.to_radians().sin_cos();
            // The canvas corners project onto the direction within ±reach of the centre.
            let half = size as f32 / 2.0;
            let reach = (cos.abs() + sin.abs()) * half;
            for y in 0..size {
                for x in 0..size {
                    let along = (x as f32 + 0.5 - half) * cos + (y as f32 + 0.5 - half) * sin;
                    let t = (0.5 + along / (2.0 * reach)).clamp(0.0, 1.0);
                    for c in 0..3 {
                        let (a, b) = (f32::from(from[c]), f32::from(to[c]));
                        rgb.push((a + (b - a) * t).round() as u8);
                    }
                }
            }
        }
        BackgroundStyle::PixelNoise { base, amplitude, seed } => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let a = i32::from(amplitude);
            for _ in 0..size * size {
                for &v in &base {
                    rgb.push((i32::from(v) + rng.random_range(-a..=a)).clamp(0, 255) as u8);
                }
            }
        }
        BackgroundStyle::ValueNoise { base, amplitude, cell, seed } => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let cell = usize::from(cell.max(1));
            let n = size / cell + 2;
            let a = f32::from(amplitude);
            let lattice: Vec<f32> = (0..n * n).map(|_| rng.random_range(-a..=a)).collect();
            for y in 0..size {
                let (gy, fy) = (y / cell, smoothstep((y % cell) as f32 / cell as f32));
                for x in 0..size {
                    let (gx, fx) = (x / cell, smoothstep((x % cell) as f32 / cell as f32));
                    let at = |i: usize, j: usize| lattice[j * n + i];
                    let top = at(gx, gy) + (at(gx + 1, gy) - at(gx, gy)) * fx;
                    let bottom = at(gx, gy + 1) + (at(gx + 1, gy + 1) - at(gx, gy + 1)) * fx;
                    rgb.extend_from_slice(&offset(base, (top + (bottom - top) * fy).round() as i32));
                }
            }
        }
        BackgroundStyle::BlockNoise { base, amplitude, cell, seed } => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let cell = usize::from(cell.max(1));
            let n = size.div_ceil(cell);
            let a = i32::from(amplitude);
            let blocks: Vec<i32> = (0..n * n).map(|_| rng.random_range(-a..=a)).collect();
            for y in 0..size {
                for x in 0..size {
                    rgb.extend_from_slice(&offset(base, blocks[(y / cell) * n + x / cell]));
                }
            }
        }
        BackgroundStyle::Speckle { base, amplitude, per_mille, seed } => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let a = i32::from(amplitude);
            for _ in 0..size * size {
                let d =
                    if rng.random_range(0..1000) < per_mille { if rng.random_bool(0.5) { a } else { -a } } else { 0 };
                rgb.extend_from_slice(&offset(base, d));
            }
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(rgb: &[u8]) -> (u8, u8) {
        (*rgb.iter().min().unwrap(), *rgb.iter().max().unwrap())
    }

    #[test]
    fn gradients_run_from_one_colour_to_the_other_in_their_direction() {
        let (from, to) = ([40, 40, 40], [80, 80, 80]);
        let size = 50;
        for angle_deg in [0.0f32, 90.0, 135.0, 200.0, 333.0] {
            let rgb = paint(&BackgroundStyle::Gradient { from, to, angle_deg }, size);
            assert_eq!(rgb.len(), size * size * 3);
            let (lo, hi) = spread(&rgb);
            assert!(lo >= 40 && hi <= 80 && hi - lo >= 36, "{angle_deg}: {lo}..{hi}");
            // The pixel farthest along the direction is the `to` end.
            let (sin, cos) = angle_deg.to_radians().sin_cos();
            let x = if cos >= 0.0 { size - 1 } else { 0 };
            let y = if sin >= 0.0 { size - 1 } else { 0 };
            assert!(rgb[(y * size + x) * 3] >= 76, "{angle_deg}");
        }
    }

    #[test]
    fn noise_stays_mild() {
        let base = [200, 190, 170];
        let styles = [
            BackgroundStyle::PixelNoise { base, amplitude: 6, seed: 1 },
            BackgroundStyle::ValueNoise { base, amplitude: 9, cell: 8, seed: 2 },
            BackgroundStyle::BlockNoise { base, amplitude: 7, cell: 3, seed: 3 },
            BackgroundStyle::Speckle { base, amplitude: 24, per_mille: 50, seed: 4 },
        ];
        for style in styles {
            let rgb = paint(&style, 40);
            let mut distinct = std::collections::BTreeSet::new();
            for p in rgb.chunks_exact(3) {
                distinct.insert([p[0], p[1], p[2]]);
                for c in 0..3 {
                    assert!(p[c].abs_diff(base[c]) <= 24, "{style:?}");
                }
            }
            assert!(distinct.len() >= 3, "{style:?}");
            assert_eq!(rgb, paint(&style, 40), "a background is a function of its style");
        }
    }

    #[test]
    fn the_companion_colour_moves_away_from_the_objects() {
        // A white object: the second colour of a light grey is darker.
        assert_eq!(companion([200; 3], 20, &[[250, 250, 250]]), [180; 3]);
        assert_eq!(companion([50; 3], 20, &[[0, 0, 0]]), [70; 3]);
    }
}
