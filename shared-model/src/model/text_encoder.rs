//! Text encoder for questions and candidate answers: token + position embeddings and a small
//! transformer (a miniature BERT; issue 4 swaps in pretrained BERT/MiniLM towers).

use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig};
use burn::prelude::*;
use burn::tensor::TensorData;

use super::transformer::{Transformer, TransformerConfig};

/// Configuration of [`TextEncoder`].
#[derive(Config, Debug)]
pub struct TextEncoderConfig {
    /// Size of the tokenizer's vocabulary.
    pub vocab_size: usize,
    /// Longest token sequence (inputs are truncated to it).
    pub max_len: usize,
    /// Width of the token vectors.
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Transformer layers.
    pub n_layers: usize,
    /// Dropout inside the transformer during training.
    #[config(default = 0.1)]
    pub dropout: f64,
}

/// Embeddings + transformer.
#[derive(Module, Debug)]
pub struct TextEncoder<B: Backend> {
    tokens: Embedding<B>,
    positions: Embedding<B>,
    transformer: Transformer<B>,
}

/// What [`TextEncoder::forward`] returns.
pub struct TextEncoding<B: Backend> {
    /// Contextual token vectors, `[batch, len, d_model]`.
    pub hidden: Tensor<B, 3>,
    /// Mean of the non-padded token vectors, `[batch, d_model]`.
    pub pooled: Tensor<B, 2>,
    /// `true` at padded positions, `[batch, len]`.
    pub padding: Tensor<B, 2, Bool>,
}

impl TextEncoderConfig {
    /// Builds the module with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> TextEncoder<B> {
        TextEncoder {
            tokens: EmbeddingConfig::new(self.vocab_size, self.d_model).init(device),
            positions: EmbeddingConfig::new(self.max_len, self.d_model).init(device),
            transformer: TransformerConfig::new(self.d_model, self.n_heads, self.n_layers)
                .with_dropout(self.dropout)
                .init(device),
        }
    }
}

impl<B: Backend> TextEncoder<B> {
    /// Replaces the token embedding table with `values`, row-major `[vocab_size, d_model]` (e.g.
    /// vectors derived from a pretrained vocabulary); `Err` holds the table's shape when `values`
    /// does not fill it exactly.
    pub fn with_token_embeddings(self, values: Vec<f32>, device: &B::Device) -> Result<Self, [usize; 2]> {
        let shape = self.tokens.weight.dims();
        if values.len() != shape[0] * shape[1] {
            return Err(shape);
        }
        let table = Tensor::<B, 2>::from_data(TensorData::new(values, shape), device);
        let mut tokens = self.tokens;
        tokens.weight = Param::from_tensor(table);
        Ok(TextEncoder { tokens, ..self })
    }

    /// # Shapes
    /// - `ids`: `[batch, len]` token ids, `len <= max_len`
    /// - `padding`: `[batch, len]`, `true` at padded positions
    pub fn forward(&self, ids: Tensor<B, 2, Int>, padding: Tensor<B, 2, Bool>) -> TextEncoding<B> {
        let [batch, len] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..len as i64, &device).unsqueeze_dim::<2>(0).expand([batch, len]);
        let embedded = self.tokens.forward(ids) + self.positions.forward(positions);
        let hidden = self.transformer.forward(embedded, Some(padding.clone()));
        let pooled = masked_mean(hidden.clone(), padding.clone());
        TextEncoding { hidden, pooled, padding }
    }
}

/// Mean over the non-padded positions.
///
/// # Shapes
/// - `tokens`: `[batch, len, dim]`, `padding`: `[batch, len]` → `[batch, dim]`
pub fn masked_mean<B: Backend>(tokens: Tensor<B, 3>, padding: Tensor<B, 2, Bool>) -> Tensor<B, 2> {
    let [batch, len, dim] = tokens.dims();
    let keep = padding.bool_not().float().reshape([batch, len, 1]); // [batch, len, 1]
    let count = keep.clone().sum_dim(1).clamp_min(1.0); // [batch, 1, 1]
    (tokens * keep).sum_dim(1).div(count).reshape([batch, dim])
}
