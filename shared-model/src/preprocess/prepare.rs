//! Turning decoded frames into model input: alpha over a fixed grey, area-resampling to a square,
//! and per-channel normalisation. Train and serve both call these functions, so they never skew.

use serde::{Deserialize, Serialize};

use crate::gif::DecodedGif;
use crate::sampling::{FrameSource, SampledFrame};

/// How frames become tensors; saved in a model folder's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreprocessConfig {
    /// Side of the square model input, in pixels.
    pub image_size: usize,
    /// Per-channel mean subtracted after scaling to 0..1.
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided by after subtracting the mean.
    pub std: [f32; 3],
    /// Colour that transparent pixels are composited over.
    pub background: [u8; 3],
}

impl PreprocessConfig {
    /// Defaults for a model trained from scratch at `image_size` pixels.
    pub fn new(image_size: usize) -> Self {
        PreprocessConfig { image_size, mean: [0.5; 3], std: [0.25; 3], background: [128; 3] }
    }
}

/// Sampled frames of one clip, resized but not yet normalised (compact enough to cache).
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedClip {
    /// `[frames, size, size, 3]` RGB bytes.
    pub pixels: Vec<u8>,
    /// Time of each frame as a fraction of the GIF's duration.
    pub times: Vec<f32>,
    /// Which decoded frame each sampled frame shows (`None` for the mean frame).
    pub sources: Vec<Option<usize>>,
}

/// Resizes the sampled frames of `gif` to `size`×`size` RGB.
pub fn prepare_clip(gif: &DecodedGif, clip: &[SampledFrame], config: &PreprocessConfig) -> PreparedClip {
    gather_clip(clip, gif.frames.len(), config.image_size, |i| {
        resize_rgba(&gif.frames[i].rgba, gif.width as usize, gif.height as usize, config.image_size, config.background)
    })
}

/// Assembles a clip from resized frames given by `resized(index)` (each `size*size*3` bytes),
/// computing every needed frame once; `frame_count` is the GIF's number of frames.
pub fn gather_clip(
    clip: &[SampledFrame],
    frame_count: usize,
    size: usize,
    mut resized: impl FnMut(usize) -> Vec<u8>,
) -> PreparedClip {
    let mut cache: Vec<Option<Vec<u8>>> = vec![None; frame_count];
    let mut mean: Option<Vec<u8>> = None;
    let mut pixels = Vec::with_capacity(clip.len() * size * size * 3);
    for frame in clip {
        match frame.source {
            FrameSource::Index(i) => pixels.extend_from_slice(cache[i].get_or_insert_with(|| resized(i))),
            FrameSource::Mean => {
                if mean.is_none() {
                    mean = Some(mean_of((0..frame_count).map(&mut resized), size));
                }
                pixels.extend_from_slice(mean.as_deref().unwrap_or_default());
            }
        }
    }
    PreparedClip {
        pixels,
        times: clip.iter().map(|f| f.time).collect(),
        sources: clip
            .iter()
            .map(|f| match f.source {
                FrameSource::Index(i) => Some(i),
                FrameSource::Mean => None,
            })
            .collect(),
    }
}

/// Normalises `[frames, size, size, 3]` bytes into `[frames, 3, size, size]` floats.
pub fn normalise(pixels: &[u8], config: &PreprocessConfig) -> Vec<f32> {
    let plane = config.image_size * config.image_size;
    let frames = pixels.len() / (plane * 3);
    let mut out = vec![0.0f32; pixels.len()];
    for f in 0..frames {
        for c in 0..3 {
            let scale = 1.0 / (255.0 * config.std[c]);
            let shift = config.mean[c] / config.std[c];
            let dst = &mut out[(f * 3 + c) * plane..(f * 3 + c + 1) * plane];
            for (p, value) in dst.iter_mut().enumerate() {
                *value = f32::from(pixels[(f * plane + p) * 3 + c]) * scale - shift;
            }
        }
    }
    out
}

