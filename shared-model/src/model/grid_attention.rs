//! Self-attention among the grid tokens of one frame, added on top of the frame encoder.
//!
//! The encoder's tokens see at most 16×16 px through two small layers: enough for colour, not for
//! shape (a linear probe trained on every object of every frame names shapes at chance, see
//! docs/results). Letting the cells of a frame read each other gives every token the arrangement
//! of the parts around it. The branch is gated by a learned scalar that starts at zero (ReZero,
//! Bachlechner et al., 2020), so it can be added to a trained model without changing its answers;
//! every layer starts as the identity too, so a further layer can be appended to a trained branch
//! (whose gate is open) without changing them either.

use burn::module::Param;
use burn::nn::Initializer;
use burn::prelude::*;

use super::transformer::{Transformer, TransformerConfig};

/// Configuration of [`GridAttention`].
#[derive(Config, Debug)]
pub struct GridAttentionConfig {
    /// Token width.
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Transformer layers over the grid.
    pub n_layers: usize,
}

/// `tokens + gate * transformer(tokens)` over each frame's cells.
#[derive(Module, Debug)]
pub struct GridAttention<B: Backend> {
    transformer: Transformer<B>,
    /// Starts at zero: the branch is off until training opens it.
    gate: Param<Tensor<B, 1>>,
}

impl GridAttentionConfig {
    /// Builds the module with freshly initialised weights and a closed gate.
    pub fn init<B: Backend>(&self, device: &B::Device) -> GridAttention<B> {
        GridAttention {
            // No dropout: the frame encoder has none, and the gate already starts the branch off.
            transformer: TransformerConfig::new(self.d_model, self.n_heads, self.n_layers)
                .with_dropout(0.0)
                .with_identity_start(true)
                .init(device),
            gate: Initializer::Zeros.init([1], device),
        }
    }
}

impl<B: Backend> GridAttention<B> {
    /// # Shapes
    /// - `tokens`: `[frames, cells, d_model]` → `[frames, cells, d_model]`
    pub fn forward(&self, tokens: Tensor<B, 3>) -> Tensor<B, 3> {
        let mixed = self.transformer.forward(tokens.clone(), None);
        tokens + mixed * self.gate.val().unsqueeze_dim::<2>(0).unsqueeze_dim::<3>(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};

    type B = Autodiff<Flex>;

    #[test]
    fn a_fresh_branch_is_a_no_op_that_training_can_open() {
        let device = Default::default();
        let attention = GridAttentionConfig::new(8, 2, 2).init::<B>(&device);
        let tokens = Tensor::<B, 3>::random([2, 4, 8], burn::tensor::Distribution::Default, &device);
        let out = attention.forward(tokens.clone());
        assert_eq!(out.clone().into_data(), tokens.clone().into_data(), "closed gate, identity layers");
        // The gate's gradient is not zero: training can open the branch (gate and layer outputs
        // both at zero is not a dead point, since the closed branch still outputs normed tokens).
        let grads = (out * tokens).sum().backward();
        let gate = attention.gate.grad(&grads).expect("the gate has a gradient");
        assert!(gate.into_scalar() != 0.0);
    }
}
