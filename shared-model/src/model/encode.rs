//! Host data through the model's encoders: prepared clips into a video encoding, a token batch
//! into a text encoding.

use burn::prelude::*;

use super::input::{token_tensors, video_tensors};
use super::{QaModel, TextEncoding, VideoEncoding};
use crate::preprocess::{PreparedClip, PreprocessConfig};
use crate::text::tokenize::TokenBatch;

/// Encodes equally long clips with [`QaModel::encode_video`], one video each.
pub fn encode_prepared<B: Backend>(
    model: &QaModel<B>,
    preprocess: &PreprocessConfig,
    time_positions: usize,
    clips: &[&PreparedClip],
    device: &B::Device,
) -> VideoEncoding<B> {
    let (frames, times) = video_tensors::<B>(clips, preprocess, time_positions, device);
    model.encode_video(frames, times)
}

/// Encodes a token batch with the model's text encoder.
pub fn encode_tokens<B: Backend>(model: &QaModel<B>, tokens: &TokenBatch, device: &B::Device) -> TextEncoding<B> {
    let (ids, padding) = token_tensors(tokens, device);
    model.encode_text(ids, padding)
}