/// Time bucket of each frame time (0..1) for the model's learned time positions.
pub fn time_buckets(times: &[f32], buckets: usize) -> Vec<i64> {
    times.iter().map(|&t| ((t.clamp(0.0, 0.999_999) * buckets as f32) as i64).min(buckets as i64 - 1)).collect()
}

/// Composites RGBA over `background` and area-resamples to `size`×`size` RGB.
///
/// Area averaging (each output pixel is the coverage-weighted mean of the source pixels under it)
/// keeps thin anti-aliased shapes visible when shrinking, where nearest/bilinear would drop them.
///
/// Output columns that cover the same source pixels with the same weights (when a frame narrower
/// than `size` is stretched, most do) are computed once, so the work grows with the frame's pixels
/// rather than with `height * size`: a 1-pixel-wide frame 65,535 rows tall costs what its 65,535
/// pixels do, not 64 times that.
pub fn resize_rgba(rgba: &[u8], width: usize, height: usize, size: usize, background: [u8; 3]) -> Vec<u8> {
    let columns = area_weights(width, size);
    let rows = area_weights(height, size);
    // Distinct column weights, and which one each output column uses (equal ones are adjacent).
    let mut distinct: Vec<&[(usize, f32)]> = Vec::with_capacity(size);
    let mut column_of = Vec::with_capacity(size);
    for taps in &columns {
        if distinct.last() != Some(&taps.as_slice()) {
            distinct.push(taps);
        }
        column_of.push(distinct.len() - 1);
    }
    let n = distinct.len();
    // Horizontal pass: [height, distinct columns, 3] floats.
    let mut horizontal = vec![0.0f32; height * n * 3];
    for y in 0..height {
        for (dx, taps) in distinct.iter().enumerate() {
            let mut acc = [0.0f32; 3];
            for &(x, weight) in *taps {
                let p = &rgba[(y * width + x) * 4..(y * width + x) * 4 + 4];
                let alpha = f32::from(p[3]) / 255.0;
                for c in 0..3 {
                    acc[c] += weight * (alpha * f32::from(p[c]) + (1.0 - alpha) * f32::from(background[c]));
                }
            }
            horizontal[(y * n + dx) * 3..(y * n + dx) * 3 + 3].copy_from_slice(&acc);
        }
    }
    // Vertical pass, per distinct column, then copied to every output column that uses it.
    let mut out = vec![0u8; size * size * 3];
    let mut values = vec![0u8; n * 3];
    for (oy, taps) in rows.iter().enumerate() {
        for (dx, value) in values.chunks_exact_mut(3).enumerate() {
            for c in 0..3 {
                let sum: f32 = taps.iter().map(|&(y, w)| w * horizontal[(y * n + dx) * 3 + c]).sum();
                value[c] = sum.round().clamp(0.0, 255.0) as u8;
            }
        }
        for (ox, &dx) in column_of.iter().enumerate() {
            out[(oy * size + ox) * 3..(oy * size + ox) * 3 + 3].copy_from_slice(&values[dx * 3..dx * 3 + 3]);
        }
    }
    out
}

/// For each output index, the source indices it covers and their weights (summing to 1).
fn area_weights(source: usize, target: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = source as f64 / target as f64;
    (0..target)
        .map(|o| {
            let (lo, hi) = (o as f64 * scale, (o + 1) as f64 * scale);
            let mut taps = Vec::new();
            let mut i = lo.floor() as usize;
            while (i as f64) < hi && i < source {
                let overlap = (hi.min(i as f64 + 1.0) - lo.max(i as f64)).max(0.0);
                if overlap > 0.0 {
                    taps.push((i, (overlap / (hi - lo)) as f32));
                }
                i += 1;
            }
            if taps.is_empty() {
                taps.push((source.saturating_sub(1).min(lo as usize), 1.0));
            }
            taps
        })
        .collect()
}

