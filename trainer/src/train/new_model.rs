//! A new model from the options: its configuration (from the model shape, the training questions
//! and any pretrained towers), its tokenizer, and its first weights (fresh, pretrained towers, or
//! `--init`'s folder checked to match).

use std::path::Path;

use anyhow::{Context, Result};
use shared_model::bundle::{BundleConfig, FORMAT_VERSION, ModelBundle, Verify, WEIGHTS_FILE};
use shared_model::model::bert::BertModel;
use shared_model::model::bert::load_bert_dir_with_tokenizer;
use shared_model::model::clip::load_clip_vision_dir;
use shared_model::model::clip::{CLIP_IMAGE_MEAN, CLIP_IMAGE_STD, ClipVisionModel};
use shared_model::model::{PretrainedTextConfig, PretrainedVisionConfig, QaModel, QaModelConfig};
use shared_model::preprocess::PreprocessConfig;
use shared_model::sampling::SamplingStrategy;
use shared_model::text::questions::{QaItem, load_split};
use shared_model::text::tokenize::TextTokenizer;

use super::checkpoint::{Start, TrainState};
use super::options::{ModelShape, TrainOptions};
use crate::runtime::backend::{self, Device, Training};
use crate::vocab::{
    PruneRule, VocabKind, answer_vocabulary, build_minilm_vocab, build_tokenizer, minilm_dir, minilm_token_embeddings,
};

/// Longest question or answer in tokens (the synthetic questions are far shorter).
const DEFAULT_MAX_TEXT_LEN: usize = 40;

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
    let vision = vision_side(towers.vision, options.image_size, device)?;
    let text = text_side(towers.text, options, &items, device)?;
    let max_text_len =
        text.tower.as_ref().map_or(DEFAULT_MAX_TEXT_LEN, |t| DEFAULT_MAX_TEXT_LEN.min(t.bert.max_position_embeddings));
    let answers = answer_vocabulary(&items);
    let model = model_config(options, text.tokenizer.vocab_size(), answers.len().max(1))
        .with_image_size(vision.preprocess.image_size)
        .with_max_text_len(max_text_len)
        .with_text_tower(text.tower)
        .with_vision_tower(vision.tower);
    model.check().map_err(|why| anyhow::anyhow!("bad model options: {why}"))?;
    let config = BundleConfig {
        calibration: None,
        in_world: None,
        format: FORMAT_VERSION,
        model,
        preprocess: vision.preprocess,
        sampling: match &options.sample {
            Some(text) => SamplingStrategy::parse(text, options.frames)?.to_string(),
            None => SamplingStrategy::Uniform { frames: options.frames }.to_string(),
        },
        answers,
    };
    let (tokenizer, text_bert, token_embeddings) = (text.tokenizer, text.bert, text.token_embeddings);
    Ok(NewModel { config, tokenizer, text_bert, vision_clip: vision.clip, token_embeddings })
}

/// The architecture `options` choose, for `vocab_size` tokens and `answers` open-ended answers
/// (the input size, text length and towers are set from the data and towers).
fn model_config(options: &ModelShape, vocab_size: usize, answers: usize) -> QaModelConfig {
    let positive = |n: usize| (n > 0).then_some(n);
    QaModelConfig::new(vocab_size, answers)
        .with_d_model(options.d_model)
        .with_temporal_layers(options.temporal_layers)
        .with_temporal(options.temporal.into())
        .with_grid_max_token(Some(options.grid_max_token))
        .with_slot_logit_scale(Some(options.slot_logit_scale))
        .with_slot_coordinates(Some(options.slot_coordinates))
        .with_grid_attention_layers(positive(options.grid_attention_layers))
        .with_count_head(Some(options.count_head.into()))
        .with_count_temporal_kernel(positive(options.count_temporal_kernel))
        .with_dropout(Some(options.dropout))
        .with_fused_captions(options.fused_captions.then_some(true))
        .with_kind_head(options.kind_head.then_some(true))
}

/// The input side of a new model: a pretrained vision tower, if any, and the preprocessing.
struct VisionSide {
    tower: Option<PretrainedVisionConfig>,
    clip: Option<ClipVisionModel<Training>>,
    /// The tower's input size and CLIP's normalisation, or `--image-size`.
    preprocess: PreprocessConfig,
}

