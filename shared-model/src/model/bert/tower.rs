//! A pretrained BERT-family text tower (BERT, MiniLM) laid out like Hugging Face's `BertModel`.
//!
//! Post-LN layers, GELU with `erf`, the attention mask applied to keys only, and
//! `pooler_output = tanh(dense(last_hidden_state[:, 0]))`. Weights are loaded by
//! [`crate::model::bert`]; [`BertConfig::init`] alone gives random weights.

use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;

use crate::model::attention::{MultiHeadAttention, MultiHeadAttentionConfig};
use crate::model::rows::ForwardRows;

/// Configuration of [`BertModel`], read from the fields of a Hugging Face `config.json`
/// (other fields there are ignored).
#[derive(Config, Debug)]
pub struct BertConfig {
    /// Size of the token vocabulary.
    pub vocab_size: usize,
    /// Width of every token vector.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Longest supported sequence (rows of the position table).
    pub max_position_embeddings: usize,
    /// Number of token types (segments).
    pub type_vocab_size: usize,
    /// Epsilon of every LayerNorm.
    pub layer_norm_eps: f64,
}

/// Token, position and token-type embeddings followed by a LayerNorm.
#[derive(Module, Debug)]
pub struct BertEmbeddings<B: Backend> {
    pub(crate) word: Embedding<B>,
    pub(crate) position: Embedding<B>,
    pub(crate) token_type: Embedding<B>,
    pub(crate) norm: LayerNorm<B>,
}

/// Self-attention of one layer (the crate's multi-head attention, output projection included)
/// followed by the residual and post-LN.
#[derive(Module, Debug)]
pub struct BertAttention<B: Backend> {
    pub(crate) attention: MultiHeadAttention<B>,
    pub(crate) norm: LayerNorm<B>,
}

/// One post-LN transformer layer: attention, then the GELU feed-forward block.
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    pub(crate) attention: BertAttention<B>,
    pub(crate) intermediate: Linear<B>,
    pub(crate) output: Linear<B>,
    pub(crate) norm: LayerNorm<B>,
}

/// The whole tower: embeddings, layers and the pooler.
#[derive(Module, Debug)]
pub struct BertModel<B: Backend> {
    pub(crate) embeddings: BertEmbeddings<B>,
    pub(crate) layers: Vec<BertLayer<B>>,
    pub(crate) pooler: Linear<B>,
}

/// What [`BertModel::forward`] returns.
pub struct BertOutput<B: Backend> {
    /// Output of the last layer, `[batch, len, hidden]`.
    pub last_hidden_state: Tensor<B, 3>,
    /// `tanh(dense(last_hidden_state[:, 0]))`, `[batch, hidden]`.
    pub pooler_output: Tensor<B, 2>,
    /// The embeddings followed by each layer's output, `num_hidden_layers + 1` of `[batch, len, hidden]`.
    pub hidden_states: Vec<Tensor<B, 3>>,
}

impl BertConfig {
    /// Builds the module with freshly initialised (random) weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> BertModel<B> {
        // Invariant: `loader.rs` rejects such configurations before any module is built.
        assert!(
            self.num_attention_heads > 0 && self.hidden_size.is_multiple_of(self.num_attention_heads),
            "hidden_size must be a multiple of num_attention_heads"
        );
        let h = self.hidden_size;
        let norm = || LayerNormConfig::new(h).with_epsilon(self.layer_norm_eps).init(device);
        let linear = |d_in: usize, d_out: usize| LinearConfig::new(d_in, d_out).init(device);
        let layer = || BertLayer {
            attention: BertAttention {
                attention: MultiHeadAttentionConfig::new(h, self.num_attention_heads).init(device),
                norm: norm(),
            },
            intermediate: linear(h, self.intermediate_size),
            output: linear(self.intermediate_size, h),
            norm: norm(),
        };
        BertModel {
            embeddings: BertEmbeddings {
                word: EmbeddingConfig::new(self.vocab_size, h).init(device),
                position: EmbeddingConfig::new(self.max_position_embeddings, h).init(device),
                token_type: EmbeddingConfig::new(self.type_vocab_size, h).init(device),
                norm: norm(),
            },
            layers: (0..self.num_hidden_layers).map(|_| layer()).collect(),
            pooler: linear(h, h),
        }
    }
}

impl<B: Backend> BertEmbeddings<B> {
    /// # Shapes
    /// - `ids`, `token_types`: `[batch, len]`, `len <= max_position_embeddings`
    /// - output: `[batch, len, hidden]`
    pub fn forward(&self, ids: Tensor<B, 2, Int>, token_types: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let [batch, len] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..len as i64, &device).unsqueeze_dim::<2>(0).expand([batch, len]);
        let sum = self.word.forward(ids) + self.position.forward(positions) + self.token_type.forward(token_types);
        self.norm.forward(sum)
    }
}

impl<B: Backend> BertAttention<B> {
    /// # Shapes
    /// - `x`: `[batch, len, hidden]`
    /// - `key_padding`: `[batch, len]`, `true` where the key is padding
    /// - output: `[batch, len, hidden]`
    pub fn forward(&self, x: Tensor<B, 3>, key_padding: Option<Tensor<B, 2, Bool>>) -> Tensor<B, 3> {
        let attended = self.attention.forward(x.clone(), x.clone(), key_padding).context;
        self.norm.forward(attended + x)
    }
}

impl<B: Backend> BertLayer<B> {
    /// # Shapes
    /// - `x`: `[batch, len, hidden]`; `key_padding`: `[batch, len]` (`true` at padding)
    /// - output: `[batch, len, hidden]`
    pub fn forward(&self, x: Tensor<B, 3>, key_padding: Option<Tensor<B, 2, Bool>>) -> Tensor<B, 3> {
        let attended = self.attention.forward(x, key_padding);
        let inner = gelu(self.intermediate.forward_rows(attended.clone()));
        self.norm.forward(self.output.forward_rows(inner) + attended)
    }
}

impl<B: Backend> BertModel<B> {
    /// Runs the tower.
    ///
    /// # Shapes
    /// - `ids`: `[batch, len]` token ids, `len <= max_position_embeddings`
    /// - `token_types`: `[batch, len]` segment ids; `None` means all 0
    /// - `attention_mask`: `[batch, len]`, Hugging Face convention: 1 for real tokens, 0 for padding;
    ///   `None` means every token is real. It masks keys only, so padded rows are still defined.
    /// - output: see [`BertOutput`]
    pub fn forward(
        &self,
        ids: Tensor<B, 2, Int>,
        token_types: Option<Tensor<B, 2, Int>>,
        attention_mask: Option<Tensor<B, 2, Int>>,
    ) -> BertOutput<B> {
        let [batch, len] = ids.dims();
        let token_types = token_types.unwrap_or_else(|| Tensor::zeros([batch, len], &ids.device()));
        let key_padding = attention_mask.map(|mask| mask.equal_elem(0));
        let mut x = self.embeddings.forward(ids, token_types);
        let mut hidden_states = vec![x.clone()];
        for layer in &self.layers {
            x = layer.forward(x, key_padding.clone());
            hidden_states.push(x.clone());
        }
        let hidden = x.dims()[2];
        let cls = x.clone().slice([0..batch, 0..1]).reshape([batch, hidden]);
        let pooler_output = self.pooler.forward_rows(cls).tanh();
        BertOutput { last_hidden_state: x, pooler_output, hidden_states }
    }

    /// Number of transformer layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }
}
