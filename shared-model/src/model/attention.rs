//! Multi-head attention with a key padding mask, shared by every encoder and the fusion stages.
//!
//! Padding-mask convention (used everywhere in this crate): a `Bool` tensor `[batch, len]` that is
//! `true` at padded positions. Padded keys get a large negative score, so they receive ~0 weight.
//! Masks that depend on the query too (CLIP's causal text attention) are `[batch, q_len, k_len]`,
//! `true` where the query may not see the key; [`causal_mask`] and [`padding_pair_mask`] build them.

use crate::model::rows::ForwardRows;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

/// Score given to padded keys before the softmax (large enough to vanish, small enough for f16).
const MASKED_SCORE: f32 = -1.0e4;

/// Configuration of [`MultiHeadAttention`].
#[derive(Config, Debug)]
pub struct MultiHeadAttentionConfig {
    /// Width of queries, keys, values and the output.
    pub d_model: usize,
    /// Number of heads; must divide `d_model`.
    pub n_heads: usize,
    /// Zero-initialise the output projection, so the block outputs zeros until trained (a
    /// residual branch that starts as a no-op).
    #[config(default = false)]
    pub zero_output: bool,
}

/// Scaled dot-product attention over `n_heads` heads (Vaswani et al., 2017).
#[derive(Module, Debug)]
pub struct MultiHeadAttention<B: Backend> {
    // Crate-visible so that the pretrained families' loaders can load Hugging Face weights into them.
    pub(crate) query: Linear<B>,
    pub(crate) key: Linear<B>,
    pub(crate) value: Linear<B>,
    pub(crate) output: Linear<B>,
    n_heads: usize,
}

/// What [`MultiHeadAttention::forward`] returns.
pub struct AttentionOutput<B: Backend> {
    /// Attended values after the output projection, `[batch, q_len, d_model]`.
    pub context: Tensor<B, 3>,
    /// Attention weights averaged over heads, `[batch, q_len, k_len]` (rows sum to 1).
    pub weights: Tensor<B, 3>,
}

impl MultiHeadAttentionConfig {
    /// Builds the module with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> MultiHeadAttention<B> {
        // Invariant: `QaModelConfig::check` rejects such configurations before any module is built.
        assert!(self.d_model.is_multiple_of(self.n_heads), "d_model must be a multiple of n_heads");
        let linear = || LinearConfig::new(self.d_model, self.d_model);
        let output = if self.zero_output { linear().with_initializer(Initializer::Zeros) } else { linear() };
        MultiHeadAttention {
            query: linear().init(device),
            key: linear().init(device),
            value: linear().init(device),
            output: output.init(device),
            n_heads: self.n_heads,
        }
    }
}

impl<B: Backend> MultiHeadAttention<B> {
    /// Attends from `query` to `key_value`.
    ///
    /// # Shapes
    /// - `query`: `[batch, q_len, d_model]`
    /// - `key_value`: `[batch, k_len, d_model]`
    /// - `key_padding`: `[batch, k_len]`, `true` where the key is padding
    /// - output: see [`AttentionOutput`]
    pub fn forward(
        &self,
        query: Tensor<B, 3>,
        key_value: Tensor<B, 3>,
        key_padding: Option<Tensor<B, 2, Bool>>,
    ) -> AttentionOutput<B> {
        let projected = self.project_keys_values(key_value);
        self.attend(query, projected, key_padding)
    }

    /// Projects keys and values once, so that many queries can reuse them (see `fusion.rs`).
    ///
    /// # Shapes
    /// - `key_value`: `[batch, k_len, d_model]` → keys and values of the same shape
    pub fn project_keys_values(&self, key_value: Tensor<B, 3>) -> KeysValues<B> {
        KeysValues { keys: self.key.forward_rows(key_value.clone()), values: self.value.forward_rows(key_value) }
    }

    /// Attends from `query` to already projected keys and values.
    ///
    /// # Shapes
    /// - `query`: `[batch, q_len, d_model]`; `keys_values`: `[batch, k_len, d_model]` each
    pub fn attend(
        &self,
        query: Tensor<B, 3>,
        keys_values: KeysValues<B>,
        key_padding: Option<Tensor<B, 2, Bool>>,
    ) -> AttentionOutput<B> {
        let [batch, _, _] = query.dims();
        let [_, k_len, _] = keys_values.keys.dims();
        // [batch, 1, 1, k_len], broadcast over heads and queries
        let blocked = key_padding.map(|padding| padding.reshape([batch, 1, 1, k_len]));
        self.attend_blocked(query, keys_values, blocked)
    }

    /// Self- or cross-attention with a mask that depends on the query as well as the key.
    ///
    /// # Shapes
    /// - `query`: `[batch, q_len, d_model]`; `key_value`: `[batch, k_len, d_model]`
    /// - `blocked`: `[batch, q_len, k_len]`, `true` where query `i` may not see key `j`
    /// - output: see [`AttentionOutput`]
    pub fn forward_masked(
        &self,
        query: Tensor<B, 3>,
        key_value: Tensor<B, 3>,
        blocked: Option<Tensor<B, 3, Bool>>,
    ) -> AttentionOutput<B> {
        let [batch, q_len, _] = query.dims();
        let [_, k_len, _] = key_value.dims();
        let projected = self.project_keys_values(key_value);
        // [batch, 1, q_len, k_len], broadcast over heads
        let blocked = blocked.map(|mask| mask.reshape([batch, 1, q_len, k_len]));
        self.attend_blocked(query, projected, blocked)
    }

