//! Data-parallel training steps over several devices, built from Burn's own multi-device pieces,
//! the ones burn-train's multi-device learner (`MultiDeviceOptim::OptimMainDevice`) is made of:
//! `Module::fork` gives every device a replica with its own autodiff graph, each replica computes
//! the gradients of its share of the batch on its own thread, `GradientsParams::to_device` brings
//! them to the main device, `GradientsAccumulator` sums them, and the caller's one optimizer step
//! on the main device updates the model that the next step forks again (the sync).
//!
//! Each share divides its per-head loss sums by the whole batch's row counts, so the summed
//! gradients are those of single-device training on the whole batch, up to float rounding.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use burn::module::{ModuleVisitor, Param};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::TensorData;
use shared_model::bundle::BundleConfig;
use shared_model::model::QaModel;
use shared_model::model::index_tensor;
use shared_model::preprocess::PreparedClip;
use shared_model::text::questions::{Answer, QuestionType};

use super::step_metrics::StepMetrics;
use crate::data::BatchQuestion;
use crate::data::attention_targets::{AttentionTargets, ObjectAnnotations};
use crate::data::text_cache::Texts;
use crate::runtime::backend::{Device, Training};
use crate::train::forward::{
    BatchOutput, HeadKind, Routing, attention_loss, cross_entropy_over, event_loss, forward, summed_cross_entropy,
    targeted_rows,
};

/// Weight of the kind head's cross-entropy (`--kind-head`) beside the answer losses, which have
/// weight 1 each.
pub const KIND_LOSS_WEIGHT: f32 = 1.0;

/// What a model needs besides its weights to run a training batch.
pub struct StepContext<'a> {
    /// The model folder's configuration.
    pub config: &'a BundleConfig,
    /// The tokenizer, and the frozen text tower's state cache if there is one.
    pub texts: Texts<'a>,
    /// Open-ended answer → class.
    pub answer_index: &'a HashMap<String, usize>,
    /// Frames each question reads (CLIP-Cut's K), `None` for all sampled frames.
    pub top_k: Option<usize>,
    /// Supervision of the slot attention with object positions (`None`: off).
    pub attention: Option<AttentionSupervision<'a>>,
    /// Supervision of the object probe with every visible object's shape and colour (`None`: off).
    pub objects: Option<ObjectSupervision<'a>>,
    /// Supervision of the event counter with where the counted repetitions are (`None`: off).
    pub counts: Option<CountSupervision<'a>>,
}

/// An auxiliary loss: the slot attention should fall on the object a question names.
#[derive(Clone, Copy)]
pub struct AttentionSupervision<'a> {
    /// The training split's object annotations.
    pub annotations: &'a ObjectAnnotations,
    /// Weight of the loss (the answer losses have weight 1 each).
    pub weight: f32,
}

impl AttentionSupervision<'_> {
    /// Targets of `questions` about `clips` on a `grid`×`grid` token grid.
    fn targets(
        &self,
        config: &BundleConfig,
        clips: &[&PreparedClip],
        questions: &[BatchQuestion<'_>],
        grid: usize,
    ) -> AttentionTargets {
        let rows: Vec<(&str, &str, &PreparedClip)> =
            questions.iter().map(|q| (q.item.gif_name.as_str(), q.item.question.as_str(), clips[q.video])).collect();
        self.annotations.targets(&rows, config.preprocess.image_size, grid)
    }
}

/// An auxiliary loss: the frame tokens under each visible object should tell its shape and colour
/// (through the model's object probe).
#[derive(Clone, Copy)]
pub struct ObjectSupervision<'a> {
    /// The training split's object annotations.
    pub annotations: &'a ObjectAnnotations,
    /// Weight of the loss (shape and colour cross-entropies, each a mean over the batch's objects).
    pub weight: f32,
}

/// An auxiliary loss: in every sampled frame of a Count question, the event counter's evidence
/// should be the frame's share of a repetition of the asked action (`count_targets.rs`).
#[derive(Clone, Copy)]
pub struct CountSupervision<'a> {
    /// The training split's annotations.
    pub annotations: &'a ObjectAnnotations,
    /// Weight of the loss (binary cross-entropy per frame, a mean over the batch's supervised
    /// frames).
    pub weight: f32,
}