/// Loads the `--vision-encoder` tower (folder, frozen) when there is one.
fn vision_side(tower: Option<(&Path, bool)>, image_size: usize, device: &Device) -> Result<VisionSide> {
    let Some((dir, frozen)) = tower else {
        return Ok(VisionSide { tower: None, clip: None, preprocess: PreprocessConfig::new(image_size) });
    };
    let pretrained = load_clip_vision_dir::<Training>(dir, device)
        .with_context(|| format!("--vision-encoder: cannot load {}", dir.display()))?;
    let tower = PretrainedVisionConfig::new(pretrained.config).with_frozen(frozen);
    let size = tower.clip.image_size;
    let preprocess = PreprocessConfig {
        image_size: size,
        mean: CLIP_IMAGE_MEAN,
        std: CLIP_IMAGE_STD,
        ..PreprocessConfig::new(size)
    };
    Ok(VisionSide { tower: Some(tower), clip: Some(pretrained.model), preprocess })
}

/// The text side of a new model: its tokenizer, and a pretrained tower or token embedding.
struct TextSide {
    tokenizer: TextTokenizer,
    tower: Option<PretrainedTextConfig>,
    bert: Option<BertModel<Training>>,
    /// MiniLM's token embedding reduced to the model width (`--vocab minilm`).
    token_embeddings: Option<Vec<f32>>,
}

/// The `--text-encoder` tower's tokenizer and weights, or a tokenizer from the Train `items`
/// (built from their words, or MiniLM's pruned to them).
fn text_side(
    tower: Option<(&Path, bool)>,
    options: &ModelShape,
    items: &[QaItem],
    device: &Device,
) -> Result<TextSide> {
    anyhow::ensure!(
        tower.is_none() || options.vocab == VocabKind::Built,
        "--vocab minilm is for the small text encoder; --text-encoder brings its own tokenizer"
    );
    let none = |tokenizer| TextSide { tokenizer, tower: None, bert: None, token_embeddings: None };
    match tower {
        Some((dir, frozen)) => {
            let pretrained = load_bert_dir_with_tokenizer::<Training>(dir, device)
                .with_context(|| format!("--text-encoder: cannot load {}", dir.display()))?;
            let tower = PretrainedTextConfig::new(pretrained.config).with_frozen(frozen);
            Ok(TextSide { tower: Some(tower), bert: Some(pretrained.model), ..none(pretrained.tokenizer) })
        }
        None if options.vocab == VocabKind::Minilm => {
            let dir = minilm_dir(options.minilm.as_deref())?;
            let rule = PruneRule { frequent: options.minilm_frequent, neighbours: options.minilm_neighbours };
            let vocab = build_minilm_vocab(&dir, items, rule)
                .with_context(|| format!("--vocab minilm: cannot build the vocabulary from {}", dir.display()))?;
            let table = minilm_token_embeddings(&vocab.embeddings, &vocab.original_ids, options.d_model)?;
            eprintln!("vocabulary: {} of MiniLM's {} tokens", vocab.original_ids.len(), vocab.embeddings.rows);
            Ok(TextSide { token_embeddings: Some(table), ..none(vocab.tokenizer) })
        }
        None => Ok(none(build_tokenizer(items)?)),
    }
}

/// A new model for `options` (or `--init`'s weights), in an `--out` that holds none yet.
pub(super) fn start(options: &TrainOptions, verify: Verify, device: &Device) -> Result<Start> {
    anyhow::ensure!(
        !options.out.join(WEIGHTS_FILE).exists(),
        "{} already holds a model: pass --resume to continue it, or choose another --out",
        options.out.display()
    );
    let towers = Towers {
        text: options.towers.text_encoder.as_deref().map(|dir| (dir, options.towers.freeze_text_encoder)),
        vision: options.towers.vision_encoder.as_deref().map(|dir| (dir, options.towers.freeze_vision_encoder)),
    };
    let NewModel { mut config, tokenizer, text_bert, vision_clip, token_embeddings } =
        new_config(&options.data, &options.shape, &towers, device)?;
    // The probe exists only for its loss (`None` otherwise, as in configs written before it).
    config.model.object_probe = (options.losses.object_supervision > 0.0).then_some(true);
    let model = match &options.init {
        Some(dir) => init_from(dir, verify, &mut config, &tokenizer, device)?,
        None => {
            // Initial weights drawn from `--seed`, so that a run can be repeated.
            <Training as burn::tensor::backend::Backend>::seed(device, options.seed);
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
