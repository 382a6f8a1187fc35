//! Training-time augmentation: the jitter of every training clip's frame times, and with
//! `train --augment`, per clip, a brightness and contrast jitter, sometimes a slight blur,
//! sometimes pixel noise, sometimes fewer levels per channel (a re-quantisation). Mild enough to stay within the benchmark's contract: shades move by a few
//! units, edges by less than a pixel, and every frame of a clip gets the same look.
//!
//! Only training calls it (the loader, and pretraining's time jitter), never validation, evaluation or prediction. Its randomness
//! comes from the run's generator (one draw per clip), so a seed gives the same clips.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use shared_model::preprocess::PreparedClip;

/// Largest brightness offset, channel units.
const BRIGHTNESS: f32 = 14.0;
/// Largest relative change of contrast (about mid-grey).
const CONTRAST: f32 = 0.12;
/// Share of clips blurred, and the largest blur (weight of the neighbours in a 3-tap kernel).
const BLUR_SHARE: f64 = 0.3;
const BLUR_MAX: f32 = 0.25;
/// Share of clips with pixel noise, and its largest amplitude (uniform, channel units).
const NOISE_SHARE: f64 = 0.5;
const NOISE_MAX: f32 = 6.0;
/// Share of clips re-quantised to 32 or 64 levels per channel.
const REQUANTISE_SHARE: f64 = 0.15;

/// The look drawn for one clip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Look {
    /// Added to every channel, in channel units.
    pub brightness: f32,
    /// Factor on each channel's distance from mid-grey.
    pub contrast: f32,
    /// Weight of each neighbour in the separable [w, 1 - 2w, w] kernel; 0 = no blur.
    pub blur: f32,
    /// Uniform noise amplitude; 0 = none.
    pub noise: f32,
    /// Levels per channel after re-quantisation; 0 = not re-quantised.
    pub levels: u16,
    /// Seed of the pixel noise.
    pub seed: u64,
}

impl Look {
    /// Draws a look from the run's generator.
    pub fn sample(rng: &mut ChaCha8Rng) -> Look {
        Look {
            brightness: rng.random_range(-BRIGHTNESS..=BRIGHTNESS),
            contrast: 1.0 + rng.random_range(-CONTRAST..=CONTRAST),
            blur: if rng.random_bool(BLUR_SHARE) { rng.random_range(0.08..=BLUR_MAX) } else { 0.0 },
            noise: if rng.random_bool(NOISE_SHARE) { rng.random_range(1.0..=NOISE_MAX) } else { 0.0 },
            levels: if rng.random_bool(REQUANTISE_SHARE) { [32, 64][rng.random_range(0..2)] } else { 0 },
            seed: rng.random(),
        }
    }
}

