//! Evaluation: accuracy per question type, Count's mean absolute error, and caption text-to-GIF
//! retrieval (R@1/5/10, median rank) over the whole split, or among the GIFs of its first N
//! captions (`retrieval_gallery`; a model with fused captions fuses every caption-GIF pair).

/// `trainer calibrate`: temperature, unsure threshold and in-world statistics from held-out answers.
pub mod calibrate;
/// Fitting and reporting the in-world score over whole splits.
pub mod in_world;

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use burn::prelude::*;
use serde::Serialize;
use shared_model::answer::answers::{Answers, label};
use shared_model::answer::checks::CheckWeights;
use shared_model::answer::heads::Routing;
use shared_model::answer::pipeline::{ClipAggregation, Route, read_floats};
use shared_model::answer::{Asked, Engine};
use shared_model::bundle::BundleConfig;
use shared_model::model::{QaModel, QuestionContext, TextEncoding, VideoEncoding};
use shared_model::model::{encode_prepared, index_tensor};
use shared_model::preprocess::PreparedClip;
use shared_model::sampling::SamplingStrategy;
use shared_model::sampling::clipcut::fuse_selected;
use shared_model::text::questions::{Answer, CAPTION_PROMPT, QaItem, QuestionType};
use shared_model::text::tokenize::TextTokenizer;
use shared_model::trust::calibration::softmax_with_temperature;

use crate::data::BatchQuestion;
use crate::data::attention_targets::ObjectAnnotations;
use crate::data::text_cache::{Texts, TowerStateCache};
use crate::data::{CachedGif, Split};
use crate::eval::in_world::{InWorldReport, gif_features};
use crate::generate::{colour_words, shape_words};
use crate::runtime::progress::progress;
use crate::vocab::normalise_answer;

/// Metrics of one question type.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TypeReport {
    /// Fraction answered right.
    pub accuracy: f64,
    /// Questions evaluated.
    pub n: usize,
    /// Count only: mean absolute error of the predicted count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
    /// Count only, for a model with an event counter: how often the counter alone is right (its
    /// expected count, the summed frame evidence, rounded), whatever the answer combines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_accuracy: Option<f64>,
    /// Count only, with an event counter: mean absolute error of its expected count (unrounded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_mae: Option<f64>,
    /// Caption only: text-to-GIF recall at 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r1: Option<f64>,
    /// Caption only: recall at 5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r5: Option<f64>,
    /// Caption only: recall at 10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r10: Option<f64>,
    /// Caption only: median rank of the true GIF (1 = first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_rank: Option<f64>,
    /// Multiple choice and word answers, when asked for ([`Evaluator::count_check_sweep`]): accuracy with the
    /// count check (`count_check`) at each weight, keyed by the weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count_check: Option<BTreeMap<String, f64>>,
    /// The same for the order check's weight ([`Evaluator::order_check_sweep`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_check: Option<BTreeMap<String, f64>>,
    /// The same for the timeline check's weight ([`Evaluator::timeline_check_sweep`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline_check: Option<BTreeMap<String, f64>>,
    /// The same for the object check's weight ([`Evaluator::object_check_sweep`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_check: Option<BTreeMap<String, f64>>,
    /// For a model with a kind head: how often it named this type (each question once); a
    /// question whose type it missed went to another head (see `batch::Routing::ByModel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind_accuracy: Option<f64>,
    /// Expected calibration error of this type's answers and the temperature that would fit them.
    pub calibration: CalibrationReport,
    /// Caption only: GIFs (and captions) the retrieval ranked among.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrieval_gallery: Option<usize>,
    /// Pointing accuracy of the slot attention (only with the generator's annotations): of the
    /// sampled frames in which the question's object is visible, the share whose most-attended
    /// grid cell holds part of the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointing: Option<f64>,
    /// What [`Self::pointing`] would be for an attention that picks a cell at random: the mean
    /// share of the grid's cells that hold the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointing_chance: Option<f64>,
    /// Accuracy per question form (see [`question_form`]): FrameQA's four questions, Count per
    /// asked action, Transition before/after. For captions, `beats {attribute}`: how often the
    /// true caption outscored a distractor that changes that attribute (pairs, chance 50%; see
    /// [`caption_difference`]).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_form: BTreeMap<String, FormReport>,
}

/// Accuracy of the questions of one form.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FormReport {
    /// Fraction answered right.
    pub accuracy: f64,
    /// Questions evaluated.
    pub n: usize,
    /// Pointing accuracy of these questions' attention (see [`TypeReport::pointing`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointing: Option<f64>,
}

/// The form of a question, for the per-form breakdown: FrameQA's opening words (`what shape`,
/// `how many`, `what color`, `where is`), Count's asked action (the last word, `blink`),
/// Transition's `before` / `after`; `None` for the other types.
pub fn question_form(qtype: QuestionType, question: &str) -> Option<String> {
    let words: Vec<String> =
        question.split_whitespace().filter(|w| *w != "?").map(|w| w.trim_end_matches('?').to_lowercase()).collect();
    match qtype {
        QuestionType::FrameQa => (words.len() >= 2).then(|| words[..2].join(" ")),
        QuestionType::Count => words.last().cloned(),
        QuestionType::Transition => words.iter().find(|w| *w == "before" || *w == "after").cloned(),
        QuestionType::Action | QuestionType::Caption => None,
    }
}

