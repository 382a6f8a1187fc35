//! The options of `trainer train` (recorded in `training.json` for `--resume` and recipe
//! replay) and the model shape they share with `trainer pretrain`. Choices are enums, so the
//! model configuration is built from them without reading strings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use shared_model::model::{CountHead, TemporalMode};

use crate::data::order_drills::Drills;
use crate::vocab::{DEFAULT_MINILM_FREQUENT, DEFAULT_MINILM_NEIGHBOURS, VocabKind};

/// `--count-head`: how a new model counts (`training.json` records the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CountHeadKind {
    /// A classifier on the question-video summary.
    #[default]
    Pooled,
    /// Per-frame event evidence, summed over the sampled frames into a count.
    FrameEvidence,
    /// Both, logits added.
    PooledAndEvidence,
}

impl From<CountHeadKind> for CountHead {
    fn from(kind: CountHeadKind) -> Self {
        match kind {
            CountHeadKind::Pooled => CountHead::Pooled,
            CountHeadKind::FrameEvidence => CountHead::FrameEvidence,
            CountHeadKind::PooledAndEvidence => CountHead::PooledAndEvidence,
        }
    }
}

/// `--temporal`: how a new model combines its frames over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TemporalKind {
    /// Temporal transformer layers.
    #[default]
    Transformer,
    /// The mean over frames (ablation).
    Mean,
}

impl From<TemporalKind> for TemporalMode {
    fn from(kind: TemporalKind) -> Self {
        match kind {
            TemporalKind::Transformer => TemporalMode::Transformer,
            TemporalKind::Mean => TemporalMode::MeanPool,
        }
    }
}

/// A path as given, the empty one included (`--data` is empty when a recipe generates the data).
fn any_path(value: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(value))
}

/// Options of `trainer train`: what `training.json` records of a run (its groups are flattened,
/// so the flags and the recorded keys are the options' own names).
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
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train data-parallel on these devices, main device first: `cpu:0,cpu:1` (replicas on the
    /// CPU backend), `cuda:0,cuda:1` (--features cuda), `wgpu:0,wgpu:1` (--features wgpu).
    /// Each step's GIFs are split across them; the result equals one-device training. Default:
    /// the GPU's default device, or on the CPU one replica per core (up to 4); `cpu:0` for one.
    #[arg(long)]
    #[serde(skip)]
    pub devices: Option<String>,
    /// How long, in which steps and at which learning rate the run trains.
    #[command(flatten)]
    #[serde(flatten)]
    pub schedule: ScheduleOptions,
    /// Which examples the run reads, and how it changes them.
    #[command(flatten)]
    #[serde(flatten)]
    pub inputs: InputOptions,
    /// The auxiliary losses' weights.
    #[command(flatten)]
    #[serde(flatten)]
    pub losses: LossWeights,
    /// Pretrained towers of a new model.
    #[command(flatten)]
    #[serde(flatten)]
    pub towers: TowerOptions,
    /// The new model's architecture, input and default sampling (ignored with --resume).
    #[command(flatten)]
    #[serde(flatten)]
    pub shape: ModelShape,
}

/// How long a run trains, in which steps, at which learning rate.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[command(next_help_heading = "Schedule")]
pub struct ScheduleOptions {
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
    /// Curriculum: train only on single-frame (FrameQA) questions for this many first steps.
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub frameqa_warmup: usize,
}

/// Which training examples a run reads, and how it changes them.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[command(next_help_heading = "Inputs")]
pub struct InputOptions {
    /// Use at most this many training GIFs.
    #[arg(long)]
    pub max_gifs: Option<usize>,
    /// Validate on at most this many GIFs after each epoch.
    #[arg(long, default_value_t = 300)]
    pub val_gifs: usize,
    /// Add order drills to the Train questions (`order_drills`), made from each GIF's true
    /// caption: `transitions` (Transition questions whose distractors include later or earlier
    /// actions than the next), `captions` (caption questions whose distractors are reorderings of
    /// the true caption) or `both`.
    #[arg(long, value_enum)]
    #[serde(default)]
    pub order_drills: Option<Drills>,
    /// Augment the training clips (never validation's): per clip a brightness and contrast
    /// jitter, sometimes a slight blur, pixel noise or fewer levels per channel, drawn from the
    /// run's random generator (see `train/augment.rs`). The auxiliary losses still find objects in the
    /// clips as drawn.
    #[arg(long)]
    #[serde(default)]
    pub augment: bool,
    /// Fail when question rows reference GIFs that are not in the folder (default: report them,
    /// list them in OUT/missing-gifs-{Split}.txt, and train on the rest).
    #[arg(long)]
    #[serde(default)]
    pub strict: bool,
}

