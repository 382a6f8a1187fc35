//! `trainer pretrain`: contrastive video-text alignment of the joint frame/text space (the space
//! frame relevance and CLIP-Cut use) on (GIF, caption) pairs of the Train split, before QA training.
//!
//! It trains the frame encoder, the text encoder and the two relevance projections through
//! [`QaModel::frame_embeddings`] and [`QaModel::text_embeddings`], with InfoNCE or H-NAC
//! ([`crate::contrastive`]), and measures the cosine gap and text→GIF retrieval on Val before
//! training, after every epoch and at the end ([`crate::alignment`]). The output is a normal model
//! folder (the same `new_config` as `trainer train`, so `trainer train --init DIR` can start from
//! it) plus `pretrain.json`.

/// How well texts and videos are aligned: cosine gap and text-to-GIF retrieval.
pub mod alignment;
/// InfoNCE and H-NAC video-text losses.
pub mod contrastive;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, GradientsParams, Optimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use shared_model::bundle::{BundleConfig, WEIGHTS_FILE, folder_files};
use shared_model::model::{encode_tokens, video_tensors};

use crate::runtime::files::write_folder_atomically;
use shared_model::model::QaModel;
use shared_model::preprocess::PreparedClip;
use shared_model::sampling::{SamplingStrategy, seed_of};
use shared_model::text::questions::{Answer, QuestionType};
use shared_model::text::tokenize::TextTokenizer;

use crate::data::loader::jittered_uniform;
use crate::data::{self, Split};
use crate::pretrain::alignment::{AlignmentMetrics, alignment_metrics, describe};
use crate::pretrain::contrastive::{ContrastiveLoss, HnacConfig, LossKind, contrastive_loss};
use crate::runtime::backend::{self, Compute, Training};
use crate::runtime::progress::progress;
use crate::train::schedule::{budget_spent, warmup_cosine};
use crate::train::step_metrics::read_losses;
use crate::train::{ModelShape, NewModel, READ_EVERY, Towers, new_config, optimizer_config};

/// File in the model folder that records pre-training (options, losses, metrics).
pub const PRETRAIN_FILE: &str = "pretrain.json";

/// Options of `trainer pretrain`.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct PretrainOptions {
    /// Dataset folder (from `trainer generate`); pairs are the Train GIFs and their captions.
    #[arg(long)]
    pub data: PathBuf,
    /// Model folder to write (config.json, model.safetensors, tokenizer.json, pretrain.json).
    #[arg(long)]
    pub out: PathBuf,
    /// `infonce` or `hnac`.
    #[arg(long, default_value = "infonce")]
    pub loss: LossKind,
    /// Epochs over the training pairs.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Stop after this many minutes (the partial epoch is measured and saved); the learning
    /// rate's decay follows the budget where it is further along than the steps.
    #[arg(long)]
    pub minutes: Option<f64>,
    /// (GIF, caption) pairs per step: the in-batch negatives.
    #[arg(long, default_value_t = 32)]
    pub batch_gifs: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Warm-up steps.
    #[arg(long, default_value_t = 50)]
    pub warmup: usize,
    /// Softmax temperature τ on cosine similarities.
    #[arg(long, default_value_t = 0.07)]
    pub temperature: f64,
    /// H-NAC: β, growth of a negative's weight with its similarity.
    #[arg(long, default_value_t = 4.0)]
    pub beta: f64,
    /// H-NAC: margin m above the positive's similarity beyond which a negative is a suspected false negative.
    #[arg(long, default_value_t = 0.1)]
    pub margin: f64,
    /// H-NAC: γ, decay of a suspected false negative's weight with its excess similarity.
    #[arg(long, default_value_t = 10.0)]
    pub decay: f64,
    /// Use at most this many training GIFs.
    #[arg(long)]
    pub max_gifs: Option<usize>,
    /// Measure alignment on at most this many Val GIFs (one caption each).
    #[arg(long, default_value_t = 500)]
    pub val_gifs: usize,
    /// Frames sampled per training GIF (default: --frames); fewer is cheaper, and the video
    /// vector is a mean over frames, so it stays comparable. Measuring uses the model's sampling.
    #[arg(long)]
    pub clip_frames: Option<usize>,
    /// Random seed (initialisation and batch order).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Architecture and input: pass the same values to `trainer train --init`.
    #[command(flatten)]
    #[serde(flatten)]
    pub shape: ModelShape,
}

impl PretrainOptions {
    /// The loss with its hyper-parameters.
    pub fn contrastive_loss(&self) -> ContrastiveLoss {
        match self.loss {
            LossKind::InfoNce => ContrastiveLoss::InfoNce,
            LossKind::Hnac => ContrastiveLoss::Hnac(
                HnacConfig::new().with_beta(self.beta).with_margin(self.margin).with_decay(self.decay),
            ),
        }
    }
}

