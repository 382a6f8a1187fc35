//! The legacy answer checks ([`count`], [`segment_count`], [`order`], [`timeline`], [`object`],
//! over [`caption_text`]) for a batch of rows: what each candidate's logit gains from
//! each check at weight 1, so that answering adds them at the model's weights and evaluation also
//! at any other (its weight sweeps). Only models whose config.json weights the checks (the model
//! shipped before the kind head) use them: they read the benchmark's grammar in the question and
//! candidates, and a model without those weights (every one `train --recipe` makes) skips them.

/// Reading the benchmark's caption grammar (the checks' shared parser).
pub mod caption_text;
/// The count head checks each count an action answer or a caption states.
pub mod count;
/// The FrameQA head names the shape of each colour a caption mentions.
pub mod object;
/// Order of events in captions and Transition answers.
pub mod order;
/// The event counter, segment by segment, checks a caption's counts.
pub mod segment_count;
/// The segment tagger's timeline checks a caption or a Transition answer.
pub mod timeline;

use std::collections::HashMap;

use burn::prelude::*;

use super::read::{InputError, read_floats};
use super::route::{AnswerKind, Route};
use super::{Asked, Engine};
use crate::answer::checks::count::{CountCheck, Repeated};
use crate::answer::checks::object::ObjectCheck;
use crate::answer::checks::order::OrderCheck;
use crate::answer::checks::segment_count::SegmentCountCheck;
use crate::answer::checks::timeline::TimelineCheck;
use crate::model::encode_prepared;
use crate::model::{QaModelConfig, QuestionContext, VideoEncoding};
use crate::preprocess::PreparedClip;
use crate::preprocess::zoom::closer_looks;

/// Weights of the checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckWeights {
    /// The count check's (and the segment count check's).
    pub count: f32,
    /// The order check's.
    pub order: f32,
    /// The timeline check's (the segment tagger's).
    pub timeline: f32,
    /// The object check's (the FrameQA head's).
    pub object: f32,
}

impl CheckWeights {
    /// The weights the model's config.json gives the checks (all 0 for a model without them).
    pub fn of(config: &QaModelConfig) -> Self {
        CheckWeights {
            count: config.count_check_weight(),
            order: config.order_check_weight(),
            timeline: config.timeline_check_weight(),
            object: config.object_check_weight(),
        }
    }
}

/// Per row of a batch (by position), each candidate's gain from each check at weight 1.
#[derive(Default)]
pub struct CheckGains {
    count: HashMap<usize, Vec<f32>>,
    segment_count: HashMap<usize, Vec<f32>>,
    order: HashMap<usize, Vec<f32>>,
    timeline: HashMap<usize, Vec<f32>>,
    object: HashMap<usize, Vec<f32>>,
}

impl CheckGains {
    /// `logits` of row `row` with the checks added at `weights`, one check after the other.
    pub fn apply(&self, row: usize, logits: &[f32], weights: CheckWeights) -> Vec<f32> {
        let mut out = logits.to_vec();
        let checks = [
            (&self.count, weights.count),
            (&self.segment_count, weights.count),
            (&self.order, weights.order),
            (&self.timeline, weights.timeline),
            (&self.object, weights.object),
        ];
        for (gains, weight) in checks {
            if let (Some(gain), true) = (gains.get(&row), weight > 0.0) {
                out.iter_mut().zip(gain).for_each(|(l, g)| *l += weight * g);
            }
        }
        out
    }
}

/// The engine and the encoded clips of one batch, for its checks.
pub struct Checks<'a, B: Backend> {
    /// The engine.
    pub engine: Engine<'a, B>,
    /// The batch's encoded clips.
    pub video: &'a VideoEncoding<B>,
    /// The batch's clips.
    pub clips: &'a [PreparedClip],
}

