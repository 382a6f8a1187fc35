//! Routing a batch and running its heads: each row goes to the head its route names; stage 1
//! reads every row once (a fused caption question once per candidate).

use burn::prelude::*;

use super::read::InputError;
use super::route::{Route, question_kinds, route, stage_one_texts};
use super::{Asked, Engine};
use crate::model::index_tensor;
use crate::model::{CountOutput, EventCount, QuestionContext, TextEncoding, VideoEncoding};
use crate::text::questions::{QaItem, QuestionType};

/// How [`Engine::heads`] picks each row's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// By the row's known type (training: every head learns its own questions).
    ByType,
    /// As answering does: by the model's kind head when it has one (a wrongly predicted kind sends
    /// the question to a head that cannot answer it right), else by the known type, else by the
    /// legacy rules on the question's words.
    ByModel,
}

/// Which head a row goes to; multiple-choice rows are grouped by candidate count (a batch may
/// hold two groups of one count: fused captions and the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HeadKind {
    /// Multiple choice among this many candidates.
    Choice(usize),
    /// Open-ended word answer (FrameQA).
    Word,
    /// Count.
    Count,
}

impl HeadKind {
    /// The head that answers `item` by its type.
    pub fn of(item: &QaItem) -> Self {
        match item.qtype {
            QuestionType::FrameQa => Self::Word,
            QuestionType::Count => Self::Count,
            _ => Self::Choice(item.candidates.len()),
        }
    }
}

/// Logits of one head for some rows of a batch.
pub struct HeadLogits<B: Backend> {
    /// The head.
    pub kind: HeadKind,
    /// Positions of these rows in the batch.
    pub rows: Vec<usize>,
    /// `[rows, classes]` logits.
    pub logits: Tensor<B, 2>,
}

/// How each row of a batch is routed.
pub struct Routed<B: Backend> {
    /// Each row's route.
    pub routes: Vec<Route>,
    /// The kind head's reading of each row's question (`None` for a model without the head).
    pub asked: Option<TextEncoding<B>>,
    /// The types the kind head named, per row (`None` without the head, or routed by type).
    pub kinds: Option<Vec<QuestionType>>,
}

/// What stage 1 read.
pub struct StageOne<B: Backend> {
    /// Every stage-1 row: one per batch row, or one per candidate of a fused row.
    pub rows: QuestionContext<B>,
    /// The texts of those rows, encoded.
    pub encoding: TextEncoding<B>,
    /// Each batch row's first stage-1 row.
    pub first_row: Vec<usize>,
    /// One row per batch row (a fused row by its first candidate's), for the unfused heads.
    pub context: QuestionContext<B>,
    /// CLIP-Cut's frames per stage-1 row (`None`: every row read every sampled frame).
    pub picks: Option<Vec<Vec<usize>>>,
}

/// Everything the heads produced for a batch.
pub struct Heads<B: Backend> {
    /// Multiple-choice groups (per candidate count, and fused or not).
    pub choice: Vec<HeadLogits<B>>,
    /// Open-ended word answers.
    pub word: Option<HeadLogits<B>>,
    /// Counts.
    pub count: Option<HeadLogits<B>>,
    /// What the event counter saw for the count rows, in `count`'s order (`None` without count
    /// rows or without an event counter).
    pub count_events: Option<EventCount<B>>,
    /// Each row's route.
    pub routes: Vec<Route>,
    /// The types the kind head named, per row (`None` without the head, or routed by type).
    pub kinds: Option<Vec<QuestionType>>,
    /// The pooled question encodings the kind head reads, `[rows, d_model]` (`None` for a model
    /// without the head).
    pub asked: Option<Tensor<B, 2>>,
    /// What stage 1 read.
    pub stage_one: StageOne<B>,
}

impl<B: Backend> Heads<B> {
    /// Every head's logits: the choice groups, then words, then counts.
    pub fn all(&self) -> impl Iterator<Item = &HeadLogits<B>> {
        self.choice.iter().chain(&self.word).chain(&self.count)
    }
}