/// Which attribute a caption distractor changes (the benchmark's distractors differ from the true
/// caption in one): `colour`, `shape`, `count`, `order` or `action`. `None` for captions outside
/// the benchmark's template (`a {colour} {shape} {segment} then {segment} …` with the benchmark's
/// colour and shape words), such as MSRVTT-MC's.
pub fn caption_difference(truth: &str, distractor: &str) -> Option<&'static str> {
    struct Caption<'a> {
        colour: &'a str,
        shape: &'a str,
        segments: Vec<String>,
    }
    fn parse(caption: &str) -> Option<Caption<'_>> {
        let words: Vec<&str> = caption.split_whitespace().collect();
        let known = |word: &str, names: &[&str]| names.contains(&word);
        if words.len() < 4 || words[0] != "a" || !known(words[1], &colour_words()) || !known(words[2], &shape_words()) {
            return None;
        }
        let segments = words[3..].join(" ").split(" then ").map(str::to_string).collect();
        Some(Caption { colour: words[1], shape: words[2], segments })
    }
    // A segment without its repetitions: `jumps 3 times` and `jumps once` are both `jumps`.
    fn action(segment: &str) -> &str {
        segment
            .strip_suffix(" once")
            .or_else(|| segment.rsplitn(3, ' ').nth(2).filter(|_| segment.ends_with(" times")))
            .unwrap_or(segment)
    }
    let (truth, distractor) = (parse(truth)?, parse(distractor)?);
    if truth.colour != distractor.colour {
        return Some("colour");
    }
    if truth.shape != distractor.shape {
        return Some("shape");
    }
    let (mut a, mut b) = (truth.segments.clone(), distractor.segments.clone());
    a.sort();
    b.sort();
    if a == b {
        return (truth.segments != distractor.segments).then_some("order");
    }
    let same_actions = truth.segments.iter().map(|s| action(s)).eq(distractor.segments.iter().map(|s| action(s)));
    Some(if same_actions { "count" } else { "action" })
}

/// Tallies, for a caption question, how often the true caption outscores each distractor, by the
/// attribute the distractor changes (forms `beats colour`, `beats count`, …; chance 50%): which
/// attribute the model cannot tell is what caps caption accuracy.
fn tally_caption_pairs(candidates: &[String], truth: usize, logits: &[f32], forms: &mut BTreeMap<String, [usize; 4]>) {
    let Some(right) = candidates.get(truth) else { return };
    for (j, distractor) in candidates.iter().enumerate().filter(|&(j, _)| j != truth) {
        if let (Some(kind), Some(&score)) = (caption_difference(right, distractor), logits.get(j)) {
            let entry = forms.entry(format!("beats {kind}")).or_default();
            entry[0] += usize::from(logits[truth] > score);
            entry[1] += 1;
        }
    }
}

/// Per-type reports, keyed by type tag (`action`, `transition`, `count`, `frameqa`, `caption`).
pub type Report = BTreeMap<String, TypeReport>;

/// One question as the model answered it (`trainer eval --answers`: which questions fail).
#[derive(Debug, Clone, Serialize)]
pub struct AnsweredQuestion {
    /// GIF name without `.gif`.
    pub gif: String,
    /// Question type tag (`action`, `transition`, `count`, `frameqa`, `caption`).
    #[serde(rename = "type")]
    pub qtype: &'static str,
    /// Question text ([`CAPTION_PROMPT`] for captions).
    pub question: String,
    /// Candidates (empty for open-ended types).
    pub candidates: Vec<String>,
    /// The right answer.
    pub answer: String,
    /// The model's answer.
    pub predicted: String,
    /// Whether they agree.
    pub right: bool,
    /// The model's probability of its answer (softmax over the candidates or classes, after the
    /// answer checks and clip aggregation, at the model's temperature).
    pub probability: f32,
    /// The logits the probabilities come from (before the temperature), for calibration.
    #[serde(skip)]
    pub logits: Vec<f32>,
    /// Index of the right answer among them (`None`: a word outside the answer vocabulary).
    #[serde(skip)]
    pub truth: Option<usize>,
}

/// How well shown probabilities match how often answers are right.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CalibrationReport {
    /// Expected calibration error at the model's temperature.
    pub ece: f64,
    /// The temperature that fits these answers best (negative log-likelihood).
    pub fitted_temperature: f32,
    /// Expected calibration error at that temperature.
    pub ece_fitted: f64,
}

/// The [`CalibrationReport`] of `answers` for a model whose temperature is `temperature`.
pub fn calibration_report(answers: &[&AnsweredQuestion], temperature: f32) -> CalibrationReport {
    use shared_model::trust::calibration::{expected_calibration_error, fit_temperature, top_answers};
    let rows = calibration_rows(answers);
    let fitted_temperature = fit_temperature(&rows);
    CalibrationReport {
        ece: expected_calibration_error(&top_answers(&rows, temperature)),
        fitted_temperature,
        ece_fitted: expected_calibration_error(&top_answers(&rows, fitted_temperature)),
    }
}

