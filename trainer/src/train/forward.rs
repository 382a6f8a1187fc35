//! One forward pass over a batch of videos and all their questions, for training and evaluation.
//! Each video is encoded once; every question is fused once; then each question goes to the head
//! of its type (multiple choice, open-ended word, count).

use std::collections::BTreeMap;

use anyhow::Result;
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::log_softmax;
use shared_model::answer::heads::HeadLogits;
use shared_model::answer::pipeline::Route;
use shared_model::answer::{Asked, Engine};
use shared_model::bundle::BundleConfig;
use shared_model::model::{EventCount, QaModel, VideoEncoding, kind_index};
use shared_model::model::{index_tensor, video_tensors};
use shared_model::preprocess::PreparedClip;
use shared_model::text::questions::{Answer, QaItem};

pub use shared_model::answer::heads::{HeadKind, Routing};

use crate::data::BatchQuestion;
use crate::data::text_cache::Texts;
use crate::vocab::normalise_answer;

/// The kind head's logits for every question of a batch, with the data's types as targets.
pub struct KindOutput<B: Backend> {
    /// `[questions, kinds]`, kinds in `QuestionType::ALL`'s order.
    pub logits: Tensor<B, 2>,
    /// Each question's type, as a column of `logits`.
    pub targets: Vec<usize>,
}

/// Logits of one head for some of the batch's questions.
pub struct HeadOutput<B: Backend> {
    /// The head.
    pub kind: HeadKind,
    /// Positions of these questions in the batch.
    pub questions: Vec<usize>,
    /// `[questions, classes]` logits.
    pub logits: Tensor<B, 2>,
    /// Target class per question (`None` when the answer is outside the head's classes).
    pub targets: Vec<Option<usize>>,
}

/// Everything a batch produced.
pub struct BatchOutput<B: Backend> {
    /// Multiple-choice groups (per candidate count, and fused or not).
    pub choice: Vec<HeadOutput<B>>,
    /// Open-ended word answers.
    pub word: Option<HeadOutput<B>>,
    /// Counts.
    pub count: Option<HeadOutput<B>>,
    /// What the event counter saw for the count questions, in `count`'s order (`None` without
    /// count questions or without an event counter).
    pub count_events: Option<EventCount<B>>,
    /// Every question's slot attention over each frame's grid cells, `[questions, frames, cells]`.
    pub attention: Tensor<B, 3>,
    /// The encoded videos (grid tokens `[videos, frames, cells, d_model]`), for further questions.
    pub video: VideoEncoding<B>,
    /// How each question was answered (see [`Routing`]).
    pub routes: Vec<Route>,
    /// The kind head's output (`None` for a model without the head).
    pub kinds: Option<KindOutput<B>>,
}

impl<'a> BatchQuestion<'a> {
    /// The question as a row for the answering engine, with its type known.
    pub fn asked(&self) -> Asked<'a> {
        let item = self.item;
        Asked { video: self.video, question: &item.question, candidates: &item.candidates, known: Some(item.qtype) }
    }
}

