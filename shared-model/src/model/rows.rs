//! Linear layers over the rows of a tensor of any rank, as one matrix product.
//!
//! Burn 0.21's `Linear::forward` on a `[batch, ..., d_in]` input runs a batched product against
//! the broadcast weight, and the weight's gradient (`linear_weight_backward`) is a batched
//! `x^T · grad` of `[batch, d_in, d_out]` summed over the batch afterwards: for the frame encoder's
//! 768 frames a step, 768 small products and a 768-fold larger intermediate than the gradient
//! itself. Flattening the leading dimensions first makes both one matrix product (on every
//! backend); the result is the same function.

use burn::nn::Linear;
use burn::prelude::*;

/// [`Linear`] applied to the last dimension as one matrix product over all rows.
pub trait ForwardRows<B: Backend> {
    /// Same as `forward`, with the leading dimensions flattened into rows and restored after.
    ///
    /// # Shapes
    /// - `x`: `[..., d_input]` → `[..., d_output]`
    fn forward_rows<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D>;
}

impl<B: Backend> ForwardRows<B> for Linear<B> {
    fn forward_rows<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        if D <= 2 {
            return self.forward(x);
        }
        let mut dims = x.dims();
        let d_input = dims[D - 1];
        let rows = dims[..D - 1].iter().product();
        let output = self.forward(x.reshape([rows, d_input]));
        dims[D - 1] = output.dims()[1];
        output.reshape(dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::nn::LinearConfig;

    type B = Autodiff<Flex>;

    #[test]
    fn rows_give_the_same_outputs_and_gradients_as_the_batched_form() {
        let device = Default::default();
        let linear = LinearConfig::new(6, 5).init::<B>(&device);
        let x =
            Tensor::<B, 4>::random([3, 2, 4, 6], burn::tensor::Distribution::Normal(0.0, 1.0), &device).require_grad();
        let rows = linear.forward_rows(x.clone());
        let batched = linear.forward(x.clone());
        assert_eq!(rows.dims(), [3, 2, 4, 5]);
        rows.clone().into_data().assert_approx_eq::<f32>(&batched.clone().into_data(), Default::default());
        let target = batched.clone().detach();
        let row_grads = (rows * target.clone()).sum().backward();
        let batched_grads = (batched * target).sum().backward();
        let bias = linear.bias.as_ref().expect("bias");
        for (name, a, b) in [
            ("input", x.grad(&row_grads).map(|g| g.into_data()), x.grad(&batched_grads).map(|g| g.into_data())),
            (
                "weight",
                linear.weight.grad(&row_grads).map(|g| g.into_data()),
                linear.weight.grad(&batched_grads).map(|g| g.into_data()),
            ),
            ("bias", bias.grad(&row_grads).map(|g| g.into_data()), bias.grad(&batched_grads).map(|g| g.into_data())),
        ] {
            a.expect(name).assert_approx_eq::<f32>(&b.expect(name), Default::default());
        }
    }
}
