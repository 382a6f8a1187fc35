//! Question-conditioned reading of frame grids: every question's slot queries attend over the grid
//! tokens of every frame of its own video (softmax over the cells of each frame separately).
//!
//! Several questions share a video. Copying each video's keys and values once per question made
//! this the most expensive step of training (and its backward a large scatter-add), so questions
//! are instead laid out per video on the host ([`QuestionLayout`]) and the attention runs as one
//! batched matrix product per (video, head, frame).

use crate::model::rows::ForwardRows;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::softmax;

/// Where each question sits when questions are grouped by video and padded to the same count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionLayout {
    /// Number of videos.
    pub videos: usize,
    /// Questions per video after padding (the largest count).
    pub per_video: usize,
    /// For each padded slot `video * per_video + rank`, a question index (padding repeats one).
    pub gather: Vec<usize>,
    /// For each question, its padded slot.
    pub scatter: Vec<usize>,
}

impl QuestionLayout {
    /// Lays out questions given the video each one is about (`video_index[q] < videos`).
    pub fn new(video_index: &[usize], videos: usize) -> Self {
        let mut counts = vec![0usize; videos];
        let mut scatter = Vec::with_capacity(video_index.len());
        for &v in video_index {
            scatter.push(v);
            counts[v] += 1;
        }
        let per_video = counts.iter().copied().max().unwrap_or(0).max(1);
        let mut rank = vec![0usize; videos];
        let mut gather = vec![0usize; videos * per_video];
        for (q, &v) in video_index.iter().enumerate() {
            let slot = v * per_video + rank[v];
            rank[v] += 1;
            gather[slot] = q;
            scatter[q] = slot;
        }
        QuestionLayout { videos, per_video, gather, scatter }
    }
}

/// Configuration of [`SlotReader`].
#[derive(Config, Debug)]
pub struct SlotReaderConfig {
    /// Token width.
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Factor on the attention logits (on top of `1 / sqrt(d_head)`): > 1 makes the attention
    /// over a frame's cells sharper from the start, instead of a near-uniform (global-pooling)
    /// read in which 4-18 px objects vanish.
    #[config(default = 1.0)]
    pub logit_scale: f32,
    /// Also report where each slot looked: the attention-weighted mean cell position of every
    /// head, projected into the slot's output (see [`SlotReader::forward`]).
    #[config(default = false)]
    pub coordinates: bool,
}

/// What [`SlotReader::forward`] returns.
pub struct SlotRead<B: Backend> {
    /// Every slot's read of every frame, `[questions, frames, slots, d_model]`.
    pub values: Tensor<B, 4>,
    /// Where each question looked: its attention over every frame's cells, averaged over heads
    /// and slots (each row sums to 1), `[questions, frames, cells]`. Training can supervise it
    /// with object positions; a front end can draw it.
    pub attention: Tensor<B, 3>,
}

/// Multi-head attention from per-question slot queries to per-frame grid tokens.
#[derive(Module, Debug)]
pub struct SlotReader<B: Backend> {
    query: Linear<B>,
    key: Linear<B>,
    value: Linear<B>,
    output: Linear<B>,
    /// Projection of the per-head attention centroids (absent when not configured).
    where_read: Option<Linear<B>>,
    n_heads: usize,
    logit_scale: f32,
}

impl SlotReaderConfig {
    /// Builds the module with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> SlotReader<B> {
        // Invariant: `QaModelConfig::check` rejects such configurations before any module is built.
        assert!(self.d_model.is_multiple_of(self.n_heads), "d_model must be a multiple of n_heads");
        let linear = || LinearConfig::new(self.d_model, self.d_model).init(device);
        SlotReader {
            query: linear(),
            key: linear(),
            value: linear(),
            output: linear(),
            // Zero weights and bias: the read is unchanged until training gives positions a use,
            // so the projection can also be added to a trained model without changing it.
            where_read: self.coordinates.then(|| {
                LinearConfig::new(2 * self.n_heads, self.d_model).with_initializer(Initializer::Zeros).init(device)
            }),
            n_heads: self.n_heads,
            logit_scale: self.logit_scale,
        }
    }
}

