//! Per-frame visual encoder: a patch-merging network that keeps a spatial grid of tokens.
//!
//! Objects in the benchmark are 14-36 px on a 96-160 px canvas, so globally pooled frame vectors
//! lose them in the background (see the benchmark notes). The encoder therefore returns one token
//! per cell of an `image_size / 8` grid, each with a learned 2-D position, and leaves pooling to the
//! question-conditioned attention in `fusion.rs` (ClipBERT keeps ResNet grid features the same way).
//!
//! Layers are built from reshapes, shifts and matrix products only — 4×4 patch embedding
//! (as in ViT), a 2×2 neighbourhood mix at stride 1, a 2×2 patch merge (as in Swin), another mix —
//! because matrix products are fast forward *and* backward on every backend, while Burn's CPU
//! backend has no native convolution backward (a 4-conv CNN trained 5x slower here).

use burn::module::Param;
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;

use super::grid_attention::{GridAttention, GridAttentionConfig};
use crate::model::rows::ForwardRows;

/// Total stride: the token grid is `image_size / GRID_STRIDE` cells wide.
pub const GRID_STRIDE: usize = 8;
const PATCH: usize = 4;

/// Configuration of [`FrameEncoder`].
#[derive(Config, Debug)]
pub struct FrameEncoderConfig {
    /// Side of the square input frames in pixels (a multiple of 8).
    pub image_size: usize,
    /// Widths after the 4×4 patch embedding and after the 2×2 merge.
    #[config(default = "[48, 96]")]
    pub channels: [usize; 2],
    /// Width of the output tokens.
    pub d_model: usize,
    /// Self-attention layers among a frame's tokens after the last mix (0: none).
    #[config(default = 0)]
    pub attention_layers: usize,
    /// Heads of those layers.
    #[config(default = 4)]
    pub attention_heads: usize,
}

/// Patch embedding → mix → merge → mix, then learned 2-D positions.
#[derive(Module, Debug)]
pub struct FrameEncoder<B: Backend> {
    embed: Linear<B>,
    embed_norm: LayerNorm<B>,
    mix_fine: Linear<B>,
    merge: Linear<B>,
    merge_norm: LayerNorm<B>,
    mix_coarse: Linear<B>,
    positions: Param<Tensor<B, 2>>,
    norm: LayerNorm<B>,
    /// Present when `attention_layers > 0`.
    grid_attention: Option<GridAttention<B>>,
}

impl FrameEncoderConfig {
    /// Number of tokens per frame.
    pub fn tokens_per_frame(&self) -> usize {
        let side = self.image_size / GRID_STRIDE;
        side * side
    }

    /// Builds the module with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> FrameEncoder<B> {
        // Invariant: `QaModelConfig::check` rejects such configurations before any module is built.
        assert!(self.image_size.is_multiple_of(GRID_STRIDE), "image_size must be a multiple of 8");
        let [c1, c2] = self.channels;
        FrameEncoder {
            embed: LinearConfig::new(3 * PATCH * PATCH, c1).init(device),
            embed_norm: LayerNormConfig::new(c1).init(device),
            mix_fine: LinearConfig::new(4 * c1, c1).init(device),
            merge: LinearConfig::new(4 * c1, c2).init(device),
            merge_norm: LayerNormConfig::new(c2).init(device),
            mix_coarse: LinearConfig::new(4 * c2, self.d_model).init(device),
            positions: Initializer::Normal { mean: 0.0, std: 0.02 }
                .init([self.tokens_per_frame(), self.d_model], device),
            norm: LayerNormConfig::new(self.d_model).init(device),
            grid_attention: (self.attention_layers > 0).then(|| {
                GridAttentionConfig::new(self.d_model, self.attention_heads, self.attention_layers).init(device)
            }),
        }
    }
}

impl<B: Backend> FrameEncoder<B> {
    /// # Shapes
    /// - `frames`: `[frames, 3, image_size, image_size]`, normalised
    /// - output: `[frames, tokens_per_frame, d_model]`
    pub fn forward(&self, frames: Tensor<B, 4>) -> Tensor<B, 3> {
        let [n, channels, size, _] = frames.dims();
        let side = size / PATCH;
        // [n, side, side, channels * PATCH * PATCH]
        let patches = frames.reshape([n, channels, side, PATCH, side, PATCH]).permute([0, 2, 4, 1, 3, 5]).reshape([
            n,
            side,
            side,
            channels * PATCH * PATCH,
        ]);
        let fine = self.embed_norm.forward(gelu(self.embed.forward_rows(patches)));
        let fine = fine.clone() + gelu(mix_neighbourhood(&self.mix_fine, fine));
        // 2×2 merge: [n, side / 2, side / 2, 4 * c1]
        let [_, _, _, c1] = fine.dims();
        let half = side / 2;
        let merged =
            fine.reshape([n, half, 2, half, 2, c1]).permute([0, 1, 3, 2, 4, 5]).reshape([n, half, half, 4 * c1]);
        let coarse = self.merge_norm.forward(gelu(self.merge.forward_rows(merged)));
        let tokens = gelu(mix_neighbourhood(&self.mix_coarse, coarse)); // [n, half, half, d_model]
        let [_, _, _, d_model] = tokens.dims();
        let tokens = tokens.reshape([n, half * half, d_model]) + self.positions.val().unsqueeze_dim::<3>(0);
        let tokens = self.norm.forward(tokens);
        match &self.grid_attention {
            Some(attention) => attention.forward(tokens),
            None => tokens,
        }
    }
}

