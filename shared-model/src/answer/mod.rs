//! The answering engine: from encoded clips and a batch of questions to each question's route,
//! its head's logits and the legacy answer checks' gains. `trainer eval` asks it many questions
//! at once, `trainer predict`, the demo, the benchmark and the page one
//! (`pipeline::answer_encoded`), and training reads its heads' logits ([`Engine::heads`]), so
//! that all of them route, fuse and check a question the same way.

pub mod answers;
pub mod checks;
pub mod heads;
pub mod pipeline;
pub mod read;
pub mod route;

use burn::prelude::*;

use crate::bundle::BundleConfig;
use crate::model::encode_tokens;
use crate::model::{QaModel, TextEncoding, VideoEncoding};
use crate::sampling::clipcut::{Fused, fuse_selected};
use crate::text::questions::QuestionType;
use crate::text::tokenize::TextTokenizer;
use read::InputError;

/// Encodes texts with a model's text encoder (the tokenizer alone, or with a cache of states).
pub trait TextEncoder<B: Backend> {
    /// Encodes `texts` (padded to the longest, at most `max_len` tokens).
    ///
    /// # Shapes
    /// - output: `hidden` `[texts, len, d_model]`, `pooled` `[texts, d_model]`
    fn encode_texts(
        &self,
        model: &QaModel<B>,
        texts: &[&str],
        max_len: usize,
        device: &B::Device,
    ) -> Result<TextEncoding<B>, InputError>;
}

impl<B: Backend> TextEncoder<B> for TextTokenizer {
    fn encode_texts(
        &self,
        model: &QaModel<B>,
        texts: &[&str],
        max_len: usize,
        device: &B::Device,
    ) -> Result<TextEncoding<B>, InputError> {
        let tokens = self.encode_batch(texts, max_len)?;
        Ok(encode_tokens(model, &tokens, device))
    }
}

/// One row of a batch: a question read with one clip (a question about a GIF of several clips
/// is one row per clip, consecutive).
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    /// Index into the batch's clips.
    pub video: usize,
    /// The question text.
    pub question: &'a str,
    /// Its candidates (empty for an open-ended question).
    pub candidates: &'a [String],
    /// Its type when the caller knows it (evaluation and training data): it routes a model without
    /// a kind head, and training (`Routing::ByType`); answering a user's question passes `None`.
    pub known: Option<QuestionType>,
}

/// The model and what every batch shares.
pub struct Engine<'a, B: Backend> {
    /// The model.
    pub model: &'a QaModel<B>,
    /// Its configuration.
    pub config: &'a BundleConfig,
    /// How texts are encoded.
    pub texts: &'a dyn TextEncoder<B>,
    /// CLIP-Cut's K: each row reads only the K frames of its clip most relevant to it.
    pub top_k: Option<usize>,
    /// Device.
    pub device: &'a B::Device,
}

impl<B: Backend> Clone for Engine<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: Backend> Copy for Engine<'_, B> {}

impl<B: Backend> Engine<'_, B> {
    /// Encodes `texts` with the engine's text encoder and the model's token window.
    pub fn encode(&self, texts: &[&str]) -> Result<TextEncoding<B>, InputError> {
        self.texts.encode_texts(self.model, texts, self.config.model.max_text_len, self.device)
    }

    /// Stage 1: row `r` of `encoding` read with clip `video_index[r]` of `video`, whose sampled
    /// frames came from `sources[video_index[r]]`, with CLIP-Cut's choice of frames when the
    /// engine has a K.
    pub async fn fuse(
        &self,
        video: &VideoEncoding<B>,
        sources: &[&[Option<usize>]],
        video_index: &[usize],
        encoding: &TextEncoding<B>,
    ) -> Result<Fused<B>, InputError> {
        fuse_selected(self.model, video, video_index, encoding, sources, self.top_k)
            .await
            .map_err(|e| InputError::Device(e.0))
    }
}