/// One epoch of pre-training.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Optimiser steps so far.
    pub step: usize,
    /// Mean contrastive loss of the epoch.
    pub loss: f64,
    /// Loss of the epoch's first step.
    pub first_step_loss: f64,
    /// Loss of the epoch's last step.
    pub last_step_loss: f64,
    /// Alignment on Val after the epoch.
    pub val: AlignmentMetrics,
    /// Wall-clock seconds of the epoch's training steps.
    pub seconds: f64,
    /// Training pairs per second.
    pub gifs_per_second: f64,
}

/// `pretrain.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainState {
    /// Options of the run.
    pub options: PretrainOptions,
    /// The loss with its hyper-parameters.
    pub loss: ContrastiveLoss,
    /// Backend used.
    pub backend: String,
    /// Training pairs (Train GIFs with a caption).
    pub train_pairs: usize,
    /// Alignment on Val before training (freshly initialised model).
    pub before: AlignmentMetrics,
    /// Finished epochs.
    pub history: Vec<PretrainEpoch>,
    /// Alignment on Val at the end (`None` while running).
    pub after: Option<AlignmentMetrics>,
}

/// GIFs of a split paired with their caption (the right candidate of their caption question).
struct Pairs<'a> {
    split: &'a Split,
    /// `(gif index, caption)`; GIFs without a caption question are left out.
    pairs: Vec<(usize, String)>,
}

