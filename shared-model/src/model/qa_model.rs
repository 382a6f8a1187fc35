//! The GIF question-answering model (ClipBERT / ClipFusions family):
//! frame encoder → question-conditioned spatial and temporal fusion (stage 1) → heads (stage 2).
//!
//! The model is used in pieces so that work is shared: a batch encodes each video once
//! ([`QaModel::encode_video`]), then any number of questions about those videos are fused
//! ([`QaModel::fuse`]) and scored by the head that fits their type.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::bert::BertModel;
use super::clip::ClipVisionModel;
use super::event_counter::{EventCount, EventCounter, EventCounterConfig};
use super::frame_encoder::{FrameEncoder, FrameEncoderConfig};
use super::fusion::{FusionConfig, QuestionContext, QuestionVideoFusion, TemporalMode, unit_rows};
use super::heads::{CandidateScorer, CandidateScorerConfig, ClassifierHead, ClassifierHeadConfig};
use super::kind_head::{KindHead, KindHeadConfig};
use super::object_probe::{ObjectProbe, ObjectProbeConfig, ObjectProbeLogits};
use super::pretrained::PretrainedError;
use super::segment_tagger::{SegmentTagger, SegmentTaggerConfig};
use super::text_encoder::{TextEncoder, TextEncoderConfig, TextEncoding};
use super::text_tower::{PretrainedTextConfig, PretrainedTextTower};
use super::vision_tower::{PretrainedVisionConfig, PretrainedVisionTower};

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
    /// Tokenizer vocabulary size (with a pretrained text tower: the tower's `vocab_size`).
    pub vocab_size: usize,
    /// Longest question or answer, in tokens.
    #[config(default = 40)]
    pub max_text_len: usize,
    /// Text transformer layers (of the small encoder trained from scratch).
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
    /// Give every slot read the grid position it attended to (see
    /// `FusionConfig::slot_coordinates`); `None` (configs written before this option) means no.
    pub slot_coordinates: Option<bool>,
    /// Add [`ObjectProbe`] (shape and colour of the object under given cells; for an auxiliary
    /// training loss only); `None` (configs written before this option) means no.
    pub object_probe: Option<bool>,
    /// Self-attention layers among each frame's grid tokens (see `grid_attention.rs`); `None`
    /// (configs written before this option) means none.
    pub grid_attention_layers: Option<usize>,
    /// A pretrained text tower replacing the small text encoder; `None` (every config written
    /// before this option) means the small encoder.
    pub text_tower: Option<PretrainedTextConfig>,
    /// A pretrained CLIP vision tower replacing the small frame encoder (then `image_size` is the
    /// tower's); `None` (every config written before this option) means the small encoder.
    pub vision_tower: Option<PretrainedVisionConfig>,
    /// How counts are read; `None` (configs written before this option) means
    /// [`CountHead::Pooled`].
    pub count_head: Option<CountHead>,
    /// Dropout inside the text and temporal transformers during training; `None` (configs
    /// written before this option) means 0.1. Zero makes training deterministic given the data
    /// order, which the data-parallel equality test relies on.
    pub dropout: Option<f64>,
    /// Caption questions read the video once per candidate, with the candidate as the question
    /// (ClipBERT's multiple-choice reading; see [`QaModel::fused_choice_logits`]) instead of once
    /// with the caption prompt, which names nothing to look for; `None` (configs written before
    /// this option) means no.
    pub fused_captions: Option<bool>,
    /// Kernel (odd) of the event counter's two convolutions over time; the counter then reads each
    /// frame's tokens side by side (see `EventCounterConfig::temporal_kernel`). `None` (configs
    /// written before this option) means each frame alone, from the mean of its tokens.
    pub count_temporal_kernel: Option<usize>,
    /// How much a multiple-choice answer's score leans on the count head's answer to each count
    /// it states (captions and action answers; see `count_check`); `None` (configs written before
    /// this option) or 0 means the choice heads score alone.
    pub count_check_weight: Option<f64>,
    /// How much a fused caption's score leans on the transition head's answers to the orders it
    /// states (see `order_check`); `None` (configs written before this option) or 0 means not.
    pub order_check_weight: Option<f64>,
    /// Add a [`SegmentTagger`] (what the asked object does in each frame; see `timeline_check`);
    /// `None` (configs written before this option) means no.
    pub segment_tagger: Option<bool>,
    /// How much fused caption and Transition scores lean on the segment tagger's timeline (see
    /// `timeline_check`); `None` or 0 means not.
    pub timeline_check_weight: Option<f64>,
    /// How much a fused caption's score, and an answer to "What color is the {shape} ?", lean on
    /// the FrameQA head's answer to "What shape is the {colour} object ?" for the colour they name
    /// (see `object_check`); `None` (configs written before this option) or 0 means not.
    pub object_check_weight: Option<f64>,
    /// Side of the window of the object check's closer look, as a fraction of the frame's (see
    /// `zoom`): fused captions' shape questions are also asked of the clip cropped around where
    /// they looked; `None` (configs written before this option) or 0 means not.
    pub object_zoom: Option<f64>,
    /// Add a [`KindHead`] that predicts each question's type from its text, and answer through the
    /// head it picks (see `pipeline::route`); `None` (configs written before this option) means
    /// no: open questions and fused captions are then told apart by their words (the legacy rule).
    pub kind_head: Option<bool>,
}

