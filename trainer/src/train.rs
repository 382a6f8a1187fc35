//! The training loop: batches of GIFs with all their questions, AdamW with warm-up and cosine decay,
//! per-epoch validation, and an atomically written checkpoint (the model folder itself) per epoch.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, Optimizer};
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use shared_model::bundle::{BundleConfig, FORMAT_VERSION, ModelBundle, Verify, WEIGHTS_FILE, folder_files};
use shared_model::model::bert::BertModel;
use shared_model::model::clip_vision::{CLIP_IMAGE_MEAN, CLIP_IMAGE_STD, ClipVisionModel};
use shared_model::model::{
    CountHead, PretrainedTextConfig, PretrainedVisionConfig, QaModel, QaModelConfig, TemporalMode,
};
use shared_model::preprocess::{PreparedClip, PreprocessConfig};
use shared_model::pretrained::{load_bert_dir_with_tokenizer, load_clip_vision_dir};
use shared_model::questions::{QuestionType, has_split, load_split};
use shared_model::sampling::{FrameSource, SampledFrame, SamplingStrategy};
use shared_model::tokenize::TextTokenizer;

use crate::attention_targets::ObjectAnnotations;
use crate::backend::{self, Device, Training};
use crate::batch::BatchQuestion;
use crate::data::{self, Dataset, MissingGifs, Split};
use crate::eval::{Evaluator, Report};
use crate::files::{clean_leftovers, pause_point, write_folder_atomically};
use crate::loader::Prefetch;
use crate::order_drills::{Drills, add_order_drills};
use crate::parallel::{AttentionSupervision, CountSupervision, DataParallel, ObjectSupervision, StepContext};
use crate::progress::progress;
use crate::schedule::{budget_spent, warmup_cosine};
use crate::step_metrics::{Figures, MetricsAccumulator};
use crate::text_cache::{Texts, TowerStateCache};
use crate::vocab::{
    DEFAULT_MINILM_FREQUENT, DEFAULT_MINILM_NEIGHBOURS, PruneRule, VocabKind, answer_vocabulary, build_minilm_vocab,
    build_tokenizer, minilm_dir, minilm_token_embeddings,
};

/// Longest question or answer in tokens (the synthetic questions are far shorter).
const DEFAULT_MAX_TEXT_LEN: usize = 40;

/// How often the loop reads the steps' figures back from the device for the progress bar (and
/// at each epoch's end); in between the steps read nothing (`step_metrics`).
pub const READ_EVERY: Duration = Duration::from_secs(2);

/// File in the model folder that records training progress (for `--resume` and learning curves).
pub const STATE_FILE: &str = "training.json";

/// A path as given, the empty one included (`--data` is empty when a recipe generates the data).
fn any_path(value: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(value))
}