impl<'a> Pairs<'a> {
    fn of(split: &'a Split) -> Pairs<'a> {
        let pairs = split
            .gifs
            .iter()
            .enumerate()
            .filter_map(|(g, gif)| {
                let item = gif.items.iter().map(|&i| &split.items[i]).find(|it| it.qtype == QuestionType::Caption)?;
                match item.answer {
                    Answer::Choice(c) => item.candidates.get(c).map(|text| (g, text.clone())),
                    _ => None,
                }
            })
            .collect();
        Pairs { split, pairs }
    }
}

/// Runs `trainer pretrain`.
pub fn run(options: PretrainOptions) -> Result<()> {
    check(&options)?;
    let device = backend::device();
    let Fresh { mut model, config, tokenizer } = fresh_model(&options, &device)?;
    let train = data::load(&options.data, "Train", &config.preprocess, options.max_gifs)?;
    let val = data::load(&options.data, "Val", &config.preprocess, Some(options.val_gifs))?;
    let (train_pairs, val_pairs) = (Pairs::of(&train), Pairs::of(&val));
    anyhow::ensure!(
        train_pairs.pairs.len() >= 2,
        "fewer than 2 Train GIFs with a caption in {}",
        options.data.display()
    );
    anyhow::ensure!(!val_pairs.pairs.is_empty(), "no Val GIF with a caption in {}", options.data.display());
    eprintln!(
        "pre-training ({}) on {} (GIF, caption) pairs, measuring on {} Val pairs ({} backend)",
        options.loss,
        train_pairs.pairs.len(),
        val_pairs.pairs.len(),
        backend::name()
    );
    let measure = |model: &QaModel<Training>| measure(&model.valid(), &config, &tokenizer, &val_pairs, &device);
    let before = measure(&model)?;
    eprintln!("before: {}", describe(&before));
    let mut state = PretrainState {
        options: options.clone(),
        loss: options.contrastive_loss(),
        backend: backend::name().into(),
        train_pairs: train_pairs.pairs.len(),
        before,
        history: Vec::new(),
        after: None,
    };
    let mut pretrainer = Pretrainer::new(&options, &config, &tokenizer, &train_pairs, &device);
    for epoch in 1..=options.epochs {
        let epoch_start = Instant::now();
        let trained = pretrainer.epoch(model, epoch)?;
        model = trained.model;
        let seconds = epoch_start.elapsed().as_secs_f64();
        let record = epoch_record(epoch, pretrainer.step, &trained.losses, measure(&model)?, seconds, trained.seen);
        state.after = Some(record.val.clone());
        state.history.push(record);
        save(&options.out, &model, &config, &tokenizer, &state)?;
        if trained.out_of_time {
            eprintln!("stopping: the --minutes budget is spent");
            break;
        }
    }
    if let Some(after) = &state.after {
        eprintln!("before: {}\nafter:  {}", describe(&state.before), describe(after));
    }
    eprintln!("model written to {}", options.out.display());
    Ok(())
}

/// Refuses an `--out` that holds a model, and options that cannot train.
fn check(options: &PretrainOptions) -> Result<()> {
    anyhow::ensure!(
        !options.out.join(WEIGHTS_FILE).exists(),
        "{} already holds a model: choose another --out",
        options.out.display()
    );
    anyhow::ensure!(options.temperature > 0.0, "--temperature must be positive");
    anyhow::ensure!(options.batch_gifs >= 2, "--batch-gifs must be at least 2 (negatives come from the batch)");
    Ok(())
}

/// A new model, as `trainer train` would build it from the same options.
struct Fresh {
    model: QaModel<Training>,
    config: BundleConfig,
    tokenizer: TextTokenizer,
}

/// The new model of `options`: its configuration and tokenizer from the Train questions, its
/// weights drawn from `--seed` (and MiniLM's token embedding with `--vocab minilm`).
fn fresh_model(options: &PretrainOptions, device: &backend::Device) -> Result<Fresh> {
    let NewModel { config, tokenizer, token_embeddings, .. } =
        new_config(&options.data, &options.shape, &Towers::default(), device)?;
    <Training as Backend>::seed(device, options.seed);
    let mut model = config.model.init::<Training>(device);
    if let Some(table) = token_embeddings {
        model = model.with_token_embeddings(table, device).context("--vocab minilm")?;
    }
    Ok(Fresh { model, config, tokenizer })
}

/// The record of an epoch from its steps' `losses`, logged as it is made.
fn epoch_record(
    epoch: usize,
    step: usize,
    losses: &[f64],
    val: AlignmentMetrics,
    seconds: f64,
    seen: usize,
) -> PretrainEpoch {
    let record = PretrainEpoch {
        epoch,
        step,
        loss: mean(losses),
        first_step_loss: losses.first().copied().unwrap_or(f64::NAN),
        last_step_loss: losses.last().copied().unwrap_or(f64::NAN),
        val,
        seconds,
        gifs_per_second: seen as f64 / seconds,
    };
    eprintln!(
        "epoch {epoch} (step {step}): loss {:.3} | val {} | {:.0}s, {:.1} GIFs/s",
        record.loss,
        describe(&record.val),
        seconds,
        record.gifs_per_second
    );
    record
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// What the epochs of a pre-training run share.
struct Pretrainer<'a> {
    options: &'a PretrainOptions,
    config: &'a BundleConfig,
    tokenizer: &'a TextTokenizer,
    train: &'a Pairs<'a>,
    device: &'a backend::Device,
    loss: ContrastiveLoss,
    optimizer: OptimizerAdaptor<AdamW, QaModel<Training>, Training>,
    /// Frames sampled per training GIF.
    frames: usize,
    total_steps: usize,
    /// Steps taken so far, over every epoch.
    step: usize,
    /// Draws the batch order and the frame times.
    rng: ChaCha8Rng,
    /// When training started (the `--minutes` budget counts from here).
    started: Instant,
}

/// What an epoch of pre-training left.
struct PretrainedEpoch {
    model: QaModel<Training>,
    /// Every step's loss.
    losses: Vec<f64>,
    /// Training pairs seen.
    seen: usize,
    /// Whether the `--minutes` budget ran out during the epoch.
    out_of_time: bool,
}

impl<'a> Pretrainer<'a> {
    fn new(
        options: &'a PretrainOptions,
        config: &'a BundleConfig,
        tokenizer: &'a TextTokenizer,
        train: &'a Pairs<'a>,
        device: &'a backend::Device,
    ) -> Self {
        Self {
            options,
            config,
            tokenizer,
            train,
            device,
            loss: options.contrastive_loss(),
            optimizer: optimizer_config().init(),
            frames: options.clip_frames.unwrap_or(options.shape.frames).max(1),
            total_steps: train.pairs.len().div_ceil(options.batch_gifs) * options.epochs,
            step: 0,
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            started: Instant::now(),
        }
    }

    /// Trains `model` on one shuffled pass over the pairs, in batches of `--batch-gifs` (a last
    /// batch of one pair, which has no negative, is left out).
    fn epoch(&mut self, mut model: QaModel<Training>, epoch: usize) -> Result<PretrainedEpoch> {
        let options = self.options;
        let mut order: Vec<usize> = (0..self.train.pairs.len()).collect();
        order.shuffle(&mut self.rng);
        let steps = self.train.pairs.len().div_ceil(options.batch_gifs);
        let bar = progress(steps as u64, &format!("epoch {epoch}/{}", options.epochs));
        // Each step's loss stays on the device until the loop reads them (`step_metrics`).
        let (mut losses, mut pending) = (Vec::new(), Vec::new());
        let mut last_read = Instant::now();
        let (mut seen, mut out_of_time) = (0, false);
        for batch in order.chunks(options.batch_gifs).filter(|b| b.len() >= 2) {
            let loss = self.batch_loss(&model, batch)?;
            pending.push(loss.clone().inner());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let spent = budget_spent(options.minutes, self.started.elapsed());
            let lr = warmup_cosine(options.lr, options.warmup, self.step, self.total_steps, spent);
            model = self.optimizer.step(lr, model, grads);
            self.step += 1;
            seen += batch.len();
            bar.inc(1);
            if last_read.elapsed() >= READ_EVERY {
                losses.extend(read_losses(std::mem::take(&mut pending), self.device)?);
                bar.set_prefix(format!("loss {:.3}", mean(&losses)));
                last_read = Instant::now();
            }
            if budget_spent(options.minutes, self.started.elapsed()).is_some_and(|spent| spent >= 1.0) {
                out_of_time = true;
                break;
            }
        }
        bar.finish_and_clear();
        losses.extend(read_losses(pending, self.device)?);
        Ok(PretrainedEpoch { model, losses, seen, out_of_time })
    }