impl CountSupervision<'_> {
    /// Per question: the per-frame targets of a Count question whose annotated repetitions are
    /// its answer, else `None`.
    fn shares(&self, clips: &[&PreparedClip], questions: &[BatchQuestion<'_>]) -> Vec<Option<Vec<f32>>> {
        questions
            .iter()
            .map(|q| {
                if q.item.qtype != QuestionType::Count {
                    return None;
                }
                let shares = self.annotations.event_shares(&q.item.gif_name, &q.item.question, clips[q.video])?;
                // Rows and annotations of one `generate` run always agree; a mismatch means
                // annotations of other data, which then teach nothing.
                (q.item.answer == Answer::Count(shares.repetitions)).then_some(shares.shares)
            })
            .collect()
    }
}

/// The objects of a share, as rows of the probe.
struct ProbeRows {
    /// Row of `[videos * frames]` each object is in.
    frame_rows: Vec<usize>,
    /// Pixel share per cell, `objects * cells` values.
    weights: Vec<f32>,
    /// Answer classes of each object's shape and colour word.
    shapes: Vec<usize>,
    colours: Vec<usize>,
}

impl ObjectSupervision<'_> {
    /// Every visible object in every frame of `clips` whose shape and colour words are answer
    /// classes, on a `grid`×`grid` token grid. Clips carry no GIF name: their questions give it.
    fn rows(
        &self,
        context: &StepContext<'_>,
        clips: &[&PreparedClip],
        questions: &[BatchQuestion<'_>],
        grid: usize,
    ) -> ProbeRows {
        let mut rows =
            ProbeRows { frame_rows: Vec::new(), weights: Vec::new(), shapes: Vec::new(), colours: Vec::new() };
        let size = context.config.preprocess.image_size;
        let class = |word: &str| context.answer_index.get(word).copied();
        for (video, clip) in clips.iter().enumerate() {
            let Some(question) = questions.iter().find(|q| q.video == video) else { continue };
            let frames = clip.times.len();
            for object in self.annotations.objects_in_frames(&question.item.gif_name, clip, size, grid) {
                let (Some(shape), Some(colour)) = (class(object.shape), class(object.colour)) else { continue };
                rows.frame_rows.push(video * frames + object.frame);
                rows.weights.extend_from_slice(&object.weights);
                rows.shapes.push(shape);
                rows.colours.push(colour);
            }
        }
        rows
    }
}

/// The gradients of one training batch, on the main device.
pub struct StepGradients {
    /// Gradients of the whole batch's loss (without the pretrained towers').
    pub grads: GradientsParams,
    /// Gradients of a fine-tuned pretrained text tower, stepped at its own learning rate (empty
    /// when the tower is frozen; `None` without a tower).
    pub text_tower_grads: Option<GradientsParams>,
    /// The same for a pretrained vision tower.
    pub vision_tower_grads: Option<GradientsParams>,
    /// The batch's figures, not read yet: its loss (sum over heads of each head's mean
    /// cross-entropy, plus the weighted auxiliary losses when supervised), its right answers per
    /// question type (training mode, so with dropout) and the object probe's hits.
    pub metrics: StepMetrics,
}

/// The devices a model trains on; the first is the main one (model, optimizer, validation).
pub struct DataParallel {
    devices: Vec<Device>,
}

/// One device's result for its share of the batch.
struct ShareOutput {
    grads: GradientsParams,
    text_tower_grads: Option<GradientsParams>,
    vision_tower_grads: Option<GradientsParams>,
    metrics: StepMetrics,
}

impl DataParallel {
    /// Trains on `devices`, main device first (at least one).
    pub fn new(devices: Vec<Device>) -> Result<Self> {
        anyhow::ensure!(!devices.is_empty(), "no training device");
        Ok(Self { devices })
    }

    /// The main device.
    pub fn main_device(&self) -> &Device {
        &self.devices[0] // never empty (checked in `new`)
    }