/// Options of `trainer train`.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct TrainOptions {
    /// Dataset folder (from `trainer generate`, or laid out like TGIF-QA: `Train_{type}_question.csv`
    /// flat in it or in `Train/`, GIFs in `gifs/NAME.gif` or `Train/gifs/`). Without Val question
    /// files (real TGIF-QA has none) per-epoch validation is skipped.
    #[arg(long, default_value = "", hide_default_value = true, required_unless_present = "recipe", value_parser = any_path)]
    pub data: PathBuf,
    /// Model folder to write (config.json, model.safetensors, tokenizer.json, training.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Train from a recipe, from nothing to --out with no hand step: `demo` (the page's model), a
    /// recipe file (JSON: data, shared options, stages), or a model folder's training.json (replays
    /// the recipe that made it). Work files go to OUT-work/; --data uses that dataset instead of
    /// generating one; --minutes scales every stage to a budget; --resume continues an
    /// interrupted recipe; --devices picks where stages train. Other options come from the recipe.
    #[arg(long)]
    #[serde(skip)]
    pub recipe: Option<String>,
    /// Continue from the checkpoint in --out, with the options recorded in its training.json
    /// (only --data, --out, --epochs, --minutes and --devices are taken from this command line).
    #[arg(long)]
    #[serde(skip)]
    pub resume: bool,
    /// Start from the weights of this model folder (e.g. from `trainer pretrain`); its config and
    /// tokenizer must be the ones this run would build.
    #[arg(long, conflicts_with = "resume")]
    #[serde(default)]
    pub init: Option<PathBuf>,
    /// Load the --init or --resume folder without checking its files against its manifest.json
    /// (needed for a folder that has none).
    #[arg(long)]
    #[serde(skip)]
    pub no_verify: bool,
    /// Epochs in total (a resumed run continues up to this many).
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Stop after this many minutes (the partial epoch is validated and saved). The learning
    /// rate's cosine decay then follows the budget where it is further along than the steps, so
    /// a run the budget stops still ends at the low rate.
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
    /// The new model's architecture, input and default sampling (ignored with --resume).
    #[command(flatten)]
    #[serde(flatten)]
    pub shape: ModelShape,
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
    /// Weight of an auxiliary loss that teaches the slot attention where the question's object
    /// is: per sampled frame, the cross-entropy between the attention over the grid cells and the
    /// object's pixels found by colour (needs the generator's `{Split}_annotations.jsonl`; 0 = off).
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub attention_supervision: f32,
    /// Weight of an auxiliary loss that teaches the frame encoder what objects look like: a
    /// linear probe of the grid tokens under every visible object (pooled by its pixels, found by
    /// colour) must tell the object's shape and colour (needs the generator's annotations; adds
    /// the probe to a new model; with --init the model must have one, see `--example
    /// extend_model`; 0 = off).
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub object_supervision: f32,
    /// Weight of an auxiliary loss that teaches the event counter where the counted repetitions
    /// are: per sampled frame of a Count question, the binary cross-entropy between its evidence
    /// and the frame's share of a repetition of the asked action (needs the generator's
    /// annotations and a model with an event counter, `--count-head frame-evidence` or
    /// `pooled-and-evidence`; 0 = off).
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub count_supervision: f32,
    /// Add order drills to the Train questions (`order_drills`), made from each GIF's true
    /// caption: `transitions` (Transition questions whose distractors include later or earlier
    /// actions than the next), `captions` (caption questions whose distractors are reorderings of
    /// the true caption) or `both`.
    #[arg(long, value_enum)]
    #[serde(default)]
    pub order_drills: Option<Drills>,
    /// Augment the training clips (never validation's): per clip a brightness and contrast
    /// jitter, sometimes a slight blur, pixel noise or fewer levels per channel, drawn from the
    /// run's random generator (see `augment.rs`). The auxiliary losses still find objects in the
    /// clips as drawn.
    #[arg(long)]
    #[serde(default)]
    pub augment: bool,
    /// Fail when question rows reference GIFs that are not in the folder (default: report them,
    /// list them in OUT/missing-gifs-{Split}.txt, and train on the rest).
    #[arg(long)]
    #[serde(default)]
    pub strict: bool,
    /// Build the model on a pretrained BERT-family text tower: a Hugging Face folder with
    /// config.json, model.safetensors and tokenizer.json (e.g. all-MiniLM-L6-v2); its tokenizer
    /// replaces the one built from the data (new models only).
    #[arg(long)]
    #[serde(default)]
    pub text_encoder: Option<PathBuf>,
    /// Keep the --text-encoder tower's weights fixed (only its projection and the rest train).
    #[arg(long, requires = "text_encoder")]
    #[serde(default)]
    pub freeze_text_encoder: bool,
    /// Learning rate of a fine-tuned --text-encoder tower, as a fraction of --lr.
    #[arg(long, default_value_t = 0.05)]
    #[serde(default = "default_tower_lr_scale")]
    pub text_encoder_lr_scale: f64,
    /// Build the model on a pretrained CLIP vision tower as its frame encoder: a Hugging Face
    /// folder with config.json and model.safetensors (a CLIPVisionModel, or a full CLIPModel such
    /// as openai/clip-vit-base-patch32, whose text half is skipped). Frames are then resized to the
    /// tower's image_size (--image-size is ignored) and normalised with CLIP's mean and std; each
    /// frame gives the tower's patch grid (new models only).
    #[arg(long)]
    #[serde(default)]
    pub vision_encoder: Option<PathBuf>,
    /// Keep the --vision-encoder tower's weights fixed (only its projection and the rest train).
    #[arg(long, requires = "vision_encoder")]
    #[serde(default)]
    pub freeze_vision_encoder: bool,
    /// Learning rate of a fine-tuned --vision-encoder tower, as a fraction of --lr.
    #[arg(long, default_value_t = 0.05)]
    #[serde(default = "default_tower_lr_scale")]
    pub vision_encoder_lr_scale: f64,
    /// Train data-parallel on these devices, main device first: `cpu:0,cpu:1` (replicas on the
    /// CPU backend), `cuda:0,cuda:1` (--features cuda), `wgpu:0,wgpu:1` (--features wgpu).
    /// Each step's GIFs are split across them; the result equals one-device training. Default:
    /// the GPU's default device, or on the CPU one replica per core (up to 4); `cpu:0` for one.
    #[arg(long)]
    #[serde(skip)]
    pub devices: Option<String>,
}

fn default_slot_logit_scale() -> f32 {
    1.0
}

