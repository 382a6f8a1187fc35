//! Per-frame action tagger: what the asked object is doing in every sampled frame ("jump", "move
//! left", "stay still", ...), read from the stage-1 output of a question naming it.
//!
//! Captions state an object's whole timeline and Transition questions ask which segment follows
//! another; the heads above the [CLS] summary tell a changed order apart least well of all
//! distractors (docs/results). A tag per frame lets `timeline_check` align a caption's segments to
//! the frames in order (Viterbi), so the order is checked where it happens. Like the event counter
//! it reads each frame's tokens side by side and mixes neighbouring frames with convolutions over
//! time: a jump or a spin is only visible across frames.

use crate::model::rows::ForwardRows;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig, PaddingConfig1d};
use burn::prelude::*;
use burn::tensor::activation::{gelu, log_softmax};

/// Configuration of [`SegmentTagger`].
#[derive(Config, Debug)]
pub struct SegmentTaggerConfig {
    /// Token width.
    pub d_model: usize,
    /// Tokens per frame, read side by side.
    pub tokens_per_frame: usize,
    /// Actions told apart (`timeline_check::TIMELINE_ACTIONS`).
    #[config(default = 10)]
    pub actions: usize,
    /// Kernel (odd) of each convolution over time.
    #[config(default = 5)]
    pub temporal_kernel: usize,
    /// Convolutions over time (each widens the view by `temporal_kernel - 1` frames).
    #[config(default = 3)]
    pub temporal_layers: usize,
    /// Channels of the convolutions.
    #[config(default = 64)]
    pub width: usize,
}

/// Frame tokens → per-frame log-probabilities over the actions.
#[derive(Module, Debug)]
pub struct SegmentTagger<B: Backend> {
    input_norm: LayerNorm<B>,
    hidden: Linear<B>,
    temporal: Vec<Conv1d<B>>,
    output: Linear<B>,
}

impl SegmentTaggerConfig {
    /// Builds the module with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> SegmentTagger<B> {
        let input = self.d_model * self.tokens_per_frame;
        let half = self.temporal_kernel / 2;
        SegmentTagger {
            input_norm: LayerNormConfig::new(input).init(device),
            hidden: LinearConfig::new(input, self.width).init(device),
            temporal: (0..self.temporal_layers)
                .map(|_| {
                    Conv1dConfig::new(self.width, self.width, self.temporal_kernel)
                        .with_padding(PaddingConfig1d::Explicit(half, half))
                        .init(device)
                })
                .collect(),
            output: LinearConfig::new(self.width, self.actions).init(device),
        }
    }
}

impl<B: Backend> SegmentTagger<B> {
    /// # Shapes
    /// - `slot_tokens`: stage-1 output per frame ([`super::QuestionContext::slot_tokens`]),
    ///   `[questions, frames, tokens_per_frame, d_model]`
    /// - output: log-probabilities `[questions, frames, actions]`
    pub fn forward(&self, slot_tokens: Tensor<B, 4>) -> Tensor<B, 3> {
        let [questions, frames, tokens, d_model] = slot_tokens.dims();
        let side_by_side = slot_tokens.reshape([questions, frames, tokens * d_model]); // [questions, frames, tokens * d_model]
        let mut hidden = gelu(self.hidden.forward_rows(self.input_norm.forward(side_by_side))).swap_dims(1, 2); // [questions, width, frames]
        for conv in &self.temporal {
            // Residual, so a deeper stack starts close to the per-frame reading.
            hidden = hidden.clone() + gelu(conv.forward(hidden));
        }
        let hidden = hidden.swap_dims(1, 2); // [questions, frames, width]
        log_softmax(self.output.forward_rows(hidden), 2)
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::optim::{AdamConfig, GradientsParams, Optimizer};
    use burn::tensor::{Distribution, TensorData};

    use super::*;

    type B = Autodiff<Flex>;

    /// Clips of 16 frames of noise; frames of segment `k` carry pattern `k`, which changes sign
    /// every frame, so a frame alone is ambiguous and the label needs its neighbours (as a jump
    /// needs more than one frame). Returns tokens and each frame's label.
    fn clips(
        n: usize,
        patterns: &Tensor<B, 2>,
        seed: u64,
        device: &burn::tensor::Device<B>,
    ) -> (Tensor<B, 4>, Vec<i64>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let [actions, d] = patterns.dims();
        let mut labels = Vec::with_capacity(n * 16);
        let mut mix = vec![0f32; n * 16 * actions];
        for q in 0..n {
            let switch = rng.random_range(4..12);
            let (first, second) = (rng.random_range(0..actions), rng.random_range(0..actions));
            for t in 0..16 {
                let label = if t < switch { first } else { second };
                labels.push(label as i64);
                mix[(q * 16 + t) * actions + label] = if t % 2 == 0 { 1.0 } else { -1.0 };
            }
        }
        let mix = Tensor::<B, 2>::from_data(TensorData::new(mix, [n * 16, actions]), device);
        let noise = Tensor::<B, 2>::random([n * 16, d], Distribution::Normal(0.0, 0.3), device);
        let tokens = (mix.matmul(patterns.clone()) + noise).reshape([n, 16, 1, d]);
        (tokens, labels)
    }

    #[test]
    fn output_is_a_distribution_per_frame() {
        let device = Default::default();
        let tagger = SegmentTaggerConfig::new(8, 2).init::<B>(&device);
        let out = tagger.forward(Tensor::random([3, 12, 2, 8], Distribution::Normal(0.0, 1.0), &device));
        assert_eq!(out.dims(), [3, 12, 10]);
        let sums = out.exp().sum_dim(2).into_data().to_vec::<f32>().unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4));
    }

    #[test]
    fn learns_labels_that_need_neighbouring_frames() {
        let device = Default::default();
        <B as Backend>::seed(&device, 3);
        let patterns = Tensor::<B, 2>::random([4, 8], Distribution::Normal(0.0, 1.0), &device);
        let mut tagger = SegmentTaggerConfig::new(8, 1).with_actions(4).init::<B>(&device);
        let mut optimizer = AdamConfig::new().init::<B, SegmentTagger<B>>();
        for step in 0..150 {
            let (tokens, labels) = clips(32, &patterns, step, &device);
            let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [32 * 16]), &device);
            let log_probs = tagger.forward(tokens).reshape([32 * 16, 4]);
            let loss = log_probs.gather(1, targets.unsqueeze_dim(1)).mean().neg();
            let grads = GradientsParams::from_grads(loss.backward(), &tagger);
            tagger = optimizer.step(0.01, tagger, grads);
        }
        let (tokens, labels) = clips(50, &patterns, 10_000, &device);
        let predicted = tagger.forward(tokens).argmax(2).reshape([50 * 16]).into_data().convert::<i64>();
        let right = predicted.to_vec::<i64>().unwrap().iter().zip(&labels).filter(|(p, l)| p == l).count();
        assert!(right >= 640, "{right} of 800 frames tagged right");
    }
}
