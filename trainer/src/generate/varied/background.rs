//! Backgrounds of the varied drawing: the scene's kind and colours (which the world chose to
//! contrast with every object), painted in more ways than the plain drawing's three: gradients
//! between any two points of the canvas, smooth or in bands; and noise as film grain, as several
//! octaves of lattice noise at a scale of a few to a few dozen pixels, or as scan lines.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::generate::world::Background;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BackgroundStyle {
    Flat {
        colour: [u8; 3],
    },
    /// Linear from `from` at the point `start` to `to` at `end` (fractions of the canvas side),
    /// constant beyond them; in `bands` flat steps, or smooth when `bands` is 0.
    Gradient {
        from: [u8; 3],
        to: [u8; 3],
        start: [f32; 2],
        end: [f32; 2],
        bands: u8,
    },
    /// Grey grain: every pixel offset by the sum of two uniform draws (a triangular distribution)
    /// of up to ±`amplitude` in all.
    Grain {
        base: [u8; 3],
        amplitude: u8,
        seed: u64,
    },
    /// Grey fractal noise: `octaves` layers of bilinear lattice noise, the first with cells of
    /// `scale` px, each next one half the cell and half the amplitude.
    Fractal {
        base: [u8; 3],
        amplitude: u8,
        scale: u8,
        octaves: u8,
        seed: u64,
    },
    /// Every row (or column) offset in grey by up to ±`amplitude`, in runs of `thickness` px.
    ScanLines {
        base: [u8; 3],
        amplitude: u8,
        thickness: u8,
        vertical: bool,
        seed: u64,
    },
}

impl BackgroundStyle {
    /// Keeps the scene's kind and colours. Gradients: ends anywhere in the outer thirds, so
    /// every direction occurs; bands 1/3. Noise: grain, fractal and scan lines 2/5, 2/5, 1/5.
    pub fn sample(rng: &mut ChaCha8Rng, background: &Background) -> BackgroundStyle {
        match *background {
            Background::Flat(colour) => BackgroundStyle::Flat { colour },
            Background::Gradient { from, to, .. } => {
                let angle = rng.random_range(0.0..std::f32::consts::TAU);
                let (reach_a, reach_b) = (rng.random_range(0.2..0.7f32), rng.random_range(0.2..0.7f32));
                let (sin, cos) = angle.sin_cos();
                let start = [0.5 - cos * reach_a, 0.5 - sin * reach_a];
                let end = [0.5 + cos * reach_b, 0.5 + sin * reach_b];
                let bands = if rng.random_bool(1.0 / 3.0) { rng.random_range(4..=16) } else { 0 };
                BackgroundStyle::Gradient { from, to, start, end, bands }
            }
            Background::Noise { base, .. } => match rng.random_range(0..5) {
                0..2 => BackgroundStyle::Grain { base, amplitude: rng.random_range(3..=9), seed: rng.random() },
                2..4 => BackgroundStyle::Fractal {
                    base,
                    amplitude: rng.random_range(4..=9),
                    scale: [6, 10, 16, 24, 40][rng.random_range(0..5)],
                    octaves: rng.random_range(1..=3),
                    seed: rng.random(),
                },
                _ => BackgroundStyle::ScanLines {
                    base,
                    amplitude: rng.random_range(2..=6),
                    thickness: rng.random_range(1..=3),
                    vertical: rng.random_bool(0.5),
                    seed: rng.random(),
                },
            },
        }
    }
}

fn grey(base: [u8; 3], d: f32) -> [u8; 3] {
    base.map(|c| (f32::from(c) + d).round().clamp(0.0, 255.0) as u8)
}

/// Bilinear lattice noise in [-1, 1] with cells of `cell` px.
struct Lattice {
    values: Vec<f32>,
    side: usize,
    cell: f32,
}

impl Lattice {
    fn new(rng: &mut ChaCha8Rng, size: usize, cell: f32) -> Lattice {
        let side = (size as f32 / cell).ceil() as usize + 2;
        Lattice { values: (0..side * side).map(|_| rng.random_range(-1.0..=1.0)).collect(), side, cell }
    }

    fn at(&self, x: f32, y: f32) -> f32 {
        let (gx, gy) = (x / self.cell, y / self.cell);
        let (ix, iy) = (gx.floor() as usize, gy.floor() as usize);
        let (fx, fy) = (gx.fract(), gy.fract());
        let v = |i: usize, j: usize| self.values[(j.min(self.side - 1)) * self.side + i.min(self.side - 1)];
        let top = v(ix, iy) + (v(ix + 1, iy) - v(ix, iy)) * fx;
        let bottom = v(ix, iy + 1) + (v(ix + 1, iy + 1) - v(ix, iy + 1)) * fx;
        top + (bottom - top) * fy
    }
}