    /// The contrastive loss of the pairs `batch` (indices into the pairs), their frames jittered.
    fn batch_loss(&mut self, model: &QaModel<Training>, batch: &[usize]) -> Result<Tensor<Training, 1>> {
        let (pairs, split) = (&self.train.pairs, self.train.split);
        let clips: Vec<PreparedClip> = batch
            .iter()
            .map(|&p| {
                let gif = &split.gifs[pairs[p].0];
                gif.clip(&jittered_uniform(&gif.timeline, self.frames, &mut self.rng), split.size)
            })
            .collect();
        let captions: Vec<&str> = batch.iter().map(|&p| pairs[p].1.as_str()).collect();
        let sim = similarities(model, self.config, self.tokenizer, &clips, &captions, self.device)?;
        contrastive_loss(sim, &captions, &self.loss, self.options.temperature)
    }
}

/// Cosine similarities of every caption with every clip.
///
/// # Shapes
/// - `clips`: `n` equally long clips, `captions`: `n` texts → `[n, n]`, row = caption, column = clip
fn similarities<B: Backend>(
    model: &QaModel<B>,
    config: &BundleConfig,
    tokenizer: &TextTokenizer,
    clips: &[PreparedClip],
    captions: &[&str],
    device: &B::Device,
) -> Result<Tensor<B, 2>> {
    let clip_refs: Vec<&PreparedClip> = clips.iter().collect();
    let (frames, times) = video_tensors::<B>(&clip_refs, &config.preprocess, config.model.time_positions, device);
    let video = model.frame_embeddings(&model.encode_video(frames, times)).video; // [n, d_model]
    let text = encode_tokens(model, &tokenizer.encode_batch(captions, config.model.max_text_len)?, device);
    let text = model.text_embeddings(&text); // [n, d_model]
    Ok(text.matmul(video.transpose()))
}

/// Alignment of the Val pairs: every caption against every GIF, with the model's deterministic
/// inference sampling (the first clip of its default strategy).
fn measure(
    model: &QaModel<Compute>,
    config: &BundleConfig,
    tokenizer: &TextTokenizer,
    val: &Pairs<'_>,
    device: &backend::Device,
) -> Result<AlignmentMetrics> {
    let strategy = SamplingStrategy::parse(&config.sampling, 16)?;
    let mut videos = Vec::new();
    let mut texts = Vec::new();
    for chunk in val.pairs.chunks(32) {
        let clips: Vec<PreparedClip> = chunk
            .iter()
            .map(|(g, _)| {
                let gif = &val.split.gifs[*g];
                let sampled = strategy.sample(&gif.timeline, seed_of(&gif.name));
                gif.clip(&sampled[0], val.split.size)
            })
            .collect();
        let clip_refs: Vec<&PreparedClip> = clips.iter().collect();
        let (frames, times) =
            video_tensors::<Compute>(&clip_refs, &config.preprocess, config.model.time_positions, device);
        videos.push(model.frame_embeddings(&model.encode_video(frames, times)).video);
        let captions: Vec<&str> = chunk.iter().map(|(_, c)| c.as_str()).collect();
        let encoded = encode_tokens(model, &tokenizer.encode_batch(&captions, config.model.max_text_len)?, device);
        texts.push(model.text_embeddings(&encoded));
    }
    let sim = Tensor::cat(texts, 0).matmul(Tensor::cat(videos, 0).transpose()); // [n, n]
    let sim =
        sim.into_data().convert::<f32>().to_vec::<f32>().map_err(|e| anyhow::anyhow!("reading similarities: {e:?}"))?;
    let captions: Vec<&str> = val.pairs.iter().map(|(_, c)| c.as_str()).collect();
    Ok(alignment_metrics(&sim, &captions))
}

fn save(
    dir: &Path,
    model: &QaModel<Training>,
    config: &BundleConfig,
    tokenizer: &TextTokenizer,
    state: &PretrainState,
) -> Result<()> {
    let mut files = folder_files(config, &model.valid(), tokenizer)?;
    files.push((PRETRAIN_FILE, serde_json::to_vec_pretty(state)?));
    write_folder_atomically(dir, &files).with_context(|| format!("writing {}", dir.display()))?;
    Ok(())
}
