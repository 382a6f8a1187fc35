//! The answer checks (`shared_model::count_check`, `shared_model::order_check`,
//! `shared_model::segment_count_check`, `shared_model::timeline_check`, `shared_model::object_check`)
//! for a batch of evaluated questions: what each candidate's logit gains at weight 1, so that evaluation can add
//! them at the model's weights or at any other (the weight sweeps of `trainer eval`).

use std::collections::HashMap;

use anyhow::{Context, Result};
use burn::prelude::*;
use shared_model::batch::encode_prepared;
use shared_model::bundle::BundleConfig;
use shared_model::clipcut::fuse_selected;
use shared_model::count_check::{CountCheck, Repeated};
use shared_model::model::{QaModel, VideoEncoding};
use shared_model::object_check::ObjectCheck;
use shared_model::order_check::OrderCheck;
use shared_model::pipeline::{AnswerKind, Route, read_floats};
use shared_model::preprocess::PreparedClip;
use shared_model::segment_count_check::SegmentCountCheck;
use shared_model::timeline_check::TimelineCheck;
use shared_model::zoom::closer_looks;

use crate::batch::BatchQuestion;
use crate::text_cache::Texts;

/// Weights of the four checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckWeights {
    /// The count check's.
    pub count: f32,
    /// The order check's.
    pub order: f32,
    /// The timeline check's (the segment tagger's).
    pub timeline: f32,
    /// The object check's (the FrameQA head's).
    pub object: f32,
}

/// Per question of a batch (by position), each candidate's gain from each check at weight 1.
#[derive(Default)]
pub struct CheckGains {
    count: HashMap<usize, Vec<f32>>,
    order: HashMap<usize, Vec<f32>>,
    timeline: HashMap<usize, Vec<f32>>,
    object: HashMap<usize, Vec<f32>>,
}

impl CheckGains {
    /// `logits` of question `q` (one clip) with the checks added at `weights`.
    pub fn apply(&self, q: usize, logits: &[f32], weights: CheckWeights) -> Vec<f32> {
        let mut out = logits.to_vec();
        let checks = [
            (&self.count, weights.count),
            (&self.order, weights.order),
            (&self.timeline, weights.timeline),
            (&self.object, weights.object),
        ];
        for (gains, weight) in checks {
            if let (Some(gain), true) = (gains.get(&q), weight > 0.0) {
                out.iter_mut().zip(gain).for_each(|(l, g)| *l += weight * g);
            }
        }
        out
    }
}

/// The model and inputs of one evaluated batch.
pub struct CheckInputs<'a, B: Backend> {
    /// The model.
    pub model: &'a QaModel<B>,
    /// Its configuration.
    pub config: &'a BundleConfig,
    /// Text encoding.
    pub texts: Texts<'a>,
    /// The batch's encoded clips.
    pub video: &'a VideoEncoding<B>,
    /// The batch's clips.
    pub clips: &'a [PreparedClip],
    /// CLIP-Cut's K, if any.
    pub top_k: Option<usize>,
    /// Device.
    pub device: &'a B::Device,
}