    /// Number of devices (replicas).
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Always false: there is at least one device.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Gradients of the batch (`clips`, each with its `questions`) for `model`, which lives on
    /// the main device; the GIFs are split into one contiguous share per device. `None` when no
    /// question of the batch has a target.
    pub fn gradients(
        &self,
        model: &QaModel<Training>,
        context: &StepContext<'_>,
        clips: &[&PreparedClip],
        questions: &[BatchQuestion<'_>],
    ) -> Result<Option<StepGradients>> {
        self.gradients_seeing(model, context, clips, clips, questions)
    }

    /// [`Self::gradients`] where the model reads `seen` (the clips augmented, `train --augment`)
    /// while the auxiliary losses find the objects, by colour, in `clips` (the same clips as
    /// drawn); both in the same order.
    pub fn gradients_seeing(
        &self,
        model: &QaModel<Training>,
        context: &StepContext<'_>,
        seen: &[&PreparedClip],
        clips: &[&PreparedClip],
        questions: &[BatchQuestion<'_>],
    ) -> Result<Option<StepGradients>> {
        let batch_rows = targeted_rows(questions, context.config, context.answer_index);
        if batch_rows.is_empty() {
            return Ok(None);
        }
        let attention_frames =
            context.attention.map_or(0, |supervision| supervision.targets(context.config, clips, questions, 1).frames);
        let batch_objects =
            context.objects.map_or(0, |supervision| supervision.rows(context, clips, questions, 1).shapes.len());
        let count_questions =
            context.counts.map_or(0, |supervision| supervision.shares(clips, questions).iter().flatten().count());
        let divisors = Divisors {
            rows: &batch_rows,
            attention_frames,
            objects: batch_objects,
            count_questions,
            questions: questions.len(),
        };
        let shares = split_shares(clips.len(), self.devices.len());
        let outputs: Vec<Option<ShareOutput>> = if self.devices.len() == 1 {
            // One device: the model itself, no replica and no thread (the single-device loop).
            vec![share_gradients(model, self.main_device(), context, Inputs { seen, clips }, questions, &divisors)?]
        } else {
            model.visit(&mut Materialise);
            std::thread::scope(|scope| {
                let handles: Vec<_> = shares
                    .iter()
                    .zip(&self.devices)
                    .map(|(range, device)| {
                        let inputs = Inputs { seen: &seen[range.clone()], clips: &clips[range.clone()] };
                        let share_questions = questions_of(questions, range.clone());
                        let divisors = &divisors;
                        scope.spawn(move || {
                            let replica = model.clone().fork(device);
                            share_gradients(&replica, device, context, inputs, &share_questions, divisors)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|handle| handle.join().map_err(|_| anyhow::anyhow!("a training replica panicked"))?)
                    .collect::<Result<Vec<_>>>()
            })?
        };
        // Summed in device order, whatever order the threads finished in: runs are reproducible.
        let mut accumulator = GradientsAccumulator::<QaModel<Training>>::new();
        let mut text_accumulator: Option<GradientsAccumulator<QaModel<Training>>> = None;
        let mut vision_accumulator: Option<GradientsAccumulator<QaModel<Training>>> = None;
        let mut metrics = StepMetrics::default();
        for output in outputs.into_iter().flatten() {
            accumulator.accumulate(model, output.grads.to_device(self.main_device(), model));
            for (tower_grads, tower_accumulator) in
                [(output.text_tower_grads, &mut text_accumulator), (output.vision_tower_grads, &mut vision_accumulator)]
            {
                if let Some(tower_grads) = tower_grads {
                    tower_accumulator
                        .get_or_insert_with(GradientsAccumulator::new)
                        .accumulate(model, tower_grads.to_device(self.main_device(), model));
                }
            }
            metrics.append(output.metrics);
        }
        Ok(Some(StepGradients {
            grads: accumulator.grads(),
            text_tower_grads: text_accumulator.map(|mut a| a.grads()),
            vision_tower_grads: vision_accumulator.map(|mut a| a.grads()),
            metrics,
        }))
    }
}

/// Initialises every lazy parameter in place. Burn draws a parameter's initial values on first
/// use, and a clone of a parameter that was never used draws its own: replicas forked from a fresh
/// model would each start from different weights.
struct Materialise;

impl ModuleVisitor<Training> for Materialise {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Training, D>>) {
        let _ = param.val();
    }

    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<Training, D, Int>>) {
        let _ = param.val();
    }

    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<Training, D, Bool>>) {
        let _ = param.val();
    }
}

/// `gifs` split into `parts` contiguous ranges whose sizes differ by at most one (empty ranges
/// when there are fewer GIFs than parts).
fn split_shares(gifs: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let (base, extra) = (gifs / parts, gifs % parts);
    let mut start = 0;
    (0..parts)
        .map(|part| {
            let len = base + usize::from(part < extra);
            start += len;
            start - len..start
        })
        .collect()
}

/// The questions about the GIFs in `range`, renumbered to index the share's clips.
fn questions_of<'a>(questions: &[BatchQuestion<'a>], range: std::ops::Range<usize>) -> Vec<BatchQuestion<'a>> {
    questions
        .iter()
        .filter(|q| range.contains(&q.video))
        .map(|q| BatchQuestion { video: q.video - range.start, item: q.item })
        .collect()
}