/// The options that decide a new model's architecture, input and tokenizer (shared by `train`
/// and `pretrain`, so that a pre-trained folder fits a training run given the same options).
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct ModelShape {
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
    /// Add a max-pooled grid token per frame to the fusion (new models only).
    #[arg(long)]
    #[serde(default)]
    pub grid_max_token: bool,
    /// Factor on the slot attention logits (sharper reading of small objects; new models only).
    #[arg(long, default_value_t = 4.0)]
    #[serde(default = "default_slot_logit_scale")]
    pub slot_logit_scale: f32,
    /// Add to every slot read the grid position its attention looked at (for "where is"
    /// questions; new models only).
    #[arg(long)]
    #[serde(default)]
    pub slot_coordinates: bool,
    /// Self-attention layers among each frame's grid tokens, after the frame encoder (gated, off
    /// at the start; new models only, or add one to a trained model with `--example
    /// extend_model … grid-attention`).
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub grid_attention_layers: usize,
    /// Sampling strategy saved as the model's default (new models only; default uniform:FRAMES).
    /// Training always samples jittered-uniform times, as many as the strategy samples per clip;
    /// with `clipcut:K` that is CLIP-Cut's pool, and each question then reads the K pool frames
    /// the current model finds most relevant (chosen detached: top-k has no gradient).
    #[arg(long)]
    #[serde(default)]
    pub sample: Option<String>,
    /// Count head: `pooled` (a classifier on the question-video summary), `frame-evidence`
    /// (per-frame event evidence, summed over the sampled frames into a count) or
    /// `pooled-and-evidence` (both, logits added; new models only, or add the evidence to a
    /// trained model with `--example extend_model … evidence-count`).
    #[arg(long, default_value = "pooled")]
    #[serde(default = "default_count_head")]
    pub count_head: String,
    /// Kernel (odd) of two convolutions over time inside the event counter, which then reads
    /// each frame's tokens side by side; 0: each frame alone, from their mean (new models only, or
    /// give a trained model such a counter with `--example fit_event_counter`).
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub count_temporal_kernel: usize,
    /// Dropout inside the text and temporal transformers (new models only).
    #[arg(long, default_value_t = 0.1)]
    #[serde(default = "default_dropout")]
    pub dropout: f64,
    /// Caption questions read the GIF once per candidate, with the candidate as the question
    /// (ClipBERT's multiple-choice reading), instead of once with the caption prompt: more
    /// fusion work per caption question (new models only, or turn it on for a trained model with
    /// `--example extend_model … fused-captions`).
    #[arg(long)]
    #[serde(default)]
    pub fused_captions: bool,
    /// Add a question-kind head that predicts each question's type from its text, trained with a
    /// cross-entropy on every training question's type; answering and evaluation then send each
    /// question to the head it picks instead of going by the question's words (new models only).
    #[arg(long)]
    #[serde(default)]
    pub kind_head: bool,
    /// Tokenizer of a new model: `built` (the training questions' words, letters and ##letters)
    /// or `minilm` (all-MiniLM-L6-v2's English WordPiece, pruned, its token embedding started from
    /// MiniLM's reduced by PCA; the folder from --minilm, $GIFQA_MINILM_DIR or
    /// ~/.cache/gifqa/all-MiniLM-L6-v2, see scripts/fetch-minilm.sh).
    #[arg(long, value_enum, default_value_t = VocabKind::Built)]
    #[serde(default, skip_serializing_if = "VocabKind::is_built")]
    pub vocab: VocabKind,
    /// The all-MiniLM-L6-v2 folder of --vocab minilm (tokenizer.json, config.json,
    /// model.safetensors).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minilm: Option<PathBuf>,
    /// --vocab minilm: MiniLM's most frequent English pieces kept besides characters, the
    /// training texts' pieces and their neighbours.
    #[arg(long, default_value_t = DEFAULT_MINILM_FREQUENT)]
    #[serde(default = "default_minilm_frequent", skip_serializing_if = "is_default_minilm_frequent")]
    pub minilm_frequent: usize,
    /// --vocab minilm: nearest whole words (by MiniLM's token embedding) kept per whole word of
    /// the training texts.
    #[arg(long, default_value_t = DEFAULT_MINILM_NEIGHBOURS)]
    #[serde(default = "default_minilm_neighbours", skip_serializing_if = "is_default_minilm_neighbours")]
    pub minilm_neighbours: usize,
}

fn default_minilm_frequent() -> usize {
    DEFAULT_MINILM_FREQUENT
}

fn is_default_minilm_frequent(value: &usize) -> bool {
    *value == DEFAULT_MINILM_FREQUENT
}

fn default_minilm_neighbours() -> usize {
    DEFAULT_MINILM_NEIGHBOURS
}

fn is_default_minilm_neighbours(value: &usize) -> bool {
    *value == DEFAULT_MINILM_NEIGHBOURS
}

/// A pretrained tower's learning-rate factor in training.json files written before the option.
fn default_tower_lr_scale() -> f64 {
    1.0
}

fn default_count_head() -> String {
    "pooled".into()
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
    /// Training accuracy of the object probe (with `--object-supervision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_probe: Option<ObjectProbeAccuracy>,
    /// How often the kind head named the question's type (with `--kind-head`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind_head: Option<KindHeadAccuracy>,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
    /// Questions per second.
    pub questions_per_second: f64,
    /// GIFs (videos) per second.
    pub gifs_per_second: f64,
}

/// How often the object probe named an object's shape and colour right during an epoch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ObjectProbeAccuracy {
    /// Share of objects (in frames) whose shape it named.
    pub shape: f64,
    /// Share whose colour it named.
    pub colour: f64,
}

/// How often the kind head named a question's type during an epoch, in training (on the fly, with
/// dropout) and on Val (`None` without a Val split).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct KindHeadAccuracy {
    /// Share of training questions.
    pub train: f64,
    /// Share of validation questions.
    pub val: Option<f64>,
}

/// Largest `training.json` read by `--resume`, in bytes (an epoch's record is about 1 kB).
pub const MAX_STATE_BYTES: u64 = 16 << 20;

/// `training.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    /// Options of the first run.
    pub options: TrainOptions,
    /// Backend used.
    pub backend: String,
    /// Finished epochs.
    pub history: Vec<EpochRecord>,
    /// The recipe that made this folder (`trainer train --recipe`), with every stage's records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<crate::recipe::RecipeRun>,
}