/// The auxiliary losses beside the answer losses (each of weight 1): their weights, 0 for off.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[command(next_help_heading = "Auxiliary losses")]
pub struct LossWeights {
    /// Weight of an auxiliary loss that teaches the slot attention where the question's object
    /// is: per sampled frame, the cross-entropy between the attention over the grid cells and the
    /// object's pixels found by colour (needs the generator's `{Split}_annotations.jsonl`; 0 = off).
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub attention_supervision: f32,
    /// Weight of an auxiliary loss that teaches the frame encoder what objects look like: a
    /// linear probe of the grid tokens under every visible object (pooled by its pixels, found by
    /// colour) must tell the object's shape and colour (needs the generator's annotations; adds
    /// the probe to a new model; with --init the model must have one; 0 = off).
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
}

/// Pretrained towers a new model is built on, and how they learn.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[command(next_help_heading = "Pretrained towers")]
pub struct TowerOptions {
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
}

fn default_slot_logit_scale() -> f32 {
    1.0
}

/// The options that decide a new model's architecture, input and tokenizer (shared by `train`
/// and `pretrain`, so that a pre-trained folder fits a training run given the same options).
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[command(next_help_heading = "Model")]
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
    /// How the frames are combined over time: `transformer` or `mean` (ablation).
    #[arg(long, value_enum, default_value_t = TemporalKind::Transformer)]
    pub temporal: TemporalKind,
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
    /// at the start; new models only).
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
    /// `pooled-and-evidence` (both, logits added; new models only).
    #[arg(long, value_enum, default_value_t = CountHeadKind::Pooled)]
    #[serde(default)]
    pub count_head: CountHeadKind,
    /// Kernel (odd) of two convolutions over time inside the event counter, which then reads
    /// each frame's tokens side by side; 0: each frame alone, from their mean (new models only).
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub count_temporal_kernel: usize,
    /// Dropout inside the text and temporal transformers (new models only).
    #[arg(long, default_value_t = 0.1)]
    #[serde(default = "default_dropout")]
    pub dropout: f64,
    /// Caption questions read the GIF once per candidate, with the candidate as the question
    /// (ClipBERT's multiple-choice reading), instead of once with the caption prompt: more
    /// fusion work per caption question (new models only).
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

fn default_dropout() -> f64 {
    0.1
}

#[cfg(test)]
mod tests {
    use clap::{Args, FromArgMatches};

    use super::*;

    fn parse(args: &[&str]) -> TrainOptions {
        let argv = ["train", "--data", "d", "--out", "o"].iter().chain(args);
        let matches = TrainOptions::augment_args(clap::Command::new("train")).get_matches_from(argv);
        TrainOptions::from_arg_matches(&matches).unwrap()
    }

    #[test]
    fn training_json_records_the_groups_under_the_options_own_names() {
        let options = parse(&[
            "--lr=0.01",
            "--count-head=frame-evidence",
            "--temporal=mean",
            "--object-supervision=0.5",
            "--augment",
            "--text-encoder-lr-scale=0.1",
        ]);
        let json = serde_json::to_value(&options).unwrap();
        assert_eq!((json["lr"].as_f64(), json["object_supervision"].as_f64()), (Some(0.01), Some(0.5)));
        assert_eq!((json["count_head"].as_str(), json["temporal"].as_str()), (Some("frame-evidence"), Some("mean")));
        assert_eq!((json["augment"].as_bool(), json["text_encoder_lr_scale"].as_f64()), (Some(true), Some(0.1)));
        for group in ["schedule", "inputs", "losses", "towers", "shape"] {
            assert!(json.get(group).is_none(), "{group} in {json}");
        }
        let back: TrainOptions = serde_json::from_value(json).unwrap();
        assert_eq!((back.shape.count_head, back.shape.temporal), (CountHeadKind::FrameEvidence, TemporalKind::Mean));
        assert_eq!((back.schedule.lr, back.losses.object_supervision, back.inputs.augment), (0.01, 0.5, true));
    }

    #[test]
    fn a_training_json_from_before_the_later_options_still_reads() {
        let early = r#"{"data":"d","out":"o","epochs":3,"minutes":null,"batch_gifs":16,"lr":0.002,"warmup":200,
            "frames":16,"image_size":64,"d_model":64,"temporal_layers":2,"temporal":"transformer",
            "max_gifs":null,"val_gifs":300,"seed":0}"#;
        let options: TrainOptions = serde_json::from_str(early).unwrap();
        assert_eq!(
            (options.shape.count_head, options.shape.temporal),
            (CountHeadKind::Pooled, TemporalKind::Transformer)
        );
        assert_eq!((options.towers.text_encoder_lr_scale, options.shape.slot_logit_scale), (1.0, 1.0));
        assert_eq!((options.schedule.epochs, options.inputs.val_gifs, options.losses.count_supervision), (3, 300, 0.0));
        let count_head: CountHead = options.shape.count_head.into();
        assert_eq!(count_head, CountHead::Pooled);
    }
}