/// What each loss of the whole batch is divided by, so that shares add up to the batch's loss.
struct Divisors<'a> {
    /// Questions with a target, per head.
    rows: &'a BTreeMap<HeadKind, usize>,
    /// Frames with an attention target.
    attention_frames: usize,
    /// Objects (in frames) the probe reads.
    objects: usize,
    /// Count questions with event targets.
    count_questions: usize,
    /// Questions (each has a kind target).
    questions: usize,
}

/// A share's clips: what the model reads and, in the same order, the clips as drawn (where the
/// auxiliary losses find objects by colour).
#[derive(Clone, Copy)]
struct Inputs<'a> {
    seen: &'a [&'a PreparedClip],
    clips: &'a [&'a PreparedClip],
}

/// Forward and backward of one share on `device`; `None` when the share has no targeted question.
fn share_gradients(
    model: &QaModel<Training>,
    device: &Device,
    context: &StepContext<'_>,
    Inputs { seen, clips }: Inputs<'_>,
    questions: &[BatchQuestion<'_>],
    divisors: &Divisors<'_>,
) -> Result<Option<ShareOutput>> {
    if questions.is_empty() {
        return Ok(None);
    }
    let output = forward(
        model,
        context.config,
        context.texts,
        context.answer_index,
        seen,
        questions,
        context.top_k,
        Routing::ByType,
        device,
    )?;
    // Figures stay on the device until the loop reads them (`step_metrics`).
    let mut metrics = StepMetrics::default();
    let share = Share { context, clips, questions, divisors, device };
    // Added in this order, the order single-device training has always summed them in.
    let terms = [
        share.answer_term(&output, &mut metrics),
        share.attention_term(&output),
        share.kind_term(&output, &mut metrics),
        share.object_term(model, &output, &mut metrics),
        share.count_term(&output),
    ];
    drop(output);
    let Some(loss) = terms.into_iter().flatten().reduce(|total, term| total + term) else { return Ok(None) };
    metrics.loss(&loss);
    let mut grads = loss.backward();
    // Pretrained towers' gradients are kept apart (their own learning rates); a frozen tower has
    // none, so they are then empty.
    let text_tower_grads = model.text_tower().map(|tower| GradientsParams::from_module(&mut grads, tower.bert()));
    let vision_tower_grads = model.vision_tower().map(|tower| GradientsParams::from_module(&mut grads, tower.clip()));
    let grads = GradientsParams::from_grads(grads, model);
    Ok(Some(ShareOutput { grads, text_tower_grads, vision_tower_grads, metrics }))
}

/// What one share's loss terms read besides the forward pass: each term is divided by the
/// whole batch's count (`divisors`), so the shares' terms add up to the batch's.
struct Share<'s, 'a> {
    context: &'s StepContext<'a>,
    /// The share's clips as drawn (the auxiliary losses find objects in them by colour).
    clips: &'s [&'s PreparedClip],
    questions: &'s [BatchQuestion<'a>],
    divisors: &'s Divisors<'s>,
    device: &'s Device,
}

/// A loss term of a share.
type Term = Option<Tensor<Training, 1>>;

impl Share<'_, '_> {
    /// The answer heads' cross-entropies (weight 1 each), and their figures.
    fn answer_term(&self, output: &BatchOutput<Training>, metrics: &mut StepMetrics) -> Term {
        let mut loss = None;
        for head in output.choice.iter().chain(output.word.iter()).chain(output.count.iter()) {
            let rows = self.divisors.rows.get(&head.kind).copied().unwrap_or(0);
            if let Some(head_loss) = cross_entropy_over(head, rows, self.device) {
                add_loss(&mut loss, head_loss);
            }
            let qtypes = head.questions.iter().map(|&q| self.questions[q].item.qtype).collect();
            metrics.answers(&head.logits, head.targets.clone(), qtypes);
        }
        loss
    }

