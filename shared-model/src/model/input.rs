//! Host data → the model's input tensors (frames, time buckets, token ids, indices), shared by
//! training and inference. It needs no part of the model, so every block can use it.

use burn::prelude::*;
use burn::tensor::TensorData;

use crate::preprocess::{PreparedClip, PreprocessConfig, normalise, time_buckets};
use crate::text::tokenize::TokenBatch;

/// Stacks equally long clips into the video input of [`crate::model::QaModel::encode_video`].
///
/// # Shapes
/// - returns frames `[clips, frames, 3, size, size]` and time buckets `[clips, frames]`
pub fn video_tensors<B: Backend>(
    clips: &[&PreparedClip],
    preprocess: &PreprocessConfig,
    time_positions: usize,
    device: &B::Device,
) -> (Tensor<B, 5>, Tensor<B, 2, Int>) {
    let size = preprocess.image_size;
    let frames = clips.first().map(|c| c.times.len()).unwrap_or(0);
    let mut pixels = Vec::with_capacity(clips.len() * frames * 3 * size * size);
    let mut times = Vec::with_capacity(clips.len() * frames);
    for clip in clips {
        pixels.extend(normalise(&clip.pixels, preprocess));
        times.extend(time_buckets(&clip.times, time_positions));
    }
    let pixels = Tensor::from_data(TensorData::new(pixels, [clips.len(), frames, 3, size, size]), device);
    let times = Tensor::from_data(TensorData::new(times, [clips.len(), frames]), device);
    (pixels, times)
}

/// Token ids and padding mask as tensors, `[batch, len]` each.
pub fn token_tensors<B: Backend>(tokens: &TokenBatch, device: &B::Device) -> (Tensor<B, 2, Int>, Tensor<B, 2, Bool>) {
    let ids = Tensor::from_data(TensorData::new(tokens.ids.clone(), [tokens.batch, tokens.len]), device);
    let padding = Tensor::from_data(TensorData::new(tokens.padding.clone(), [tokens.batch, tokens.len]), device);
    (ids, padding)
}

/// Index tensor `[n]` from host indices.
pub fn index_tensor<B: Backend>(indices: &[usize], device: &B::Device) -> Tensor<B, 1, Int> {
    let data: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(data, [indices.len()]), device)
}