/// A linear layer over each cell's 2×2 neighbourhood (the cell, its right, lower and lower-right
/// neighbours, zeros past the edge), stride 1: `linear(cat([x, right, down, diagonal], 3))`.
///
/// Computed as the sum of each neighbour's block of the weight applied to `x`, moved by a shift
/// matrix (a matrix product), instead of concatenating shifted copies: every tensor stays
/// contiguous forward and backward, which on the CPU backend saves the element-by-element copies
/// that slicing and concatenating cost (and the weights are the same as the concatenated form's).
///
/// # Shapes
/// - `x`: `[n, rows, cols, channels]`; `linear`: `[4 * channels] → [out]` → `[n, rows, cols, out]`
fn mix_neighbourhood<B: Backend>(linear: &Linear<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, rows, cols, channels] = x.dims();
    let weight = linear.weight.val();
    let [_, out] = weight.dims();
    let device = x.device();
    // The weight's block for neighbour `k` (in the order of the concatenation), over all cells as
    // rows of one matrix product (see `rows.rs`).
    let cells = x.reshape([n * rows * cols, channels]);
    let block =
        |k: usize| cells.clone().matmul(weight.clone().narrow(0, k * channels, channels)).reshape([n, rows, cols, out]);
    let next_cols = next_cell::<B>(cols, &device);
    let next_rows = next_cell::<B>(rows, &device);
    let right =
        |y: Tensor<B, 4>| next_cols.clone().matmul(y.reshape([n * rows, cols, out])).reshape([n, rows, cols, out]);
    let down =
        |y: Tensor<B, 4>| next_rows.clone().matmul(y.reshape([n, rows, cols * out])).reshape([n, rows, cols, out]);
    let mixed = block(0) + right(block(1)) + down(block(2)) + down(right(block(3)));
    match &linear.bias {
        Some(bias) => mixed + bias.val().reshape([1, 1, 1, out]),
        None => mixed,
    }
}

/// The shift matrix that moves each row to the one before it: `(S · y)[i] = y[i + 1]`, and zeros
/// in the last row (the cell past the edge).
///
/// # Shapes
/// - output: `[1, len, len]` (broadcast over the batch of a matrix product)
fn next_cell<B: Backend>(len: usize, device: &B::Device) -> Tensor<B, 3> {
    let mut values = vec![0.0f32; len * len];
    for i in 0..len.saturating_sub(1) {
        values[i * len + i + 1] = 1.0;
    }
    Tensor::from_data(TensorData::new(values, [1, len, len]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};

    type B = Autodiff<Flex>;

    /// The concatenated form that `mix_neighbourhood` computes without building it.
    fn concatenated(linear: &Linear<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let shift = |x: Tensor<B, 4>, dim: usize| {
            let mut dims = x.dims();
            let len = dims[dim];
            dims[dim] = 1;
            let zeros = Tensor::zeros(dims, &x.device());
            Tensor::cat(vec![x.narrow(dim, 1, len - 1), zeros], dim)
        };
        let right = shift(x.clone(), 2);
        let down = shift(x.clone(), 1);
        let diagonal = shift(down.clone(), 2);
        linear.forward(Tensor::cat(vec![x, right, down, diagonal], 3))
    }

    #[test]
    fn the_neighbourhood_mix_equals_the_linear_layer_over_the_concatenated_neighbours() {
        let device = Default::default();
        let linear = LinearConfig::new(4 * 3, 5).init::<B>(&device);
        let x =
            Tensor::<B, 4>::random([2, 4, 3, 3], burn::tensor::Distribution::Normal(0.0, 1.0), &device).require_grad();
        let fast = mix_neighbourhood(&linear, x.clone());
        let reference = concatenated(&linear, x.clone());
        fast.clone().into_data().assert_approx_eq::<f32>(&reference.clone().into_data(), Default::default());
        // The gradients agree too (input and weight).
        let fast_grads = (fast * reference.clone().detach()).sum().backward();
        let reference_grads = (reference.clone() * reference.detach()).sum().backward();
        x.grad(&fast_grads).expect("input gradient").into_data().assert_approx_eq::<f32>(
            &x.grad(&reference_grads).expect("input gradient").into_data(),
            Default::default(),
        );
        linear.weight.grad(&fast_grads).expect("weight gradient").into_data().assert_approx_eq::<f32>(
            &linear.weight.grad(&reference_grads).expect("weight gradient").into_data(),
            Default::default(),
        );
    }
}