    /// `--attention-supervision`: the slot attention against the named object's cells.
    fn attention_term(&self, output: &BatchOutput<Training>) -> Term {
        let supervision = self.context.attention?;
        // The frame encoder's grid is square (row-major cells).
        let grid = (output.attention.dims()[2] as f64).sqrt().round() as usize;
        let targets = supervision.targets(self.context.config, self.clips, self.questions, grid);
        let loss = attention_loss(output.attention.clone(), &targets, self.divisors.attention_frames, self.device)?;
        Some(loss.mul_scalar(supervision.weight))
    }

    /// The kind head's cross-entropy on every question's type, and its figures.
    fn kind_term(&self, output: &BatchOutput<Training>, metrics: &mut StepMetrics) -> Term {
        let kind = output.kinds.as_ref()?;
        metrics.kinds(&kind.logits, &kind.targets);
        let loss = summed_cross_entropy(kind.logits.clone(), &kind.targets, self.device);
        Some(loss.div_scalar(self.divisors.questions.max(1) as f32).mul_scalar(KIND_LOSS_WEIGHT))
    }

    /// `--object-supervision`: the object probe on the grid tokens under every visible object.
    fn object_term(
        &self,
        model: &QaModel<Training>,
        output: &BatchOutput<Training>,
        metrics: &mut StepMetrics,
    ) -> Term {
        let supervision = self.context.objects?;
        let [videos, frames, cells, d_model] = output.video.tokens.dims();
        let grid = (cells as f64).sqrt().round() as usize; // the grid is square (row-major cells)
        let rows = supervision.rows(self.context, self.clips, self.questions, grid);
        let objects = rows.shapes.len();
        if objects == 0 {
            return None;
        }
        let tokens = output
            .video
            .tokens
            .clone()
            .reshape([videos * frames, cells, d_model])
            .select(0, index_tensor(&rows.frame_rows, self.device)); // [objects, cells, d_model]
        let weights = Tensor::from_data(TensorData::new(rows.weights, [objects, cells]), self.device);
        // Invariant: `train` gives the model a probe whenever it sets `context.objects`.
        let logits = model.probe_objects(tokens, weights)?;
        metrics.probe(&logits.shape, &rows.shapes, &logits.colour, &rows.colours);
        let loss = summed_cross_entropy(logits.shape, &rows.shapes, self.device)
            + summed_cross_entropy(logits.colour, &rows.colours, self.device);
        Some(loss.div_scalar(self.divisors.objects.max(1) as f32).mul_scalar(supervision.weight))
    }

    /// `--count-supervision`: the event counter's per-frame evidence against where the counted
    /// repetitions are.
    fn count_term(&self, output: &BatchOutput<Training>) -> Term {
        let supervision = self.context.counts?;
        let (events, head) = (output.count_events.as_ref()?, output.count.as_ref()?);
        let shares = supervision.shares(self.clips, self.questions);
        // Rows of the count head (and of the evidence) with targets, and their targets.
        let (rows, targets): (Vec<usize>, Vec<Vec<f32>>) =
            head.questions.iter().enumerate().filter_map(|(row, &q)| Some((row, shares[q].clone()?))).unzip();
        if rows.is_empty() {
            return None;
        }
        let frames = events.evidence.dims()[1];
        let targets = Tensor::from_data(TensorData::new(targets.concat(), [rows.len(), frames]), self.device);
        let picked = events.evidence.clone().select(0, index_tensor(&rows, self.device)); // [rows, frames]
        let loss = event_loss(picked, targets).div_scalar((self.divisors.count_questions * frames).max(1) as f32);
        Some(loss.mul_scalar(supervision.weight))
    }
}

/// Adds `term` to the running loss (`None` until the first term).
fn add_loss(loss: &mut Option<Tensor<Training, 1>>, term: Tensor<Training, 1>) {
    *loss = Some(match loss.take() {
        Some(total) => total + term,
        None => term,
    });
}

#[cfg(test)]
mod tests {
    use super::split_shares;

    #[test]
    fn shares_cover_the_batch_evenly() {
        assert_eq!(split_shares(5, 2), vec![0..3, 3..5]);
        assert_eq!(split_shares(4, 2), vec![0..2, 2..4]);
        assert_eq!(split_shares(1, 3), vec![0..1, 1..1, 1..1]);
        assert_eq!(split_shares(7, 1), vec![0..7]);
    }
}