/// How the Count head reads the stage-1 output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountHead {
    /// A classifier over the [CLS] summary (the original head).
    Pooled,
    /// Per-frame event evidence summed over time ([`EventCounter`]).
    FrameEvidence,
    /// Both, their logits added: an event counter beside a trained pooled head. Its parabola
    /// starts flat ([`EVIDENCE_BESIDE_POOLED_LOG_SHARPNESS`]), so the pooled head's answers
    /// barely change until the evidence has learned something worth trusting.
    PooledAndEvidence,
}

/// Initial log-sharpness of an event counter added beside a pooled head: e^-4 ≈ 0.018, so even a
/// count 5 away from the expected one loses only 0.46 of logit at the start.
pub const EVIDENCE_BESIDE_POOLED_LOG_SHARPNESS: f32 = -4.0;

/// The whole model.
#[derive(Module, Debug)]
pub struct QaModel<B: Backend> {
    /// Exactly one of `frame_encoder` and `vision_tower` is present (see
    /// [`QaModelConfig::vision_tower`]), likewise for `text_encoder` and `text_tower`;
    /// `Option` modules add nothing to the weight names, so older folders load unchanged.
    frame_encoder: Option<FrameEncoder<B>>,
    vision_tower: Option<PretrainedVisionTower<B>>,
    text_encoder: Option<TextEncoder<B>>,
    text_tower: Option<PretrainedTextTower<B>>,
    fusion: QuestionVideoFusion<B>,
    candidate_scorer: CandidateScorer<B>,
    answer_head: ClassifierHead<B>,
    /// At least one of `count_head` (pooled) and `event_counter` is present, both for
    /// [`CountHead::PooledAndEvidence`] (see [`QaModelConfig::count_head`]).
    count_head: Option<ClassifierHead<B>>,
    event_counter: Option<EventCounter<B>>,
    /// Present when [`QaModelConfig::object_probe`] is set.
    object_probe: Option<ObjectProbe<B>>,
    /// Present when [`QaModelConfig::segment_tagger`] is set.
    segment_tagger: Option<SegmentTagger<B>>,
    /// Present when [`QaModelConfig::kind_head`] is set.
    kind_head: Option<KindHead<B>>,
}

/// What [`QaModel::count`] returns.
pub struct CountOutput<B: Backend> {
    /// Logits over the counts 0 ..= count_classes - 1, `[questions, count_classes]`.
    pub logits: Tensor<B, 2>,
    /// The event counter's whole output (per-frame evidence, expected count, its own logits);
    /// `None` for a model with the pooled count head alone.
    pub events: Option<EventCount<B>>,
}

