//! CLIP's vision tower (a ViT), laid out like Hugging Face's `CLIPVisionModel`
//! (transformers 5.23.0, `models/clip/modeling_clip.py`, the version the parity fixtures come from;
//! Radford et al., 2021).
//!
//! Patch embedding without bias, the class token prepended, learned position embeddings added,
//! `pre_layrnorm`, pre-LN layers ([`crate::model::clip::ClipEncoderLayer`]). `last_hidden_state` is the last
//! layer's output *without* `post_layernorm`; `pooler_output = post_layernorm(last_hidden_state[:, 0])`;
//! `image_embeds = visual_projection(pooler_output)` when the checkpoint has the projection.
//! Weights are loaded by [`crate::model::clip::load_clip_vision_dir`]; [`ClipVisionConfig::init`]
//! alone gives random weights.

use burn::module::Param;
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;

use super::layer::{ClipActivation, ClipEncoderLayer, ClipLayerShape, run_layers};
use crate::model::rows::ForwardRows;

/// CLIP's per-channel RGB mean for pixels scaled to `[0, 1]` (OpenAI's `clip/clip.py` `_transform`,
/// and `OPENAI_CLIP_MEAN` in transformers' image processor). Input = (pixel - mean) / std.
pub const CLIP_IMAGE_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// CLIP's per-channel RGB standard deviation (same sources as [`CLIP_IMAGE_MEAN`]).
pub const CLIP_IMAGE_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// Configuration of [`ClipVisionModel`] (the fields of Hugging Face's `CLIPVisionConfig`;
/// [`crate::model::clip::parse_clip_vision_config`] reads them from a `config.json`).
#[derive(Config, Debug)]
pub struct ClipVisionConfig {
    /// Width of every token vector.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Input channels (3: RGB).
    pub num_channels: usize,
    /// Side of the square input image in pixels; a multiple of `patch_size`.
    pub image_size: usize,
    /// Side of one square patch in pixels.
    pub patch_size: usize,
    /// Epsilon of every LayerNorm.
    pub layer_norm_eps: f64,
    /// The MLP activation.
    pub hidden_act: ClipActivation,
    /// Width of `image_embeds` when the checkpoint has `visual_projection`.
    pub projection_dim: usize,
}

/// The vision tower.
#[derive(Module, Debug)]
pub struct ClipVisionModel<B: Backend> {
    /// `[hidden]`, the class token.
    pub(crate) class_embedding: Param<Tensor<B, 1>>,
    /// The patch conv as a matrix product: `[channels * patch * patch, hidden]`, no bias.
    pub(crate) patch_embedding: Linear<B>,
    /// `[1 + patches, hidden]`.
    pub(crate) position_embedding: Param<Tensor<B, 2>>,
    pub(crate) pre_norm: LayerNorm<B>,
    pub(crate) layers: Vec<ClipEncoderLayer<B>>,
    pub(crate) post_norm: LayerNorm<B>,
    /// `visual_projection`, `[hidden, projection_dim]`, no bias; only in full CLIP checkpoints.
    pub(crate) projection: Option<Linear<B>>,
    patch_size: usize,
}

/// What [`ClipVisionModel::forward`] returns.
pub struct ClipVisionOutput<B: Backend> {
    /// Output of the last layer (no `post_layernorm`): the class token then one token per patch in
    /// row-major order, `[batch, 1 + patches, hidden]`.
    pub last_hidden_state: Tensor<B, 3>,
    /// `post_layernorm(last_hidden_state[:, 0])`, `[batch, hidden]`.
    pub pooler_output: Tensor<B, 2>,
    /// The encoder input (after `pre_layrnorm`) then each layer's output,
    /// `num_hidden_layers + 1` of `[batch, 1 + patches, hidden]`.
    pub hidden_states: Vec<Tensor<B, 3>>,
    /// `visual_projection(pooler_output)`, `[batch, projection_dim]`, when the model has the projection.
    pub image_embeds: Option<Tensor<B, 2>>,
}

impl ClipVisionConfig {
    /// Patches along one side of the image.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Patch tokens per image (without the class token).
    pub fn num_patches(&self) -> usize {
        self.grid_size() * self.grid_size()
    }

    /// The shape of every encoder layer.
    pub fn layer_shape(&self) -> ClipLayerShape {
        let (hidden_size, intermediate_size, activation) = (self.hidden_size, self.intermediate_size, self.hidden_act);
        let (num_attention_heads, layer_norm_eps) = (self.num_attention_heads, self.layer_norm_eps);
        ClipLayerShape { hidden_size, intermediate_size, num_attention_heads, layer_norm_eps, activation }
    }

    /// Why this configuration cannot be built, if it cannot.
    pub fn problem(&self) -> Option<String> {
        self.layer_shape().problem().or_else(|| {
            (self.patch_size == 0 || !self.image_size.is_multiple_of(self.patch_size))
                .then(|| format!("image_size {} is not a multiple of patch_size {}", self.image_size, self.patch_size))
        })
    }

