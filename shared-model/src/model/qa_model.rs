//! The GIF question-answering model (ClipBERT / ClipFusions family):
//! frame encoder → question-conditioned spatial and temporal fusion (stage 1) → heads (stage 2).
//!
//! The model is used in pieces so that work is shared: a batch encodes each video once
//! ([`QaModel::encode_video`]), then any number of questions about those videos are fused
//! ([`QaModel::fuse`]) and scored by the head that fits their type.

use burn::prelude::*;

use super::frame_encoder::{FrameEncoder, FrameEncoderConfig};
use super::fusion::{FusionConfig, QuestionContext, QuestionVideoFusion, TemporalMode};
use super::heads::{CandidateScorer, CandidateScorerConfig, ClassifierHead, ClassifierHeadConfig};
use super::text_encoder::{TextEncoder, TextEncoderConfig, TextEncoding};

/// Configuration of [`QaModel`]; saved as part of a model folder's `config.json`.
#[derive(Config, Debug)]
pub struct QaModelConfig {
    /// Width of every token in the model.
    #[config(default = 64)]
    pub d_model: usize,
    /// Attention heads everywhere.
    #[config(default = 4)]
    pub n_heads: usize,
    /// Side of the square frames fed to the frame encoder, in pixels.
    #[config(default = 64)]
    pub image_size: usize,
    /// Widths inside the frame encoder (after patch embedding, after merging).
    #[config(default = "[48, 96]")]
    pub frame_channels: [usize; 2],
    /// Tokenizer vocabulary size.
    pub vocab_size: usize,
    /// Longest question or answer, in tokens.
    #[config(default = 40)]
    pub max_text_len: usize,
    /// Text transformer layers.
    #[config(default = 1)]
    pub text_layers: usize,
    /// Question-conditioned queries per frame.
    #[config(default = 4)]
    pub slots: usize,
    /// Time buckets for frame positions.
    #[config(default = 32)]
    pub time_positions: usize,
    /// Temporal transformer layers.
    #[config(default = 2)]
    pub temporal_layers: usize,
    /// Temporal transformer, or mean pooling for the ablation.
    #[config(default = "TemporalMode::Transformer")]
    pub temporal: TemporalMode,
    /// Size of the open-ended answer vocabulary (FrameQA words).
    pub answer_classes: usize,
    /// Count classes: counts 0 ..= count_classes - 1.
    #[config(default = 11)]
    pub count_classes: usize,
    /// Add a max-pooled grid token per frame to the fusion (see `FusionConfig::grid_max_token`);
    /// `None` (configs written before this option) means without.
    pub grid_max_token: Option<bool>,
    /// Factor on the slot reader's attention logits (see `SlotReaderConfig::logit_scale`);
    /// `None` (configs written before this option) means 1.
    pub slot_logit_scale: Option<f32>,
    /// Dropout inside the text and temporal transformers during training; `None` (configs
    /// written before this option) means 0.1. Zero makes training deterministic given the data
    /// order, which the data-parallel equality test relies on.
    pub dropout: Option<f64>,
}

/// The whole model.
#[derive(Module, Debug)]
pub struct QaModel<B: Backend> {
    frame_encoder: FrameEncoder<B>,
    text_encoder: TextEncoder<B>,
    fusion: QuestionVideoFusion<B>,
    candidate_scorer: CandidateScorer<B>,
    answer_head: ClassifierHead<B>,
    count_head: ClassifierHead<B>,
}

/// Grid tokens of every sampled frame of a batch of videos.
pub struct VideoEncoding<B: Backend> {
    /// `[videos, frames, cells, d_model]`
    pub tokens: Tensor<B, 4>,
    /// Time bucket of every frame, `[videos, frames]`.
    pub times: Tensor<B, 2, Int>,
}

