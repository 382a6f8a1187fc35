//! CLIP's text tower, laid out like Hugging Face's `CLIPTextModel`
//! (transformers 5.23.0, `models/clip/modeling_clip.py`, the version the parity fixtures come from;
//! Radford et al., 2021).
//!
//! Token + learned position embeddings, pre-LN layers ([`crate::model::clip::ClipEncoderLayer`]) with causal
//! self-attention that also masks padded keys, then `final_layer_norm`. `last_hidden_state` is taken
//! after `final_layer_norm`, `hidden_states` before it. `pooler_output` is `last_hidden_state` at the
//! first `eos_token_id` of each row, or at the largest id when the config has no `eos_token_id` or
//! has OpenAI's wrong `2` (transformers keeps that legacy rule, PR #24773). A row without the eos id
//! pools position 0, as transformers does. `text_embeds = text_projection(pooler_output)` when the
//! checkpoint has the projection. Weights are loaded by [`crate::model::clip::load_clip_text_dir`].

use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::layer::{ClipActivation, ClipEncoderLayer, ClipLayerShape, run_layers};
use crate::model::attention::{causal_mask, padding_pair_mask};

/// The `eos_token_id` that OpenAI's CLIP configs carry by mistake; transformers pools those
/// checkpoints at the largest id instead (where CLIP's end-of-text token, the last id, sits).
pub const LEGACY_EOS_TOKEN_ID: usize = 2;

/// Configuration of [`ClipTextModel`] (the fields of Hugging Face's `CLIPTextConfig`;
/// [`crate::model::clip::parse_clip_text_config`] reads them from a `config.json`).
#[derive(Config, Debug)]
pub struct ClipTextConfig {
    /// Size of the token vocabulary.
    pub vocab_size: usize,
    /// Width of every token vector.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Longest supported sequence (rows of the position table).
    pub max_position_embeddings: usize,
    /// Epsilon of every LayerNorm.
    pub layer_norm_eps: f64,
    /// The MLP activation.
    pub hidden_act: ClipActivation,
    /// Width of `text_embeds` when the checkpoint has `text_projection`.
    pub projection_dim: usize,
    /// The end-of-text id whose first occurrence is pooled; see [`ClipTextPooling`].
    pub eos_token_id: Option<usize>,
}

/// Which position of each row `pooler_output` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClipTextPooling {
    /// The first position holding this id (position 0 if the row has none).
    FirstId(usize),
    /// The first position holding the row's largest id.
    LargestId,
}

/// The text tower.
#[derive(Module, Debug)]
pub struct ClipTextModel<B: Backend> {
    pub(crate) token_embedding: Embedding<B>,
    pub(crate) position_embedding: Embedding<B>,
    pub(crate) layers: Vec<ClipEncoderLayer<B>>,
    pub(crate) final_norm: LayerNorm<B>,
    /// `text_projection`, `[hidden, projection_dim]`, no bias; only in full CLIP checkpoints.
    pub(crate) projection: Option<Linear<B>>,
    #[module(skip)]
    pooling: ClipTextPooling,
}

/// What [`ClipTextModel::forward`] returns.
pub struct ClipTextOutput<B: Backend> {
    /// `final_layer_norm` of the last layer's output, `[batch, len, hidden]`.
    pub last_hidden_state: Tensor<B, 3>,
    /// `last_hidden_state` at the pooled position of each row (see [`ClipTextPooling`]), `[batch, hidden]`.
    pub pooler_output: Tensor<B, 2>,
    /// The embeddings then each layer's output (before `final_layer_norm`),
    /// `num_hidden_layers + 1` of `[batch, len, hidden]`.
    pub hidden_states: Vec<Tensor<B, 3>>,
    /// `text_projection(pooler_output)`, `[batch, projection_dim]`, when the model has the projection.
    pub text_embeds: Option<Tensor<B, 2>>,
}

impl ClipTextConfig {
    /// The pooling rule transformers applies for this `eos_token_id`.
    pub fn pooling(&self) -> ClipTextPooling {
        match self.eos_token_id {
            None | Some(LEGACY_EOS_TOKEN_ID) => ClipTextPooling::LargestId,
            Some(id) => ClipTextPooling::FirstId(id),
        }
    }

    /// The shape of every encoder layer.
    pub fn layer_shape(&self) -> ClipLayerShape {
        let (hidden_size, intermediate_size, activation) = (self.hidden_size, self.intermediate_size, self.hidden_act);
        let (num_attention_heads, layer_norm_eps) = (self.num_attention_heads, self.layer_norm_eps);
        ClipLayerShape { hidden_size, intermediate_size, num_attention_heads, layer_norm_eps, activation }
    }

