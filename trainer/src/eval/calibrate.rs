//! `trainer calibrate`: fits a model's temperature and unsure threshold on held-out answers (its
//! Val split), so that a shown probability of 90% means right about 9 times in 10, and its
//! in-world statistics on Train GIFs with their threshold on the same held-out GIFs (see
//! `shared_model::in_world`); writes them into its `config.json` (and `manifest.json`).

use std::path::PathBuf;

use anyhow::Result;
use shared_model::bundle::{BundleConfig, CONFIG_FILE};
use shared_model::trust::calibration::{calibrate, expected_calibration_error, top_answers};

use crate::runtime::backend;
use shared_model::bundle::ModelBundle;
use shared_model::sampling::SamplingStrategy;
use shared_model::trust::in_world::InWorld;

use crate::data::{Dataset, MissingGifs, Split};
use crate::eval::{Evaluator, calibration_rows};
use crate::runtime::files::rewrite_model_folder;

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
    /// Training GIFs (of the same dataset's Train split) the in-world statistics are fitted on;
    /// the held-out split's GIFs then choose the out-of-world threshold.
    #[arg(long, default_value_t = 2000)]
    pub world_gifs: usize,
    /// Folders of GIFs from outside the model's world (real GIFs, photographs): reports how many
    /// of them the fitted threshold flags. They are only measured; nothing is fitted on them.
    #[arg(long)]
    pub out_of_world: Vec<PathBuf>,
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
    let in_world = fit_in_world(&bundle, strategy, &split, &options)?;
    let fitted =
        ModelBundle { config: BundleConfig { in_world: Some(in_world.clone()), ..bundle.config.clone() }, ..bundle };
    for dir in &options.out_of_world {
        report_flagged(&fitted, strategy, dir)?;
    }
    let bundle = fitted;
    let config = BundleConfig { calibration: Some(calibration), in_world: Some(in_world), ..bundle.config.clone() };
    rewrite_config(&options.model, &config)
}

/// Prints how many GIFs of `dir` the fitted in-world threshold flags, naming those it misses.
fn report_flagged(
    bundle: &ModelBundle<backend::Compute>,
    strategy: SamplingStrategy,
    dir: &std::path::Path,
) -> Result<()> {
    let threshold = bundle.config.in_world.as_ref().map_or(f32::INFINITY, |s| s.threshold);
    let scores = crate::eval::in_world::folder_scores(bundle, strategy, dir)?;
    let missed: Vec<String> = scores
        .distances
        .iter()
        .filter(|(_, d)| !shared_model::trust::in_world::is_past(*d, threshold))
        .map(|(name, d)| format!("{name} ({d:.2})"))
        .collect();
    let flagged = scores.distances.len() - missed.len();
    println!(
        "out of world: {flagged} of {} GIFs in {} flagged ({:.1}%){}{}",
        scores.distances.len(),
        dir.display(),
        100.0 * flagged as f64 / scores.distances.len().max(1) as f64,
        if missed.is_empty() { String::new() } else { format!("; not flagged: {}", missed.join(", ")) },
        if scores.unreadable.is_empty() {
            String::new()
        } else {
            format!("; {} unreadable files skipped", scores.unreadable.len())
        }
    );
    Ok(())
}

/// Fits the in-world statistics on Train GIFs and chooses the threshold on `held_out`'s.
fn fit_in_world(
    bundle: &ModelBundle<backend::Compute>,
    strategy: SamplingStrategy,
    held_out: &Split,
    options: &CalibrateOptions,
) -> Result<InWorld> {
    let missing = MissingGifs { strict: false, list_file: None };
    let train = crate::data::load_with(
        &options.data,
        "Train",
        Dataset::TgifQa,
        &bundle.config.preprocess,
        Some(options.world_gifs),
        &missing,
    )?;
    let device = backend::device();
    let features = |split: &Split, what: &str| {
        crate::eval::in_world::split_features(&bundle.model, &bundle.config, strategy, split, &device, what)
    };
    let statistics = crate::eval::in_world::fit(
        &features(&train, "in-world features of Train")?,
        &features(held_out, &format!("in-world features of {}", options.split))?,
    )?;
    println!(
        "in world: fitted on {} Train GIFs; out of world past distance {:.2} ({:.1}% of {} {} GIFs past it)",
        statistics.fitted_on,
        statistics.threshold,
        100.0 * statistics.flagged_held_out,
        statistics.chosen_on,
        options.split
    );
    Ok(statistics)
}

/// Rewrites `dir`'s config.json and the manifest that lists it, keeping every other file.
fn rewrite_config(dir: &std::path::Path, config: &BundleConfig) -> Result<()> {
    rewrite_model_folder(dir, dir, &[(CONFIG_FILE, serde_json::to_vec_pretty(config)?)])
}