impl QaModelConfig {
    /// Rejects configurations the modules cannot be built from (e.g. from a hand-edited config.json).
    pub fn check(&self) -> Result<(), String> {
        let problems = [
            (
                self.d_model == 0 || self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads),
                "d_model must be a positive multiple of n_heads",
            ),
            (self.image_size < 8 || !self.image_size.is_multiple_of(8), "image_size must be a positive multiple of 8"),
            (self.vocab_size == 0 || self.max_text_len == 0, "vocab_size and max_text_len must be positive"),
            (self.slots == 0 || self.time_positions == 0, "slots and time_positions must be positive"),
            (self.answer_classes == 0 || self.count_classes == 0, "answer_classes and count_classes must be positive"),
            (
                self.slot_logit_scale.is_some_and(|s| !(s.is_finite() && s > 0.0)),
                "slot_logit_scale must be a positive number",
            ),
            (self.dropout.is_some_and(|p| !(0.0..1.0).contains(&p)), "dropout must be in [0, 1)"),
        ];
        match problems.iter().find(|(bad, _)| *bad) {
            Some((_, why)) => Err((*why).to_string()),
            None => Ok(()),
        }
    }

    /// Dropout probability of the transformers (0.1 for configs written before the option).
    pub fn dropout(&self) -> f64 {
        self.dropout.unwrap_or(0.1)
    }

    /// Builds the model with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> QaModel<B> {
        let d = self.d_model;
        QaModel {
            frame_encoder: FrameEncoderConfig::new(self.image_size, d).with_channels(self.frame_channels).init(device),
            text_encoder: TextEncoderConfig::new(self.vocab_size, self.max_text_len, d, self.n_heads, self.text_layers)
                .with_dropout(self.dropout())
                .init(device),
            fusion: FusionConfig::new(
                d,
                self.n_heads,
                self.slots,
                self.time_positions,
                self.temporal_layers,
                self.temporal,
            )
            .with_grid_max_token(self.grid_max_token == Some(true))
            .with_slot_logit_scale(self.slot_logit_scale.unwrap_or(1.0))
            .with_dropout(self.dropout())
            .init(device),
            candidate_scorer: CandidateScorerConfig::new(d, self.n_heads).init(device),
            answer_head: ClassifierHeadConfig::new(d, self.answer_classes).init(device),
            count_head: ClassifierHeadConfig::new(d, self.count_classes).init(device),
        }
    }
}

impl<B: Backend> QaModel<B> {
    /// Encodes sampled frames.
    ///
    /// # Shapes
    /// - `frames`: `[videos, frames, 3, image_size, image_size]`, normalised
    /// - `times`: `[videos, frames]` time bucket per frame (`0 .. time_positions`)
    pub fn encode_video(&self, frames: Tensor<B, 5>, times: Tensor<B, 2, Int>) -> VideoEncoding<B> {
        let [videos, n_frames, channels, height, width] = frames.dims();
        let flat = frames.reshape([videos * n_frames, channels, height, width]);
        let tokens = self.frame_encoder.forward(flat); // [videos * frames, cells, d_model]
        let [_, cells, d_model] = tokens.dims();
        VideoEncoding { tokens: tokens.reshape([videos, n_frames, cells, d_model]), times }
    }

    /// Encodes questions or candidate answers.
    ///
    /// # Shapes
    /// - `ids`, `padding`: `[batch, len]`
    pub fn encode_text(&self, ids: Tensor<B, 2, Int>, padding: Tensor<B, 2, Bool>) -> TextEncoding<B> {
        self.text_encoder.forward(ids, padding)
    }

    /// Stage 1: each question reads its video.
    ///
    /// # Shapes
    /// - `video_index`: one entry per question, index into the videos of `video`
    /// - `question`: `[questions, q_len, d_model]`
    pub fn fuse(
        &self,
        video: &VideoEncoding<B>,
        video_index: &[usize],
        question: &TextEncoding<B>,
    ) -> QuestionContext<B> {
        self.fusion.forward(video.tokens.clone(), video.times.clone(), video_index, question)
    }

    /// Stage 2 for multiple choice: one logit per candidate.
    ///
    /// # Shapes
    /// - `candidates`: pooled candidate encodings ([`TextEncoding::pooled`]),
    ///   `[questions * choices, d_model]`, grouped by question
    /// - output: `[questions, choices]`
    pub fn choice_logits(&self, context: &QuestionContext<B>, candidates: Tensor<B, 2>) -> Tensor<B, 2> {
        self.candidate_scorer.forward(context, candidates)
    }

    /// Open-ended word answers (FrameQA). Output `[questions, answer_classes]`.
    pub fn answer_logits(&self, context: &QuestionContext<B>) -> Tensor<B, 2> {
        self.answer_head.forward(context.pooled.clone())
    }

    /// Counts (TGIF-QA Count). Output `[questions, count_classes]`.
    pub fn count_logits(&self, context: &QuestionContext<B>) -> Tensor<B, 2> {
        self.count_head.forward(context.pooled.clone())
    }
}