/// A fast generator for the per-pixel noise (SplitMix64), seeded per clip.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Blurs one `size`×`size` RGB frame in place with the separable kernel [w, 1 - 2w, w].
fn blur(frame: &mut [u8], size: usize, w: f32, scratch: &mut Vec<f32>) {
    scratch.clear();
    scratch.extend(frame.iter().map(|&v| f32::from(v)));
    let at = |buf: &[f32], x: usize, y: usize, c: usize| buf[(y * size + x) * 3 + c];
    let mut rows = vec![0.0f32; frame.len()];
    for y in 0..size {
        for x in 0..size {
            let (l, r) = (x.saturating_sub(1), (x + 1).min(size - 1));
            for c in 0..3 {
                rows[(y * size + x) * 3 + c] =
                    w * at(scratch, l, y, c) + (1.0 - 2.0 * w) * at(scratch, x, y, c) + w * at(scratch, r, y, c);
            }
        }
    }
    for y in 0..size {
        let (u, d) = (y.saturating_sub(1), (y + 1).min(size - 1));
        for x in 0..size {
            for c in 0..3 {
                let v = w * at(&rows, x, u, c) + (1.0 - 2.0 * w) * at(&rows, x, y, c) + w * at(&rows, x, d, c);
                frame[(y * size + x) * 3 + c] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Applies `look` to every frame of `clip` (`size`×`size` RGB frames); times and sources stay.
pub fn apply(clip: &mut PreparedClip, size: usize, look: &Look) {
    let frame_len = size * size * 3;
    if frame_len == 0 {
        return;
    }
    let mut scratch = Vec::new();
    let mut noise = SplitMix(look.seed);
    // Brightness and contrast as one table (the same for every pixel).
    let table: [f32; 256] = std::array::from_fn(|v| (v as f32 - 128.0) * look.contrast + 128.0 + look.brightness);
    let step = if look.levels > 1 { 255.0 / f32::from(look.levels - 1) } else { 0.0 };
    for frame in clip.pixels.chunks_exact_mut(frame_len) {
        if look.blur > 0.0 {
            blur(frame, size, look.blur, &mut scratch);
        }
        for v in frame.iter_mut() {
            let mut x = table[usize::from(*v)];
            if look.noise > 0.0 {
                let u = (noise.next() >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
                x += (2.0 * u - 1.0) * look.noise;
            }
            if step > 0.0 {
                x = (x / step).round() * step;
            }
            *v = x.round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Augments every clip of a batch with a look drawn from `rng`, in order.
pub fn augment_all(clips: &mut [PreparedClip], size: usize, rng: &mut ChaCha8Rng) {
    for clip in clips {
        let look = Look::sample(rng);
        apply(clip, size, &look);
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn clip(size: usize, frames: usize) -> PreparedClip {
        let mut pixels = vec![200u8; frames * size * size * 3];
        // A red square in every frame.
        for f in 0..frames {
            for y in 4..10 {
                for x in 4..10 {
                    let i = ((f * size + y) * size + x) * 3;
                    pixels[i..i + 3].copy_from_slice(&[230, 20, 20]);
                }
            }
        }
        PreparedClip {
            pixels,
            times: (0..frames).map(|f| f as f32 / frames as f32).collect(),
            sources: vec![None; frames],
        }
    }

    #[test]
    fn augmentation_is_deterministic_for_a_seed_and_mild() {
        let (size, frames) = (16, 3);
        let original = clip(size, frames);
        let run = |seed: u64| {
            let mut clips = vec![original.clone(), original.clone(), original.clone(), original.clone()];
            augment_all(&mut clips, size, &mut ChaCha8Rng::seed_from_u64(seed));
            clips
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        let mut changed = 0;
        for c in run(5) {
            assert_eq!((&c.times, &c.sources), (&original.times, &original.sources));
            changed += usize::from(c.pixels != original.pixels);
            // The square's middle stays red and the background stays light.
            let mid = ((size + 7) * size + 7) * 3;
            assert!(
                c.pixels[mid] > 180 && c.pixels[mid + 1] < 70 && c.pixels[mid + 2] < 70,
                "{:?}",
                &c.pixels[mid..mid + 3]
            );
            assert!(c.pixels[0] > 150);
        }
        assert_eq!(changed, 4);
    }

    #[test]
    fn each_part_does_what_it_says() {
        let size = 16;
        let base = clip(size, 1);
        let none = Look { brightness: 0.0, contrast: 1.0, blur: 0.0, noise: 0.0, levels: 0, seed: 1 };
        let mut c = base.clone();
        apply(&mut c, size, &none);
        assert_eq!(c, base);
        let mut c = base.clone();
        apply(&mut c, size, &Look { brightness: 10.0, ..none });
        assert_eq!(c.pixels[0], 210);
        let mut c = base.clone();
        apply(&mut c, size, &Look { blur: 0.25, ..none });
        let edge = (7 * size + 3) * 3; // just left of the square
        assert!(c.pixels[edge + 1] < 200 && c.pixels[edge + 1] > 20);
        let mut c = base.clone();
        apply(&mut c, size, &Look { levels: 32, ..none });
        let step = 255.0 / 31.0;
        let on_a_level = |v: u8| ((f32::from(v) / step).round() * step).round() as u8 == v;
        assert!(c.pixels.iter().all(|&v| on_a_level(v)));
        let mut c = base.clone();
        apply(&mut c, size, &Look { noise: 4.0, ..none });
        assert!(c.pixels.iter().zip(&base.pixels).all(|(a, b)| a.abs_diff(*b) <= 4));
        assert!(c.pixels != base.pixels);
    }
}
