//! The training loop: batches of GIFs with all their questions, AdamW with warm-up and cosine decay,
//! per-epoch validation, and an atomically written checkpoint (the model folder itself) per epoch.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, Optimizer};
use burn::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use shared_model::bundle::{
    BundleConfig, FORMAT_VERSION, ModelBundle, WEIGHTS_FILE, folder_files, write_folder_atomically,
};
use shared_model::model::{QaModel, QaModelConfig, TemporalMode};
use shared_model::pipeline::ClipAggregation;
use shared_model::preprocess::{PreparedClip, PreprocessConfig};
use shared_model::questions::{QuestionType, load_split};
use shared_model::sampling::{FrameSource, SampledFrame, SamplingStrategy};
use shared_model::tokenize::TextTokenizer;

use crate::backend::{self, Training};
use crate::batch::BatchQuestion;
use crate::data::{self, Split, progress};
use crate::eval::{Evaluator, Report};
use crate::parallel::{DataParallel, StepContext};
use crate::vocab::{answer_vocabulary, build_tokenizer};

/// File in the model folder that records training progress (for `--resume` and learning curves).
pub const STATE_FILE: &str = "training.json";

/// Options of `trainer train`.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct TrainOptions {
    /// Dataset folder (from `trainer generate`, or laid out like TGIF-QA).
    #[arg(long)]
    pub data: PathBuf,
    /// Model folder to write (config.json, model.safetensors, tokenizer.json, training.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue from the checkpoint in --out.
    #[arg(long)]
    #[serde(skip)]
    pub resume: bool,
    /// Epochs in total (a resumed run continues up to this many).
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Stop after this many minutes (the partial epoch is validated and saved).
    #[arg(long)]
    pub minutes: Option<f64>,
    /// GIFs per step (each brings all its questions).
    #[arg(long, default_value_t = 16)]
    pub batch_gifs: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Warm-up steps.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Frames sampled per GIF.
    #[arg(long, default_value_t = 16)]
    pub frames: usize,
    /// Side of the model input in pixels (multiple of 8).
    #[arg(long, default_value_t = 64)]
    pub image_size: usize,
    /// Model width.
    #[arg(long, default_value_t = 64)]
    pub d_model: usize,
    /// Temporal transformer layers.
    #[arg(long, default_value_t = 2)]
    pub temporal_layers: usize,
    /// `transformer` or `mean` (ablation).
    #[arg(long, default_value = "transformer")]
    pub temporal: String,
    /// Use at most this many training GIFs.
    #[arg(long)]
    pub max_gifs: Option<usize>,
    /// Validate on at most this many GIFs after each epoch.
    #[arg(long, default_value_t = 300)]
    pub val_gifs: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Curriculum: train only on single-frame (FrameQA) questions for this many first steps.
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub frameqa_warmup: usize,
    /// Add a max-pooled grid token per frame to the fusion (new models only).
    #[arg(long)]
    #[serde(default)]
    pub grid_max_token: bool,
    /// Factor on the slot attention logits (sharper reading of small objects; new models only).
    #[arg(long, default_value_t = 4.0)]
    #[serde(default = "default_slot_logit_scale")]
    pub slot_logit_scale: f32,
    /// Dropout inside the text and temporal transformers (new models only).
    #[arg(long, default_value_t = 0.1)]
    #[serde(default = "default_dropout")]
    pub dropout: f64,
    /// Train data-parallel on these devices, main device first: `cpu:0,cpu:1` (replicas on the
    /// CPU backend), `cuda:0,cuda:1` (--features cuda), `wgpu:0,wgpu:1` (--features wgpu).
    /// Each step's GIFs are split across them; the result equals one-device training.
    #[arg(long)]
    #[serde(skip)]
    pub devices: Option<String>,
}

fn default_slot_logit_scale() -> f32 {
    1.0
}

fn default_dropout() -> f64 {
    0.1
}

/// Metrics of one epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Optimiser steps so far.
    pub step: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy per type (on the fly, with dropout).
    pub train_accuracy: BTreeMap<String, f64>,
    /// Validation accuracy per type.
    pub val_accuracy: BTreeMap<String, f64>,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
    /// Questions per second.
    pub questions_per_second: f64,
    /// GIFs (videos) per second.
    pub gifs_per_second: f64,
}

/// `training.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    /// Options of the first run.
    pub options: TrainOptions,
    /// Backend used.
    pub backend: String,
    /// Finished epochs.
    pub history: Vec<EpochRecord>,
}

