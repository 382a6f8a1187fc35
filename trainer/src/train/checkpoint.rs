//! The checkpoint: the model folder written atomically after every epoch, with its
//! `training.json` (the run's options and records), and `--resume` reading it back.

use std::path::Path;

use anyhow::{Context, Result};
use burn::module::AutodiffModule;
use serde::{Deserialize, Serialize};
use shared_model::bundle::{BundleConfig, ModelBundle, Verify, folder_files};
use shared_model::model::QaModel;
use shared_model::text::tokenize::TextTokenizer;

use super::options::TrainOptions;
use super::recipe::Recipe;
use super::records::EpochRecord;
use crate::runtime::backend::{Device, Training};
use crate::runtime::files::write_folder_atomically;

/// File in the model folder that records training progress (for `--resume` and learning curves).
pub const STATE_FILE: &str = "training.json";

/// What a model folder's `training.json` records of the recipe that made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecipeRun {
    /// The recipe.
    pub recipe: Recipe,
    /// `--minutes` of the run, if the schedule was scaled to a budget.
    pub minutes: Option<f64>,
    /// Each stage's per-epoch records, in order.
    pub stages: Vec<(String, Vec<EpochRecord>)>,
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
    pub recipe: Option<RecipeRun>,
}

/// Where a run starts: the model, its folder's configuration and tokenizer, and the run's state.
pub(super) struct Start {
    pub(super) model: QaModel<Training>,
    pub(super) config: BundleConfig,
    pub(super) tokenizer: TextTokenizer,
    pub(super) state: TrainState,
}

/// The checkpoint in `--out` and its recorded options (`--resume`); the folder, data, epochs and
/// minutes are taken from this command line, every other option stays the recorded run's.
pub(super) fn resume(options: &TrainOptions, verify: Verify, device: &Device) -> Result<Start> {
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
    state.options.schedule.epochs = options.schedule.epochs;
    state.options.schedule.minutes = options.schedule.minutes;
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

/// The missing-GIF list of a split in the model folder.
pub(super) fn missing_list_name(split: &str) -> &'static str {
    if split == "Val" { "missing-gifs-Val.txt" } else { "missing-gifs-Train.txt" }
}

/// Writes the model folder; `extra` files (the missing-GIF lists) are kept in it across checkpoints.
pub(super) fn save_checkpoint(
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