/// Paints the background, RGB, `size` px square.
pub fn paint(style: &BackgroundStyle, size: usize) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(size * size * 3);
    let side = size as f32;
    match *style {
        BackgroundStyle::Flat { colour } => {
            for _ in 0..size * size {
                rgb.extend_from_slice(&colour);
            }
        }
        BackgroundStyle::Gradient { from, to, start, end, bands } => {
            let (sx, sy) = (start[0] * side, start[1] * side);
            let (dx, dy) = (end[0] * side - sx, end[1] * side - sy);
            let length2 = (dx * dx + dy * dy).max(1e-3);
            for y in 0..size {
                for x in 0..size {
                    let (px, py) = (x as f32 + 0.5 - sx, y as f32 + 0.5 - sy);
                    let mut t = ((px * dx + py * dy) / length2).clamp(0.0, 1.0);
                    if bands > 1 {
                        let n = f32::from(bands);
                        t = ((t * n).floor().min(n - 1.0)) / (n - 1.0);
                    }
                    for c in 0..3 {
                        let (a, b) = (f32::from(from[c]), f32::from(to[c]));
                        rgb.push((a + (b - a) * t).round() as u8);
                    }
                }
            }
        }
        BackgroundStyle::Grain { base, amplitude, seed } => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let half = f32::from(amplitude) / 2.0;
            for _ in 0..size * size {
                let d = rng.random_range(-half..=half) + rng.random_range(-half..=half);
                rgb.extend_from_slice(&grey(base, d));
            }
        }
        BackgroundStyle::Fractal { base, amplitude, scale, octaves, seed } => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let layers: Vec<(Lattice, f32)> = (0..octaves.max(1))
                .map(|o| {
                    let k = 2f32.powi(i32::from(o));
                    (Lattice::new(&mut rng, size, (f32::from(scale) / k).max(1.0)), 1.0 / k)
                })
                .collect();
            let total: f32 = layers.iter().map(|l| l.1).sum();
            let a = f32::from(amplitude) / total;
            for y in 0..size {
                for x in 0..size {
                    let n: f32 = layers.iter().map(|(l, w)| w * l.at(x as f32, y as f32)).sum();
                    rgb.extend_from_slice(&grey(base, a * n));
                }
            }
        }
        BackgroundStyle::ScanLines { base, amplitude, thickness, vertical, seed } => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let a = i32::from(amplitude);
            let t = usize::from(thickness.max(1));
            let lines: Vec<f32> = (0..size.div_ceil(t)).map(|_| rng.random_range(-a..=a) as f32).collect();
            for y in 0..size {
                for x in 0..size {
                    let line = (if vertical { x } else { y }) / t;
                    rgb.extend_from_slice(&grey(base, lines[line]));
                }
            }
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradients_go_from_one_end_to_the_other() {
        let (from, to) = ([40, 40, 40], [90, 90, 90]);
        let size = 60;
        for (start, end) in [([0.2, 0.5], [0.8, 0.5]), ([0.7, 0.9], [0.3, 0.1]), ([0.9, 0.1], [0.1, 0.9])] {
            for bands in [0, 5] {
                let rgb = paint(&BackgroundStyle::Gradient { from, to, start, end, bands }, size);
                let at = |p: [f32; 2]| {
                    let (x, y) = ((p[0] * size as f32) as usize, (p[1] * size as f32) as usize);
                    rgb[(y.min(size - 1) * size + x.min(size - 1)) * 3]
                };
                assert!(at(start) <= 42 && at(end) >= 88, "{start:?} {end:?} {bands}: {} {}", at(start), at(end));
                let levels: std::collections::BTreeSet<u8> = rgb.iter().copied().collect();
                if bands > 0 {
                    assert!(levels.len() <= usize::from(bands));
                } else {
                    assert!(levels.len() > 20);
                }
            }
        }
    }

    #[test]
    fn noise_stays_mild_and_is_a_function_of_its_style() {
        let base = [200, 195, 180];
        let styles = [
            BackgroundStyle::Grain { base, amplitude: 9, seed: 1 },
            BackgroundStyle::Fractal { base, amplitude: 9, scale: 16, octaves: 3, seed: 2 },
            BackgroundStyle::ScanLines { base, amplitude: 6, thickness: 2, vertical: true, seed: 3 },
        ];
        for style in styles {
            let rgb = paint(&style, 48);
            let mut distinct = std::collections::BTreeSet::new();
            for p in rgb.chunks_exact(3) {
                distinct.insert([p[0], p[1], p[2]]);
                for c in 0..3 {
                    assert!(p[c].abs_diff(base[c]) <= 9, "{style:?}");
                }
            }
            assert!(distinct.len() >= 3, "{style:?}");
            assert_eq!(rgb, paint(&style, 48));
        }
    }
}