/// Runs `trainer train`.
pub fn run(options: TrainOptions) -> Result<()> {
    if let Some(recipe) = &options.recipe {
        let recipe = crate::recipe::Recipe::load(recipe)?;
        let data = Some(options.data.as_path()).filter(|d| !d.as_os_str().is_empty());
        let run = crate::recipe::RunOptions {
            minutes: options.minutes,
            resume: options.resume,
            devices: options.devices.clone(),
        };
        return crate::recipe::run(&recipe, &options.out, data, &run);
    }
    let parallel = DataParallel::new(backend::devices(options.devices.as_deref())?)?;
    #[allow(clippy::clone_on_copy)] // Copy on the CPU backend, not on CUDA or wgpu.
    let device = parallel.main_device().clone();
    anyhow::ensure!(!options.data.as_os_str().is_empty(), "--data must name a dataset folder");
    data::ensure_generated(&options.data)?;
    for leftover in clean_leftovers(&options.out)? {
        eprintln!("note: removed {}, left by an interrupted run", leftover.display());
    }
    let verify = backend::verify(options.no_verify);
    let Start { model, config, tokenizer, state } =
        if options.resume { resume(&options, verify, &device)? } else { start(&options, verify, &device)? };
    let opts = state.options.clone();
    let strategy = SamplingStrategy::parse(&config.sampling, opts.shape.frames)?;
    // Checked and read before the GIFs are decoded, so a bad option fails in a second.
    let annotations = supervision_annotations(&opts, &config, strategy)?;
    let splits = load_splits(&opts, &config)?;
    data::note_truncated(&splits.train.items, &tokenizer, config.model.max_text_len, "Train");
    eprintln!(
        "training on {} GIFs / {} questions ({} backend, {}), validating on {} GIFs; {} parameters",
        splits.train.gifs.len(),
        splits.train.items.len(),
        backend::name(),
        options.devices.as_deref().map_or_else(
            || format!("default: {} device{}", parallel.len(), if parallel.len() == 1 { "" } else { "s" }),
            |list| format!("devices {list}")
        ),
        splits.val.as_ref().map_or(0, |v| v.gifs.len()),
        model.num_params()
    );

    let answer_index: HashMap<String, usize> = config.answers.iter().enumerate().map(|(i, a)| (a.clone(), i)).collect();
    // A frozen text tower gives each text the same states all run long: computed once per text.
    let tower_cache = config
        .model
        .text_tower
        .as_ref()
        .filter(|tower| tower.frozen)
        .map(|tower| TowerStateCache::new(tower.bert.hidden_size));
    let supervised = |weight: f32| annotations.as_ref().filter(|_| weight > 0.0);
    let step_context = StepContext {
        config: &config,
        texts: Texts { tokenizer: &tokenizer, cache: tower_cache.as_ref() },
        answer_index: &answer_index,
        top_k: strategy.top_k(),
        attention: supervised(opts.attention_supervision)
            .map(|annotations| AttentionSupervision { annotations, weight: opts.attention_supervision }),
        objects: supervised(opts.object_supervision)
            .map(|annotations| ObjectSupervision { annotations, weight: opts.object_supervision }),
        counts: supervised(opts.count_supervision)
            .map(|annotations| CountSupervision { annotations, weight: opts.count_supervision }),
    };
    let mut run = Run {
        opts: &opts,
        parallel: &parallel,
        context: &step_context,
        optimizers: Optimizers::new(),
        total_steps: splits.train.gifs.len().div_ceil(opts.batch_gifs) * opts.epochs,
        step: state.history.last().map_or(0, |h| h.step),
        started: Instant::now(),
    };
    let Splits { train, val, missing_lists } = splits;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ (state.history.len() as u64).wrapping_mul(0x9e37_79b9));
    let (mut model, mut state) = (model, state);
    // Shared with the batch producer thread.
    let train = Arc::new(train);
    for epoch in state.history.len() + 1..=opts.epochs {
        let epoch_start = Instant::now();
        let batches = Prefetch::epoch(train.clone(), opts.batch_gifs, strategy.frames_per_clip(), opts.augment, rng);
        let trained = run.epoch(model, &train, batches, epoch)?;
        (model, rng) = (trained.model, trained.rng);
        let seconds = epoch_start.elapsed().as_secs_f64();
        let val_report = match &val {
            Some(val) => validate(&model, &config, &tokenizer, val, strategy, &device)?,
            None => Report::new(),
        };
        let record = epoch_record(epoch, run.step, &trained.figures, &val_report, seconds, trained.seen);
        eprintln!("{}", describe(&record));
        state.history.push(record);
        save_checkpoint(&opts.out, &model, &config, &tokenizer, &state, &missing_lists)?;
        if trained.out_of_time {
            eprintln!("stopping: the --minutes budget is spent");
            break;
        }
    }
    eprintln!("model written to {}", opts.out.display());
    Ok(())
}

/// Where a run starts: the model, its folder's configuration and tokenizer, and the run's state.
struct Start {
    model: QaModel<Training>,
    config: BundleConfig,
    tokenizer: TextTokenizer,
    state: TrainState,
}

/// The checkpoint in `--out` and its recorded options (`--resume`); the folder, data, epochs and
/// minutes are taken from this command line, every other option stays the recorded run's.
fn resume(options: &TrainOptions, verify: Verify, device: &Device) -> Result<Start> {
    let bundle = ModelBundle::<Training>::load_dir_with(&options.out, verify, device).with_context(|| {
        format!(
            "--resume: cannot load the checkpoint in {} (--no-verify skips the manifest check)",
            options.out.display()
        )
    })?;
    let state_path = options.out.join(STATE_FILE);
    let state_bytes = std::fs::metadata(&state_path)
        .with_context(|| format!("--resume: no {STATE_FILE} in {}", options.out.display()))?
        .len();
    anyhow::ensure!(
        state_bytes <= MAX_STATE_BYTES,
        "--resume: {} is {state_bytes} bytes, over the limit of {MAX_STATE_BYTES}",
        state_path.display()
    );
    let text = std::fs::read_to_string(&state_path)
        .with_context(|| format!("--resume: no {STATE_FILE} in {}", options.out.display()))?;
    let mut state: TrainState = serde_json::from_str(&text).context("--resume: training.json is invalid")?;
    state.options.epochs = options.epochs;
    state.options.minutes = options.minutes;
    // The folder and data as given now (a copied or moved run resumes where it is).
    if state.options.data != options.data {
        eprintln!(
            "note: training.json recorded --data {}; using {}",
            state.options.data.display(),
            options.data.display()
        );
    }
    state.options.out = options.out.clone();
    state.options.data = options.data.clone();
    eprintln!("resuming after epoch {} (step {})", state.history.len(), state.history.last().map_or(0, |h| h.step));
    let model = bundle.model.freeze_towers(&bundle.config.model);
    Ok(Start { model, config: bundle.config, tokenizer: bundle.tokenizer, state })
}