/// (logits, right index) of the answers whose right answer the model could give.
pub fn calibration_rows(answers: &[&AnsweredQuestion]) -> Vec<(Vec<f32>, usize)> {
    answers.iter().filter_map(|a| a.truth.map(|t| (a.logits.clone(), t))).collect()
}

/// A report and every question's answer.
pub struct Evaluation {
    /// Metrics per question type.
    pub report: Report,
    /// Each question's answer, by type, in the split's order within a type.
    pub answers: Vec<AnsweredQuestion>,
    /// How many GIFs are out of world (`None` when the model has no in-world statistics).
    pub in_world: Option<InWorldReport>,
}

/// Everything `evaluate` needs besides the data.
pub struct Evaluator<'a, B: Backend> {
    /// The model.
    pub model: &'a QaModel<B>,
    /// Its configuration.
    pub config: &'a BundleConfig,
    /// Its tokenizer.
    pub tokenizer: &'a TextTokenizer,
    /// Sampling strategy.
    pub strategy: SamplingStrategy,
    /// How clips are combined.
    pub aggregation: ClipAggregation,
    /// GIFs per forward pass.
    pub batch_gifs: usize,
    /// Device.
    pub device: B::Device,
    /// The split's object annotations, for the pointing accuracy (`None`: not measured).
    pub annotations: Option<&'a ObjectAnnotations>,
    /// Caption retrieval among the GIFs of the first N captions only (`None`: every caption of
    /// the split; see [`RETRIEVAL_GALLERY_FUSED`]).
    pub retrieval_gallery: Option<usize>,
    /// Multiple-choice accuracy is also reported with the count check at each of these weights (see
    /// [`TypeReport::count_check`]), the order check at the model's; the answers themselves use
    /// the model's own weights.
    pub count_check_sweep: Vec<f32>,
    /// The same for the order check's weight ([`TypeReport::order_check`]).
    pub order_check_sweep: Vec<f32>,
    /// The same for the timeline check's weight ([`TypeReport::timeline_check`]).
    pub timeline_check_sweep: Vec<f32>,
    /// The same for the object check's weight ([`TypeReport::object_check`]).
    pub object_check_sweep: Vec<f32>,
}

/// Retrieval gallery for models with fused captions when none is given: they fuse every
/// caption-GIF pair (N² fusions), where other models fuse each GIF once.
pub const RETRIEVAL_GALLERY_FUSED: usize = 100;

#[derive(Default)]
struct Tally {
    right: usize,
    n: usize,
    abs_error: f64,
    /// Right answers, questions, and pointing hits and frames per question form.
    forms: BTreeMap<String, [usize; 4]>,
    /// Frames whose most-attended cell holds the object, and frames with a visible object.
    pointing: (usize, usize),
    /// Sum over those frames of the share of cells holding the object.
    pointing_chance: f64,
    /// Right answers at each weight of [`Evaluator::count_check_sweep`].
    swept_count: Vec<usize>,
    /// Right answers at each weight of [`Evaluator::order_check_sweep`].
    swept_order: Vec<usize>,
    /// Right answers at each weight of [`Evaluator::timeline_check_sweep`].
    swept_timeline: Vec<usize>,
    /// Right answers at each weight of [`Evaluator::object_check_sweep`].
    swept_object: Vec<usize>,
    /// The event counter's own counts: right, questions, summed absolute error.
    evidence: (usize, usize, f64),
    /// The kind head's right types and questions.
    kinds: (usize, usize),
    /// Each question's answer.
    answers: Vec<AnsweredQuestion>,
}

impl<'a, B: Backend> Evaluator<'a, B> {
    /// An evaluator of `model` with mean clip aggregation, batches of 16 GIFs, and no pointing
    /// accuracy, retrieval gallery or check sweeps (validation and calibration).
    pub fn plain(
        model: &'a QaModel<B>,
        config: &'a BundleConfig,
        tokenizer: &'a TextTokenizer,
        strategy: SamplingStrategy,
        device: B::Device,
    ) -> Self {
        Evaluator {
            model,
            config,
            tokenizer,
            strategy,
            aggregation: ClipAggregation::Mean,
            batch_gifs: 16,
            device,
            annotations: None,
            retrieval_gallery: None,
            count_check_sweep: Vec::new(),
            order_check_sweep: Vec::new(),
            timeline_check_sweep: Vec::new(),
            object_check_sweep: Vec::new(),
        }
    }

    /// Evaluates every question of `split`; `retrieval` adds caption retrieval metrics.
    pub fn evaluate(&self, split: &Split, retrieval: bool, show_progress: bool) -> Result<Report> {
        Ok(self.evaluate_with_answers(split, retrieval, show_progress)?.report)
    }

