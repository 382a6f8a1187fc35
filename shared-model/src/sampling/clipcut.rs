//! CLIP-Cut: question-conditioned top-k frame selection (the `clipcut:K` sampling strategy).
//!
//! A pool of evenly spaced frames ([`crate::sampling::clipcut_pool`]) is encoded once, question
//! independently. Each question then scores the pool frames with the model's frame/question
//! similarity (the fusion's `relevance_question`/`relevance_frame` cosine, read without fusing),
//! keeps the K best in temporal order and is fused with those K frames only: the frames' encoder
//! tokens are gathered, never re-encoded.
//!
//! The choice is made on the host from values read back from the device, so it is deterministic
//! (ties go to the earlier frame) and carries no gradient: in training the selected frames' tokens
//! still get gradients through the fusion, but top-k itself is not differentiable and the scores
//! are used detached.

use burn::prelude::*;

use crate::model::{QaModel, QuestionContext, TextEncoding, VideoEncoding};

/// The relevance scores could not be read back from the device.
#[derive(Debug, thiserror::Error)]
#[error("reading frame relevance from the device failed: {0}")]
pub struct ReadError(pub String);

/// Stage 1's output for a batch of questions, and the frames CLIP-Cut chose.
pub struct Fused<B: Backend> {
    /// What the heads read.
    pub context: QuestionContext<B>,
    /// Per question, the positions (in its video's sampled frames) it read, ascending; `None` when
    /// every question read all sampled frames.
    pub picks: Option<Vec<Vec<usize>>>,
}

/// Positions of the `k` pool frames with the highest `relevance`, in temporal (position) order.
///
/// Ties go to the earlier position. A decoded frame that appears more than once in the pool
/// (`sources`; short GIFs) is taken once, unless there are fewer than `k` distinct frames; then
/// the best repeats fill the rest. `relevance` and `sources` are one pool, in time order.
pub fn top_k_frames(relevance: &[f32], sources: &[Option<usize>], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..relevance.len()).collect();
    // A stable sort on the score alone keeps equal scores in time order.
    order.sort_by(|&a, &b| relevance[b].total_cmp(&relevance[a]));
    let mut taken: Vec<usize> = Vec::with_capacity(k);
    let mut repeats = Vec::new();
    for position in order {
        let source = sources.get(position).copied().flatten();
        let seen = source.is_some() && taken.iter().any(|&t| sources.get(t).copied().flatten() == source);
        if seen {
            repeats.push(position);
        } else if taken.len() < k {
            taken.push(position);
        }
    }
    taken.extend(repeats.into_iter().take(k.saturating_sub(taken.len())));
    taken.sort_unstable();
    taken
}

/// Stage 1 for questions about encoded videos, with CLIP-Cut when `top_k` is given: question `q`
/// reads video `video_index[q]`, whose sampled frames came from `sources[video_index[q]]`.
///
/// # Shapes
/// - `video`: `[videos, frames, cells, d_model]`; `question`: `[questions, q_len, d_model]`
/// - with `top_k = Some(k)` the context has `k` frames per question, else `frames`
pub async fn fuse_selected<B: Backend>(
    model: &QaModel<B>,
    video: &VideoEncoding<B>,
    video_index: &[usize],
    question: &TextEncoding<B>,
    sources: &[&[Option<usize>]],
    top_k: Option<usize>,
) -> Result<Fused<B>, ReadError> {
    let Some(k) = top_k else {
        return Ok(Fused { context: model.fuse(video, video_index, question), picks: None });
    };
    let frames = video.tokens.dims()[1];
    let relevance = model.frame_relevance(video, video_index, question); // [questions, frames]
    let relevance = relevance.into_data_async().await.map_err(|e| ReadError(format!("{e:?}")))?;
    let relevance = relevance.to_vec::<f32>().map_err(|e| ReadError(format!("{e:?}")))?;
    let picks: Vec<Vec<usize>> = video_index
        .iter()
        .enumerate()
        .map(|(q, &v)| {
            let row = &relevance[q * frames..(q + 1) * frames];
            top_k_frames(row, sources.get(v).copied().unwrap_or_default(), k)
        })
        .collect();
    let selected = video.gather_frames(video_index, &picks);
    let identity: Vec<usize> = (0..video_index.len()).collect();
    Ok(Fused { context: model.fuse(&selected, &identity, question), picks: Some(picks) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_best_in_time_order_with_ties_to_the_earlier_frame() {
        let relevance = [0.1, 0.9, -0.3, 0.5, 0.9, 0.2];
        let sources: Vec<Option<usize>> = (0..6).map(Some).collect();
        assert_eq!(top_k_frames(&relevance, &sources, 3), vec![1, 3, 4]);
        assert_eq!(top_k_frames(&relevance, &sources, 1), vec![1]);
        assert_eq!(top_k_frames(&[0.0; 4], &sources[..4], 2), vec![0, 1]);
    }

    #[test]
    fn repeated_frames_are_taken_once_unless_too_few() {
        // A 3-frame GIF in a pool of 6: each frame twice (repeats score the same).
        let relevance = [0.8, 0.8, 0.1, 0.1, 0.5, 0.5];
        let sources = [Some(0), Some(0), Some(1), Some(1), Some(2), Some(2)];
        assert_eq!(top_k_frames(&relevance, &sources, 2), vec![0, 4]);
        assert_eq!(top_k_frames(&relevance, &sources, 3), vec![0, 2, 4]);
        assert_eq!(top_k_frames(&relevance, &sources, 4), vec![0, 1, 2, 4]);
    }
}