/// A new model for `options` (or `--init`'s weights), in an `--out` that holds none yet.
fn start(options: &TrainOptions, verify: Verify, device: &Device) -> Result<Start> {
    anyhow::ensure!(
        !options.out.join(WEIGHTS_FILE).exists(),
        "{} already holds a model: pass --resume to continue it, or choose another --out",
        options.out.display()
    );
    let towers = Towers {
        text: options.text_encoder.as_deref().map(|dir| (dir, options.freeze_text_encoder)),
        vision: options.vision_encoder.as_deref().map(|dir| (dir, options.freeze_vision_encoder)),
    };
    let NewModel { mut config, tokenizer, text_bert, vision_clip, token_embeddings } =
        new_config(&options.data, &options.shape, &towers, device)?;
    // The probe exists only for its loss (`None` otherwise, as in configs written before it).
    config.model.object_probe = (options.object_supervision > 0.0).then_some(true);
    let model = match &options.init {
        Some(dir) => init_from(dir, verify, &mut config, &tokenizer, device)?,
        None => {
            let mut model = config.model.init::<Training>(device);
            if let Some(table) = token_embeddings {
                model = model.with_token_embeddings(table, device).context("--vocab minilm")?;
                eprintln!("token embedding: MiniLM's vectors reduced to {} by PCA", config.model.d_model);
            }
            if let Some(bert) = text_bert {
                model = model.with_text_bert(bert).context("the model has no text tower for --text-encoder")?;
            }
            if let Some(clip) = vision_clip {
                model = model.with_clip_vision(clip).context("the model has no vision tower for --vision-encoder")?;
            }
            model
        }
    };
    let model = model.freeze_towers(&config.model);
    let state =
        TrainState { options: options.clone(), backend: backend::name().into(), history: Vec::new(), recipe: None };
    Ok(Start { model, config, tokenizer, state })
}

/// Checks the auxiliary losses' weights against the model and its sampling, and loads the Train
/// annotations they all read (`None` when every one is off).
fn supervision_annotations(
    opts: &TrainOptions,
    config: &BundleConfig,
    strategy: SamplingStrategy,
) -> Result<Option<ObjectAnnotations>> {
    let supervisions = [
        ("--attention-supervision", opts.attention_supervision),
        ("--object-supervision", opts.object_supervision),
        ("--count-supervision", opts.count_supervision),
    ];
    for (flag, weight) in supervisions {
        anyhow::ensure!(
            weight == 0.0 || (weight.is_finite() && weight > 0.0),
            "{flag} must be a positive weight (or 0 for off), not {weight}"
        );
        anyhow::ensure!(
            weight == 0.0 || strategy.top_k().is_none(),
            "{flag} needs every question to read all sampled frames; {} picks frames per question",
            config.sampling
        );
    }
    anyhow::ensure!(
        opts.count_supervision == 0.0 || config.model.count_head() != CountHead::Pooled,
        "--count-supervision trains an event counter, and the model's count head is pooled alone \
         (use --count-head frame-evidence or pooled-and-evidence)"
    );
    if supervisions.iter().any(|&(_, weight)| weight > 0.0) {
        Ok(Some(ObjectAnnotations::load(&opts.data, "Train")?))
    } else {
        Ok(None)
    }
}

/// The splits a run reads, and the lists of the GIFs they lack.
struct Splits {
    train: Split,
    val: Option<Split>,
    /// `(file name, contents)`, kept in the model folder beside the weights.
    missing_lists: Vec<(&'static str, Vec<u8>)>,
}

/// Loads Train (with `--order-drills`) and Val (when the data has it).
fn load_splits(opts: &TrainOptions, config: &BundleConfig) -> Result<Splits> {
    let missing =
        |split: &str| MissingGifs { strict: opts.strict, list_file: Some(opts.out.join(missing_list_name(split))) };
    let mut train =
        data::load_with(&opts.data, "Train", Dataset::TgifQa, &config.preprocess, opts.max_gifs, &missing("Train"))?;
    if let Some(drills) = opts.order_drills {
        let counts = add_order_drills(&mut train, drills, &mut ChaCha8Rng::seed_from_u64(opts.seed ^ 0x0d71_11e5));
        eprintln!(
            "order drills: {} Transition and {} caption questions added to Train",
            counts.transitions, counts.captions
        );
    }
    let val = if has_split(&opts.data, "Val") {
        let val_gifs = Some(opts.val_gifs);
        Some(data::load_with(&opts.data, "Val", Dataset::TgifQa, &config.preprocess, val_gifs, &missing("Val"))?)
    } else {
        eprintln!("note: {} has no Val question files: per-epoch validation is skipped", opts.data.display());
        None
    };
    let mut missing_lists = Vec::new();
    for (split, loaded) in [("Train", Some(&train)), ("Val", val.as_ref())] {
        if let Some(list) = loaded.and_then(|l| l.missing_list.as_ref()) {
            missing_lists.push((missing_list_name(split), list.clone().into_bytes()));
        }
    }
    Ok(Splits { train, val, missing_lists })
}

/// The optimisers of a run: the model's, and one each for fine-tuned pretrained towers, so that
/// they learn at their own (lower) rates.
struct Optimizers {
    model: OptimizerAdaptor<AdamW, QaModel<Training>, Training>,
    text_tower: OptimizerAdaptor<AdamW, QaModel<Training>, Training>,
    vision_tower: OptimizerAdaptor<AdamW, QaModel<Training>, Training>,
}

impl Optimizers {
    fn new() -> Self {
        Self {
            model: optimizer_config().init(),
            text_tower: optimizer_config().init(),
            vision_tower: optimizer_config().init(),
        }
    }
}

/// What the epochs of a run share.
struct Run<'a> {
    opts: &'a TrainOptions,
    parallel: &'a DataParallel,
    context: &'a StepContext<'a>,
    optimizers: Optimizers,
    total_steps: usize,
    /// Steps taken so far, over every epoch (and the resumed run's).
    step: usize,
    /// When this process started training (the `--minutes` budget counts from here).
    started: Instant,
}