    /// Builds the tower with freshly initialised (random) weights and no projection.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ClipVisionModel<B> {
        // Invariant: `loader.rs` rejects such configurations before any module is built.
        assert!(self.problem().is_none(), "{}", self.problem().unwrap_or_default());
        let (h, shape) = (self.hidden_size, self.layer_shape());
        let norm = || LayerNormConfig::new(h).with_epsilon(self.layer_norm_eps).init(device);
        let embedding = Initializer::Normal { mean: 0.0, std: 0.02 };
        let patch_inputs = self.num_channels * self.patch_size * self.patch_size;
        ClipVisionModel {
            class_embedding: embedding.init([h], device),
            patch_embedding: LinearConfig::new(patch_inputs, h).with_bias(false).init(device),
            position_embedding: embedding.init([self.num_patches() + 1, h], device),
            pre_norm: norm(),
            layers: (0..self.num_hidden_layers).map(|_| shape.init(device)).collect(),
            post_norm: norm(),
            projection: None,
            patch_size: self.patch_size,
        }
    }

    /// The `visual_projection` layer (random weights) for [`ClipVisionModel::with_projection`].
    pub fn init_projection<B: Backend>(&self, device: &B::Device) -> Linear<B> {
        LinearConfig::new(self.hidden_size, self.projection_dim).with_bias(false).init(device)
    }
}

impl<B: Backend> ClipVisionModel<B> {
    /// Runs the tower on normalised images (`(rgb / 255 - CLIP_IMAGE_MEAN) / CLIP_IMAGE_STD`).
    ///
    /// # Shapes
    /// - `pixels`: `[batch, channels, image_size, image_size]`
    /// - output: see [`ClipVisionOutput`]
    pub fn forward(&self, pixels: Tensor<B, 4>) -> ClipVisionOutput<B> {
        let [batch, channels, height, width] = pixels.dims();
        let [positions, hidden] = self.position_embedding.dims();
        let p = self.patch_size;
        let (rows, cols) = (height / p, width / p);
        // Invariant stated in the docs: the caller resizes images to the configured size.
        assert_eq!(rows * cols + 1, positions, "image {height}x{width} does not match the position table");
        let patches = pixels
            // [batch, channels, rows, p, cols, p]
            .reshape([batch, channels, rows, p, cols, p])
            // [batch, rows, cols, channels, p, p]
            .permute([0, 2, 4, 1, 3, 5])
            // [batch, patches, channels * p * p], in the conv weight's (in, kh, kw) order
            .reshape([batch, rows * cols, channels * p * p]);
        // [batch, patches, hidden]
        let tokens = self.patch_embedding.forward_rows(patches);
        // [batch, 1, hidden]
        let class = self.class_embedding.val().reshape([1, 1, hidden]).expand([batch, 1, hidden]);
        // [batch, 1 + patches, hidden]
        let x = Tensor::cat(vec![class, tokens], 1) + self.position_embedding.val().unsqueeze_dim::<3>(0);
        let states = run_layers(&self.layers, self.pre_norm.forward(x), None);
        let (last_hidden_state, hidden_states) = (states.last, states.all);
        // [batch, hidden]
        let class_out = last_hidden_state.clone().slice([0..batch, 0..1]).reshape([batch, hidden]);
        let pooler_output = self.post_norm.forward(class_out);
        let image_embeds = self.projection.as_ref().map(|projection| projection.forward(pooler_output.clone()));
        ClipVisionOutput { last_hidden_state, pooler_output, hidden_states, image_embeds }
    }

    /// Every patch token of the last layer after `post_layernorm` (the class token dropped): the
    /// grid features a downstream model reads, as ClipBERT reads a CNN's grid.
    ///
    /// # Shapes
    /// - `pixels`: `[batch, channels, image_size, image_size]`
    /// - output: `[batch, patches, hidden]`, patches in row-major order
    pub fn patch_tokens(&self, pixels: Tensor<B, 4>) -> Tensor<B, 3> {
        let last = self.forward(pixels).last_hidden_state; // [batch, 1 + patches, hidden]
        let [batch, tokens, _] = last.dims();
        self.post_norm.forward(last.slice([0..batch, 1..tokens])) // [batch, patches, hidden]
    }

    /// The tower without `visual_projection`.
    pub fn without_projection(mut self) -> Self {
        self.projection = None;
        self
    }

    /// Adds (or replaces) the `visual_projection` layer, `[hidden, projection_dim]`.
    pub fn with_projection(mut self, projection: Linear<B>) -> Self {
        self.projection = Some(projection);
        self
    }

    /// Side of one square patch in pixels.
    pub fn patch_size(&self) -> usize {
        self.patch_size
    }

    /// Whether the model computes `image_embeds`.
    pub fn has_projection(&self) -> bool {
        self.projection.is_some()
    }

    /// Number of transformer layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }
}