/// Runs `trainer train`.
pub fn run(options: TrainOptions) -> Result<()> {
    let parallel = DataParallel::new(backend::devices(options.devices.as_deref())?)?;
    #[allow(clippy::clone_on_copy)] // Copy on the CPU backend, not on CUDA or wgpu.
    let device = parallel.main_device().clone();
    let (mut model, config, tokenizer, mut state) = if options.resume {
        let bundle = ModelBundle::<Training>::load_dir(&options.out, &device)
            .with_context(|| format!("--resume: cannot load the checkpoint in {}", options.out.display()))?;
        let text = std::fs::read_to_string(options.out.join(STATE_FILE))
            .with_context(|| format!("--resume: no {STATE_FILE} in {}", options.out.display()))?;
        let mut state: TrainState = serde_json::from_str(&text).context("--resume: training.json is invalid")?;
        state.options.epochs = options.epochs;
        state.options.minutes = options.minutes;
        eprintln!("resuming after epoch {} (step {})", state.history.len(), state.history.last().map_or(0, |h| h.step));
        (bundle.model, bundle.config, bundle.tokenizer, state)
    } else {
        anyhow::ensure!(
            !options.out.join(WEIGHTS_FILE).exists(),
            "{} already holds a model: pass --resume to continue it, or choose another --out",
            options.out.display()
        );
        let (config, tokenizer) = new_config(&options)?;
        let model = config.model.init::<Training>(&device);
        let state = TrainState { options: options.clone(), backend: backend::name().into(), history: Vec::new() };
        (model, config, tokenizer, state)
    };
    let opts = state.options.clone();
    let strategy = SamplingStrategy::parse(&config.sampling, opts.frames)?;

    let train = data::load(&opts.data, "Train", &config.preprocess, opts.max_gifs)?;
    let val = data::load(&opts.data, "Val", &config.preprocess, Some(opts.val_gifs))?;
    let questions: usize = train.items.len();
    eprintln!(
        "training on {} GIFs / {questions} questions ({} backend, {}), validating on {} GIFs; {} parameters",
        train.gifs.len(),
        backend::name(),
        options.devices.as_deref().map_or("default device".to_string(), |list| format!("devices {list}")),
        val.gifs.len(),
        model.num_params()
    );

    let answer_index: HashMap<String, usize> = config.answers.iter().enumerate().map(|(i, a)| (a.clone(), i)).collect();
    let step_context = StepContext { config: &config, tokenizer: &tokenizer, answer_index: &answer_index };
    let mut optimizer = optimizer_config().init::<Training, QaModel<Training>>();
    let steps_per_epoch = train.gifs.len().div_ceil(opts.batch_gifs);
    let total_steps = steps_per_epoch * opts.epochs;
    let mut step = state.history.last().map_or(0, |h| h.step);
    let started = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ (state.history.len() as u64).wrapping_mul(0x9e37_79b9));

    for epoch in state.history.len() + 1..=opts.epochs {
        let epoch_start = Instant::now();
        let mut order: Vec<usize> = (0..train.gifs.len()).collect();
        order.shuffle(&mut rng);
        let bar = progress(steps_per_epoch as u64, &format!("epoch {epoch}/{}", opts.epochs));
        let (mut loss_sum, mut loss_n, mut seen_questions, mut seen_gifs) = (0.0, 0usize, 0usize, 0usize);
        let mut right: BTreeMap<QuestionType, (usize, usize)> = BTreeMap::new();
        let mut out_of_time = false;
        for batch in order.chunks(opts.batch_gifs) {
            let clips: Vec<PreparedClip> = batch
                .iter()
                .map(|&g| {
                    let gif = &train.gifs[g];
                    gif.clip(&jittered_uniform(&gif.timeline, strategy.frames_per_clip(), &mut rng), train.size)
                })
                .collect();
            let questions: Vec<BatchQuestion> = batch
                .iter()
                .enumerate()
                .flat_map(|(v, &g)| train.gifs[g].items.iter().map(move |&i| (v, i)))
                .map(|(video, i)| BatchQuestion { video, item: &train.items[i] })
                .filter(|q| step >= opts.frameqa_warmup || q.item.qtype == QuestionType::FrameQa)
                .collect();
            let clip_refs: Vec<&PreparedClip> = clips.iter().collect();
            let Some(gradients) = parallel.gradients(&model, &step_context, &clip_refs, &questions)? else { continue };
            for (qtype, (r, n)) in gradients.tally {
                let entry = right.entry(qtype).or_default();
                entry.0 += r;
                entry.1 += n;
            }
            loss_sum += gradients.loss;
            loss_n += 1;
            model = optimizer.step(learning_rate(&opts, step, total_steps), model, gradients.grads);
            step += 1;
            seen_questions += questions.len();
            seen_gifs += batch.len();
            bar.inc(1);
            bar.set_prefix(format!("loss {:.3}", loss_sum / loss_n.max(1) as f64));
            if opts.minutes.is_some_and(|m| started.elapsed().as_secs_f64() > m * 60.0) {
                out_of_time = true;
                break;
            }
        }
        bar.finish_and_clear();
        let seconds = epoch_start.elapsed().as_secs_f64();
        let val_report = validate(&model, &config, &tokenizer, &val, strategy, &device)?;
        let record = EpochRecord {
            epoch,
            step,
            train_loss: loss_sum / loss_n.max(1) as f64,
            train_accuracy: right
                .iter()
                .map(|(t, (r, n))| (t.tag().to_string(), *r as f64 / (*n).max(1) as f64))
                .collect(),
            val_accuracy: val_report.iter().map(|(t, r)| (t.clone(), r.accuracy)).collect(),
            seconds,
            questions_per_second: seen_questions as f64 / seconds,
            gifs_per_second: seen_gifs as f64 / seconds,
        };
        eprintln!("{}", describe(&record));
        state.history.push(record);
        save_checkpoint(&opts.out, &model, &config, &tokenizer, &state)?;
        if out_of_time {
            eprintln!("stopping: the --minutes budget is spent");
            break;
        }
    }
    eprintln!("model written to {}", opts.out.display());
    Ok(())
}