/// What an epoch of training left.
struct Epoch {
    model: QaModel<Training>,
    /// The generator after the epoch's batches (the next epoch continues it).
    rng: ChaCha8Rng,
    figures: Figures,
    /// GIFs and questions trained on.
    seen: Seen,
    /// Whether the `--minutes` budget ran out during the epoch.
    out_of_time: bool,
}

/// GIFs and questions an epoch trained on.
#[derive(Clone, Copy, Default)]
struct Seen {
    gifs: usize,
    questions: usize,
}

impl Run<'_> {
    /// Trains `model` on the epoch's `batches` of `train`.
    fn epoch(
        &mut self,
        mut model: QaModel<Training>,
        train: &Split,
        mut batches: Prefetch,
        epoch: usize,
    ) -> Result<Epoch> {
        let opts = self.opts;
        let steps = train.gifs.len().div_ceil(opts.batch_gifs);
        let bar = progress(steps as u64, &format!("epoch {epoch}/{}", opts.epochs));
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
                .filter(|q| self.step >= opts.frameqa_warmup || q.item.qtype == QuestionType::FrameQa)
                .collect();
            let clip_refs: Vec<&PreparedClip> = prepared.clips.iter().collect();
            let seen_refs: Vec<&PreparedClip> = prepared.seen().iter().collect();
            let Some(gradients) =
                self.parallel.gradients_seeing(&model, self.context, &seen_refs, &clip_refs, &questions)?
            else {
                continue;
            };
            metrics.push(gradients.metrics);
            let spent = budget_spent(opts.minutes, self.started.elapsed());
            let lr = warmup_cosine(opts.lr, opts.warmup, self.step, self.total_steps, spent);
            model = self.optimizers.model.step(lr, model, gradients.grads);
            if let Some(tower_grads) = gradients.text_tower_grads.filter(|g| !g.is_empty()) {
                model = self.optimizers.text_tower.step(lr * opts.text_encoder_lr_scale, model, tower_grads);
            }
            if let Some(tower_grads) = gradients.vision_tower_grads.filter(|g| !g.is_empty()) {
                model = self.optimizers.vision_tower.step(lr * opts.vision_encoder_lr_scale, model, tower_grads);
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
            if budget_spent(opts.minutes, self.started.elapsed()).is_some_and(|spent| spent >= 1.0) {
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

/// The record of an epoch: its training figures, and the Val report.
fn epoch_record(epoch: usize, step: usize, figures: &Figures, val: &Report, seconds: f64, seen: Seen) -> EpochRecord {
    let share = |right: usize, n: usize| right as f64 / n.max(1) as f64;
    EpochRecord {
        epoch,
        step,
        train_loss: figures.mean_loss(),
        train_accuracy: figures.tally.iter().map(|(t, (r, n))| (t.tag().to_string(), share(*r, *n))).collect(),
        val_accuracy: val.iter().map(|(t, r)| (t.clone(), r.accuracy)).collect(),
        object_probe: (figures.probe.objects > 0).then(|| ObjectProbeAccuracy {
            shape: share(figures.probe.shapes_right, figures.probe.objects),
            colour: share(figures.probe.colours_right, figures.probe.objects),
        }),
        kind_head: (figures.kinds.1 > 0)
            .then(|| KindHeadAccuracy { train: share(figures.kinds.0, figures.kinds.1), val: kind_accuracy(val) }),
        seconds,
        questions_per_second: seen.questions as f64 / seconds,
        gifs_per_second: seen.gifs as f64 / seconds,
    }
}

/// The weights of the model folder `dir`, checked to have exactly the configuration and tokenizer
/// that this run builds (so that `--init` cannot silently mix vocabularies or shapes). The answer
/// checks' weights are settings of answering, not of the weights: `config` takes them from `dir`.
fn init_from(
    dir: &Path,
    verify: Verify,
    config: &mut BundleConfig,
    tokenizer: &TextTokenizer,
    device: &backend::Device,
) -> Result<QaModel<Training>> {
    let bundle = ModelBundle::<Training>::load_dir_with(dir, verify, device).with_context(|| {
        format!("--init: cannot load the model in {} (--no-verify skips the manifest check)", dir.display())
    })?;
    config.model.count_check_weight = bundle.config.model.count_check_weight;
    config.model.order_check_weight = bundle.config.model.order_check_weight;
    // A fitted segment tagger is carried along (no loss trains it here).
    config.model.segment_tagger = bundle.config.model.segment_tagger;
    config.model.timeline_check_weight = bundle.config.model.timeline_check_weight;
    config.model.object_check_weight = bundle.config.model.object_check_weight;
    config.model.object_zoom = bundle.config.model.object_zoom;
    // The answer vocabulary is ordered by frequency in the Train split, so data of another seed
    // orders the same answers differently: the model's order is kept when the sets are equal
    // (the FrameQA head's rows stay the answers they were trained for).
    if same_answer_set(&bundle.config.answers, &config.answers) && bundle.config.answers != config.answers {
        eprintln!("note: --data orders its answers differently; keeping the order of {}", dir.display());
        config.answers = bundle.config.answers.clone();
    }
    let ours = serde_json::to_value(config)?;
    let theirs = serde_json::to_value(&bundle.config)?;
    let differing = config_differences(&theirs, &ours, "");
    anyhow::ensure!(
        differing.is_empty(),
        "--init: {} was built with another configuration than this run's ({}); pass the same data and \
         model options (--frames, --image-size, --d-model, ...) as when it was made",
        dir.display(),
        differing.join(", ")
    );
    let tokenizer_json = |t: &TextTokenizer| t.inner().to_string(false).map_err(|e| anyhow::anyhow!("{e}"));
    anyhow::ensure!(
        tokenizer_json(&bundle.tokenizer)? == tokenizer_json(tokenizer)?,
        "--init: the tokenizer.json in {} differs from the one this run builds from the Train questions of --data",
        dir.display()
    );
    eprintln!("starting from the weights in {}", dir.display());
    Ok(bundle.model)
}

/// Whether two answer vocabularies hold the same answers, in any order.
fn same_answer_set(a: &[String], b: &[String]) -> bool {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    sorted(a) == sorted(b)
}

/// Dotted paths of the leaves where two JSON values differ (`model.d_model`, `answers`).
fn config_differences(a: &serde_json::Value, b: &serde_json::Value, prefix: &str) -> Vec<String> {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|k| {
                    let null = serde_json::Value::Null;
                    let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    config_differences(x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null), &path)
                })
                .collect()
        }
        _ if a == b => Vec::new(),
        _ => vec![format!("{prefix}: {} vs {}", short(a), short(b))],
    }
}

