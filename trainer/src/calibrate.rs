//! `trainer calibrate`: fits a model's temperature and unsure threshold on held-out answers (its
//! Val split) and writes them into its `config.json` (and `manifest.json`), so that a shown
//! probability of 90% means right about 9 times in 10.

use std::path::PathBuf;

use anyhow::Result;
use shared_model::bundle::{BundleConfig, CONFIG_FILE, read_manifest};
use shared_model::calibration::{calibrate, expected_calibration_error, top_answers};
use shared_model::manifest::{MANIFEST_FILE, Manifest};

use crate::backend;
use crate::data::{Dataset, MissingGifs};
use crate::eval::{Evaluator, calibration_rows};
use crate::files::{read_folder, write_folder_atomically};

/// Options of `trainer calibrate`.
#[derive(clap::Args)]
pub struct CalibrateOptions {
    /// Model folder, rewritten with the fitted calibration.
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset folder with the held-out split (TGIF-QA layout, as `trainer eval` reads).
    #[arg(long)]
    pub data: PathBuf,
    /// The held-out split to fit on (never Test).
    #[arg(long, default_value = "Val")]
    pub split: String,
    /// Fit on at most this many GIFs.
    #[arg(long)]
    pub max_gifs: Option<usize>,
    /// Load the model folder without checking it against its manifest.json.
    #[arg(long)]
    pub no_verify: bool,
}

/// Runs `trainer calibrate`.
pub fn run(options: CalibrateOptions) -> Result<()> {
    anyhow::ensure!(options.split != "Test", "calibrate on a held-out split such as Val, never on Test");
    let bundle = backend::load_model(&options.model, options.no_verify)?;
    let strategy = backend::strategy_for(&bundle.config, None)?;
    let missing = MissingGifs { strict: false, list_file: None };
    let split = crate::data::load_with(
        &options.data,
        &options.split,
        Dataset::TgifQa,
        &bundle.config.preprocess,
        options.max_gifs,
        &missing,
    )?;
    // Fitted on the raw logits: the folder's own calibration, if any, is replaced.
    let mut raw = bundle.config.clone();
    raw.calibration = None;
    let evaluator = Evaluator::plain(&bundle.model, &raw, &bundle.tokenizer, strategy, backend::device());
    let evaluation = evaluator.evaluate_with_answers(&split, false, true)?;
    let rows = calibration_rows(&evaluation.answers.iter().collect::<Vec<_>>());
    anyhow::ensure!(!rows.is_empty(), "no answers to calibrate on in {} {}", options.data.display(), options.split);
    let calibration = calibrate(&rows);
    let ece = |t| 100.0 * expected_calibration_error(&top_answers(&rows, t));
    println!(
        "{} answers of {} GIFs: temperature {:.3} (ECE {:.2}% -> {:.2}%); unsure below {:.0}% \
         (right {:.1}% below, {:.1}% at or above)",
        rows.len(),
        split.gifs.len(),
        calibration.temperature,
        ece(1.0),
        ece(calibration.temperature),
        100.0 * calibration.unsure_below,
        100.0 * calibration.right_below,
        100.0 * calibration.right_above
    );
    let config = BundleConfig { calibration: Some(calibration), ..bundle.config.clone() };
    rewrite_config(&options.model, &config)
}

/// Rewrites `dir`'s config.json and the manifest that lists it, keeping every other file.
fn rewrite_config(dir: &std::path::Path, config: &BundleConfig) -> Result<()> {
    let mut files = read_folder(dir, &[CONFIG_FILE, MANIFEST_FILE])?;
    files.push((CONFIG_FILE.to_string(), serde_json::to_vec_pretty(config)?));
    let mut borrowed: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    // The manifest lists the files the page fetches, in its order.
    let old = read_manifest(dir)?;
    let listed: Vec<(&str, Vec<u8>)> =
        old.files.iter().filter_map(|entry| borrowed.iter().find(|(n, _)| *n == entry.name).cloned()).collect();
    borrowed.push((MANIFEST_FILE, serde_json::to_vec_pretty(&Manifest::of(&listed))?));
    write_folder_atomically(dir, &borrowed)
}
