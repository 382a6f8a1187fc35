//! A model folder: `config.json` (architecture, preprocessing, answer vocabulary), `model.safetensors`
//! and `tokenizer.json`, always loaded and saved together, with `manifest.json` listing each file's
//! size and SHA-256. The browser fetches the same files.
//!
//! Loading checks, before anything is used: every file against the manifest (so a damaged or
//! swapped file is named instead of answering with garbage), each file's size against a limit
//! (before it is read), and every weight for NaN and infinity. Weights are stored in f32 or f16
//! ([`WeightsDtype`]) and always loaded into the f32 model.

pub mod manifest;
mod weights;

pub use weights::{
    PartialLoad, WeightsDtype, check_finite, load_weights, load_weights_partially, weights_to_bytes,
    weights_to_bytes_as,
};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::model::{QaModel, QaModelConfig};
use crate::preprocess::PreprocessConfig;
use crate::text::tokenize::{TextTokenizer, TokenizeError};

/// File names inside a model folder.
pub const CONFIG_FILE: &str = "config.json";
/// Weights file name.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Tokenizer file name.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Bumped when the folder layout changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

/// Largest `config.json` and `manifest.json` read, in bytes (ours are about 2 kB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Largest `tokenizer.json` read, in bytes (a real BERT's WordPiece file is about 700 kB).
pub const MAX_TOKENIZER_BYTES: u64 = 64 << 20;
/// Largest `model.safetensors` read, in bytes (a CLIP ViT-B/32 tower in f32 is about 350 MB).
pub const MAX_WEIGHTS_BYTES: u64 = 1 << 30;

/// The size limit of a model-folder file, by name.
pub fn max_file_bytes(name: &str) -> u64 {
    match name {
        WEIGHTS_FILE => MAX_WEIGHTS_BYTES,
        TOKENIZER_FILE => MAX_TOKENIZER_BYTES,
        _ => MAX_CONFIG_BYTES,
    }
}

/// Whether [`ModelBundle::load_dir_with`] checks the folder's files against `manifest.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Every file must match the manifest, and a folder without one is refused (the default).
    Manifest,
    /// Load without a manifest (sizes are still bounded and weights still checked for NaN).
    Skip,
}

/// Everything in `config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleConfig {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// Architecture.
    pub model: QaModelConfig,
    /// Frame preprocessing.
    pub preprocess: PreprocessConfig,
    /// Default sampling strategy for inference, e.g. `uniform:16`.
    pub sampling: String,
    /// Open-ended answer vocabulary, index = class of the answer head.
    pub answers: Vec<String>,
    /// Temperature and unsure threshold fitted on held-out answers (`trainer calibrate`); `None`:
    /// probabilities are the raw softmax and the unsure threshold is [`crate::trust::calibration::UNSURE_BELOW`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::trust::calibration::Calibration>,
    /// Statistics of the training GIFs' features and the out-of-world threshold (`trainer
    /// calibrate`); `None`: answers carry no in-world score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_world: Option<crate::trust::in_world::InWorld>,
}

impl BundleConfig {
    /// The temperature logits are divided by before the softmax (1 when uncalibrated).
    pub fn temperature(&self) -> f32 {
        self.calibration.map_or(1.0, |c| c.temperature)
    }

    /// Top-answer probability below which an answer is reported unsure.
    pub fn unsure_below(&self) -> f32 {
        self.calibration.map_or(crate::trust::calibration::UNSURE_BELOW, |c| c.unsure_below)
    }
}

/// A loaded model with its configuration and tokenizer.
pub struct ModelBundle<B: Backend> {
    /// `config.json`.
    pub config: BundleConfig,
    /// The network.
    pub model: QaModel<B>,
    /// The tokenizer.
    pub tokenizer: TextTokenizer,
}

/// Errors loading or saving a model folder.
#[derive(Debug, thiserror::Error)]
// Each variant's fields are named in its #[error] message and its doc line.
#[allow(missing_docs)]
pub enum BundleError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// `config.json` is not valid.
    #[error("config.json is invalid: {0}")]
    Config(#[from] serde_json::Error),
    /// The architecture in config.json cannot be built.
    #[error("config.json describes an impossible model: {0}")]
    Invalid(String),
    /// Wrong layout version.
    #[error("config.json has format {found}, this build reads format {FORMAT_VERSION}")]
    Format { found: u32 },
    /// Tokenizer problem.
    #[error(transparent)]
    Tokenizer(#[from] TokenizeError),
    /// Tokenizer and model disagree (the two files come from different models).
    #[error(
        "tokenizer.json has a vocabulary of {tokenizer} tokens but config.json's model.vocab_size is {model}: \
         the two files must come from the same model"
    )]
    VocabMismatch { tokenizer: usize, model: usize },
    /// Weights do not fit the architecture.
    #[error("model.safetensors does not match config.json: {0}")]
    Weights(String),
    /// The folder has no `manifest.json`, so its files cannot be checked.
    #[error("{dir} has no manifest.json, so its files cannot be checked")]
    NoManifest { dir: String },
    /// `manifest.json` is not valid JSON of the expected shape.
    #[error("manifest.json is invalid: {0}")]
    ManifestInvalid(serde_json::Error),
    /// A file differs from what `manifest.json` lists (damaged, truncated or from another model).
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    /// A file is larger than its limit ([`max_file_bytes`]).
    #[error("{name} is {bytes} bytes, over the limit of {limit} bytes for that file")]
    TooLarge { name: String, bytes: u64, limit: u64 },
    /// Weights hold NaN or infinity (a damaged file, or a diverged training run).
    #[error("model.safetensors is damaged: tensor {tensor} holds {count} values that are not finite numbers")]
    NonFinite { tensor: String, count: usize },
}

