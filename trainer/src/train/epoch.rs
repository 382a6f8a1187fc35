//! One epoch of the training loop: each prepared batch through the data-parallel step, the
//! optimisers (AdamW with warm-up and cosine decay; pretrained towers at their own rates), the
//! figures read back now and then, and the `--minutes` budget.

use std::time::{Duration, Instant};

use anyhow::Result;
use burn::grad_clipping::GradientClippingConfig;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, Optimizer};
use rand_chacha::ChaCha8Rng;
use shared_model::model::QaModel;
use shared_model::preprocess::PreparedClip;
use shared_model::text::questions::QuestionType;

use super::options::TrainOptions;
use super::parallel::{DataParallel, StepContext};
use super::records::Seen;
use super::schedule::{budget_spent, warmup_cosine};
use super::step_metrics::{Figures, MetricsAccumulator};
use crate::data::BatchQuestion;
use crate::data::Split;
use crate::data::loader::Prefetch;
use crate::runtime::backend::Training;
use crate::runtime::files::pause_point;
use crate::runtime::progress::progress;

/// How often the loop reads the steps' figures back from the device for the progress bar (and
/// at each epoch's end); in between the steps read nothing (`step_metrics`).
pub const READ_EVERY: Duration = Duration::from_secs(2);

/// AdamW with weight decay 0.01 and per-parameter gradient-norm clipping at 1.
pub fn optimizer_config() -> AdamWConfig {
    AdamWConfig::new().with_weight_decay(0.01).with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
}

/// The optimisers of a run: the model's, and one each for fine-tuned pretrained towers, so that
/// they learn at their own (lower) rates.
pub(super) struct Optimizers {
    model: OptimizerAdaptor<AdamW, QaModel<Training>, Training>,
    text_tower: OptimizerAdaptor<AdamW, QaModel<Training>, Training>,
    vision_tower: OptimizerAdaptor<AdamW, QaModel<Training>, Training>,
}

impl Optimizers {
    pub(super) fn new() -> Self {
        Self {
            model: optimizer_config().init(),
            text_tower: optimizer_config().init(),
            vision_tower: optimizer_config().init(),
        }
    }
}

/// What the epochs of a run share.
pub(super) struct Run<'a> {
    pub(super) opts: &'a TrainOptions,
    pub(super) parallel: &'a DataParallel,
    pub(super) context: &'a StepContext<'a>,
    pub(super) optimizers: Optimizers,
    pub(super) total_steps: usize,
    /// Steps taken so far, over every epoch (and the resumed run's).
    pub(super) step: usize,
    /// When this process started training (the `--minutes` budget counts from here).
    pub(super) started: Instant,
}

/// What an epoch of training left.
pub(super) struct Epoch {
    pub(super) model: QaModel<Training>,
    /// The generator after the epoch's batches (the next epoch continues it).
    pub(super) rng: ChaCha8Rng,
    pub(super) figures: Figures,
    /// GIFs and questions trained on.
    pub(super) seen: Seen,
    /// Whether the `--minutes` budget ran out during the epoch.
    pub(super) out_of_time: bool,
}

impl Run<'_> {
    /// Trains `model` on the epoch's `batches` of `train`.
    pub(super) fn epoch(
        &mut self,
        mut model: QaModel<Training>,
        train: &Split,
        mut batches: Prefetch,
        epoch: usize,
    ) -> Result<Epoch> {
        let opts = self.opts;
        let steps = train.gifs.len().div_ceil(opts.schedule.batch_gifs);
        let bar = progress(steps as u64, &format!("epoch {epoch}/{}", opts.schedule.epochs));
        let mut seen = Seen::default();
        let mut metrics = MetricsAccumulator::new(self.parallel.main_device());
        let mut last_read = Instant::now();
        let mut out_of_time = false;
        for prepared in batches.by_ref() {
            let questions: Vec<BatchQuestion> = prepared
                .gifs
                .iter()
                .enumerate()
                .flat_map(|(v, &g)| train.gifs[g].items.iter().map(move |&i| (v, i)))
                .map(|(video, i)| BatchQuestion { video, item: &train.items[i] })
                .filter(|q| self.step >= opts.schedule.frameqa_warmup || q.item.qtype == QuestionType::FrameQa)
                .collect();
            let clip_refs: Vec<&PreparedClip> = prepared.clips.iter().collect();
            let seen_refs: Vec<&PreparedClip> = prepared.seen().iter().collect();
            let Some(gradients) =
                self.parallel.gradients_seeing(&model, self.context, &seen_refs, &clip_refs, &questions)?
            else {
                continue;
            };
            metrics.push(gradients.metrics);
            let spent = budget_spent(opts.schedule.minutes, self.started.elapsed());
            let lr = warmup_cosine(opts.schedule.lr, opts.schedule.warmup, self.step, self.total_steps, spent);
            model = self.optimizers.model.step(lr, model, gradients.grads);
            if let Some(tower_grads) = gradients.text_tower_grads.filter(|g| !g.is_empty()) {
                model = self.optimizers.text_tower.step(lr * opts.towers.text_encoder_lr_scale, model, tower_grads);
            }
            if let Some(tower_grads) = gradients.vision_tower_grads.filter(|g| !g.is_empty()) {
                model = self.optimizers.vision_tower.step(lr * opts.towers.vision_encoder_lr_scale, model, tower_grads);
            }
            self.step += 1;
            pause_point("train-step");
            seen.questions += questions.len();
            seen.gifs += prepared.gifs.len();
            bar.inc(1);
            if last_read.elapsed() >= READ_EVERY {
                bar.set_prefix(format!("loss {:.3}", metrics.read()?.mean_loss()));
                last_read = Instant::now();
            }
            if budget_spent(opts.schedule.minutes, self.started.elapsed()).is_some_and(|spent| spent >= 1.0) {
                out_of_time = true;
                break;
            }
        }
        let rng = batches.finish()?;
        bar.finish_and_clear();
        let figures = metrics.read()?.clone();
        Ok(Epoch { model, rng, figures, seen, out_of_time })
    }
}