    /// The attention itself; `blocked` is broadcastable to `[batch, heads, q_len, k_len]`.
    fn attend_blocked(
        &self,
        query: Tensor<B, 3>,
        keys_values: KeysValues<B>,
        blocked: Option<Tensor<B, 4, Bool>>,
    ) -> AttentionOutput<B> {
        let [batch, q_len, d_model] = query.dims();
        let [_, k_len, _] = keys_values.keys.dims();
        let heads = self.n_heads;
        let d_head = d_model / heads;
        // [batch, heads, len, d_head]
        let split = |x: Tensor<B, 3>, len: usize| x.reshape([batch, len, heads, d_head]).swap_dims(1, 2);
        let q = split(self.query.forward_rows(query), q_len);
        let k = split(keys_values.keys, k_len);
        let v = split(keys_values.values, k_len);

        // [batch, heads, q_len, k_len]
        let mut scores = q.matmul(k.swap_dims(2, 3)).div_scalar((d_head as f32).sqrt());
        if let Some(blocked) = blocked {
            scores = scores + full_bias(blocked, heads, q_len);
        }
        let weights = softmax(scores, 3);
        // [batch, q_len, d_model]
        let context = weights.clone().matmul(v).swap_dims(1, 2).reshape([batch, q_len, d_model]);
        AttentionOutput { context: self.output.forward_rows(context), weights: mean_over_heads(weights) }
    }
}

/// The additive score bias of a mask: `MASKED_SCORE` where blocked, 0 elsewhere, at the scores'
/// full shape.
///
/// Written for the CPU backend's fast paths: `mask_fill` (or adding a broadcast bias) copies
/// the expanded mask element by element, in the forward pass and again in the backward pass,
/// while this builds the full bias with one matrix product (ones times the bias) and adds it
/// with a plain element-wise add; the bias is untracked, so the backward pass skips it. The
/// softmax is the same as with `mask_fill`: a masked score ends about 10^4 below its row's
/// maximum either way, so its weight underflows to 0.
///
/// # Shapes
/// - `blocked`: `[batch, 1, 1 or q_len, k_len]`, `true` where blocked
/// - output: `[batch, heads, q_len, k_len]`
fn full_bias<B: Backend>(blocked: Tensor<B, 4, Bool>, heads: usize, q_len: usize) -> Tensor<B, 4> {
    let [batch, _, rows, k_len] = blocked.dims();
    let device = blocked.device();
    let columns = rows * k_len;
    let bias = blocked.float().mul_scalar(MASKED_SCORE).reshape([batch, 1, columns]);
    let repeats = heads * q_len * k_len / columns;
    Tensor::<B, 3>::ones([batch, repeats, 1], &device).matmul(bias).reshape([batch, heads, q_len, k_len])
}

/// Attention weights averaged over heads, as a matrix product so that its gradient comes back
/// contiguous (on the CPU backend the gradient of `mean_dim` is a broadcast view, and adding it
/// to the weights' other gradient walks it element by element).
///
/// # Shapes
/// - `weights`: `[batch, heads, q_len, k_len]` → `[batch, q_len, k_len]`
fn mean_over_heads<B: Backend>(weights: Tensor<B, 4>) -> Tensor<B, 3> {
    let [batch, heads, q_len, k_len] = weights.dims();
    let average = Tensor::<B, 3>::full([1, 1, heads], 1.0 / heads as f32, &weights.device());
    average.matmul(weights.reshape([batch, heads, q_len * k_len])).reshape([batch, q_len, k_len])
}

/// The causal mask of decoder-style self-attention: `true` where key `j` lies after query `i`.
///
/// # Shapes
/// - output: `[batch, len, len]`
pub fn causal_mask<B: Backend>(batch: usize, len: usize, device: &B::Device) -> Tensor<B, 3, Bool> {
    // tril_mask is `false` on and below the diagonal, `true` strictly above it.
    Tensor::<B, 2, Bool>::tril_mask([len, len], 0, device).unsqueeze_dim::<3>(0).expand([batch, len, len])
}

/// A key padding mask (the crate's convention) repeated for every query.
///
/// # Shapes
/// - `key_padding`: `[batch, k_len]`, `true` at padding → `[batch, q_len, k_len]`
pub fn padding_pair_mask<B: Backend>(key_padding: Tensor<B, 2, Bool>, q_len: usize) -> Tensor<B, 3, Bool> {
    let [batch, k_len] = key_padding.dims();
    key_padding.unsqueeze_dim::<3>(1).expand([batch, q_len, k_len])
}

/// Projected keys and values, `[batch, k_len, d_model]` each.
#[derive(Debug, Clone)]
pub struct KeysValues<B: Backend> {
    /// Projected keys.
    pub keys: Tensor<B, 3>,
    /// Projected values.
    pub values: Tensor<B, 3>,
}

impl<B: Backend> KeysValues<B> {
    /// Picks the rows `indices` (with repeats) of both, e.g. one row per question from per-video rows.
    ///
    /// # Shapes
    /// - `indices`: `[picked]` → `[picked, k_len, d_model]` each
    pub fn select(&self, indices: Tensor<B, 1, Int>) -> KeysValues<B> {
        KeysValues {
            keys: self.keys.clone().select(0, indices.clone()),
            values: self.values.clone().select(0, indices),
        }
    }
}