impl<B: Backend> ModelBundle<B> {
    /// Builds a bundle from the three files' bytes (what the browser fetches).
    pub fn from_bytes(
        config_json: &[u8],
        weights: Vec<u8>,
        tokenizer_json: &[u8],
        device: &B::Device,
    ) -> Result<Self, BundleError> {
        let config: BundleConfig = serde_json::from_slice(config_json)?;
        if config.format != FORMAT_VERSION {
            return Err(BundleError::Format { found: config.format });
        }
        config.model.check().map_err(BundleError::Invalid)?;
        let tokenizer = TextTokenizer::from_bytes(tokenizer_json)?;
        if tokenizer.vocab_size() != config.model.vocab_size {
            return Err(BundleError::VocabMismatch {
                tokenizer: tokenizer.vocab_size(),
                model: config.model.vocab_size,
            });
        }
        check_finite(&weights)?;
        let mut model = config.model.init::<B>(device);
        load_weights(&mut model, weights)?;
        Ok(ModelBundle { config, model, tokenizer })
    }

    /// Loads a model folder from disk, checked against its `manifest.json`.
    pub fn load_dir(dir: &std::path::Path, device: &B::Device) -> Result<Self, BundleError> {
        Self::load_dir_with(dir, Verify::Manifest, device)
    }

    /// Loads a model folder from disk; `verify` says whether its files are checked against
    /// `manifest.json` (sizes are bounded either way).
    pub fn load_dir_with(dir: &std::path::Path, verify: Verify, device: &B::Device) -> Result<Self, BundleError> {
        let manifest = match verify {
            Verify::Manifest => Some(read_manifest(dir)?),
            Verify::Skip => None,
        };
        let read = |name: &str| -> Result<Vec<u8>, BundleError> {
            if let Some(manifest) = &manifest {
                manifest.entry(name)?;
            }
            let bytes = read_bounded(&dir.join(name), name)?;
            if let Some(manifest) = &manifest {
                manifest.verify(name, &bytes)?;
            }
            Ok(bytes)
        };
        Self::from_bytes(&read(CONFIG_FILE)?, read(WEIGHTS_FILE)?, &read(TOKENIZER_FILE)?, device)
    }
}

/// Reads `dir/manifest.json` ([`BundleError::NoManifest`] when there is none).
pub fn read_manifest(dir: &std::path::Path) -> Result<manifest::Manifest, BundleError> {
    let path = dir.join(manifest::MANIFEST_FILE);
    if !path.exists() {
        return Err(BundleError::NoManifest { dir: dir.display().to_string() });
    }
    let bytes = read_bounded(&path, manifest::MANIFEST_FILE)?;
    serde_json::from_slice(&bytes).map_err(BundleError::ManifestInvalid)
}

/// Reads a model-folder file, refusing one over its size limit before reading it.
fn read_bounded(path: &std::path::Path, name: &str) -> Result<Vec<u8>, BundleError> {
    let io = |source| BundleError::Io { path: path.display().to_string(), source };
    let bytes = std::fs::metadata(path).map_err(io)?.len();
    let limit = max_file_bytes(name);
    if bytes > limit {
        return Err(BundleError::TooLarge { name: name.to_string(), bytes, limit });
    }
    std::fs::read(path).map_err(io)
}

/// The files of a model folder, named, ready to be written as one folder: config, weights,
/// tokenizer and the manifest listing them (reads tensors synchronously: native backends only).
pub fn folder_files<B: Backend>(
    config: &BundleConfig,
    model: &QaModel<B>,
    tokenizer: &TextTokenizer,
) -> Result<Vec<(&'static str, Vec<u8>)>, BundleError> {
    let tokenizer_json = tokenizer
        .inner()
        .to_string(false)
        .map_err(|e| BundleError::Tokenizer(TokenizeError::Invalid(e.to_string())))?;
    let mut files = vec![
        (CONFIG_FILE, serde_json::to_vec_pretty(config)?),
        (WEIGHTS_FILE, weights_to_bytes(model)?),
        (TOKENIZER_FILE, tokenizer_json.into_bytes()),
    ];
    let manifest = manifest::Manifest::of(&files);
    files.push((manifest::MANIFEST_FILE, serde_json::to_vec_pretty(&manifest)?));
    Ok(files)
}