impl<B: Backend> Checks<'_, B> {
    /// The gains of `rows`' candidates, each answered by its `routes` entry (the checks that apply
    /// follow the head); `wanted` says which checks to compute (those weighted above 0).
    pub async fn gains(
        &self,
        rows: &[Asked<'_>],
        routes: &[Route],
        wanted: CheckWeights,
    ) -> Result<CheckGains, InputError> {
        let mut gains = CheckGains::default();
        if wanted.count > 0.0 {
            gains.count = self.count_gains(rows, routes).await?;
            if self.engine.model.counts_by_segment() {
                gains.segment_count = self.segment_count_gains(rows, routes).await?;
            }
        }
        if wanted.order > 0.0 {
            gains.order = self.order_gains(rows, routes).await?;
        }
        if wanted.timeline > 0.0 && self.engine.config.model.segment_tagger == Some(true) {
            gains.timeline = self.timeline_gains(rows, routes).await?;
        }
        if wanted.object > 0.0 {
            gains.object = self.object_gains(rows, routes).await?;
        }
        Ok(gains)
    }

    /// The count check's gains: the count head's answers to the counts each candidate states.
    async fn count_gains(&self, rows: &[Asked<'_>], routes: &[Route]) -> Result<HashMap<usize, Vec<f32>>, InputError> {
        let by_segment = self.engine.model.counts_by_segment();
        let checks: Vec<(usize, CountCheck)> = rows
            .iter()
            .enumerate()
            .filter(|&(i, _)| routes[i].answer_kind() == AnswerKind::Choice)
            .map(|(i, r)| {
                let fused = routes[i].fused();
                let repeated = if fused && by_segment { Repeated::BySegment } else { Repeated::Totals };
                (i, CountCheck::with_repeated(r.question, r.candidates, fused, repeated))
            })
            .filter(|(_, check)| !check.is_empty())
            .collect();
        let asked: Vec<(usize, &[String])> =
            checks.iter().map(|(i, c)| (rows[*i].video, c.questions.as_slice())).collect();
        let mut gains = HashMap::new();
        let Some(context) = self.read(&asked).await? else { return Ok(gains) };
        let logits = read_floats(self.engine.model.count_logits(&context)).await?;
        let classes = self.engine.config.model.count_classes;
        let mut start = 0;
        for (i, check) in checks {
            let end = start + check.questions.len() * classes;
            gains.insert(i, check.adjustments(&logits[start..end], classes, 1.0));
            start = end;
        }
        Ok(gains)
    }

    /// The segment count check's gains for the fused caption rows: the counts of their repeated
    /// actions, segment by segment (needs a segment tagger and an event counter).
    async fn segment_count_gains(
        &self,
        rows: &[Asked<'_>],
        routes: &[Route],
    ) -> Result<HashMap<usize, Vec<f32>>, InputError> {
        let checks: Vec<(usize, SegmentCountCheck, Vec<String>)> = rows
            .iter()
            .enumerate()
            .filter(|&(i, _)| routes[i].fused())
            .map(|(i, r)| {
                let check = SegmentCountCheck::new(r.candidates, true);
                let asked = check.questions();
                (i, check, asked)
            })
            .filter(|(_, check, _)| !check.is_empty())
            .collect();
        let asked: Vec<(usize, &[String])> =
            checks.iter().map(|(i, _, asked)| (rows[*i].video, asked.as_slice())).collect();
        let mut gains = HashMap::new();
        let Some(context) = self.read(&asked).await? else { return Ok(gains) };
        let model = self.engine.model;
        let (Some(tags), Some(events)) = (model.tag_frames(&context), model.count(&context).events) else {
            return Ok(gains);
        };
        let [_, frames, actions] = tags.dims();
        let tags = read_floats(tags).await?;
        let evidence = read_floats(events.evidence).await?;
        let classes = self.engine.config.model.count_classes;
        let mut row = 0;
        for (i, check, asked) in checks {
            let tags = &tags[row * frames * actions..(row + 1) * frames * actions];
            let evidence = &evidence[row * frames..(row + asked.len()) * frames];
            gains.insert(i, check.adjustments(tags, evidence, frames, classes, 1.0));
            row += asked.len();
        }
        Ok(gains)
    }

    /// The order check's gains for the fused caption rows: the transition head's answers to the
    /// orders each caption states.
    async fn order_gains(&self, rows: &[Asked<'_>], routes: &[Route]) -> Result<HashMap<usize, Vec<f32>>, InputError> {
        let checks: Vec<(usize, OrderCheck)> = rows
            .iter()
            .enumerate()
            .filter(|&(i, _)| routes[i].fused())
            .map(|(i, r)| (i, OrderCheck::new(r.candidates)))
            .filter(|(_, check)| !check.is_empty())
            .collect();
        // Rows with as many candidates are scored together.
        let mut widths: Vec<usize> = checks.iter().map(|(_, c)| c.width()).collect();
        widths.sort_unstable();
        widths.dedup();
        let mut gains = HashMap::new();
        for width in widths {
            let group: Vec<&(usize, OrderCheck)> = checks.iter().filter(|(_, c)| c.width() == width).collect();
            let asked: Vec<(usize, &[String])> =
                group.iter().map(|(i, c)| (rows[*i].video, c.questions.as_slice())).collect();
            let Some(context) = self.read(&asked).await? else { continue };
            let candidates: Vec<&str> =
                group.iter().flat_map(|(_, c)| c.candidates.iter().flatten().map(String::as_str)).collect();
            let encoded = self.engine.encode(&candidates)?;
            let logits = read_floats(self.engine.model.choice_logits(&context, encoded.pooled)).await?;
            let mut start = 0;
            for (i, check) in group {
                let end = start + check.questions.len() * width;
                gains.insert(*i, check.adjustments(&logits[start..end], 1.0));
                start = end;
            }
        }
        Ok(gains)
    }

    /// The timeline check's gains: how well what each candidate states aligns with the segment
    /// tagger's per-frame actions.
    async fn timeline_gains(
        &self,
        rows: &[Asked<'_>],
        routes: &[Route],
    ) -> Result<HashMap<usize, Vec<f32>>, InputError> {
        let checks: Vec<(usize, TimelineCheck)> = rows
            .iter()
            .enumerate()
            .filter(|&(i, _)| routes[i].answer_kind() == AnswerKind::Choice)
            .map(|(i, r)| (i, TimelineCheck::new(r.question, r.candidates, routes[i].fused())))
            .filter(|(_, check)| !check.is_empty())
            .collect();
        let asked: Vec<(usize, Vec<String>)> =
            checks.iter().map(|(i, c)| (rows[*i].video, c.question().into_iter().collect())).collect();
        let asked: Vec<(usize, &[String])> = asked.iter().map(|(v, q)| (*v, q.as_slice())).collect();
        let mut gains = HashMap::new();
        if let Some(context) = self.read(&asked).await?
            && let Some(tags) = self.engine.model.tag_frames(&context)
        {
            let [_, frames, actions] = tags.dims();
            let log_probs = read_floats(tags).await?;
            for (row, (i, check)) in checks.iter().enumerate() {
                let rows = &log_probs[row * frames * actions..(row + 1) * frames * actions];
                gains.insert(*i, check.adjustments(rows, frames, 1.0));
            }
        }
        Ok(gains)
    }

    /// The object check's gains: the FrameQA head's answers about the object each fused caption,
    /// or each answer to "What color is the {shape} ?", names.
    async fn object_gains(&self, rows: &[Asked<'_>], routes: &[Route]) -> Result<HashMap<usize, Vec<f32>>, InputError> {
        let config = self.engine.config;
        let answers = &config.answers;
        let checks: Vec<(usize, ObjectCheck)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let check = if routes[i].fused() {
                    ObjectCheck::new(r.candidates, true, answers)
                } else if routes[i] == Route::Word {
                    ObjectCheck::colour_answers(r.question, answers).or_else(|| {
                        ObjectCheck::shape_answers(r.question, answers).filter(|_| config.model.object_zoom().is_some())
                    })?
                } else {
                    return None;
                };
                (!check.is_empty()).then_some((i, check))
            })
            .collect();
        let asked: Vec<(usize, &[String])> =
            checks.iter().map(|(i, c)| (rows[*i].video, c.questions.as_slice())).collect();
        let mut gains = HashMap::new();
        let Some(context) = self.read(&asked).await? else { return Ok(gains) };
        let mut logits = read_floats(self.engine.model.answer_logits(&context)).await?;
        let classes = answers.len();
        if let Some(window) = config.model.object_zoom() {
            self.closer_looks(rows, &checks, context, window, &mut logits).await?;
        }
        let mut start = 0;
        for (i, check) in checks {
            let end = start + check.questions.len() * classes;
            gains.insert(i, check.adjustments(&logits[start..end], classes, 1.0));
            start = end;
        }
        Ok(gains)
    }

    /// Replaces the FrameQA logits of the object checks that take a closer look (`zoom`) with their
    /// joint log-probabilities with that look's, or that look's alone (`Looks`); `logits` and
    /// `context` hold every check's questions in order.
    async fn closer_looks(
        &self,
        rows: &[Asked<'_>],
        checks: &[(usize, ObjectCheck)],
        context: QuestionContext<B>,
        window: f32,
        logits: &mut [f32],
    ) -> Result<(), InputError> {
        let engine = &self.engine;
        let classes = engine.config.answers.len();
        let cells = context.attention.dims()[2];
        let attention = read_floats(context.attention).await?;
        let per_row = attention.len() / (logits.len() / classes).max(1);
        let mut looked_at = Vec::new(); // (row of `logits`, clip, question, looks)
        let mut row = 0;
        for (i, check) in checks {
            for question in &check.questions {
                if check.takes_closer_look() {
                    looked_at.push((row, &self.clips[rows[*i].video], question.as_str(), check.looks));
                }
                row += 1;
            }
        }
        if looked_at.is_empty() {
            return Ok(());
        }
        let image_size = engine.config.preprocess.image_size;
        let looks: Vec<PreparedClip> = looked_at
            .iter()
            .flat_map(|&(row, clip, question, _)| {
                let attention = &attention[row * per_row..(row + 1) * per_row];
                closer_looks(&[(clip, question)], attention, cells, window, image_size)
            })
            .collect();
        let refs: Vec<&PreparedClip> = looks.iter().collect();
        let (preprocess, time_positions) = (&engine.config.preprocess, engine.config.model.time_positions);
        let video = encode_prepared(engine.model, preprocess, time_positions, &refs, engine.device);
        // Each look is its own video, read with its own question.
        let looked = Checks { engine: Engine { top_k: None, ..*engine }, video: &video, clips: &looks };
        let asked: Vec<(usize, Vec<String>)> =
            looked_at.iter().enumerate().map(|(v, r)| (v, vec![r.2.to_string()])).collect();
        let asked: Vec<(usize, &[String])> = asked.iter().map(|(v, q)| (*v, q.as_slice())).collect();
        let Some(context) = looked.read(&asked).await? else { return Ok(()) };
        let closer = read_floats(engine.model.answer_logits(&context)).await?;
        for (&(row, _, _, looks), closer) in looked_at.iter().zip(closer.chunks(classes)) {
            let whole = &mut logits[row * classes..(row + 1) * classes];
            let combined = looks.combine(whole, closer, classes);
            whole.copy_from_slice(&combined);
        }
        Ok(())
    }

    /// Stage 1 for `asked` (each entry: a clip and the questions to read it with), in order;
    /// `None` when nothing is asked.
    async fn read(&self, asked: &[(usize, &[String])]) -> Result<Option<QuestionContext<B>>, InputError> {
        let rows: Vec<(usize, &str)> =
            asked.iter().flat_map(|(video, texts)| texts.iter().map(|t| (*video, t.as_str()))).collect();
        if rows.is_empty() {
            return Ok(None);
        }
        let texts: Vec<&str> = rows.iter().map(|r| r.1).collect();
        let video_index: Vec<usize> = rows.iter().map(|r| r.0).collect();
        let encoding = self.engine.encode(&texts)?;
        let sources: Vec<&[Option<usize>]> = self.clips.iter().map(|clip| clip.sources.as_slice()).collect();
        Ok(Some(self.engine.fuse(self.video, &sources, &video_index, &encoding).await?.context))
    }
}
