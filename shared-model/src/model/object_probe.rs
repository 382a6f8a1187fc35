//! An auxiliary read of what an object is from the frame tokens under it: two linear classifiers
//! (shape and colour, over the answer vocabulary, which names every shape and colour) applied to
//! the grid tokens pooled with the object's pixel share per cell.
//!
//! Questions ask about an object's shape only now and then ("What shape is the red object ?"),
//! so the answer losses alone teach the frame encoder little about shape. Training can give this
//! probe every visible object of every sampled frame (`trainer train --object-supervision`), so
//! that the encoder's tokens say what is in their cells. Answering never uses it.

use crate::model::rows::ForwardRows;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

/// Configuration of [`ObjectProbe`].
#[derive(Config, Debug)]
pub struct ObjectProbeConfig {
    /// Token width.
    pub d_model: usize,
    /// Classes of both classifiers (the model's answer vocabulary).
    pub classes: usize,
}

/// Shape and colour logits of objects.
pub struct ObjectProbeLogits<B: Backend> {
    /// `[objects, classes]`
    pub shape: Tensor<B, 2>,
    /// `[objects, classes]`
    pub colour: Tensor<B, 2>,
}

/// Linear shape and colour classifiers on pooled grid tokens.
#[derive(Module, Debug)]
pub struct ObjectProbe<B: Backend> {
    shape: Linear<B>,
    colour: Linear<B>,
}

impl ObjectProbeConfig {
    /// Builds the module with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ObjectProbe<B> {
        let classifier = || LinearConfig::new(self.d_model, self.classes).init(device);
        ObjectProbe { shape: classifier(), colour: classifier() }
    }
}

impl<B: Backend> ObjectProbe<B> {
    /// # Shapes
    /// - `tokens`: `[objects, cells, d_model]`, the grid tokens of the frame each object is in
    /// - `weights`: `[objects, cells]`, the object's share of pixels per cell (rows sum to 1)
    /// - output: [`ObjectProbeLogits`], `[objects, classes]` each
    pub fn forward(&self, tokens: Tensor<B, 3>, weights: Tensor<B, 2>) -> ObjectProbeLogits<B> {
        let [objects, _, d_model] = tokens.dims();
        let pooled = weights.unsqueeze_dim::<3>(1).matmul(tokens).reshape([objects, d_model]); // [objects, d_model]
        ObjectProbeLogits { shape: self.shape.forward_rows(pooled.clone()), colour: self.colour.forward_rows(pooled) }
    }
}