fn short(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 { format!("{}...", text.chars().take(40).collect::<String>()) } else { text }
}

/// What a new model starts from: its configuration, its tokenizer and the weights of the
/// pretrained towers it was asked to build on.
pub struct NewModel {
    /// `config.json`.
    pub config: BundleConfig,
    /// Built from the data, or the pretrained text encoder's.
    pub tokenizer: TextTokenizer,
    /// The pretrained text tower's weights, when a text tower was given.
    pub text_bert: Option<BertModel<Training>>,
    /// The pretrained vision tower's weights, when a vision tower was given.
    pub vision_clip: Option<ClipVisionModel<Training>>,
    /// The token embedding to start from (row-major `[vocab_size, d_model]`), with `--vocab minilm`.
    pub token_embeddings: Option<Vec<f32>>,
}

/// Pretrained towers a new model is built on: Hugging Face folders, each with whether it stays
/// frozen.
#[derive(Debug, Default, Clone, Copy)]
pub struct Towers<'a> {
    /// A BERT-family text tower (`--text-encoder`).
    pub text: Option<(&'a Path, bool)>,
    /// A CLIP vision tower (`--vision-encoder`).
    pub vision: Option<(&'a Path, bool)>,
}

/// Builds the configuration and tokenizer of a new model from the training questions and the
/// pretrained `towers`: a text tower's tokenizer replaces the one built from the data; a vision
/// tower sets the input size and CLIP's normalisation.
pub fn new_config(
    data: &Path,
    options: &ModelShape,
    towers: &Towers<'_>,
    device: &backend::Device,
) -> Result<NewModel> {
    let items = load_split(data, "Train").with_context(|| format!("reading {}", data.display()))?;
    let (vision_tower, vision_clip) = match towers.vision {
        Some((dir, frozen)) => {
            let pretrained = load_clip_vision_dir::<Training>(dir, device)
                .with_context(|| format!("--vision-encoder: cannot load {}", dir.display()))?;
            (Some(PretrainedVisionConfig::new(pretrained.config).with_frozen(frozen)), Some(pretrained.model))
        }
        None => (None, None),
    };
    let preprocess = match &vision_tower {
        Some(tower) => PreprocessConfig {
            image_size: tower.clip.image_size,
            mean: CLIP_IMAGE_MEAN,
            std: CLIP_IMAGE_STD,
            ..PreprocessConfig::new(tower.clip.image_size)
        },
        None => PreprocessConfig::new(options.image_size),
    };
    anyhow::ensure!(
        towers.text.is_none() || options.vocab == VocabKind::Built,
        "--vocab minilm is for the small text encoder; --text-encoder brings its own tokenizer"
    );
    let mut token_embeddings = None;
    let (tokenizer, text_tower, text_bert) = match towers.text {
        Some((dir, frozen)) => {
            let pretrained = load_bert_dir_with_tokenizer::<Training>(dir, device)
                .with_context(|| format!("--text-encoder: cannot load {}", dir.display()))?;
            let tower = PretrainedTextConfig::new(pretrained.config).with_frozen(frozen);
            (pretrained.tokenizer, Some(tower), Some(pretrained.model))
        }
        None if options.vocab == VocabKind::Minilm => {
            let dir = minilm_dir(options.minilm.as_deref())?;
            let rule = PruneRule { frequent: options.minilm_frequent, neighbours: options.minilm_neighbours };
            let vocab = build_minilm_vocab(&dir, &items, rule)
                .with_context(|| format!("--vocab minilm: cannot build the vocabulary from {}", dir.display()))?;
            token_embeddings = Some(minilm_token_embeddings(&vocab.embeddings, &vocab.original_ids, options.d_model)?);
            eprintln!("vocabulary: {} of MiniLM's {} tokens", vocab.original_ids.len(), vocab.embeddings.rows);
            (vocab.tokenizer, None, None)
        }
        None => (build_tokenizer(&items)?, None, None),
    };
    let max_text_len =
        text_tower.as_ref().map_or(DEFAULT_MAX_TEXT_LEN, |t| DEFAULT_MAX_TEXT_LEN.min(t.bert.max_position_embeddings));
    let answers = answer_vocabulary(&items);
    let temporal = match options.temporal.as_str() {
        "transformer" => TemporalMode::Transformer,
        "mean" => TemporalMode::MeanPool,
        other => anyhow::bail!("unknown --temporal '{other}' (expected transformer or mean)"),
    };
    let count_head = match options.count_head.as_str() {
        "pooled" => CountHead::Pooled,
        "frame-evidence" => CountHead::FrameEvidence,
        "pooled-and-evidence" => CountHead::PooledAndEvidence,
        other => {
            anyhow::bail!("unknown --count-head '{other}' (expected pooled, frame-evidence or pooled-and-evidence)")
        }
    };
    let model = QaModelConfig::new(tokenizer.vocab_size(), answers.len().max(1))
        .with_d_model(options.d_model)
        .with_image_size(preprocess.image_size)
        .with_temporal_layers(options.temporal_layers)
        .with_temporal(temporal)
        .with_grid_max_token(Some(options.grid_max_token))
        .with_slot_logit_scale(Some(options.slot_logit_scale))
        .with_slot_coordinates(Some(options.slot_coordinates))
        .with_grid_attention_layers((options.grid_attention_layers > 0).then_some(options.grid_attention_layers))
        .with_max_text_len(max_text_len)
        .with_text_tower(text_tower)
        .with_vision_tower(vision_tower)
        .with_count_head(Some(count_head))
        .with_count_temporal_kernel((options.count_temporal_kernel > 0).then_some(options.count_temporal_kernel))
        .with_dropout(Some(options.dropout))
        .with_fused_captions(options.fused_captions.then_some(true))
        .with_kind_head(options.kind_head.then_some(true));
    model.check().map_err(|why| anyhow::anyhow!("bad model options: {why}"))?;
    let config = BundleConfig {
        calibration: None,
        in_world: None,
        format: FORMAT_VERSION,
        model,
        preprocess,
        sampling: match &options.sample {
            Some(text) => SamplingStrategy::parse(text, options.frames)?.to_string(),
            None => SamplingStrategy::Uniform { frames: options.frames }.to_string(),
        },
        answers,
    };
    Ok(NewModel { config, tokenizer, text_bert, vision_clip, token_embeddings })
}

/// AdamW with weight decay 0.01 and per-parameter gradient-norm clipping at 1.
pub fn optimizer_config() -> AdamWConfig {
    AdamWConfig::new().with_weight_decay(0.01).with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
}

/// Training-time sampling: one random time inside each of K equal segments (TSN-style jitter).
pub fn jittered_uniform(
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
    #[allow(clippy::clone_on_copy)] // Copy on the CPU backend, not on CUDA or wgpu.
    let evaluator = Evaluator::plain(&inference, config, tokenizer, strategy, device.clone());
    evaluator.evaluate(val, false, true)
}

/// The kind head's accuracy over every question of `report` (`None` without the head or questions).
pub fn kind_accuracy(report: &Report) -> Option<f64> {
    let (right, n) = report
        .values()
        .filter_map(|r| r.kind_accuracy.map(|a| (a * r.n as f64, r.n)))
        .fold((0.0, 0), |(right, n), (r, k)| (right + r, n + k));
    (n > 0).then(|| right / n as f64)
}

/// The missing-GIF list of a split in the model folder.
fn missing_list_name(split: &str) -> &'static str {
    if split == "Val" { "missing-gifs-Val.txt" } else { "missing-gifs-Train.txt" }
}

