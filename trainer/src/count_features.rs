//! A frozen model's stage-1 output for the Count questions of a split, gathered once so that a
//! count head can be probed or trained on it alone in minutes (`--example count_probe`,
//! `--example fit_event_counter`) instead of running the whole model at every step.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use shared_model::batch::video_tensors;
use shared_model::bundle::BundleConfig;
use shared_model::model::{QaModel, QuestionContext};
use shared_model::pipeline::read_floats;
use shared_model::preprocess::PreparedClip;
use shared_model::questions::{Answer, QuestionType};
use shared_model::sampling::{SamplingStrategy, seed_of};
use shared_model::tokenize::TextTokenizer;

use crate::attention_targets::ObjectAnnotations;
use crate::backend::{self, Compute};
use crate::count_targets::counted_action;
use crate::text_cache::Texts;

/// GIFs per forward pass.
const GIFS_PER_BATCH: usize = 16;

/// The Count questions of one split, as the frozen model read them (its own sampling, first
/// clip, as `trainer eval` reads them).
pub struct CountFeatures {
    /// Each frame's tokens after stage 1 ([`shared_model::model::QuestionContext::slot_tokens`]),
    /// `[questions, frames, tokens, d_model]` row-major.
    pub slot_tokens: Vec<f32>,
    /// Where each question looked in every frame, `[questions, frames, cells]` row-major.
    pub attention: Vec<f32>,
    /// The model's count logits less its event counter's (the pooled head's part; zeros without
    /// one), `[questions, classes]` row-major.
    pub pooled_logits: Vec<f32>,
    /// The model's own answer to each question.
    pub model_answers: Vec<i64>,
    /// The right answers, capped at `classes - 1`.
    pub answers: Vec<i64>,
    /// The counted action of each question (its last word).
    pub actions: Vec<String>,
    /// Each sampled frame's share of a repetition of the counted action, from the generator's
    /// annotations (see [`crate::count_targets`]); `None` without annotations for the question.
    pub shares: Vec<Option<Vec<f32>>>,
    /// Sampled frames per question.
    pub frames: usize,
    /// Tokens per frame.
    pub tokens: usize,
    /// Token width.
    pub d_model: usize,
    /// Grid cells per frame.
    pub cells: usize,
    /// Count classes.
    pub classes: usize,
}

impl CountFeatures {
    /// Questions held.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Whether no question is held.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// Appends the questions of `other`, read by the same model (another split or data folder).
    pub fn append(&mut self, other: CountFeatures) -> Result<()> {
        if other.is_empty() {
            return Ok(());
        }
        if !self.is_empty() {
            let shape = |f: &CountFeatures| (f.frames, f.tokens, f.d_model, f.cells, f.classes);
            anyhow::ensure!(shape(self) == shape(&other), "Count features of two shapes cannot be joined");
        }
        self.slot_tokens.extend(other.slot_tokens);
        self.attention.extend(other.attention);
        self.pooled_logits.extend(other.pooled_logits);
        self.model_answers.extend(other.model_answers);
        self.answers.extend(other.answers);
        self.actions.extend(other.actions);
        self.shares.extend(other.shares);
        (self.frames, self.tokens, self.d_model, self.cells) = (other.frames, other.tokens, other.d_model, other.cells);
        Ok(())
    }

    /// How `predicted` (one count per question) scores against the answers.
    pub fn score(&self, predicted: &[i64]) -> CountScore {
        let mut per_action: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for ((p, a), action) in predicted.iter().zip(&self.answers).zip(&self.actions) {
            let tally = per_action.entry(action.clone()).or_default();
            tally.0 += usize::from(p == a);
            tally.1 += 1;
        }
        let n = self.len().max(1) as f64;
        let right = predicted.iter().zip(&self.answers).filter(|(p, a)| p == a).count();
        CountScore {
            accuracy: right as f64 / n,
            mae: predicted.iter().zip(&self.answers).map(|(p, a)| (p - a).abs() as f64).sum::<f64>() / n,
            per_action: per_action.into_iter().map(|(k, (r, n))| (k, r as f64 / n as f64)).collect(),
        }
    }
}

/// Count answers scored: exact accuracy, mean absolute error and accuracy per counted action.
pub struct CountScore {
    /// Share of exact answers.
    pub accuracy: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Share of exact answers per counted action.
    pub per_action: BTreeMap<String, f64>,
}

impl std::fmt::Display for CountScore {
    /// `57.1% (MAE 0.58; blink 93.6, jump 37.5, spin 33.0)`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let actions: Vec<String> = self.per_action.iter().map(|(k, v)| format!("{k} {:.1}", v * 100.0)).collect();
        write!(f, "{:.1}% (MAE {:.2}; {})", self.accuracy * 100.0, self.mae, actions.join(", "))
    }
}

/// Rows `rows` of a row-major table whose rows are `stride` values long.
pub fn rows_of(values: &[f32], rows: &[usize], stride: usize) -> Vec<f32> {
    rows.iter().flat_map(|&r| &values[r * stride..(r + 1) * stride]).copied().collect()
}