/// Runs the model on `clips` and `questions` through the answering engine's heads
/// (`shared_model::answer::Engine::heads`); with `top_k` (CLIP-Cut's K) each question reads only
/// the K frames of its clip most relevant to it (chosen detached, see `clipcut.rs`).
#[allow(clippy::too_many_arguments)] // every argument is a different input of the one forward pass
pub fn forward<B: Backend>(
    model: &QaModel<B>,
    config: &BundleConfig,
    texts: Texts<'_>,
    answer_index: &std::collections::HashMap<String, usize>,
    clips: &[&PreparedClip],
    questions: &[BatchQuestion<'_>],
    top_k: Option<usize>,
    routing: Routing,
    device: &B::Device,
) -> Result<BatchOutput<B>> {
    let (frames, times) = video_tensors::<B>(clips, &config.preprocess, config.model.time_positions, device);
    let video = model.encode_video(frames, times);
    let engine = Engine { model, config, texts: &texts, top_k, device };
    let rows: Vec<Asked<'_>> = questions.iter().map(BatchQuestion::asked).collect();
    let sources: Vec<&[Option<usize>]> = clips.iter().map(|clip| clip.sources.as_slice()).collect();
    let heads = crate::runtime::backend::block_on(engine.heads(&video, &sources, &rows, routing))?;
    let with_targets = |head: HeadLogits<B>| HeadOutput {
        targets: head.rows.iter().map(|&i| target(questions[i].item, head.kind, config, answer_index)).collect(),
        kind: head.kind,
        questions: head.rows,
        logits: head.logits,
    };
    let kinds = heads
        .asked
        .and_then(|asked| model.kind_logits(asked))
        .map(|logits| KindOutput { logits, targets: questions.iter().map(|q| kind_index(q.item.qtype)).collect() });
    Ok(BatchOutput {
        choice: heads.choice.into_iter().map(with_targets).collect(),
        word: heads.word.map(with_targets),
        count: heads.count.map(with_targets),
        count_events: heads.count_events,
        attention: heads.stage_one.context.attention,
        video,
        routes: heads.routes,
        kinds,
    })
}

/// The class `head` should predict for `item` (`None` when the answer is not one of the head's
/// classes, as for a question sent to another type's head).
fn target(
    item: &QaItem,
    head: HeadKind,
    config: &BundleConfig,
    answer_index: &std::collections::HashMap<String, usize>,
) -> Option<usize> {
    match (head, &item.answer) {
        (HeadKind::Choice(_), Answer::Choice(c)) => Some(*c),
        (HeadKind::Word, Answer::Word(w)) => answer_index.get(&normalise_answer(w)).copied(),
        (HeadKind::Count, Answer::Count(n)) => Some((*n as usize).min(config.model.count_classes - 1)),
        _ => None,
    }
}

/// How many of `questions` have a target, per head: the row counts that the batch's per-head mean
/// losses divide by (data-parallel shares use the whole batch's counts, see `parallel`).
pub fn targeted_rows(
    questions: &[BatchQuestion<'_>],
    config: &BundleConfig,
    answer_index: &std::collections::HashMap<String, usize>,
) -> BTreeMap<HeadKind, usize> {
    let mut rows = BTreeMap::new();
    for q in questions.iter().filter(|q| target(q.item, HeadKind::of(q.item), config, answer_index).is_some()) {
        *rows.entry(HeadKind::of(q.item)).or_default() += 1;
    }
    rows
}

/// Cross-entropy between the slot attention and the object-position targets, summed over the
/// frames that have one and divided by `batch_frames` (their number in the whole batch);
/// `None` when no question has a target.
///
/// # Shapes
/// - `attention`: `[questions, frames, cells]`; `targets.rows` one per question
pub fn attention_loss<B: Backend>(
    attention: Tensor<B, 3>,
    targets: &crate::data::attention_targets::AttentionTargets,
    batch_frames: usize,
    device: &B::Device,
) -> Option<Tensor<B, 1>> {
    let rows: Vec<usize> = (0..targets.rows.len()).filter(|&q| targets.rows[q].is_some()).collect();
    if rows.is_empty() || batch_frames == 0 {
        return None;
    }
    let [_, frames, cells] = attention.dims();
    let values: Vec<f32> = rows.iter().filter_map(|&q| targets.rows[q].as_deref()).flatten().copied().collect();
    let target = Tensor::<B, 3>::from_data(TensorData::new(values, [rows.len(), frames, cells]), device);
    let picked = attention.select(0, index_tensor(&rows, device)); // [rows, frames, cells]
    let log_attention = picked.clamp_min(1e-6).log();
    Some((target * log_attention).sum().div_scalar(batch_frames as f32).neg())
}

/// Binary cross-entropy between the event counter's per-frame evidence and its targets (each
/// frame's share of a repetition), summed over all frames.
///
/// # Shapes
/// - `evidence`, `targets`: `[questions, frames]`, values in [0, 1]
pub fn event_loss<B: Backend>(evidence: Tensor<B, 2>, targets: Tensor<B, 2>) -> Tensor<B, 1> {
    let evidence = evidence.clamp(1e-6, 1.0 - 1e-6);
    let present = targets.clone() * evidence.clone().log();
    let absent = (targets.neg() + 1.0) * (evidence.neg() + 1.0).log();
    (present + absent).sum().neg()
}

/// Mean cross-entropy over the rows that have a target (`None` when no row has one).
pub fn cross_entropy<B: Backend>(head: &HeadOutput<B>, device: &B::Device) -> Option<Tensor<B, 1>> {
    let rows = head.targets.iter().filter(|t| t.is_some()).count();
    cross_entropy_over(head, rows, device)
}

/// Cross-entropy summed over the rows that have a target, divided by `batch_rows` (the number of
/// such rows in the whole batch, of which this head may see a share); `None` when no row has one.
pub fn cross_entropy_over<B: Backend>(
    head: &HeadOutput<B>,
    batch_rows: usize,
    device: &B::Device,
) -> Option<Tensor<B, 1>> {
    let rows: Vec<usize> = (0..head.targets.len()).filter(|&r| head.targets[r].is_some()).collect();
    if rows.is_empty() {
        return None;
    }
    let targets: Vec<usize> = rows.iter().filter_map(|&r| head.targets[r]).collect();
    let logits = head.logits.clone().select(0, index_tensor(&rows, device));
    Some(summed_cross_entropy(logits, &targets, device).div_scalar(batch_rows as f32))
}

/// Cross-entropy of every row of `logits` with its class in `targets`, summed.
///
/// # Shapes
/// - `logits`: `[rows, classes]`; `targets`: one class per row
pub fn summed_cross_entropy<B: Backend>(logits: Tensor<B, 2>, targets: &[usize], device: &B::Device) -> Tensor<B, 1> {
    let targets: Vec<i64> = targets.iter().map(|&t| t as i64).collect();
    let targets = Tensor::<B, 2, Int>::from_data(TensorData::new(targets.clone(), [targets.len(), 1]), device);
    log_softmax(logits, 1).gather(1, targets).sum().neg() // gathered: [rows, 1]
}
