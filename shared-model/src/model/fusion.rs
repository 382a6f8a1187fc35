//! Stage 1 of the two-stage cross-modal decoder (ClipFusions): the question reads the video.
//!
//! 1. *Spatial*: in every frame, `slots` question-conditioned queries attend over the frame's
//!    grid tokens, so each frame is summarised by what the question is about (the asked object's
//!    colour, shape, place) instead of a global average where small objects vanish.
//! 2. *Temporal*: the per-frame slot tokens, with learned time positions, go through a transformer
//!    together with a [CLS] token and the question's tokens (or, for the ablation, are averaged).
//!
//! The output keeps all tokens, so stage 2 (`heads.rs`) can let each candidate answer read them.

use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::input::index_tensor;
use super::slot_reader::{QuestionLayout, SlotReader, SlotReaderConfig};
use super::text_encoder::TextEncoding;
use super::transformer::{Transformer, TransformerConfig};
use crate::model::rows::ForwardRows;

/// How frames are combined over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemporalMode {
    /// Learned time positions + a transformer over frames and question (the default).
    Transformer,
    /// Average over frames (order-blind); for the ablation.
    MeanPool,
}

/// Configuration of [`QuestionVideoFusion`].
#[derive(Config, Debug)]
pub struct FusionConfig {
    /// Token width.
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Question-conditioned queries per frame.
    pub slots: usize,
    /// Number of time buckets a frame's position is quantised to.
    pub time_positions: usize,
    /// Temporal transformer layers.
    pub temporal_layers: usize,
    /// Temporal transformer or mean pooling.
    pub temporal: TemporalMode,
    /// Add one question-independent token per frame: the element-wise maximum over the frame's
    /// grid cells (keeps small objects that a near-uniform attention average washes out).
    #[config(default = false)]
    pub grid_max_token: bool,
    /// Factor on the slot reader's attention logits (see `SlotReaderConfig::logit_scale`).
    #[config(default = 1.0)]
    pub slot_logit_scale: f32,
    /// Give every slot read the position it looked at (see `SlotReaderConfig::coordinates`).
    #[config(default = false)]
    pub slot_coordinates: bool,
    /// Dropout inside the temporal transformer during training.
    #[config(default = 0.1)]
    pub dropout: f64,
}

/// Question-with-video fusion (stage 1).
#[derive(Module, Debug)]
pub struct QuestionVideoFusion<B: Backend> {
    slot_queries: Param<Tensor<B, 2>>,
    question_to_query: Linear<B>,
    slot_reader: SlotReader<B>,
    spatial_norm: LayerNorm<B>,
    time_embedding: Embedding<B>,
    /// Marks a token as [CLS] (0), question (1) or video (2).
    segment_embedding: Embedding<B>,
    cls: Param<Tensor<B, 2>>,
    temporal: Transformer<B>,
    relevance_question: Linear<B>,
    relevance_frame: Linear<B>,
    /// Projection of the per-frame max-pooled grid token (absent when not configured).
    grid_max: Option<Linear<B>>,
    mean_pool: bool,
}

/// What stage 1 hands to the answer heads (cloning shares the tensors).
#[derive(Clone)]
pub struct QuestionContext<B: Backend> {
    /// [CLS], question and video tokens, `[questions, 1 + q_len + frames * slots, d_model]`.
    pub tokens: Tensor<B, 3>,
    /// `true` at padded positions of `tokens`, `[questions, 1 + q_len + frames * slots]`.
    pub padding: Tensor<B, 2, Bool>,
    /// Summary vector (the [CLS] output), `[questions, d_model]`.
    pub pooled: Tensor<B, 2>,
    /// Question-frame cosine similarity (CLIP-Cut style relevance), `[questions, frames]`.
    pub frame_relevance: Tensor<B, 2>,
    /// Where each question looked in every frame: slot attention over the frame's grid cells,
    /// averaged over heads and slots, `[questions, frames, cells]`.
    pub attention: Tensor<B, 3>,
    /// Frames and tokens per frame of the video part, which ends `tokens`.
    pub frames: usize,
    /// Tokens per frame in the video part (slots, plus the max-pooled token when configured).
    pub slots: usize,
}

impl<B: Backend> QuestionContext<B> {
    /// The rows of the given questions.
    ///
    /// # Shapes
    /// - `indices`: `[picked]` → every field with `picked` rows
    pub fn select(&self, indices: Tensor<B, 1, Int>) -> QuestionContext<B> {
        QuestionContext {
            tokens: self.tokens.clone().select(0, indices.clone()),
            padding: self.padding.clone().select(0, indices.clone()),
            pooled: self.pooled.clone().select(0, indices.clone()),
            frame_relevance: self.frame_relevance.clone().select(0, indices.clone()),
            attention: self.attention.clone().select(0, indices),
            frames: self.frames,
            slots: self.slots,
        }
    }