/// Pixel-wise mean of equally sized RGB frames.
fn mean_of(frames: impl Iterator<Item = Vec<u8>>, size: usize) -> Vec<u8> {
    let mut sum = vec![0u64; size * size * 3];
    let mut count = 0u64;
    for frame in frames {
        for (s, &v) in sum.iter_mut().zip(&frame) {
            *s += u64::from(v);
        }
        count += 1;
    }
    sum.into_iter().map(|s| ((s + count / 2) / count.max(1)) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_resize_averages_exactly() {
        // 4x2 opaque image: left half black, right half white → 2x... one row of 2 pixels per output row.
        let mut rgba = Vec::new();
        for _y in 0..4 {
            for x in 0..4 {
                let v = if x < 2 { 0 } else { 255 };
                rgba.extend_from_slice(&[v, v, v, 255]);
            }
        }
        let out = resize_rgba(&rgba, 4, 4, 2, [0, 0, 0]);
        assert_eq!(out, vec![0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255]);
        // Three pixels into two: the middle one is split half and half.
        let row = [0u8, 0, 0, 255, 90, 90, 90, 255, 180, 180, 180, 255];
        let out = resize_rgba(&row, 3, 1, 2, [0, 0, 0]);
        assert_eq!(out[0], 30); // (0 * 1 + 90 * 0.5) / 1.5
        assert_eq!(out[3], 150); // (90 * 0.5 + 180) / 1.5
    }

    /// The plain separable resize (every output column computed), which [`resize_rgba`] must
    /// equal byte for byte.
    fn plain_resize(rgba: &[u8], width: usize, height: usize, size: usize, background: [u8; 3]) -> Vec<u8> {
        let columns = area_weights(width, size);
        let rows = area_weights(height, size);
        let mut horizontal = vec![0.0f32; height * size * 3];
        for y in 0..height {
            for (ox, taps) in columns.iter().enumerate() {
                let mut acc = [0.0f32; 3];
                for &(x, weight) in taps {
                    let p = &rgba[(y * width + x) * 4..(y * width + x) * 4 + 4];
                    let alpha = f32::from(p[3]) / 255.0;
                    for c in 0..3 {
                        acc[c] += weight * (alpha * f32::from(p[c]) + (1.0 - alpha) * f32::from(background[c]));
                    }
                }
                horizontal[(y * size + ox) * 3..(y * size + ox) * 3 + 3].copy_from_slice(&acc);
            }
        }
        let mut out = vec![0u8; size * size * 3];
        for (oy, taps) in rows.iter().enumerate() {
            for ox in 0..size {
                for c in 0..3 {
                    let value: f32 = taps.iter().map(|&(y, w)| w * horizontal[(y * size + ox) * 3 + c]).sum();
                    out[(oy * size + ox) * 3 + c] = value.round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        out
    }

    #[test]
    fn shared_columns_give_the_plain_resize_exactly() {
        // Pseudo-random pixels (alpha included) on wide, narrow, tall, tiny and exact shapes.
        let mut state = 0x9e37_79b9_u32;
        let mut byte = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        };
        for (width, height, size) in [
            (1, 1, 64),
            (1, 300, 64),
            (3, 7, 64),
            (6, 4000, 64),
            (63, 65, 64),
            (64, 64, 64),
            (100, 37, 64),
            (250, 3, 8),
            (7, 5, 3),
        ] {
            let rgba: Vec<u8> = (0..width * height * 4).map(|_| byte()).collect();
            assert_eq!(
                resize_rgba(&rgba, width, height, size, [128, 7, 250]),
                plain_resize(&rgba, width, height, size, [128, 7, 250]),
                "{width}x{height} to {size}"
            );
        }
    }

    #[test]
    fn transparent_pixels_show_the_background() {
        let out = resize_rgba(&[10, 20, 30, 0], 1, 1, 1, [128, 128, 128]);
        assert_eq!(out, vec![128, 128, 128]);
    }

    #[test]
    fn normalise_is_channel_major() {
        let config = PreprocessConfig::new(1);
        let out = normalise(&[255, 128, 0], &config);
        assert!((out[0] - 2.0).abs() < 1e-6 && out[1].abs() < 0.01 && (out[2] + 2.0).abs() < 1e-6);
    }
}
