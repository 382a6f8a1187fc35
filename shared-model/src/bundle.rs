//! A model folder: `config.json` (architecture, preprocessing, answer vocabulary), `model.safetensors`
//! and `tokenizer.json`, always loaded and saved together. The browser fetches the same three files.

use burn::prelude::*;
use burn_store::{ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};

use crate::model::{QaModel, QaModelConfig};
use crate::preprocess::PreprocessConfig;
use crate::tokenize::{TextTokenizer, TokenizeError};

/// File names inside a model folder.
pub const CONFIG_FILE: &str = "config.json";
/// Weights file name.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Tokenizer file name.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Bumped when the folder layout changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

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
        let mut model = config.model.init::<B>(device);
        load_weights(&mut model, weights)?;
        Ok(ModelBundle { config, model, tokenizer })
    }

    /// Loads a model folder from disk.
    pub fn load_dir(dir: &std::path::Path, device: &B::Device) -> Result<Self, BundleError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| BundleError::Io { path: path.display().to_string(), source })
        };
        Self::from_bytes(&read(CONFIG_FILE)?, read(WEIGHTS_FILE)?, &read(TOKENIZER_FILE)?, device)
    }
}

/// The files of a model folder, named, ready for [`write_folder_atomically`]: config, weights,
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
    let manifest = crate::manifest::Manifest::of(&files);
    files.push((crate::manifest::MANIFEST_FILE, serde_json::to_vec_pretty(&manifest)?));
    Ok(files)
}

/// Serialises a model's weights as safetensors bytes.
pub fn weights_to_bytes<B: Backend>(model: &QaModel<B>) -> Result<Vec<u8>, BundleError> {
    let mut store = SafetensorsStore::from_bytes(None);
    model.save_into(&mut store).map_err(|e| BundleError::Weights(e.to_string()))?;
    store.get_bytes().map_err(|e| BundleError::Weights(e.to_string()))
}

/// Tensor names a lenient load did not match (see [`load_weights_partially`]).
#[derive(Debug, Default)]
pub struct PartialLoad {
    /// Tensors of the model that the bytes lack (they keep their initial values).
    pub missing: Vec<String>,
    /// Tensors in the bytes that the model has no place for.
    pub unused: Vec<String>,
}

/// Loads safetensors bytes into `model`, failing on any missing, unused or mis-shaped tensor.
pub fn load_weights<B: Backend>(model: &mut QaModel<B>, weights: Vec<u8>) -> Result<(), BundleError> {
    let result = load_weights_partially(model, weights)?;
    let mut problems = Vec::new();
    if !result.missing.is_empty() {
        problems.push(format!("missing {}", result.missing.join(", ")));
    }
    if !result.unused.is_empty() {
        problems.push(format!("unused {}", result.unused.join(", ")));
    }
    if problems.is_empty() { Ok(()) } else { Err(BundleError::Weights(problems.join("; "))) }
}

/// Loads the tensors of `weights` that `model` has, reporting the rest instead of failing (for
/// tools that change a part of a trained model); mis-shaped tensors still fail.
pub fn load_weights_partially<B: Backend>(
    model: &mut QaModel<B>,
    weights: Vec<u8>,
) -> Result<PartialLoad, BundleError> {
    let mut store = SafetensorsStore::from_bytes(Some(weights)).allow_partial(true).validate(false);
    let result = model.load_from(&mut store).map_err(|e| BundleError::Weights(e.to_string()))?;
    if !result.errors.is_empty() {
        let errors: Vec<String> = result.errors.iter().map(|e| format!("{e:?}")).collect();
        return Err(BundleError::Weights(errors.join("; ")));
    }
    Ok(PartialLoad {
        missing: result.missing.iter().map(|(path, _)| path.clone()).collect(),
        unused: result.unused.clone(),
    })
}

/// Writes `files` into `dir` so that `dir` is never seen half-written.
pub fn write_folder_atomically(dir: &std::path::Path, files: &[(&str, Vec<u8>)]) -> Result<(), BundleError> {
    let io = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| BundleError::Io { path, source }
    };
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let staging = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    for (file, bytes) in files {
        std::fs::write(staging.join(file), bytes).map_err(io(&staging.join(file)))?;
    }
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(io(dir))?;
    }
    std::fs::rename(&staging, dir).map_err(io(dir))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}