/// Builds the configuration and tokenizer of a new model from the training questions.
fn new_config(options: &TrainOptions) -> Result<(BundleConfig, TextTokenizer)> {
    let items = load_split(&options.data, "Train").with_context(|| format!("reading {}", options.data.display()))?;
    let tokenizer = build_tokenizer(&items)?;
    let answers = answer_vocabulary(&items);
    let temporal = match options.temporal.as_str() {
        "transformer" => TemporalMode::Transformer,
        "mean" => TemporalMode::MeanPool,
        other => anyhow::bail!("unknown --temporal '{other}' (expected transformer or mean)"),
    };
    let model = QaModelConfig::new(tokenizer.vocab_size(), answers.len().max(1))
        .with_d_model(options.d_model)
        .with_image_size(options.image_size)
        .with_temporal_layers(options.temporal_layers)
        .with_temporal(temporal)
        .with_grid_max_token(Some(options.grid_max_token))
        .with_slot_logit_scale(Some(options.slot_logit_scale))
        .with_dropout(Some(options.dropout));
    model.check().map_err(|why| anyhow::anyhow!("bad model options: {why}"))?;
    let config = BundleConfig {
        format: FORMAT_VERSION,
        model,
        preprocess: PreprocessConfig::new(options.image_size),
        sampling: SamplingStrategy::Uniform { frames: options.frames }.to_string(),
        answers,
    };
    Ok((config, tokenizer))
}

/// AdamW with weight decay 0.01 and per-parameter gradient-norm clipping at 1.
pub fn optimizer_config() -> AdamWConfig {
    AdamWConfig::new().with_weight_decay(0.01).with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
}

/// Linear warm-up, then cosine decay to 5% of the peak.
fn learning_rate(options: &TrainOptions, step: usize, total: usize) -> f64 {
    if step < options.warmup {
        return options.lr * (step + 1) as f64 / options.warmup as f64;
    }
    let progress = ((step - options.warmup) as f64 / (total.saturating_sub(options.warmup)).max(1) as f64).min(1.0);
    options.lr * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
}

/// Training-time sampling: one random time inside each of K equal segments (TSN-style jitter).
fn jittered_uniform(
    timeline: &shared_model::sampling::Timeline,
    frames: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<SampledFrame> {
    (0..frames)
        .map(|i| {
            let t = (i as f64 + rng.random::<f64>()) / frames as f64;
            SampledFrame { source: FrameSource::Index(timeline.frame_at(t)), time: t as f32 }
        })
        .collect()
}

fn validate(
    model: &QaModel<Training>,
    config: &BundleConfig,
    tokenizer: &TextTokenizer,
    val: &Split,
    strategy: SamplingStrategy,
    device: &backend::Device,
) -> Result<Report> {
    let inference = model.valid();
    let evaluator = Evaluator {
        model: &inference,
        config,
        tokenizer,
        strategy,
        aggregation: ClipAggregation::Mean,
        batch_gifs: 16,
        #[allow(clippy::clone_on_copy)] // Copy on the CPU backend, not on CUDA or wgpu.
        device: device.clone(),
    };
    evaluator.evaluate(val, false, true)
}

fn save_checkpoint(
    dir: &Path,
    model: &QaModel<Training>,
    config: &BundleConfig,
    tokenizer: &TextTokenizer,
    state: &TrainState,
) -> Result<()> {
    let mut files = folder_files(config, &model.valid(), tokenizer)?;
    files.push((STATE_FILE, serde_json::to_vec_pretty(state)?));
    write_folder_atomically(dir, &files)?;
    Ok(())
}

/// One line per epoch for the log.
pub fn describe(record: &EpochRecord) -> String {
    let fmt = |m: &BTreeMap<String, f64>| {
        QuestionType::ALL
            .iter()
            .filter_map(|t| m.get(t.tag()).map(|a| format!("{} {:.1}%", t.tag(), 100.0 * a)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "epoch {} (step {}): loss {:.3} | train {} | val {} | {:.0}s, {:.1} questions/s",
        record.epoch,
        record.step,
        record.train_loss,
        fmt(&record.train_accuracy),
        fmt(&record.val_accuracy),
        record.seconds,
        record.questions_per_second
    )
}
