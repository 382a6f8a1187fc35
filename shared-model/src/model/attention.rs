//! Multi-head attention with a key padding mask, shared by every encoder and the fusion stages.
//!
//! Padding-mask convention (used everywhere in this crate): a `Bool` tensor `[batch, len]` that is
//! `true` at padded positions. Padded keys get a large negative score, so they receive ~0 weight.

use burn::nn::{Linear, LinearConfig};
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
}

/// Scaled dot-product attention over `n_heads` heads (Vaswani et al., 2017).
#[derive(Module, Debug)]
pub struct MultiHeadAttention<B: Backend> {
    // Crate-visible so that `crate::pretrained` can load Hugging Face weights into them.
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
        let linear = || LinearConfig::new(self.d_model, self.d_model).init(device);
        MultiHeadAttention { query: linear(), key: linear(), value: linear(), output: linear(), n_heads: self.n_heads }
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
        KeysValues { keys: self.key.forward(key_value.clone()), values: self.value.forward(key_value) }
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
        let [batch, q_len, d_model] = query.dims();
        let [_, k_len, _] = keys_values.keys.dims();
        let heads = self.n_heads;
        let d_head = d_model / heads;
        // [batch, heads, len, d_head]
        let split = |x: Tensor<B, 3>, len: usize| x.reshape([batch, len, heads, d_head]).swap_dims(1, 2);
        let q = split(self.query.forward(query), q_len);
        let k = split(keys_values.keys, k_len);
        let v = split(keys_values.values, k_len);

        // [batch, heads, q_len, k_len]
        let mut scores = q.matmul(k.swap_dims(2, 3)).div_scalar((d_head as f32).sqrt());
        if let Some(padding) = key_padding {
            let mask = padding.reshape([batch, 1, 1, k_len]).expand([batch, heads, q_len, k_len]);
            scores = scores.mask_fill(mask, MASKED_SCORE);
        }
        let weights = softmax(scores, 3);
        // [batch, q_len, d_model]
        let context = weights.clone().matmul(v).swap_dims(1, 2).reshape([batch, q_len, d_model]);
        AttentionOutput {
            context: self.output.forward(context),
            weights: weights.mean_dim(1).reshape([batch, q_len, k_len]),
        }
    }
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