/// Grid tokens of every sampled frame of a batch of videos.
pub struct VideoEncoding<B: Backend> {
    /// `[videos, frames, cells, d_model]`
    pub tokens: Tensor<B, 4>,
    /// Time bucket of every frame, `[videos, frames]`.
    pub times: Tensor<B, 2, Int>,
}

/// A batch of videos in the joint frame/text space (the space of frame relevance and of
/// contrastive pre-training).
pub struct VideoEmbeddings<B: Backend> {
    /// Unit-length vector of every frame, `[videos, frames, d_model]`.
    pub frames: Tensor<B, 3>,
    /// Unit-length mean of the frame vectors, `[videos, d_model]`.
    pub video: Tensor<B, 2>,
}

impl<B: Backend> VideoEncoding<B> {
    /// A per-question encoding: question `q` gets frames `picks[q]` of video `video_index[q]`, so
    /// it is fused with `video_index` = `0..questions` (used by CLIP-Cut).
    ///
    /// # Shapes
    /// - `video_index`, `picks`: one entry per question; every `picks[q]` holds the same number `k`
    ///   of frame positions
    /// - output: tokens `[questions, k, cells, d_model]`, times `[questions, k]`
    pub fn gather_frames(&self, video_index: &[usize], picks: &[Vec<usize>]) -> VideoEncoding<B> {
        let [videos, frames, cells, d_model] = self.tokens.dims();
        let questions = picks.len();
        let k = picks.first().map_or(0, Vec::len);
        let flat: Vec<usize> = video_index
            .iter()
            .zip(picks)
            .flat_map(|(&video, pick)| pick.iter().map(move |&frame| video * frames + frame))
            .collect();
        let device = self.tokens.device();
        let index = super::input::index_tensor::<B>(&flat, &device);
        let tokens = self.tokens.clone().reshape([videos * frames, cells, d_model]).select(0, index.clone());
        let times = self.times.clone().reshape([videos * frames]).select(0, index);
        VideoEncoding {
            tokens: tokens.reshape([questions, k, cells, d_model]), // [questions, k, cells, d_model]
            times: times.reshape([questions, k]),                   // [questions, k]
        }
    }
}