    /// The stage-1 output of every frame: its tokens (slots, then the max-pooled token when
    /// configured) after the temporal mixing.
    ///
    /// # Shapes
    /// - output: `[questions, frames, slots, d_model]`
    pub fn slot_tokens(&self) -> Tensor<B, 4> {
        let [questions, len, d_model] = self.tokens.dims();
        let video = self.frames * self.slots;
        self.tokens.clone().narrow(1, len - video, video).reshape([questions, self.frames, self.slots, d_model])
    }

    /// The stage-1 output of every frame: the mean of its [`Self::slot_tokens`].
    ///
    /// # Shapes
    /// - output: `[questions, frames, d_model]`
    pub fn frame_tokens(&self) -> Tensor<B, 3> {
        let slot_tokens = self.slot_tokens();
        let [questions, frames, _, d_model] = slot_tokens.dims();
        slot_tokens.mean_dim(2).reshape([questions, frames, d_model]) // [questions, frames, d_model]
    }

    /// Joins contexts of several batches (same token length) along the question axis.
    pub fn cat(parts: Vec<QuestionContext<B>>) -> QuestionContext<B> {
        let mut tokens = Vec::new();
        let mut padding = Vec::new();
        let mut pooled = Vec::new();
        let mut relevance = Vec::new();
        let mut attention = Vec::new();
        // Parts of one model and sampling share the video layout (frames, slots per frame).
        let (frames, slots) = parts.first().map_or((0, 0), |part| (part.frames, part.slots));
        for part in parts {
            tokens.push(part.tokens);
            padding.push(part.padding);
            pooled.push(part.pooled);
            relevance.push(part.frame_relevance);
            attention.push(part.attention);
        }
        QuestionContext {
            tokens: Tensor::cat(tokens, 0),
            padding: Tensor::cat(padding, 0),
            pooled: Tensor::cat(pooled, 0),
            frame_relevance: Tensor::cat(relevance, 0),
            attention: Tensor::cat(attention, 0),
            frames,
            slots,
        }
    }
}

impl FusionConfig {
    /// Builds the module with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> QuestionVideoFusion<B> {
        let small = Initializer::Normal { mean: 0.0, std: 0.02 };
        let linear = || LinearConfig::new(self.d_model, self.d_model).init(device);
        QuestionVideoFusion {
            slot_queries: small.init([self.slots, self.d_model], device),
            question_to_query: linear(),
            slot_reader: SlotReaderConfig::new(self.d_model, self.n_heads)
                .with_logit_scale(self.slot_logit_scale)
                .with_coordinates(self.slot_coordinates)
                .init(device),
            spatial_norm: LayerNormConfig::new(self.d_model).init(device),
            time_embedding: EmbeddingConfig::new(self.time_positions, self.d_model)
                .with_initializer(small.clone())
                .init(device),
            segment_embedding: EmbeddingConfig::new(3, self.d_model).with_initializer(small.clone()).init(device),
            cls: small.init([1, self.d_model], device),
            temporal: TransformerConfig::new(self.d_model, self.n_heads, self.temporal_layers)
                .with_dropout(self.dropout)
                .init(device),
            relevance_question: linear(),
            relevance_frame: linear(),
            grid_max: self.grid_max_token.then(linear),
            mean_pool: self.temporal == TemporalMode::MeanPool,
        }
    }
}