    /// [`Self::evaluate`], also returning every question's answer.
    pub fn evaluate_with_answers(&self, split: &Split, retrieval: bool, show_progress: bool) -> Result<Evaluation> {
        let mut tallies: BTreeMap<QuestionType, Tally> = BTreeMap::new();
        // The model does not change while it is evaluated: a pretrained text tower runs once per
        // distinct question, candidate and caption.
        let cache = self.config.model.text_tower.as_ref().map(|tower| TowerStateCache::new(tower.bert.hidden_size));
        let texts = Texts { tokenizer: self.tokenizer, cache: cache.as_ref() };
        let bar = progress(split.gifs.len() as u64, "evaluating");
        if !show_progress {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let mut distances = Vec::new();
        for chunk in split.gifs.chunks(self.batch_gifs.max(1)) {
            self.evaluate_gifs(split, chunk, texts, &mut tallies, &mut distances)?;
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let (mut report, answers) = self.report(tallies);
        if let Some(caption) = report.get_mut(QuestionType::Caption.tag()).filter(|_| retrieval) {
            let ranks = self.caption_ranks(split, texts)?;
            if !ranks.is_empty() {
                let recall = |k: usize| ranks.iter().filter(|&&r| r <= k).count() as f64 / ranks.len() as f64;
                caption.r1 = Some(recall(1));
                caption.r5 = Some(recall(5));
                caption.r10 = Some(recall(10));
                caption.median_rank = Some(median(&ranks));
                caption.retrieval_gallery = Some(ranks.len());
            }
        }
        let in_world = self.config.in_world.as_ref().map(|s| InWorldReport::of(&distances, s.threshold));
        Ok(Evaluation { report, answers, in_world })
    }

    /// Answers every question of `gifs` (each asked of each sampled clip of its GIF) with the
    /// answering engine, as `predict` answers one, and tallies them, with the kind head's types,
    /// the in-world distances (into `distances`), the pointing and the event counter's counts.
    fn evaluate_gifs(
        &self,
        split: &Split,
        gifs: &[CachedGif],
        texts: Texts<'_>,
        tallies: &mut BTreeMap<QuestionType, Tally>,
        distances: &mut Vec<f32>,
    ) -> Result<()> {
        let (clips, questions, clips_per_gif) = self.batch_of(split, gifs);
        let clip_refs: Vec<&PreparedClip> = clips.iter().collect();
        let (preprocess, time_positions) = (&self.config.preprocess, self.config.model.time_positions);
        let video = encode_prepared(self.model, preprocess, time_positions, &clip_refs, &self.device);
        let engine = Engine {
            model: self.model,
            config: self.config,
            texts: &texts,
            top_k: self.strategy.top_k(),
            device: &self.device,
        };
        let rows: Vec<Asked<'_>> = questions.iter().map(BatchQuestion::asked).collect();
        let answers = crate::runtime::backend::block_on(engine.answer(
            &video,
            &clips,
            &rows,
            Routing::ByModel,
            self.wanted_checks(),
        ))?;
        if let Some(kinds) = &answers.heads.kinds {
            // Each question once, though it is asked of each of its GIF's clips.
            for (q, &predicted) in kinds.iter().enumerate().step_by(clips_per_gif.max(1)) {
                let item = questions[q].item;
                let tally = &mut tallies.entry(item.qtype).or_default().kinds;
                tally.0 += usize::from(predicted == item.qtype);
                tally.1 += 1;
            }
        }
        if let Some(statistics) = &self.config.in_world {
            for feature in gif_features(&video, clips_per_gif)? {
                distances.push(statistics.distance(&feature)?);
            }
        }
        if let Some(annotations) = self.annotations {
            let attention = answers.heads.stage_one.context.attention.clone();
            self.score_pointing(annotations, attention, &clips, &questions, split, tallies)?;
        }
        if let (Some(events), Some(count)) = (&answers.heads.count_events, &answers.heads.count) {
            self.score_evidence(events.expected.clone(), &count.rows, &questions, clips_per_gif, tallies)?;
        }
        for start in (0..questions.len()).step_by(clips_per_gif.max(1)) {
            let item = questions[start].item;
            let tally = tallies.entry(item.qtype).or_default();
            self.score_question(&answers, start..start + clips_per_gif, item, tally);
        }
        Ok(())
    }

    /// The sampled clips of `gifs` and their questions, each asked of each clip of its GIF
    /// (consecutive), with the clips per GIF.
    fn batch_of<'s>(&self, split: &'s Split, gifs: &[CachedGif]) -> (Vec<PreparedClip>, Vec<BatchQuestion<'s>>, usize) {
        let mut clips: Vec<PreparedClip> = Vec::new();
        let mut questions = Vec::new();
        let mut clips_per_gif = 1;
        for gif in gifs {
            let sampled = self.strategy.sample(&gif.timeline, seed_of(&gif.name));
            clips_per_gif = sampled.len();
            let base = clips.len();
            clips.extend(sampled.iter().map(|c| gif.clip(c, split.size)));
            for &i in &gif.items {
                for k in 0..sampled.len() {
                    questions.push(BatchQuestion { video: base + k, item: &split.items[i] });
                }
            }
        }
        (clips, questions, clips_per_gif)
    }

    /// The per-type reports of `tallies`, and every question's answer, by type.
    fn report(&self, tallies: BTreeMap<QuestionType, Tally>) -> (Report, Vec<AnsweredQuestion>) {
        let mut report = Report::new();
        let mut answers = Vec::new();
        for (qtype, mut tally) in tallies {
            let calibration = calibration_report(&tally.answers.iter().collect::<Vec<_>>(), self.config.temperature());
            answers.append(&mut tally.answers);
            let n = tally.n.max(1) as f64;
            let share = |(hits, of): (usize, usize)| (of > 0).then(|| hits as f64 / of as f64);
            report.insert(
                qtype.tag().to_string(),
                TypeReport {
                    accuracy: tally.right as f64 / n,
                    n: tally.n,
                    mae: (qtype == QuestionType::Count).then_some(tally.abs_error / n),
                    evidence_accuracy: share((tally.evidence.0, tally.evidence.1)),
                    evidence_mae: (tally.evidence.1 > 0).then(|| tally.evidence.2 / tally.evidence.1 as f64),
                    pointing: share(tally.pointing),
                    pointing_chance: (tally.pointing.1 > 0).then(|| tally.pointing_chance / tally.pointing.1 as f64),
                    by_form: tally
                        .forms
                        .into_iter()
                        .map(|(form, [right, n, hits, frames])| {
                            let accuracy = right as f64 / n.max(1) as f64;
                            (form, FormReport { accuracy, n, pointing: share((hits, frames)) })
                        })
                        .collect(),
                    count_check: sweep(&self.count_check_sweep, &tally.swept_count, n),
                    order_check: sweep(&self.order_check_sweep, &tally.swept_order, n),
                    timeline_check: sweep(&self.timeline_check_sweep, &tally.swept_timeline, n),
                    object_check: sweep(&self.object_check_sweep, &tally.swept_object, n),
                    kind_accuracy: share(tally.kinds),
                    calibration,
                    ..TypeReport::default()
                },
            );
        }
        (report, answers)
    }

    /// Tallies the event counter's own counts: each question's expected count (summed evidence),
    /// averaged over its clips, against its answer.
    ///
    /// # Shapes
    /// - `expected`: `[count rows]`, for the batch's rows `count_rows`
    fn score_evidence(
        &self,
        expected: Tensor<B, 1>,
        count_rows: &[usize],
        questions: &[BatchQuestion<'_>],
        clips: usize,
        tallies: &mut BTreeMap<QuestionType, Tally>,
    ) -> Result<()> {
        let rows = expected.dims()[0];
        let expected = crate::runtime::backend::block_on(read_floats(expected)).context("reading count evidence")?;
        for start in (0..rows).step_by(clips) {
            let item = questions[count_rows[start]].item;
            let Answer::Count(answer) = item.answer else { continue };
            let mean = expected[start..start + clips].iter().sum::<f32>() / clips as f32;
            let tally = &mut tallies.entry(item.qtype).or_default().evidence;
            tally.0 += usize::from(mean.round() == answer as f32);
            tally.1 += 1;
            tally.2 += f64::from((mean - answer as f32).abs());
        }
        Ok(())
    }

    /// Which checks the engine computes: those the model weights, and every swept one (at weight
    /// 1, so that the sweeps can add them at any weight).
    fn wanted_checks(&self) -> CheckWeights {
        let own = CheckWeights::of(&self.config.model);
        let swept = |sweep: &[f32], weight: f32| if sweep.is_empty() { weight } else { 1.0 };
        CheckWeights {
            count: swept(&self.count_check_sweep, own.count),
            order: swept(&self.order_check_sweep, own.order),
            timeline: swept(&self.timeline_check_sweep, own.timeline),
            object: swept(&self.object_check_sweep, own.object),
        }
    }

    /// Scores the question `item` that the batch's `rows` (one per clip) asked: its answer at the
    /// model's check weights, aggregated over the clips, and the sweeps' answers.
    fn score_question(&self, answers: &Answers<B>, rows: std::ops::Range<usize>, item: &QaItem, tally: &mut Tally) {
        let route = answers.routes()[rows.start];
        let combined = answers.combined(rows.clone(), CheckWeights::of(&self.config.model), self.aggregation);
        let predicted = argmax(&combined);
        // Answers are read in the classes of the head that answered, which is another type's
        // when the kind head named the type wrong (then the truth is seldom among them).
        let label = |index: usize| label(route, index, &item.candidates, self.config);
        let answer = match &item.answer {
            Answer::Choice(c) => item.candidates.get(*c).cloned().unwrap_or_default(),
            Answer::Count(n) => n.to_string(),
            Answer::Word(w) => normalise_answer(w),
        };
        let truth = match (route, &item.answer) {
            (Route::Choice { .. }, Answer::Choice(c)) => Some(*c),
            (Route::Count, Answer::Count(n)) => Some(*n as usize),
            (Route::Choice { .. }, _) | (_, Answer::Choice(_)) => None,
            _ => (0..combined.len()).find(|&i| label(i) == answer),
        };
        // The sweeps cover the answers the checks can move: choices and words (colour answers).
        if let Some(truth) = truth.filter(|_| !matches!(item.answer, Answer::Count(_))) {
            self.tally_sweeps(answers, rows, truth, tally);
        }
        tally.n += 1;
        let right = truth == Some(predicted);
        if let Answer::Count(n) = &item.answer {
            // A count read from another head's answer: its number, or 0 for a word.
            let said = label(predicted).parse::<f64>().unwrap_or(0.0);
            tally.abs_error += (said - f64::from(*n)).abs();
        }
        tally.right += usize::from(right);
        if let (QuestionType::Caption, Answer::Choice(truth), Route::Choice { .. }) = (item.qtype, &item.answer, route)
        {
            tally_caption_pairs(&item.candidates, *truth, &combined, &mut tally.forms);
        }
        if let Some(form) = question_form(item.qtype, &item.question) {
            let entry = tally.forms.entry(form).or_default();
            entry[0] += usize::from(right);
            entry[1] += 1;
        }
        tally.answers.push(AnsweredQuestion {
            gif: item.gif_name.clone(),
            qtype: item.qtype.tag(),
            question: item.question.clone(),
            candidates: item.candidates.clone(),
            answer,
            predicted: label(predicted),
            right,
            probability: softmax_with_temperature(&combined, self.config.temperature())
                .get(predicted)
                .copied()
                .unwrap_or(0.0),
            logits: combined,
            truth,
        });
    }

    /// Tallies whether the question of `rows` is answered right (`truth`) at each weight of each
    /// check's sweep, the other checks at the model's weights.
    fn tally_sweeps(&self, answers: &Answers<B>, rows: std::ops::Range<usize>, truth: usize, tally: &mut Tally) {
        let own = CheckWeights::of(&self.config.model);
        let right_at =
            |weights| usize::from(argmax(&answers.combined(rows.clone(), weights, self.aggregation)) == truth);
        type With = fn(CheckWeights, f32) -> CheckWeights;
        let sweeps: [(&[f32], &mut Vec<usize>, With); 4] = [
            (&self.count_check_sweep, &mut tally.swept_count, |own, count| CheckWeights { count, ..own }),
            (&self.order_check_sweep, &mut tally.swept_order, |own, order| CheckWeights { order, ..own }),
            (&self.timeline_check_sweep, &mut tally.swept_timeline, |own, timeline| CheckWeights { timeline, ..own }),
            (&self.object_check_sweep, &mut tally.swept_object, |own, object| CheckWeights { object, ..own }),
        ];
        for (weights, right, with) in sweeps {
            right.resize(weights.len(), 0);
            for (k, &weight) in weights.iter().enumerate() {
                right[k] += right_at(with(own, weight));
            }
        }
    }

    /// Tallies, per question type, how often the attention's peak falls on the named object.
    ///
    /// # Shapes
    /// - `attention`: `[questions, frames, cells]`
    fn score_pointing(
        &self,
        annotations: &ObjectAnnotations,
        attention: Tensor<B, 3>,
        clips: &[PreparedClip],
        questions: &[BatchQuestion<'_>],
        split: &Split,
        tallies: &mut BTreeMap<QuestionType, Tally>,
    ) -> Result<()> {
        let [_, frames, cells] = attention.dims();
        let grid = (cells as f64).sqrt().round() as usize; // the frame encoder's grid is square
        let attention = crate::runtime::backend::block_on(read_floats(attention)).context("reading attention")?;
        for (q, question) in questions.iter().enumerate() {
            let item = question.item;
            let Some(target) =
                annotations.target(&item.gif_name, &item.question, &clips[question.video], split.size, grid)
            else {
                continue;
            };
            let tally = tallies.entry(item.qtype).or_default();
            for f in 0..frames {
                let wanted = &target[f * cells..(f + 1) * cells];
                if wanted.iter().all(|&v| v == 0.0) {
                    continue;
                }
                let row = (q * frames + f) * cells;
                let peak = argmax(&attention[row..row + cells]);
                let hit = usize::from(wanted[peak] > 0.0);
                tally.pointing.0 += hit;
                tally.pointing.1 += 1;
                if let Some(form) = question_form(item.qtype, &item.question) {
                    let entry = tally.forms.entry(form).or_default();
                    entry[2] += hit;
                    entry[3] += 1;
                }
                tally.pointing_chance += wanted.iter().filter(|&&v| v > 0.0).count() as f64 / cells as f64;
            }
        }
        Ok(())
    }

    /// For each caption row (of the retrieval gallery: see [`Self::retrieval_gallery`]), the rank
    /// (1-based) of its GIF among the gallery's GIFs when the true caption is scored against
    /// every one of them.
    pub fn caption_ranks(&self, split: &Split, texts: Texts<'_>) -> Result<Vec<usize>> {
        let captions: Vec<(usize, String)> = split
            .gifs
            .iter()
            .enumerate()
            .filter_map(|(g, gif)| {
                gif.items.iter().map(|&i| &split.items[i]).find(|item| item.qtype == QuestionType::Caption).and_then(
                    |item| match item.answer {
                        Answer::Choice(c) => item.candidates.get(c).map(|text| (g, text.clone())),
                        _ => None,
                    },
                )
            })
            .collect();
        let gallery = match (self.retrieval_gallery, self.config.model.fuses_captions()) {
            (Some(n), _) => n,
            (None, true) => RETRIEVAL_GALLERY_FUSED,
            (None, false) => captions.len(),
        };
        let captions = &captions[..gallery.min(captions.len())];
        if captions.is_empty() {
            return Ok(Vec::new());
        }
        if self.config.model.fuses_captions() {
            return self.fused_caption_ranks(split, texts, captions);
        }
        let max_len = self.config.model.max_text_len;
        let mut contexts = Vec::new();
        for chunk in captions.chunks(self.batch_gifs.max(1)) {
            let (clips, video) = self.encode_first_clips(split, chunk);
            let prompts = vec![CAPTION_PROMPT; chunk.len()];
            let prompt = texts.encode(self.model, &prompts, max_len, &self.device)?;
            let index: Vec<usize> = (0..chunk.len()).collect();
            // With CLIP-Cut, each GIF shows the caption prompt its most relevant frames.
            let sources: Vec<&[Option<usize>]> = clips.iter().map(|clip| clip.sources.as_slice()).collect();
            let fused = crate::runtime::backend::block_on(fuse_selected(
                self.model,
                &video,
                &index,
                &prompt,
                &sources,
                self.strategy.top_k(),
            ))?;
            contexts.push(fused.context);
        }
        let all = QuestionContext::cat(contexts);
        let n = captions.len();
        let caption_texts: Vec<&str> = captions.iter().map(|(_, t)| t.as_str()).collect();
        let mut ranks = Vec::with_capacity(n);
        for (row, chunk) in caption_texts.chunks(64).enumerate() {
            let pooled = texts.encode(self.model, chunk, max_len, &self.device)?.pooled;
            for (j, _) in chunk.iter().enumerate() {
                let caption = row * 64 + j;
                let query = pooled.clone().narrow(0, j, 1).expand([n, pooled.dims()[1]]);
                let scores = self.model.choice_logits(&all, query); // [n, 1]
                let scores = crate::runtime::backend::block_on(read_floats(scores)).context("reading scores")?;
                let own = scores[caption];
                ranks.push(1 + scores.iter().filter(|&&s| s > own).count());
            }
        }
        Ok(ranks)
    }

    /// The first sampled clip of each caption's GIF, prepared and encoded (retrieval reads one clip
    /// per GIF).
    fn encode_first_clips(&self, split: &Split, captions: &[(usize, String)]) -> (Vec<PreparedClip>, VideoEncoding<B>) {
        let clips: Vec<PreparedClip> = captions
            .iter()
            .map(|(g, _)| {
                let gif = &split.gifs[*g];
                let sampled = self.strategy.sample(&gif.timeline, seed_of(&gif.name));
                gif.clip(&sampled[0], split.size)
            })
            .collect();
        let clip_refs: Vec<&PreparedClip> = clips.iter().collect();
        let config = &self.config;
        let video =
            encode_prepared(self.model, &config.preprocess, config.model.time_positions, &clip_refs, &self.device);
        (clips, video)
    }

    /// [`Self::caption_ranks`] for a model with fused captions: every caption is fused with every
    /// GIF of the gallery (`captions`' own GIFs) and scored against it alone.
    fn fused_caption_ranks(&self, split: &Split, texts: Texts<'_>, captions: &[(usize, String)]) -> Result<Vec<usize>> {
        let n = captions.len();
        let caption_texts: Vec<&str> = captions.iter().map(|(_, t)| t.as_str()).collect();
        let encoded = texts.encode(self.model, &caption_texts, self.config.model.max_text_len, &self.device)?;
        let mut scores = vec![0.0f32; n * n]; // [caption, gif]
        let chunk_size = self.batch_gifs.max(1);
        for (c, chunk) in captions.chunks(chunk_size).enumerate() {
            let (clips, video) = self.encode_first_clips(split, chunk);
            // Row `j * n + q`: caption `q` read as the question about the chunk's GIF `j`.
            let video_index: Vec<usize> = (0..chunk.len()).flat_map(|j| std::iter::repeat_n(j, n)).collect();
            let caption_index: Vec<usize> = (0..chunk.len()).flat_map(|_| 0..n).collect();
            let index = index_tensor::<B>(&caption_index, &self.device);
            let rows = TextEncoding {
                hidden: encoded.hidden.clone().select(0, index.clone()),
                pooled: encoded.pooled.clone().select(0, index.clone()),
                // Through Int: Flex's `select` on a Bool tensor returns U8, which `cat` then refuses.
                padding: encoded.padding.clone().int().select(0, index).equal_elem(1),
            };
            let sources: Vec<&[Option<usize>]> = clips.iter().map(|clip| clip.sources.as_slice()).collect();
            let context = crate::runtime::backend::block_on(fuse_selected(
                self.model,
                &video,
                &video_index,
                &rows,
                &sources,
                self.strategy.top_k(),
            ))?
            .context;
            let logits = self.model.fused_choice_logits(&context, rows.pooled, 1); // [chunk * n, 1]
            let logits = crate::runtime::backend::block_on(read_floats(logits)).context("reading scores")?;
            for (j, row) in logits.chunks(n).enumerate() {
                let gif = c * chunk_size + j;
                for (q, &score) in row.iter().enumerate() {
                    scores[q * n + gif] = score;
                }
            }
        }
        Ok(scores.chunks(n).enumerate().map(|(q, row)| 1 + row.iter().filter(|&&s| s > row[q]).count()).collect())
    }
}

/// Deterministic per-GIF seed, so evaluation samples the same frames every time.
pub use shared_model::sampling::seed_of;

/// Accuracy at each weight of a sweep, keyed by the weight (`None` without a sweep).
fn sweep(weights: &[f32], right: &[usize], n: f64) -> Option<BTreeMap<String, f64>> {
    (!weights.is_empty() && right.len() == weights.len())
        .then(|| weights.iter().zip(right).map(|(w, right)| (w.to_string(), *right as f64 / n)).collect())
}

fn argmax(values: &[f32]) -> usize {
    values.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).unwrap_or(0)
}

fn median(values: &[usize]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 { sorted[mid] as f64 } else { (sorted[mid - 1] + sorted[mid]) as f64 / 2.0 }
}

/// The report as a table.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "{:<11} {:>6} {:>9} {:>7} {:>6} {:>6} {:>6} {:>8}\n",
        "type", "n", "accuracy", "mae", "R@1", "R@5", "R@10", "med.rank"
    );
    let opt = |v: Option<f64>, pct: bool| match v {
        Some(v) if pct => format!("{:.1}%", 100.0 * v),
        Some(v) => format!("{v:.2}"),
        None => "-".into(),
    };
    for qtype in QuestionType::ALL {
        if let Some(r) = report.get(qtype.tag()) {
            out += &format!(
                "{:<11} {:>6} {:>8.1}% {:>7} {:>6} {:>6} {:>6} {:>8}\n",
                qtype.tag(),
                r.n,
                100.0 * r.accuracy,
                opt(r.mae, false),
                opt(r.r1, true),
                opt(r.r5, true),
                opt(r.r10, true),
                opt(r.median_rank, false)
            );
            if let Some(gallery) = r.retrieval_gallery.filter(|&g| g < r.n) {
                out += &format!("  (retrieval among the GIFs of the first {gallery} captions)\n");
            }
            if let (Some(accuracy), Some(mae)) = (r.evidence_accuracy, r.evidence_mae) {
                out += &format!("  {:<16} {:>6} {:>8.1}% {:>7.2}\n", "event counter", "", 100.0 * accuracy, mae);
            }
            let sweeps = [
                ("count", &r.count_check),
                ("order", &r.order_check),
                ("timeline", &r.timeline_check),
                ("object", &r.object_check),
            ];
            for (check, sweep) in sweeps {
                for (weight, accuracy) in sweep.iter().flatten() {
                    out +=
                        &format!("  {:<16} {:>6} {:>8.1}%\n", format!("{check} check ×{weight}"), "", 100.0 * accuracy);
                }
            }
            if let Some(accuracy) = r.kind_accuracy {
                out += &format!("  {:<16} {:>6} {:>8.1}%\n", "kind head", "", 100.0 * accuracy);
            }
            if let (Some(pointing), Some(chance)) = (r.pointing, r.pointing_chance) {
                out += &format!(
                    "  {:<16} {:>6} {:>8.1}%  (chance {:.1}%)\n",
                    "looks at object",
                    "",
                    100.0 * pointing,
                    100.0 * chance
                );
            }
            for (form, f) in &r.by_form {
                out += &format!("  {:<16} {:>6} {:>8.1}%", form, f.n, 100.0 * f.accuracy);
                if let Some(pointing) = f.pointing {
                    out += &format!("  (looks at object {:.1}%)", 100.0 * pointing);
                }
                out += "\n";
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caption_distractors_are_told_apart_by_the_attribute_they_change() {
        let truth = "a red star jumps 3 times then moves left";
        let kind = |d| caption_difference(truth, d);
        assert_eq!(kind("a blue star jumps 3 times then moves left"), Some("colour"));
        assert_eq!(kind("a red cross jumps 3 times then moves left"), Some("shape"));
        assert_eq!(kind("a red star jumps 4 times then moves left"), Some("count"));
        assert_eq!(kind("a red star jumps once then moves left"), Some("count"));
        assert_eq!(kind("a red star moves left then jumps 3 times"), Some("order"));
        assert_eq!(kind("a red star spins 3 times then moves left"), Some("action"));
        assert_eq!(kind("a red star jumps 3 times then moves right"), Some("action"));
        assert_eq!(caption_difference("a red star spins once", "a red star blinks once"), Some("action"));
        assert_eq!(caption_difference("the man is running", "a red star spins once"), None);
        assert_eq!(caption_difference("a man is running", "a woman is running"), None);
        // Pairs: the truth (index 1) outscores the colour change, not the count change.
        let candidates: Vec<String> =
            ["a blue star jumps 3 times then moves left", truth, "a red star jumps 4 times then moves left"]
                .map(String::from)
                .into();
        let mut forms = BTreeMap::new();
        tally_caption_pairs(&candidates, 1, &[0.1, 0.5, 0.9], &mut forms);
        assert_eq!(forms["beats colour"][..2], [1, 1]);
        assert_eq!(forms["beats count"][..2], [0, 1]);
    }

    #[test]
    fn question_forms_of_the_benchmark_templates() {
        let form = |t, q| question_form(t, q);
        assert_eq!(form(QuestionType::FrameQa, "What color is the star ?").as_deref(), Some("what color"));
        assert_eq!(form(QuestionType::FrameQa, "How many objects are there ?").as_deref(), Some("how many"));
        assert_eq!(form(QuestionType::Count, "How many times does the red star blink ?").as_deref(), Some("blink"));
        assert_eq!(form(QuestionType::Count, "How many times does the man nod?").as_deref(), Some("nod"));
        let transition = "What does the red star do after jumping ?";
        assert_eq!(form(QuestionType::Transition, transition).as_deref(), Some("after"));
        assert_eq!(form(QuestionType::Action, "What does the red star do 3 times ?"), None);
    }
}
