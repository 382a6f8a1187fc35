//! A pre-LayerNorm transformer encoder (Xiong et al., 2020: pre-LN trains stably without warm-up
//! tricks, which matters for small models trained from scratch on CPU).

use burn::nn::{Dropout, DropoutConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;

use super::attention::{MultiHeadAttention, MultiHeadAttentionConfig};
use crate::model::rows::ForwardRows;

/// Configuration of [`Transformer`].
#[derive(Config, Debug)]
pub struct TransformerConfig {
    /// Width of every token.
    pub d_model: usize,
    /// Attention heads per layer.
    pub n_heads: usize,
    /// Number of layers.
    pub n_layers: usize,
    /// Hidden width of the feed-forward block as a multiple of `d_model`.
    #[config(default = 2)]
    pub ffn_factor: usize,
    /// Dropout on attention and feed-forward outputs during training.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Start every layer as the identity: the attention's output projection and the feed-forward
    /// block's second linear zero-initialised, so a layer appended to a trained stack changes
    /// nothing until training moves it.
    #[config(default = false)]
    pub identity_start: bool,
}

/// A stack of pre-LN self-attention layers followed by a final LayerNorm.
#[derive(Module, Debug)]
pub struct Transformer<B: Backend> {
    layers: Vec<TransformerLayer<B>>,
    norm: LayerNorm<B>,
}

/// One pre-LN layer: `x + attn(ln(x))`, then `x + ffn(ln(x))`.
#[derive(Module, Debug)]
pub struct TransformerLayer<B: Backend> {
    norm_attention: LayerNorm<B>,
    attention: MultiHeadAttention<B>,
    norm_ffn: LayerNorm<B>,
    ffn_in: Linear<B>,
    ffn_out: Linear<B>,
    dropout: Dropout,
}

impl TransformerConfig {
    /// Builds the module with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Transformer<B> {
        let ffn_out = LinearConfig::new(self.d_model * self.ffn_factor, self.d_model);
        let ffn_out = if self.identity_start { ffn_out.with_initializer(Initializer::Zeros) } else { ffn_out };
        let layers = (0..self.n_layers)
            .map(|_| TransformerLayer {
                norm_attention: LayerNormConfig::new(self.d_model).init(device),
                attention: MultiHeadAttentionConfig::new(self.d_model, self.n_heads)
                    .with_zero_output(self.identity_start)
                    .init(device),
                norm_ffn: LayerNormConfig::new(self.d_model).init(device),
                ffn_in: LinearConfig::new(self.d_model, self.d_model * self.ffn_factor).init(device),
                ffn_out: ffn_out.init(device),
                dropout: DropoutConfig::new(self.dropout).init(),
            })
            .collect();
        Transformer { layers, norm: LayerNormConfig::new(self.d_model).init(device) }
    }
}

impl<B: Backend> Transformer<B> {
    /// # Shapes
    /// - `tokens`: `[batch, len, d_model]`
    /// - `padding`: `[batch, len]`, `true` at padded positions (see `attention.rs`)
    /// - output: `[batch, len, d_model]`
    pub fn forward(&self, tokens: Tensor<B, 3>, padding: Option<Tensor<B, 2, Bool>>) -> Tensor<B, 3> {
        let mut x = tokens;
        for layer in &self.layers {
            x = layer.forward(x, padding.clone());
        }
        self.norm.forward(x)
    }
}

impl<B: Backend> TransformerLayer<B> {
    fn forward(&self, x: Tensor<B, 3>, padding: Option<Tensor<B, 2, Bool>>) -> Tensor<B, 3> {
        let normed = self.norm_attention.forward(x.clone());
        let attended = self.attention.forward(normed.clone(), normed, padding).context;
        let x = x + self.dropout.forward(attended);
        let hidden = gelu(self.ffn_in.forward_rows(self.norm_ffn.forward(x.clone())));
        x + self.dropout.forward(self.ffn_out.forward_rows(hidden))
    }
}
