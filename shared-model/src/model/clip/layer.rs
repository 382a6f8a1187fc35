//! The transformer layer shared by CLIP's vision and text towers (Radford et al., 2021,
//! "Learning Transferable Visual Models From Natural Language Supervision"), laid out like
//! Hugging Face's `CLIPEncoderLayer` (transformers `models/clip/modeling_clip.py`):
//! `x + attn(ln1(x))`, then `x + fc2(act(fc1(ln2(x))))`.

use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, sigmoid};
use serde::{Deserialize, Serialize};

use crate::model::attention::{MultiHeadAttention, MultiHeadAttentionConfig};
use crate::model::rows::ForwardRows;

/// The MLP activation (`hidden_act` in Hugging Face's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClipActivation {
    /// `x * sigmoid(1.702 x)`, OpenAI's CLIP checkpoints.
    #[serde(rename = "quick_gelu")]
    QuickGelu,
    /// GELU with `erf` (e.g. LAION's OpenCLIP checkpoints).
    #[serde(rename = "gelu")]
    Gelu,
}

/// The sizes one CLIP layer is built from (both towers' configs provide them).
#[derive(Debug, Clone, Copy)]
pub struct ClipLayerShape {
    /// Width of every token vector.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Attention heads; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Epsilon of both LayerNorms.
    pub layer_norm_eps: f64,
    /// The MLP activation.
    pub activation: ClipActivation,
}

/// One pre-LN transformer layer.
#[derive(Module, Debug)]
pub struct ClipEncoderLayer<B: Backend> {
    pub(crate) norm1: LayerNorm<B>,
    pub(crate) attention: MultiHeadAttention<B>,
    pub(crate) norm2: LayerNorm<B>,
    pub(crate) fc1: Linear<B>,
    pub(crate) fc2: Linear<B>,
    #[module(skip)]
    activation: ClipActivation,
}

impl ClipLayerShape {
    /// Why layers of this shape cannot be built, if they cannot.
    pub fn problem(&self) -> Option<String> {
        (self.num_attention_heads == 0 || !self.hidden_size.is_multiple_of(self.num_attention_heads)).then(|| {
            format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )
        })
    }

    /// Builds one layer with freshly initialised (random) weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ClipEncoderLayer<B> {
        let norm = || LayerNormConfig::new(self.hidden_size).with_epsilon(self.layer_norm_eps).init(device);
        ClipEncoderLayer {
            norm1: norm(),
            attention: MultiHeadAttentionConfig::new(self.hidden_size, self.num_attention_heads).init(device),
            norm2: norm(),
            fc1: LinearConfig::new(self.hidden_size, self.intermediate_size).init(device),
            fc2: LinearConfig::new(self.intermediate_size, self.hidden_size).init(device),
            activation: self.activation,
        }
    }
}

impl<B: Backend> ClipEncoderLayer<B> {
    /// # Shapes
    /// - `x`: `[batch, len, hidden]`
    /// - `blocked`: `[batch, len, len]`, `true` where query `i` may not see key `j`; `None`: no mask
    /// - output: `[batch, len, hidden]`
    pub fn forward(&self, x: Tensor<B, 3>, blocked: Option<Tensor<B, 3, Bool>>) -> Tensor<B, 3> {
        let normed = self.norm1.forward(x.clone());
        let x = x + self.attention.forward_masked(normed.clone(), normed, blocked).context;
        let inner = self.fc1.forward_rows(self.norm2.forward(x.clone()));
        let inner = match self.activation {
            ClipActivation::QuickGelu => inner.clone() * sigmoid(inner.mul_scalar(1.702)),
            ClipActivation::Gelu => gelu(inner),
        };
        x + self.fc2.forward_rows(inner)
    }
}

/// What [`run_layers`] returns.
pub struct LayerStates<B: Backend> {
    /// Output of the last layer (the input when there are no layers), `[batch, len, hidden]`.
    pub last: Tensor<B, 3>,
    /// The input then each layer's output, `layers.len() + 1` of `[batch, len, hidden]`.
    pub all: Vec<Tensor<B, 3>>,
}

/// Runs `layers` in order and keeps every intermediate state.
///
/// # Shapes
/// - `x`: `[batch, len, hidden]`; `blocked`: as in [`ClipEncoderLayer::forward`]
/// - output: see [`LayerStates`]
pub fn run_layers<B: Backend>(
    layers: &[ClipEncoderLayer<B>],
    x: Tensor<B, 3>,
    blocked: Option<Tensor<B, 3, Bool>>,
) -> LayerStates<B> {
    let mut all = vec![x.clone()];
    let mut last = x;
    for layer in layers {
        last = layer.forward(last, blocked.clone());
        all.push(last.clone());
    }
    LayerStates { last, all }
}