    /// Builds the tower with freshly initialised (random) weights and no projection.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ClipTextModel<B> {
        // Invariant: `loader.rs` rejects such configurations before any module is built.
        let (h, shape) = (self.hidden_size, self.layer_shape());
        assert!(shape.problem().is_none(), "{}", shape.problem().unwrap_or_default());
        ClipTextModel {
            token_embedding: EmbeddingConfig::new(self.vocab_size, h).init(device),
            position_embedding: EmbeddingConfig::new(self.max_position_embeddings, h).init(device),
            layers: (0..self.num_hidden_layers).map(|_| shape.init(device)).collect(),
            final_norm: LayerNormConfig::new(h).with_epsilon(self.layer_norm_eps).init(device),
            projection: None,
            pooling: self.pooling(),
        }
    }

    /// The `text_projection` layer (random weights) for [`ClipTextModel::with_projection`].
    pub fn init_projection<B: Backend>(&self, device: &B::Device) -> Linear<B> {
        LinearConfig::new(self.hidden_size, self.projection_dim).with_bias(false).init(device)
    }
}

impl<B: Backend> ClipTextModel<B> {
    /// Runs the tower.
    ///
    /// # Shapes
    /// - `ids`: `[batch, len]` token ids, `len <= max_position_embeddings`
    /// - `attention_mask`: `[batch, len]`, Hugging Face convention: 1 for real tokens, 0 for padding;
    ///   `None` means every token is real. Padded keys are masked on top of the causal mask.
    /// - output: see [`ClipTextOutput`]
    pub fn forward(&self, ids: Tensor<B, 2, Int>, attention_mask: Option<Tensor<B, 2, Int>>) -> ClipTextOutput<B> {
        let [batch, len] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..len as i64, &device).unsqueeze_dim::<2>(0).expand([batch, len]);
        let x = self.token_embedding.forward(ids.clone()) + self.position_embedding.forward(positions);
        let causal = causal_mask::<B>(batch, len, &device);
        // [batch, len, len], `true` where query i may not see key j
        let blocked = match attention_mask {
            Some(mask) => causal.bool_or(padding_pair_mask(mask.equal_elem(0), len)),
            None => causal,
        };
        let states = run_layers(&self.layers, x, Some(blocked));
        let last_hidden_state = self.final_norm.forward(states.last);
        let hidden = last_hidden_state.dims()[2];
        // [batch, 1, hidden]
        let index = self.pooled_positions(ids).reshape([batch, 1, 1]).expand([batch, 1, hidden]);
        let pooler_output = last_hidden_state.clone().gather(1, index).reshape([batch, hidden]);
        let text_embeds = self.projection.as_ref().map(|projection| projection.forward(pooler_output.clone()));
        ClipTextOutput { last_hidden_state, pooler_output, hidden_states: states.all, text_embeds }
    }

    /// The position pooled in each row.
    ///
    /// # Shapes
    /// - `ids`: `[batch, len]` → `[batch, 1]`
    fn pooled_positions(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 2, Int> {
        let [batch, len] = ids.dims();
        // [batch, len]: len - 1 down to 0, so that among equal keys the first position wins
        // (argmax's choice among ties is not specified across backends).
        let earlier = Tensor::<B, 1, Int>::arange(0..len as i64, &ids.device())
            .neg()
            .add_scalar(len as i64 - 1)
            .unsqueeze_dim::<2>(0)
            .expand([batch, len]);
        let primary = match self.pooling {
            ClipTextPooling::FirstId(id) => ids.equal_elem(id as i64).int(),
            ClipTextPooling::LargestId => ids,
        };
        // Distinct keys: primary * len + earlier orders by primary first, then by position.
        (primary.mul_scalar(len as i64) + earlier).argmax(1)
    }

    /// Adds (or replaces) the `text_projection` layer, `[hidden, projection_dim]`.
    pub fn with_projection(mut self, projection: Linear<B>) -> Self {
        self.projection = Some(projection);
        self
    }

    /// Whether the model computes `text_embeds`.
    pub fn has_projection(&self) -> bool {
        self.projection.is_some()
    }

    /// The pooling rule in use.
    pub fn pooling(&self) -> ClipTextPooling {
        self.pooling
    }

    /// Number of transformer layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }
}