impl<B: Backend> QuestionVideoFusion<B> {
    /// # Shapes
    /// - `frame_tokens`: `[videos, frames, cells, d_model]` from the frame encoder
    /// - `frame_times`: `[videos, frames]` time-bucket index of every sampled frame
    /// - `video_index`: `questions` entries, which video each question is about
    /// - `question`: encoded questions, `[questions, q_len, d_model]`
    pub fn forward(
        &self,
        frame_tokens: Tensor<B, 4>,
        frame_times: Tensor<B, 2, Int>,
        video_index: &[usize],
        question: &TextEncoding<B>,
    ) -> QuestionContext<B> {
        let [_, frames, _, d_model] = frame_tokens.dims();
        let [questions, q_len, _] = question.hidden.dims();
        let device = frame_tokens.device();

        // Spatial: question-conditioned slots read every frame of the question's video.
        let layout = QuestionLayout::new(video_index, frame_tokens.dims()[0]);
        let queries = self.slot_queries.val().unsqueeze_dim::<3>(0)
            + self.question_to_query.forward_rows(question.pooled.clone()).unsqueeze_dim::<3>(1); // [questions, slots, d_model]
        let read = self.slot_reader.forward(frame_tokens.clone(), queries.clone(), &layout);
        let per_frame = self.spatial_norm.forward(read.values + queries.unsqueeze_dim::<4>(1)); // [questions, frames, slots, d_model]
        let video_index = index_tensor::<B>(video_index, &device);
        // [questions, frames, slots (+ 1 with the max-pooled token), d_model]
        let per_frame = match &self.grid_max {
            Some(project) => {
                let [videos, _, _, _] = frame_tokens.dims();
                let pooled = frame_tokens.clone().max_dim(2).reshape([videos, frames, d_model]);
                let pooled = self.spatial_norm.forward(project.forward(pooled)).select(0, video_index.clone());
                Tensor::cat(vec![per_frame, pooled.unsqueeze_dim::<4>(2)], 2)
            }
            None => per_frame,
        };
        let slots = per_frame.dims()[2];

        let relevance = self.frame_relevance(frame_tokens, video_index.clone(), question);

        // Temporal: add time positions, then mix frames with the question.
        let times = self.time_embedding.forward(frame_times.select(0, video_index)); // [questions, frames, d_model]
        let video = (per_frame + times.unsqueeze_dim::<4>(2)).reshape([questions, frames * slots, d_model]);
        let segment = |id: i64, len: usize| {
            self.segment_embedding.forward(Tensor::<B, 2, Int>::full([questions, len], id, &device))
        };
        let cls = self.cls.val().unsqueeze_dim::<3>(0).expand([questions, 1, d_model]);
        let tokens = Tensor::cat(
            vec![
                cls + segment(0, 1),
                question.hidden.clone() + segment(1, q_len),
                video.clone() + segment(2, frames * slots),
            ],
            1,
        ); // [questions, 1 + q_len + frames * slots, d_model]
        let padding = Tensor::cat(
            vec![
                no_padding::<B>(questions, 1, &device),
                question.padding.clone(),
                no_padding::<B>(questions, frames * slots, &device),
            ],
            1,
        );
        let (tokens, pooled) = if self.mean_pool {
            let pooled = video.mean_dim(1).reshape([questions, d_model]) + question.pooled.clone();
            (tokens, pooled)
        } else {
            let mixed = self.temporal.forward(tokens, Some(padding.clone()));
            let pooled = mixed.clone().narrow(1, 0, 1).reshape([questions, d_model]);
            (mixed, pooled)
        };
        QuestionContext {
            tokens,
            padding,
            pooled,
            frame_relevance: relevance,
            attention: read.attention,
            frames,
            slots,
        }
    }

    /// Cosine similarity between the question and each frame's mean grid token (CLIP-Cut's score).
    ///
    /// # Shapes
    /// - `frame_tokens`: `[videos, frames, cells, d_model]`
    /// - `video_index`: `[questions]`, which video each question is about
    /// - output: `[questions, frames]`
    pub fn frame_relevance(
        &self,
        frame_tokens: Tensor<B, 4>,
        video_index: Tensor<B, 1, Int>,
        question: &TextEncoding<B>,
    ) -> Tensor<B, 2> {
        let frame_unit = self.frame_embeddings(frame_tokens).select(0, video_index); // [questions, frames, d_model]
        let question_unit = self.text_embeddings(question.pooled.clone()).unsqueeze_dim::<3>(1); // [questions, 1, d_model]
        let [questions, frames, _] = frame_unit.dims();
        (frame_unit * question_unit).sum_dim(2).reshape([questions, frames])
    }

    /// Unit-length frame vectors of the joint frame/text space: `relevance_frame` of each frame's
    /// mean grid token. Frame relevance (and contrastive pre-training) compare them with
    /// [`Self::text_embeddings`].
    ///
    /// # Shapes
    /// - `frame_tokens`: `[videos, frames, cells, d_model]` → `[videos, frames, d_model]`
    pub fn frame_embeddings(&self, frame_tokens: Tensor<B, 4>) -> Tensor<B, 3> {
        let [videos, frames, _, d_model] = frame_tokens.dims();
        let means = frame_tokens.mean_dim(2).reshape([videos, frames, d_model]);
        unit_rows(self.relevance_frame.forward_rows(means))
    }

    /// Unit-length text vectors of the joint space: `relevance_question` of the pooled text encoding.
    ///
    /// # Shapes
    /// - `pooled`: `[texts, d_model]` → `[texts, d_model]`
    pub fn text_embeddings(&self, pooled: Tensor<B, 2>) -> Tensor<B, 2> {
        unit_rows(self.relevance_question.forward_rows(pooled))
    }
}

/// Scales every vector along the last axis to unit length (zero vectors stay near zero).
pub fn unit_rows<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let norm = x.clone().powf_scalar(2.0).sum_dim(D - 1).sqrt().clamp_min(1e-6);
    x / norm
}

/// An all-`false` padding mask, `[batch, len]`.
fn no_padding<B: Backend>(batch: usize, len: usize, device: &B::Device) -> Tensor<B, 2, Bool> {
    Tensor::<B, 2, Int>::zeros([batch, len], device).equal_elem(1)
}