impl QaModelConfig {
    /// Rejects configurations the modules cannot be built from (e.g. from a hand-edited config.json).
    pub fn check(&self) -> Result<(), String> {
        let problems = [
            (
                self.d_model == 0 || self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads),
                "d_model must be a positive multiple of n_heads",
            ),
            (
                self.vision_tower.is_none() && (self.image_size < 8 || !self.image_size.is_multiple_of(8)),
                "image_size must be a positive multiple of 8",
            ),
            (
                self.vision_tower.as_ref().is_some_and(|t| t.clip.image_size != self.image_size),
                "image_size must equal the vision tower's image_size",
            ),
            (
                self.vision_tower.as_ref().is_some_and(|t| t.clip.problem().is_some()),
                "the vision tower's configuration is invalid (hidden_size, heads, image and patch size)",
            ),
            (self.vocab_size == 0 || self.max_text_len == 0, "vocab_size and max_text_len must be positive"),
            (self.slots == 0 || self.time_positions == 0, "slots and time_positions must be positive"),
            (self.answer_classes == 0 || self.count_classes == 0, "answer_classes and count_classes must be positive"),
            (
                self.slot_logit_scale.is_some_and(|s| !(s.is_finite() && s > 0.0)),
                "slot_logit_scale must be a positive number",
            ),
            (
                self.text_tower.as_ref().is_some_and(|t| t.bert.vocab_size != self.vocab_size),
                "vocab_size must equal the text tower's vocab_size",
            ),
            (
                self.text_tower.as_ref().is_some_and(|t| t.bert.max_position_embeddings < self.max_text_len),
                "max_text_len must not exceed the text tower's max_position_embeddings",
            ),
            (
                self.text_tower.as_ref().is_some_and(|t| {
                    t.bert.num_attention_heads == 0 || !t.bert.hidden_size.is_multiple_of(t.bert.num_attention_heads)
                }),
                "the text tower's hidden_size must be a multiple of its num_attention_heads",
            ),
            (self.dropout.is_some_and(|p| !(0.0..1.0).contains(&p)), "dropout must be in [0, 1)"),
            (self.count_temporal_kernel.is_some_and(|k| k.is_multiple_of(2)), "count_temporal_kernel must be odd"),
            (
                self.count_check_weight.is_some_and(|w| !(w.is_finite() && w >= 0.0)),
                "count_check_weight must be finite and not negative",
            ),
            (
                self.order_check_weight.is_some_and(|w| !(w.is_finite() && w >= 0.0)),
                "order_check_weight must be finite and not negative",
            ),
            (
                self.timeline_check_weight.is_some_and(|w| !(w.is_finite() && w >= 0.0)),
                "timeline_check_weight must be finite and not negative",
            ),
            (
                self.object_check_weight.is_some_and(|w| !(w.is_finite() && w >= 0.0)),
                "object_check_weight must be finite and not negative",
            ),
            (self.object_zoom.is_some_and(|w| !(0.0..=1.0).contains(&w)), "object_zoom must be in [0, 1]"),
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

    /// Whether caption candidates are fused as questions (no for configs written before the option).
    pub fn fuses_captions(&self) -> bool {
        self.fused_captions == Some(true)
    }

    /// How much multiple-choice scores lean on the count head (0: not at all; see `count_check`).
    pub fn count_check_weight(&self) -> f32 {
        self.count_check_weight.unwrap_or(0.0) as f32
    }

    /// How much fused caption scores lean on the transition head (0: not at all; see `order_check`).
    pub fn order_check_weight(&self) -> f32 {
        self.order_check_weight.unwrap_or(0.0) as f32
    }

    /// How much fused caption and Transition scores lean on the segment tagger (0: not at all; see
    /// `timeline_check`); 0 without a tagger.
    pub fn timeline_check_weight(&self) -> f32 {
        if self.segment_tagger == Some(true) { self.timeline_check_weight.unwrap_or(0.0) as f32 } else { 0.0 }
    }

    /// How much fused caption scores and colour answers lean on the FrameQA head (0: not at all;
    /// see `object_check`).
    pub fn object_check_weight(&self) -> f32 {
        self.object_check_weight.unwrap_or(0.0) as f32
    }

    /// The closer look's window (see [`QaModelConfig::object_zoom`]), if the object check takes one.
    pub fn object_zoom(&self) -> Option<f32> {
        self.object_zoom.map(|w| w as f32).filter(|&w| w > 0.0 && self.object_check_weight() > 0.0)
    }

    /// Whether the model predicts each question's type with a [`KindHead`] (no for configs
    /// written before the option).
    pub fn has_kind_head(&self) -> bool {
        self.kind_head == Some(true)
    }

    /// The segment tagger's configuration (see [`QaModelConfig::segment_tagger`]).
    pub fn segment_tagger_config(&self) -> SegmentTaggerConfig {
        let tokens_per_frame = self.slots + usize::from(self.grid_max_token == Some(true));
        SegmentTaggerConfig::new(self.d_model, tokens_per_frame)
    }

    /// The count head (the pooled classifier for configs written before the option).
    pub fn count_head(&self) -> CountHead {
        self.count_head.unwrap_or(CountHead::Pooled)
    }

    /// The event counter's configuration (used by [`CountHead::FrameEvidence`] and
    /// [`CountHead::PooledAndEvidence`]).
    pub fn event_counter_config(&self) -> EventCounterConfig {
        let tokens_per_frame = self.slots + usize::from(self.grid_max_token == Some(true));
        EventCounterConfig::new(self.d_model, self.count_classes)
            .with_temporal_kernel(self.count_temporal_kernel.unwrap_or(0))
            .with_tokens_per_frame(tokens_per_frame)
    }

    /// Builds the model with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> QaModel<B> {
        let d = self.d_model;
        QaModel {
            frame_encoder: self.vision_tower.is_none().then(|| {
                FrameEncoderConfig::new(self.image_size, d)
                    .with_channels(self.frame_channels)
                    .with_attention_layers(self.grid_attention_layers.unwrap_or(0))
                    .with_attention_heads(self.n_heads)
                    .init(device)
            }),
            vision_tower: self.vision_tower.as_ref().map(|tower| tower.init(d, device)),
            text_encoder: self.text_tower.is_none().then(|| {
                TextEncoderConfig::new(self.vocab_size, self.max_text_len, d, self.n_heads, self.text_layers)
                    .with_dropout(self.dropout())
                    .init(device)
            }),
            text_tower: self.text_tower.as_ref().map(|tower| tower.init(d, device)),
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
            .with_slot_coordinates(self.slot_coordinates == Some(true))
            .with_dropout(self.dropout())
            .init(device),
            candidate_scorer: CandidateScorerConfig::new(d, self.n_heads).init(device),
            answer_head: ClassifierHeadConfig::new(d, self.answer_classes).init(device),
            count_head: matches!(self.count_head(), CountHead::Pooled | CountHead::PooledAndEvidence)
                .then(|| ClassifierHeadConfig::new(d, self.count_classes).init(device)),
            event_counter: match self.count_head() {
                CountHead::Pooled => None,
                CountHead::FrameEvidence => Some(self.event_counter_config().init(device)),
                CountHead::PooledAndEvidence => Some(
                    self.event_counter_config()
                        .with_initial_log_sharpness(EVIDENCE_BESIDE_POOLED_LOG_SHARPNESS)
                        .init(device),
                ),
            },
            object_probe: (self.object_probe == Some(true))
                .then(|| ObjectProbeConfig::new(d, self.answer_classes).init(device)),
            segment_tagger: (self.segment_tagger == Some(true)).then(|| self.segment_tagger_config().init(device)),
            kind_head: self.has_kind_head().then(|| KindHeadConfig::new(d).init(device)),
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
        let tokens = match (&self.vision_tower, &self.frame_encoder) {
            (Some(tower), _) => tower.forward(flat),
            (None, Some(encoder)) => encoder.forward(flat),
            // Invariant: `QaModelConfig::init` builds exactly one of the two.
            (None, None) => unreachable!("a QaModel always has a frame encoder"),
        }; // [videos * frames, cells, d_model]
        let [_, cells, d_model] = tokens.dims();
        VideoEncoding { tokens: tokens.reshape([videos, n_frames, cells, d_model]), times }
    }

    /// Encodes questions or candidate answers.
    ///
    /// # Shapes
    /// - `ids`, `padding`: `[batch, len]`
    pub fn encode_text(&self, ids: Tensor<B, 2, Int>, padding: Tensor<B, 2, Bool>) -> TextEncoding<B> {
        match (&self.text_tower, &self.text_encoder) {
            (Some(tower), _) => tower.forward(ids, padding),
            (None, Some(encoder)) => encoder.forward(ids, padding),
            // Invariant: `QaModelConfig::init` builds exactly one of the two.
            (None, None) => unreachable!("a QaModel always has a text encoder"),
        }
    }

    /// The pretrained text tower, if the model has one.
    pub fn text_tower(&self) -> Option<&PretrainedTextTower<B>> {
        self.text_tower.as_ref()
    }

    /// Puts pretrained weights into the text tower; `None` when the model has no tower.
    pub fn with_text_bert(self, bert: BertModel<B>) -> Option<Self> {
        let tower = self.text_tower.clone()?.with_bert(bert);
        Some(QaModel { text_tower: Some(tower), ..self })
    }

    /// Puts `values` (row-major `[vocab_size, d_model]`) into the small text encoder's token
    /// embedding (the record `text_encoder.tokens.weight`). Fails, saying why, when the model has
    /// a pretrained text tower instead or the values do not fill the table exactly.
    pub fn with_token_embeddings(self, values: Vec<f32>, device: &B::Device) -> Result<Self, PretrainedError> {
        let Some(encoder) = self.text_encoder.clone() else {
            return Err(PretrainedError::Invalid(
                "the model has a pretrained text tower, not a token embedding of its own".into(),
            ));
        };
        let found = values.len();
        let encoder = encoder.with_token_embeddings(values, device).map_err(|shape| PretrainedError::Shape {
            name: "text_encoder.tokens.weight".into(),
            found: vec![found],
            expected: shape.to_vec(),
        })?;
        Ok(QaModel { text_encoder: Some(encoder), ..self })
    }

    /// The pretrained vision tower, if the model has one.
    pub fn vision_tower(&self) -> Option<&PretrainedVisionTower<B>> {
        self.vision_tower.as_ref()
    }

    /// Puts pretrained weights into the vision tower; `None` when the model has no tower.
    pub fn with_clip_vision(self, clip: ClipVisionModel<B>) -> Option<Self> {
        let tower = self.vision_tower.clone()?.with_clip(clip);
        Some(QaModel { vision_tower: Some(tower), ..self })
    }

    /// Stops gradients through the towers that `config` marks frozen. Call it after every load:
    /// loaded weights are trainable again.
    pub fn freeze_towers(self, config: &QaModelConfig) -> Self {
        let text_frozen = config.text_tower.as_ref().is_some_and(|t| t.frozen);
        let vision_frozen = config.vision_tower.as_ref().is_some_and(|t| t.frozen);
        QaModel {
            text_tower: self.text_tower.map(|t| if text_frozen { t.freeze() } else { t }),
            vision_tower: self.vision_tower.map(|t| if vision_frozen { t.freeze() } else { t }),
            ..self
        }
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

    /// Question-frame relevance of every frame of each question's video, without fusing (the
    /// score CLIP-Cut ranks frames by; the same values as [`QuestionContext::frame_relevance`]).
    ///
    /// # Shapes
    /// - `video_index`: one entry per question; `question`: `[questions, q_len, d_model]`
    /// - output: `[questions, frames]`
    pub fn frame_relevance(
        &self,
        video: &VideoEncoding<B>,
        video_index: &[usize],
        question: &TextEncoding<B>,
    ) -> Tensor<B, 2> {
        let index = super::input::index_tensor::<B>(video_index, &video.tokens.device());
        self.fusion.frame_relevance(video.tokens.clone(), index, question)
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

    /// Stage 2 for candidates fused as questions ([`QaModelConfig::fused_captions`]): row
    /// `q * choices + c` of `context` is stage 1 run with candidate `c` of question `q` as its
    /// question text, and each row is scored against that candidate alone.
    ///
    /// # Shapes
    /// - `context`: `questions * choices` rows, grouped by question
    /// - `candidates`: pooled encodings of the same candidates in the same order,
    ///   `[questions * choices, d_model]`
    /// - output: `[questions, choices]`
    pub fn fused_choice_logits(
        &self,
        context: &QuestionContext<B>,
        candidates: Tensor<B, 2>,
        choices: usize,
    ) -> Tensor<B, 2> {
        let rows = candidates.dims()[0];
        // One candidate per stage-1 row: the scorer sees `rows` questions of one choice each.
        self.candidate_scorer.forward(context, candidates).reshape([rows / choices.max(1), choices])
    }

    /// Open-ended word answers (FrameQA). Output `[questions, answer_classes]`.
    pub fn answer_logits(&self, context: &QuestionContext<B>) -> Tensor<B, 2> {
        self.answer_head.forward(context.pooled.clone())
    }

    /// Counts (TGIF-QA Count). Output `[questions, count_classes]`.
    pub fn count_logits(&self, context: &QuestionContext<B>) -> Tensor<B, 2> {
        self.count(context).logits
    }

    /// Counts with what the event counter saw: one pass of each count head present.
    ///
    /// # Shapes
    /// - `logits`: `[questions, count_classes]`; `events`: see [`EventCount`]
    pub fn count(&self, context: &QuestionContext<B>) -> CountOutput<B> {
        let events = self.event_counter.as_ref().map(|counter| counter.forward(context.slot_tokens()));
        let pooled = self.count_head.as_ref().map(|head| head.forward(context.pooled.clone()));
        let logits = match (&events, pooled) {
            (Some(events), Some(pooled)) => events.logits.clone() + pooled,
            (Some(events), None) => events.logits.clone(),
            (None, Some(pooled)) => pooled,
            // Invariant: `QaModelConfig::init` builds at least one of the two.
            (None, None) => unreachable!("a QaModel always has a count head"),
        };
        CountOutput { logits, events }
    }

    /// The model with `counter` in place of its event counter (tools that train the counter
    /// alone on the model's frozen output; the counter must match the config's).
    pub fn with_event_counter(self, counter: EventCounter<B>) -> Self {
        QaModel { event_counter: Some(counter), ..self }
    }

    /// What the asked object does in each frame, as log-probabilities over
    /// `timeline_check::TIMELINE_ACTIONS`; `None` for a model without the tagger.
    ///
    /// # Shapes
    /// - output: `[questions, frames, actions]`
    pub fn tag_frames(&self, context: &QuestionContext<B>) -> Option<Tensor<B, 3>> {
        self.segment_tagger.as_ref().map(|tagger| tagger.forward(context.slot_tokens()))
    }

    /// Whether the model can count segment by segment (`segment_count_check`): it has both a
    /// segment tagger and an event counter.
    pub fn counts_by_segment(&self) -> bool {
        self.segment_tagger.is_some() && self.event_counter.is_some()
    }

    /// The model with `tagger` as its segment tagger (tools that fit the tagger alone on the
    /// model's frozen output; the tagger must match the config's).
    pub fn with_segment_tagger(self, tagger: SegmentTagger<B>) -> Self {
        QaModel { segment_tagger: Some(tagger), ..self }
    }

    /// Shape and colour logits of objects from the frame tokens under them; `None` for a model
    /// without the probe.
    ///
    /// # Shapes
    /// - `tokens`: `[objects, cells, d_model]` (rows of [`VideoEncoding::tokens`])
    /// - `weights`: `[objects, cells]`, each object's pixel share per cell
    /// - output: `[objects, answer_classes]` each
    pub fn probe_objects(&self, tokens: Tensor<B, 3>, weights: Tensor<B, 2>) -> Option<ObjectProbeLogits<B>> {
        self.object_probe.as_ref().map(|probe| probe.forward(tokens, weights))
    }

    /// Logits over the question types ([`crate::text::questions::QuestionType::ALL`]'s order) from the
    /// question text alone; `None` for a model without the kind head.
    ///
    /// # Shapes
    /// - `pooled`: pooled question encodings ([`TextEncoding::pooled`]), `[questions, d_model]`
    /// - output: `[questions, kinds]`
    pub fn kind_logits(&self, pooled: Tensor<B, 2>) -> Option<Tensor<B, 2>> {
        self.kind_head.as_ref().map(|head| head.forward(pooled))
    }

    /// Frames and whole videos in the joint frame/text space: frame vector =
    /// `relevance_frame(mean over the frame's grid tokens)`, video vector = the normalised mean of
    /// its frame vectors. Compare with [`Self::text_embeddings`] by dot product (cosine).
    ///
    /// # Shapes
    /// - `video.tokens`: `[videos, frames, cells, d_model]` → frames `[videos, frames, d_model]`,
    ///   video `[videos, d_model]`
    pub fn frame_embeddings(&self, video: &VideoEncoding<B>) -> VideoEmbeddings<B> {
        let frames = self.fusion.frame_embeddings(video.tokens.clone());
        let [videos, _, d_model] = frames.dims();
        let mean = frames.clone().mean_dim(1).reshape([videos, d_model]);
        VideoEmbeddings { frames, video: unit_rows(mean) }
    }

    /// Texts (questions, captions) in the joint frame/text space: unit-length
    /// `relevance_question(pooled text encoding)`.
    ///
    /// # Shapes
    /// - `text.pooled`: `[texts, d_model]` → `[texts, d_model]`
    pub fn text_embeddings(&self, text: &TextEncoding<B>) -> Tensor<B, 2> {
        self.fusion.text_embeddings(text.pooled.clone())
    }
}