impl<B: Backend> Engine<'_, B> {
    /// Routes every row (see [`Routing`]); the kind head reads each row's own question text (a
    /// fused caption question's too).
    pub async fn route(&self, rows: &[Asked<'_>], routing: Routing) -> Result<Routed<B>, InputError> {
        let config = &self.config.model;
        let asked = if config.has_kind_head() {
            let texts: Vec<&str> = rows.iter().map(|r| r.question).collect();
            Some(self.encode(&texts)?)
        } else {
            None
        };
        let kinds = match (&asked, routing) {
            (Some(asked), Routing::ByModel) => question_kinds(self.model, asked).await?,
            _ => None,
        };
        let routes = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let kind = kinds.as_ref().map(|kinds| kinds[i]).or(r.known);
                route(config, kind, r.question, r.candidates)
            })
            .collect();
        Ok(Routed { routes, asked, kinds })
    }

    /// Stage 1 of every row by its route (`pipeline::stage_one_texts`): one stage-1 row per row, or
    /// one per candidate of a fused row.
    pub async fn stage_one(
        &self,
        video: &VideoEncoding<B>,
        sources: &[&[Option<usize>]],
        rows: &[Asked<'_>],
        routes: &[Route],
        asked: Option<TextEncoding<B>>,
    ) -> Result<StageOne<B>, InputError> {
        let mut row_texts: Vec<&str> = Vec::new();
        let mut video_index: Vec<usize> = Vec::new();
        let mut first_row = Vec::with_capacity(rows.len());
        for (r, &route) in rows.iter().zip(routes) {
            first_row.push(row_texts.len());
            for text in stage_one_texts(route, r.question, r.candidates) {
                row_texts.push(text);
                video_index.push(r.video);
            }
        }
        // Without fused rows, stage 1 reads exactly the questions the kind head read.
        let encoding = match asked {
            Some(asked) if row_texts.len() == rows.len() => asked,
            _ => self.encode(&row_texts)?,
        };
        let fused = self.fuse(video, sources, &video_index, &encoding).await?;
        let context = if row_texts.len() == rows.len() {
            fused.context.clone()
        } else {
            fused.context.select(index_tensor(&first_row, self.device))
        };
        Ok(StageOne { rows: fused.context, encoding, first_row, context, picks: fused.picks })
    }

    /// Routes `rows`, reads them (stage 1) and runs each through the head of its route.
    pub async fn heads(
        &self,
        video: &VideoEncoding<B>,
        sources: &[&[Option<usize>]],
        rows: &[Asked<'_>],
        routing: Routing,
    ) -> Result<Heads<B>, InputError> {
        let Routed { routes, asked, kinds } = self.route(rows, routing).await?;
        let kind_input = asked.as_ref().map(|asked| asked.pooled.clone());
        let stage_one = self.stage_one(video, sources, rows, &routes, asked).await?;
        let choice = self.choice_heads(rows, &routes, &stage_one)?;
        let on = |wanted: Route| -> Vec<usize> { (0..rows.len()).filter(|&i| routes[i] == wanted).collect() };
        let select = |picked: &[usize]| stage_one.context.select(index_tensor(picked, self.device));
        let word_rows = on(Route::Word);
        let word = (!word_rows.is_empty()).then(|| {
            let logits = self.model.answer_logits(&select(&word_rows));
            HeadLogits { kind: HeadKind::Word, rows: word_rows, logits }
        });
        let count_rows = on(Route::Count);
        let (count, count_events) = if count_rows.is_empty() {
            (None, None)
        } else {
            let CountOutput { logits, events } = self.model.count(&select(&count_rows));
            (Some(HeadLogits { kind: HeadKind::Count, rows: count_rows, logits }), events)
        };
        Ok(Heads { choice, word, count, count_events, routes, kinds, asked: kind_input, stage_one })
    }

    /// The multiple-choice heads' logits, one group per candidate count and fusing.
    fn choice_heads(
        &self,
        rows: &[Asked<'_>],
        routes: &[Route],
        stage_one: &StageOne<B>,
    ) -> Result<Vec<HeadLogits<B>>, InputError> {
        let mut groups: Vec<(usize, bool)> = rows
            .iter()
            .zip(routes)
            .filter_map(|(r, route)| match route {
                Route::Choice { fused } => Some((r.candidates.len(), *fused)),
                _ => None,
            })
            .collect();
        groups.sort_unstable();
        groups.dedup();
        let mut heads = Vec::with_capacity(groups.len());
        for (count, fused) in groups {
            let picked: Vec<usize> = (0..rows.len())
                .filter(|&i| routes[i] == Route::Choice { fused } && rows[i].candidates.len() == count)
                .collect();
            let logits = if fused {
                // Each candidate's own stage-1 row, scored with the candidate's encoding (the same
                // text stage 1 read as its question).
                let first = &stage_one.first_row;
                let all: Vec<usize> = picked.iter().flat_map(|&i| first[i]..first[i] + count).collect();
                let all = index_tensor(&all, self.device);
                let context = stage_one.rows.select(all.clone());
                self.model.fused_choice_logits(&context, stage_one.encoding.pooled.clone().select(0, all), count)
            } else {
                let candidates: Vec<&str> =
                    picked.iter().flat_map(|&i| rows[i].candidates.iter().map(String::as_str)).collect();
                let candidates = self.encode(&candidates)?;
                let context = stage_one.context.select(index_tensor(&picked, self.device));
                self.model.choice_logits(&context, candidates.pooled)
            };
            heads.push(HeadLogits { kind: HeadKind::Choice(count), rows: picked, logits });
        }
        Ok(heads)
    }
}
