//! A pretrained BERT-family tower (BERT, MiniLM) used as the QA model's text encoder.
//!
//! Token states of the tower (`hidden_size` wide, e.g. 384 for all-MiniLM-L6-v2) are projected to
//! the QA model's `d_model`; the pooled vector is the masked mean of the projected tokens, which
//! equals the projection of sentence-transformers' mean pooling (the projection is affine).
//! The tower's weights live in the model folder's `model.safetensors` under `text_tower.bert.*`;
//! [`crate::model::bert`] loads them from a Hugging Face checkpoint for a new model.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::bert::{BertConfig, BertModel};
use super::text_encoder::{TextEncoding, masked_mean};
use crate::model::rows::ForwardRows;

/// A pretrained tower as recorded in the model folder's `config.json`.
#[derive(Config, Debug)]
pub struct PretrainedTextConfig {
    /// The tower's architecture (the BERT fields of its Hugging Face `config.json`).
    pub bert: BertConfig,
    /// `true`: the tower's weights are not trained (no gradient, never updated).
    #[config(default = false)]
    pub frozen: bool,
}

/// The BERT tower and its projection to the QA model's width.
#[derive(Module, Debug)]
pub struct PretrainedTextTower<B: Backend> {
    bert: BertModel<B>,
    projection: Linear<B>,
}

impl PretrainedTextConfig {
    /// Builds the tower with random weights (load real ones with [`PretrainedTextTower::with_bert`]).
    pub fn init<B: Backend>(&self, d_model: usize, device: &B::Device) -> PretrainedTextTower<B> {
        PretrainedTextTower {
            bert: self.bert.init(device),
            projection: LinearConfig::new(self.bert.hidden_size, d_model).init(device),
        }
    }
}

impl<B: Backend> PretrainedTextTower<B> {
    /// # Shapes
    /// - `ids`: `[batch, len]` token ids, `len <= max_position_embeddings`
    /// - `padding`: `[batch, len]`, `true` at padded positions
    /// - output: `hidden` `[batch, len, d_model]`, `pooled` `[batch, d_model]`
    pub fn forward(&self, ids: Tensor<B, 2, Int>, padding: Tensor<B, 2, Bool>) -> TextEncoding<B> {
        let states = self.states(ids, padding.clone());
        self.encode_states(states, padding)
    }

    /// The tower's own output: its last hidden states, before the projection. A frozen tower
    /// maps a text to the same states every time (no dropout), so callers may compute them once
    /// per text and pass them to [`Self::encode_states`] later.
    ///
    /// # Shapes
    /// - `ids`, `padding`: `[batch, len]` (`padding` `true` at padded positions)
    /// - output: `[batch, len, hidden_size]`
    pub fn states(&self, ids: Tensor<B, 2, Int>, padding: Tensor<B, 2, Bool>) -> Tensor<B, 3> {
        // Hugging Face's mask convention: 1 for real tokens.
        let attention_mask = padding.bool_not().int();
        self.bert.forward(ids, None, Some(attention_mask)).last_hidden_state
    }

    /// The text encoding from the tower's states ([`Self::states`]); what [`Self::forward`] does
    /// after the tower. Values at padded positions do not matter (they are masked everywhere).
    ///
    /// # Shapes
    /// - `states`: `[batch, len, hidden_size]`, `padding`: `[batch, len]`
    /// - output: `hidden` `[batch, len, d_model]`, `pooled` `[batch, d_model]`
    pub fn encode_states(&self, states: Tensor<B, 3>, padding: Tensor<B, 2, Bool>) -> TextEncoding<B> {
        let hidden = self.projection.forward_rows(states); // [batch, len, d_model]
        let pooled = masked_mean(hidden.clone(), padding.clone());
        TextEncoding { hidden, pooled, padding }
    }

    /// The BERT inside (for parity checks against the standalone tower).
    pub fn bert(&self) -> &BertModel<B> {
        &self.bert
    }

    /// Replaces the tower's weights, e.g. with a checkpoint from [`crate::model::bert::load_bert_dir`].
    pub fn with_bert(self, bert: BertModel<B>) -> Self {
        PretrainedTextTower { bert, ..self }
    }

    /// Stops gradients through the tower's own weights (the projection still trains).
    pub fn freeze(self) -> Self {
        PretrainedTextTower { bert: self.bert.no_grad(), ..self }
    }
}
