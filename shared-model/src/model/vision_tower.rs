//! A pretrained CLIP vision tower (ViT) used as the QA model's frame encoder.
//!
//! Every patch token of the tower's last layer, after CLIP's `post_layernorm`, is projected to the
//! QA model's `d_model`: a `grid_size`² grid of tokens per frame (7×7 for ViT-B/32 at 224 px), the
//! same kind of output as the small [`crate::model::frame_encoder`], so fusion is unchanged. The
//! class token is dropped: the question-conditioned slot reader pools the grid itself.
//! The tower's weights live in the model folder's `model.safetensors` under `vision_tower.clip.*`;
//! [`crate::model::clip::load_clip_vision_dir`] loads them from a Hugging Face checkpoint for a new
//! model. Frames are normalised with CLIP's mean and standard deviation (set in the folder's
//! `preprocess` by whoever builds the model).

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::clip::{ClipVisionConfig, ClipVisionModel};
use crate::model::rows::ForwardRows;

/// A pretrained vision tower as recorded in the model folder's `config.json`.
#[derive(Config, Debug)]
pub struct PretrainedVisionConfig {
    /// The tower's architecture (the fields of its Hugging Face `CLIPVisionConfig`).
    pub clip: ClipVisionConfig,
    /// `true`: the tower's weights are not trained (no gradient, never updated).
    #[config(default = false)]
    pub frozen: bool,
}

/// The CLIP vision tower and its projection to the QA model's width.
#[derive(Module, Debug)]
pub struct PretrainedVisionTower<B: Backend> {
    clip: ClipVisionModel<B>,
    projection: Linear<B>,
}

impl PretrainedVisionConfig {
    /// Patch tokens per frame.
    pub fn tokens_per_frame(&self) -> usize {
        self.clip.num_patches()
    }

    /// Builds the tower with random weights (load real ones with [`PretrainedVisionTower::with_clip`]).
    pub fn init<B: Backend>(&self, d_model: usize, device: &B::Device) -> PretrainedVisionTower<B> {
        PretrainedVisionTower {
            clip: self.clip.init(device),
            projection: LinearConfig::new(self.clip.hidden_size, d_model).init(device),
        }
    }
}

impl<B: Backend> PretrainedVisionTower<B> {
    /// # Shapes
    /// - `frames`: `[frames, 3, image_size, image_size]`, CLIP-normalised
    /// - output: `[frames, grid_size², d_model]`
    pub fn forward(&self, frames: Tensor<B, 4>) -> Tensor<B, 3> {
        let patches = self.clip.patch_tokens(frames); // [frames, patches, hidden]
        self.projection.forward_rows(patches) // [frames, patches, d_model]
    }

    /// The CLIP tower inside (for parity checks against the standalone tower).
    pub fn clip(&self) -> &ClipVisionModel<B> {
        &self.clip
    }

    /// Replaces the tower's weights, e.g. with a checkpoint from
    /// [`crate::model::clip::load_clip_vision_dir`]; a `visual_projection` it carries is dropped
    /// (the QA model projects the patch tokens itself).
    pub fn with_clip(self, clip: ClipVisionModel<B>) -> Self {
        PretrainedVisionTower { clip: clip.without_projection(), ..self }
    }

    /// Stops gradients through the tower's own weights (the projection still trains).
    pub fn freeze(self) -> Self {
        PretrainedVisionTower { clip: self.clip.no_grad(), ..self }
    }
}