/// `rows` rows of `frames` frames each (`values` row-major, every frame `frame_len` values long),
/// each with its frames in reverse order.
pub fn reversed_in_time(values: &[f32], frames: usize, frame_len: usize) -> Vec<f32> {
    values
        .chunks(frames * frame_len)
        .flat_map(|row| row.chunks(frame_len).rev().flatten().copied().collect::<Vec<f32>>())
        .collect()
}

/// Stage 1 of `questions` about `clips` (question `q` about clip `video_index[q]`), as the frozen
/// `model` reads them: what the feature extractions of count and timeline heads keep.
pub fn read_stage_one(
    model: &QaModel<Compute>,
    config: &BundleConfig,
    texts: &Texts<'_>,
    clips: &[PreparedClip],
    video_index: &[usize],
    questions: &[&str],
) -> Result<QuestionContext<Compute>> {
    let device = backend::device();
    let clip_refs: Vec<&PreparedClip> = clips.iter().collect();
    let (frames, times) =
        video_tensors::<Compute>(&clip_refs, &config.preprocess, config.model.time_positions, &device);
    let video = model.encode_video(frames, times);
    let encoding = texts.encode(model, questions, config.model.max_text_len, &device)?;
    Ok(model.fuse(&video, video_index, &encoding))
}

/// Reads the Count questions of `split` in `dir` (at most `gifs` GIFs) through `model`, with their
/// per-frame event shares when the split has the generator's annotations.
pub fn extract(
    model: &QaModel<Compute>,
    config: &BundleConfig,
    tokenizer: &TextTokenizer,
    dir: &Path,
    split: &str,
    gifs: Option<usize>,
) -> Result<CountFeatures> {
    let data = crate::data::load(dir, split, &config.preprocess, gifs)?;
    let strategy: SamplingStrategy = config.sampling.parse().context("the model's sampling")?;
    let texts = Texts::uncached(tokenizer);
    let classes = config.model.count_classes;
    let annotations = ObjectAnnotations::find(dir, split)?;
    let mut out = CountFeatures {
        slot_tokens: Vec::new(),
        attention: Vec::new(),
        pooled_logits: Vec::new(),
        model_answers: Vec::new(),
        answers: Vec::new(),
        actions: Vec::new(),
        shares: Vec::new(),
        frames: 0,
        tokens: 0,
        d_model: 0,
        cells: 0,
        classes,
    };
    let bar = crate::progress::progress(data.gifs.len() as u64, &format!("reading {split} Count questions"));
    for chunk in data.gifs.chunks(GIFS_PER_BATCH) {
        bar.inc(chunk.len() as u64);
        let mut clips = Vec::new();
        let mut questions = Vec::new();
        let mut video_index = Vec::new();
        for gif in chunk {
            let items: Vec<_> =
                gif.items.iter().map(|&i| &data.items[i]).filter(|item| item.qtype == QuestionType::Count).collect();
            let sampled = strategy.sample(&gif.timeline, seed_of(&gif.name));
            let Some(first) = sampled.first().filter(|_| !items.is_empty()) else { continue };
            let clip = gif.clip(first, data.size);
            for item in items {
                let shares = annotations.as_ref().and_then(|a| a.event_shares(&gif.name, &item.question, &clip));
                out.shares.push(shares.map(|s| s.shares));
                questions.push(item);
                video_index.push(clips.len());
            }
            clips.push(clip);
        }
        if questions.is_empty() {
            continue;
        }
        let question_texts: Vec<&str> = questions.iter().map(|q| q.question.as_str()).collect();
        let context = read_stage_one(model, config, &texts, &clips, &video_index, &question_texts)?;
        let count = model.count(&context);
        let pooled = match &count.events {
            Some(events) => count.logits.clone() - events.logits.clone(),
            None => count.logits.clone(),
        };
        let slot_tokens = context.slot_tokens();
        [_, out.frames, out.tokens, out.d_model] = slot_tokens.dims();
        out.cells = context.attention.dims()[2];
        let read = |tensor| backend::block_on(read_floats::<Compute, 2>(tensor));
        out.slot_tokens.extend(backend::block_on(read_floats(slot_tokens))?);
        out.attention.extend(backend::block_on(read_floats(context.attention))?);
        out.pooled_logits.extend(read(pooled)?);
        let best = count.logits.argmax(1).float().reshape([questions.len(), 1]);
        out.model_answers.extend(read(best)?.into_iter().map(|b| b as i64));
        for q in &questions {
            let Answer::Count(answer) = q.answer else { anyhow::bail!("a Count question without a count") };
            out.answers.push(i64::from(answer).min(classes as i64 - 1));
            out.actions.push(counted_action(&q.question).unwrap_or_default().to_string());
        }
    }
    bar.finish_and_clear();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversing_in_time_reverses_each_rows_frames_and_keeps_each_frame() {
        // 2 rows of 3 frames of 2 values.
        let values: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let reversed = reversed_in_time(&values, 3, 2);
        assert_eq!(reversed, [4.0, 5.0, 2.0, 3.0, 0.0, 1.0, 10.0, 11.0, 8.0, 9.0, 6.0, 7.0]);
        assert_eq!(reversed_in_time(&reversed, 3, 2), values);
    }
}