impl<B: Backend> SlotReader<B> {
    /// Every slot's read of every frame: the attention-weighted values, plus (with `coordinates`)
    /// a projection of where each head looked, so "where is the red star" has a direct path from
    /// the attention map instead of depending on position embeddings surviving in the values.
    ///
    /// # Shapes
    /// - `frame_tokens`: `[videos, frames, cells, d_model]`; the cells of a frame form a square grid
    ///   in row-major order
    /// - `queries`: `[questions, slots, d_model]`
    /// - output: [`SlotRead`] (`values` `[questions, frames, slots, d_model]`, `attention`
    ///   `[questions, frames, cells]`)
    pub fn forward(&self, frame_tokens: Tensor<B, 4>, queries: Tensor<B, 3>, layout: &QuestionLayout) -> SlotRead<B> {
        let [videos, frames, cells, d_model] = frame_tokens.dims();
        let [questions, slots, _] = queries.dims();
        let device = queries.device();
        let heads = self.n_heads;
        let d_head = d_model / heads;
        let rows = layout.per_video * slots;
        let index = |ids: &[usize]| {
            let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
            Tensor::<B, 1, Int>::from_data(TensorData::new(ids.clone(), [ids.len()]), &device)
        };

        // [videos, heads, per_video * slots, d_head]
        let q = self
            .query
            .forward(queries)
            .select(0, index(&layout.gather))
            .reshape([videos, rows, heads, d_head])
            .swap_dims(1, 2);
        let grid = frame_tokens.reshape([videos, frames * cells, d_model]);
        // [videos, heads, frames * cells, d_head]
        let split = |x: Tensor<B, 3>| x.reshape([videos, frames * cells, heads, d_head]).swap_dims(1, 2);
        let k = split(self.key.forward_rows(grid.clone()));
        let v = split(self.value.forward_rows(grid)).reshape([videos, heads, frames, cells, d_head]);

        // [videos, heads, rows, frames, cells]: softmax over each frame's cells.
        let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(self.logit_scale / (d_head as f32).sqrt());
        let weights = softmax(scores.reshape([videos, heads, rows, frames, cells]), 4);
        // [videos, heads, frames, rows, d_head]
        let centroids = self.where_read.as_ref().map(|project| {
            let flat = weights.clone().reshape([videos * heads * rows * frames, cells]);
            let centroid = flat.matmul(cell_coordinates::<B>(cells, &device)); // [videos * heads * rows * frames, 2]
            let centroid = centroid
                .reshape([videos, heads, layout.per_video, slots, frames, 2])
                .permute([0, 2, 4, 3, 1, 5]) // [videos, per_video, frames, slots, heads, 2]
                .reshape([videos * layout.per_video, frames, slots, heads * 2])
                .select(0, index(&layout.scatter)); // [questions, frames, slots, heads * 2]
            project.forward(centroid)
        });
        let attention = weights
            .clone()
            .mean_dim(1) // [videos, 1, rows, frames, cells]
            .reshape([videos * layout.per_video, slots, frames, cells])
            .mean_dim(1)
            .reshape([videos * layout.per_video, frames, cells])
            .select(0, index(&layout.scatter)); // [questions, frames, cells]
        let read = weights.swap_dims(2, 3).matmul(v);
        let read = read
            .reshape([videos, heads, frames, layout.per_video, slots, d_head])
            .permute([0, 3, 2, 4, 1, 5]) // [videos, per_video, frames, slots, heads, d_head]
            .reshape([videos * layout.per_video, frames, slots, d_model])
            .select(0, index(&layout.scatter)); // [questions, frames, slots, d_model]
        debug_assert_eq!(read.dims()[0], questions);
        let read = self.output.forward_rows(read);
        let values = match centroids {
            Some(centroids) => read + centroids,
            None => read,
        };
        SlotRead { values, attention }
    }
}