impl<B: Backend> CheckInputs<'_, B> {
    /// The gains of `questions`' candidates, each answered by its `routes` entry (the checks that
    /// apply follow the head, as in `pipeline::answer_encoded`); `wanted` says which checks to
    /// compute.
    pub fn gains(&self, questions: &[BatchQuestion<'_>], routes: &[Route], wanted: CheckWeights) -> Result<CheckGains> {
        let model = &self.config.model;
        let fused = |i: usize| routes[i].fused();
        let choice = |i: usize| routes[i].answer_kind() == AnswerKind::Choice;
        let mut gains = CheckGains::default();
        if wanted.count > 0.0 {
            let checks: Vec<(usize, CountCheck)> = questions
                .iter()
                .enumerate()
                .filter(|&(i, _)| choice(i))
                .map(|(i, q)| {
                    let repeated =
                        if fused(i) && self.model.counts_by_segment() { Repeated::BySegment } else { Repeated::Totals };
                    (i, CountCheck::with_repeated(&q.item.question, &q.item.candidates, fused(i), repeated))
                })
                .filter(|(_, check)| !check.is_empty())
                .collect();
            let asked: Vec<(usize, &[String])> =
                checks.iter().map(|(i, c)| (questions[*i].video, c.questions.as_slice())).collect();
            if let Some(context) = self.stage_one(&asked)? {
                let logits = crate::backend::block_on(read_floats(self.model.count_logits(&context)))
                    .context("reading count logits")?;
                let classes = model.count_classes;
                let mut start = 0;
                for (i, check) in checks {
                    let end = start + check.questions.len() * classes;
                    gains.count.insert(i, check.adjustments(&logits[start..end], classes, 1.0));
                    start = end;
                }
            }
        }
        if wanted.count > 0.0 && self.model.counts_by_segment() {
            self.segment_counts(questions, routes, &mut gains)?;
        }
        if wanted.order > 0.0 {
            let checks: Vec<(usize, OrderCheck)> = questions
                .iter()
                .enumerate()
                .filter(|&(i, _)| fused(i))
                .map(|(i, q)| (i, OrderCheck::new(&q.item.candidates)))
                .filter(|(_, check)| !check.is_empty())
                .collect();
            // Questions with as many candidates are scored together.
            let mut widths: Vec<usize> = checks.iter().map(|(_, c)| c.width()).collect();
            widths.sort_unstable();
            widths.dedup();
            for width in widths {
                let group: Vec<&(usize, OrderCheck)> = checks.iter().filter(|(_, c)| c.width() == width).collect();
                let asked: Vec<(usize, &[String])> =
                    group.iter().map(|(i, c)| (questions[*i].video, c.questions.as_slice())).collect();
                let Some(context) = self.stage_one(&asked)? else { continue };
                let candidates: Vec<&str> =
                    group.iter().flat_map(|(_, c)| c.candidates.iter().flatten().map(String::as_str)).collect();
                let encoded = self.texts.encode(self.model, &candidates, model.max_text_len, self.device)?;
                let logits = crate::backend::block_on(read_floats(self.model.choice_logits(&context, encoded.pooled)))
                    .context("reading transition logits")?;
                let mut start = 0;
                for (i, check) in group {
                    let end = start + check.questions.len() * width;
                    gains.order.insert(*i, check.adjustments(&logits[start..end], 1.0));
                    start = end;
                }
            }
        }
        if wanted.timeline > 0.0 && self.config.model.segment_tagger == Some(true) {
            let checks: Vec<(usize, TimelineCheck)> = questions
                .iter()
                .enumerate()
                .filter(|&(i, _)| choice(i))
                .map(|(i, q)| (i, TimelineCheck::new(&q.item.question, &q.item.candidates, fused(i))))
                .filter(|(_, check)| !check.is_empty())
                .collect();
            let asked: Vec<(usize, Vec<String>)> =
                checks.iter().map(|(i, c)| (questions[*i].video, c.question().into_iter().collect())).collect();
            let asked: Vec<(usize, &[String])> = asked.iter().map(|(v, q)| (*v, q.as_slice())).collect();
            if let Some(context) = self.stage_one(&asked)?
                && let Some(tags) = self.model.tag_frames(&context)
            {
                let [_, frames, actions] = tags.dims();
                let log_probs =
                    crate::backend::block_on(read_floats(tags)).context("reading the segment tagger's output")?;
                for (row, (i, check)) in checks.iter().enumerate() {
                    let rows = &log_probs[row * frames * actions..(row + 1) * frames * actions];
                    gains.timeline.insert(*i, check.adjustments(rows, frames, 1.0));
                }
            }
        }
        if wanted.object > 0.0 {
            // Fused captions, and the answer classes of colour questions.
            let answers = &self.config.answers;
            let checks: Vec<(usize, ObjectCheck)> = questions
                .iter()
                .enumerate()
                .filter_map(|(i, q)| {
                    let check = if fused(i) {
                        ObjectCheck::new(&q.item.candidates, true, answers)
                    } else if routes[i] == Route::Word {
                        let question = &q.item.question;
                        ObjectCheck::colour_answers(question, answers).or_else(|| {
                            ObjectCheck::shape_answers(question, answers).filter(|_| model.object_zoom().is_some())
                        })?
                    } else {
                        return None;
                    };
                    (!check.is_empty()).then_some((i, check))
                })
                .collect();
            let asked: Vec<(usize, &[String])> =
                checks.iter().map(|(i, c)| (questions[*i].video, c.questions.as_slice())).collect();
            if let Some(context) = self.stage_one(&asked)? {
                let mut logits = crate::backend::block_on(read_floats(self.model.answer_logits(&context)))
                    .context("reading FrameQA logits")?;
                let classes = self.config.answers.len();
                if let Some(window) = self.config.model.object_zoom() {
                    self.closer_looks(questions, &checks, context, window, &mut logits)?;
                }
                let mut start = 0;
                for (i, check) in checks {
                    let end = start + check.questions.len() * classes;
                    gains.object.insert(i, check.adjustments(&logits[start..end], classes, 1.0));
                    start = end;
                }
            }
        }
        Ok(gains)
    }

    /// Replaces the FrameQA logits of the object checks that take a closer look (`zoom`) with their
    /// joint log-probabilities with that look's, or that look's alone (`Looks`); `logits` and
    /// `context` hold every check's questions in order.
    fn closer_looks(
        &self,
        questions: &[BatchQuestion<'_>],
        checks: &[(usize, ObjectCheck)],
        context: shared_model::model::QuestionContext<B>,
        window: f32,
        logits: &mut [f32],
    ) -> Result<()> {
        let classes = self.config.answers.len();
        let cells = context.attention.dims()[2];
        let attention =
            crate::backend::block_on(read_floats(context.attention)).context("reading the object check's attention")?;
        let per_row = attention.len() / (logits.len() / classes).max(1);
        let mut rows = Vec::new(); // (row of `logits`, clip, question, looks)
        let mut row = 0;
        for (i, check) in checks {
            for question in &check.questions {
                if check.takes_closer_look() {
                    rows.push((row, &self.clips[questions[*i].video], question.as_str(), check.looks));
                }
                row += 1;
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        let looks: Vec<PreparedClip> = rows
            .iter()
            .flat_map(|&(row, clip, question, _)| {
                let attention = &attention[row * per_row..(row + 1) * per_row];
                closer_looks(&[(clip, question)], attention, cells, window, self.config.preprocess.image_size)
            })
            .collect();
        let refs: Vec<&PreparedClip> = looks.iter().collect();
        let video =
            encode_prepared(self.model, &self.config.preprocess, self.config.model.time_positions, &refs, self.device);
        let looked = CheckInputs { video: &video, clips: &looks, top_k: None, ..*self };
        let asked: Vec<(usize, Vec<String>)> =
            rows.iter().enumerate().map(|(v, r)| (v, vec![r.2.to_string()])).collect();
        let asked: Vec<(usize, &[String])> = asked.iter().map(|(v, q)| (*v, q.as_slice())).collect();
        let Some(context) = looked.stage_one(&asked)? else { return Ok(()) };
        let closer = crate::backend::block_on(read_floats(self.model.answer_logits(&context)))
            .context("reading the closer look's FrameQA logits")?;
        for (&(row, _, _, looks), closer) in rows.iter().zip(closer.chunks(classes)) {
            let whole = &mut logits[row * classes..(row + 1) * classes];
            let combined = looks.combine(whole, closer, classes);
            whole.copy_from_slice(&combined);
        }
        Ok(())
    }

    /// Adds to the count check's gains those of the fused caption questions' segment counts
    /// (`segment_count_check`), at weight 1.
    fn segment_counts(&self, questions: &[BatchQuestion<'_>], routes: &[Route], gains: &mut CheckGains) -> Result<()> {
        let model = &self.config.model;
        let checks: Vec<(usize, SegmentCountCheck, Vec<String>)> = questions
            .iter()
            .enumerate()
            .filter(|&(i, _)| routes[i].fused())
            .map(|(i, q)| {
                let check = SegmentCountCheck::new(&q.item.candidates, true);
                let asked = check.questions();
                (i, check, asked)
            })
            .filter(|(_, check, _)| !check.is_empty())
            .collect();
        let asked: Vec<(usize, &[String])> =
            checks.iter().map(|(i, _, asked)| (questions[*i].video, asked.as_slice())).collect();
        let Some(context) = self.stage_one(&asked)? else { return Ok(()) };
        let (Some(tags), Some(events)) = (self.model.tag_frames(&context), self.model.count(&context).events) else {
            return Ok(());
        };
        let [_, frames, actions] = tags.dims();
        let tags = crate::backend::block_on(read_floats(tags)).context("reading the segment tagger's output")?;
        let evidence = crate::backend::block_on(read_floats(events.evidence)).context("reading count evidence")?;
        let mut row = 0;
        for (i, check, asked) in checks {
            let tags = &tags[row * frames * actions..(row + 1) * frames * actions];
            let evidence = &evidence[row * frames..(row + asked.len()) * frames];
            let extra = check.adjustments(tags, evidence, frames, model.count_classes, 1.0);
            let entry = gains.count.entry(i).or_insert_with(|| vec![0.0; extra.len()]);
            entry.iter_mut().zip(extra).for_each(|(gain, e)| *gain += e);
            row += asked.len();
        }
        Ok(())
    }

    /// Stage 1 for `asked` (each entry: a clip and the questions to read it with), in order;
    /// `None` when nothing is asked.
    fn stage_one(&self, asked: &[(usize, &[String])]) -> Result<Option<shared_model::model::QuestionContext<B>>> {
        let rows: Vec<(usize, &str)> =
            asked.iter().flat_map(|(video, texts)| texts.iter().map(|t| (*video, t.as_str()))).collect();
        if rows.is_empty() {
            return Ok(None);
        }
        let texts: Vec<&str> = rows.iter().map(|r| r.1).collect();
        let video_index: Vec<usize> = rows.iter().map(|r| r.0).collect();
        let encoding = self.texts.encode(self.model, &texts, self.config.model.max_text_len, self.device)?;
        let sources: Vec<&[Option<usize>]> = self.clips.iter().map(|clip| clip.sources.as_slice()).collect();
        let fused = crate::backend::block_on(fuse_selected(
            self.model,
            self.video,
            &video_index,
            &encoding,
            &sources,
            self.top_k,
        ))?;
        Ok(Some(fused.context))
    }
}
