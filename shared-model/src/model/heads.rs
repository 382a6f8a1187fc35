//! Stage 2 (ClipFusions): each candidate answer reads the question-video tokens of stage 1, and the
//! open-ended heads (FrameQA words, Count) classify the stage-1 summary.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;

use super::attention::{MultiHeadAttention, MultiHeadAttentionConfig};
use super::fusion::QuestionContext;
use crate::model::rows::ForwardRows;

/// Configuration of [`CandidateScorer`].
#[derive(Config, Debug)]
pub struct CandidateScorerConfig {
    /// Token width.
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
}

/// Scores multiple-choice candidates: one logit per (question, candidate).
#[derive(Module, Debug)]
pub struct CandidateScorer<B: Backend> {
    read_context: MultiHeadAttention<B>,
    hidden: Linear<B>,
    logit: Linear<B>,
}

impl CandidateScorerConfig {
    /// Builds the module with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> CandidateScorer<B> {
        CandidateScorer {
            read_context: MultiHeadAttentionConfig::new(self.d_model, self.n_heads).init(device),
            hidden: LinearConfig::new(4 * self.d_model, self.d_model).init(device),
            logit: LinearConfig::new(self.d_model, 1).init(device),
        }
    }
}

impl<B: Backend> CandidateScorer<B> {
    /// # Shapes
    /// - `context`: stage-1 output for `questions` questions
    /// - `candidates`: pooled candidate encodings, `[questions * choices, d_model]`, grouped by question
    /// - output: `[questions, choices]` logits
    pub fn forward(&self, context: &QuestionContext<B>, candidates: Tensor<B, 2>) -> Tensor<B, 2> {
        let [questions, _, d_model] = context.tokens.dims();
        let rows = candidates.dims()[0];
        let choices = rows / questions;
        // The candidates of a question are that question's queries: no per-candidate copies.
        let answer = candidates; // [rows, d_model]
        let read = self
            .read_context
            .forward(
                answer.clone().reshape([questions, choices, d_model]),
                context.tokens.clone(),
                Some(context.padding.clone()),
            )
            .context
            .reshape([rows, d_model]);
        let summary =
            context.pooled.clone().unsqueeze_dim::<3>(1).expand([questions, choices, d_model]).reshape([rows, d_model]);
        let features = Tensor::cat(vec![answer.clone(), read, summary.clone(), answer * summary], 1);
        self.logit.forward_rows(gelu(self.hidden.forward_rows(features))).reshape([questions, choices])
    }
}

/// Configuration of [`ClassifierHead`].
#[derive(Config, Debug)]
pub struct ClassifierHeadConfig {
    /// Input width.
    pub d_model: usize,
    /// Number of classes.
    pub classes: usize,
}

/// Two-layer MLP classifier over a pooled vector: the stage-1 summary (open-ended words, counts)
/// or the pooled question (the question-kind head).
#[derive(Module, Debug)]
pub struct ClassifierHead<B: Backend> {
    hidden: Linear<B>,
    logits: Linear<B>,
}

impl ClassifierHeadConfig {
    /// Builds the module with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ClassifierHead<B> {
        ClassifierHead {
            hidden: LinearConfig::new(self.d_model, self.d_model).init(device),
            logits: LinearConfig::new(self.d_model, self.classes).init(device),
        }
    }
}

impl<B: Backend> ClassifierHead<B> {
    /// # Shapes
    /// - `pooled`: `[questions, d_model]` (the stage-1 summary, or the pooled question encoding)
    /// - output: logits `[questions, classes]`
    pub fn forward(&self, pooled: Tensor<B, 2>) -> Tensor<B, 2> {
        self.logits.forward_rows(gelu(self.hidden.forward_rows(pooled)))
    }
}