/// Centre of every cell of a square grid of `cells` cells (row-major), as (x, y) in [-1, 1].
/// A grid that is not square (no grid in this project) is treated as one row.
///
/// # Shapes
/// - output: `[cells, 2]`
fn cell_coordinates<B: Backend>(cells: usize, device: &B::Device) -> Tensor<B, 2> {
    let side = (cells as f64).sqrt().round() as usize;
    let (width, height) = if side * side == cells { (side, side) } else { (cells, 1) };
    let centre = |i: usize, n: usize| (2.0 * i as f32 + 1.0) / n as f32 - 1.0;
    let coordinates: Vec<f32> =
        (0..cells).flat_map(|c| [centre(c % width, width), centre(c / width, height)]).collect();
    Tensor::from_data(TensorData::new(coordinates, [cells, 2]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_coordinates_are_row_major_centres() {
        let device = Default::default();
        let xy = cell_coordinates::<burn::backend::Flex>(4, &device).into_data().to_vec::<f32>().unwrap();
        assert_eq!(xy, vec![-0.5, -0.5, 0.5, -0.5, -0.5, 0.5, 0.5, 0.5]);
    }

    #[test]
    fn coordinates_report_where_a_slot_looked() {
        use burn::backend::Flex;
        let device = Default::default();
        let reader = SlotReaderConfig::new(4, 1).with_coordinates(true).init::<Flex>(&device);
        // One video, one frame, a 2x2 grid; the query matches only the lower-right cell strongly.
        let mut cells = vec![0f32; 16];
        cells[12..16].copy_from_slice(&[10.0, 0.0, 0.0, 0.0]);
        let tokens = Tensor::<Flex, 4>::from_data(TensorData::new(cells, [1, 1, 4, 4]), &device);
        let reader = SlotReader {
            query: identity(4, &device),
            key: identity(4, &device),
            value: zeros(4, 4, &device),
            output: zeros(4, 4, &device),
            where_read: Some(identity_rows(2, 4, &device)),
            ..reader
        };
        let queries = Tensor::<Flex, 3>::from_data(TensorData::new(vec![10.0f32, 0.0, 0.0, 0.0], [1, 1, 4]), &device);
        let read = reader.forward(tokens, queries, &QuestionLayout::new(&[0], 1));
        let attention = read.attention.into_data().to_vec::<f32>().unwrap();
        assert!(attention[3] > 0.99, "the lower-right cell takes the attention: {attention:?}");
        let read = read.values.into_data().to_vec::<f32>().unwrap();
        // The centroid (x, y) of the attention, projected by [I 0]: the lower-right centre.
        assert!((read[0] - 0.5).abs() < 1e-3 && (read[1] - 0.5).abs() < 1e-3, "{read:?}");
    }

    fn linear(
        weight: Vec<f32>,
        d_in: usize,
        d_out: usize,
        device: &burn::tensor::Device<burn::backend::Flex>,
    ) -> Linear<burn::backend::Flex> {
        let mut layer = LinearConfig::new(d_in, d_out).with_bias(false).init(device);
        layer.weight =
            burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(weight, [d_in, d_out]), device));
        layer
    }

    fn identity(d: usize, device: &burn::tensor::Device<burn::backend::Flex>) -> Linear<burn::backend::Flex> {
        linear((0..d * d).map(|i| if i / d == i % d { 1.0 } else { 0.0 }).collect(), d, d, device)
    }

    fn zeros(
        d_in: usize,
        d_out: usize,
        device: &burn::tensor::Device<burn::backend::Flex>,
    ) -> Linear<burn::backend::Flex> {
        linear(vec![0.0; d_in * d_out], d_in, d_out, device)
    }

    /// `[I 0]`: the first `d_in` outputs copy the inputs.
    fn identity_rows(
        d_in: usize,
        d_out: usize,
        device: &burn::tensor::Device<burn::backend::Flex>,
    ) -> Linear<burn::backend::Flex> {
        linear((0..d_in * d_out).map(|i| if i / d_out == i % d_out { 1.0 } else { 0.0 }).collect(), d_in, d_out, device)
    }

    #[test]
    fn layout_groups_questions_by_video() {
        let layout = QuestionLayout::new(&[1, 0, 1, 1], 2);
        assert_eq!(layout.per_video, 3);
        assert_eq!(layout.scatter, vec![3, 0, 4, 5]);
        assert_eq!(&layout.gather[3..], &[0, 2, 3]);
        assert_eq!(layout.gather[0], 1);
    }
}