/// Writes the model folder; `extra` files (the missing-GIF lists) are kept in it across checkpoints.
fn save_checkpoint(
    dir: &Path,
    model: &QaModel<Training>,
    config: &BundleConfig,
    tokenizer: &TextTokenizer,
    state: &TrainState,
    extra: &[(&'static str, Vec<u8>)],
) -> Result<()> {
    let mut files = folder_files(config, &model.valid(), tokenizer)?;
    files.push((STATE_FILE, serde_json::to_vec_pretty(state)?));
    files.extend(extra.iter().cloned());
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
    // No Val split (real TGIF-QA): say so rather than print nothing.
    let fmt = |m: &BTreeMap<String, f64>| if m.is_empty() { "-".to_string() } else { fmt(m) };
    let probe = record.object_probe.map_or(String::new(), |p| {
        format!(" | object probe shape {:.1}%, colour {:.1}%", 100.0 * p.shape, 100.0 * p.colour)
    });
    let kind = record.kind_head.map_or(String::new(), |k| {
        let val = k.val.map_or(String::new(), |v| format!(", val {:.1}%", 100.0 * v));
        format!(" | kind head train {:.1}%{val}", 100.0 * k.train)
    });
    format!(
        "epoch {} (step {}): loss {:.3} | train {} | val {}{probe}{kind} | {:.0}s, {:.1} questions/s",
        record.epoch,
        record.step,
        record.train_loss,
        fmt(&record.train_accuracy),
        fmt(&record.val_accuracy),
        record.seconds,
        record.questions_per_second
    )
}
