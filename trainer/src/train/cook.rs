//! Runs a recipe (`trainer train --recipe`): generates the data, runs every stage and writes the
//! last stage's model to `--out` (its weights in the recipe's width), whose `training.json` keeps
//! the recipe (so `--recipe OUT/training.json` replays it). Work happens in `OUT-work/` beside it
//! (`data/`, `stages/NN-NAME/` and a `.done` file per finished stage), so `--resume` continues an
//! interrupted recipe at its unfinished stage, from that stage's last checkpoint.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, ensure};

use super::checkpoint::{RecipeRun, STATE_FILE, TrainState};
use super::fit::fit;
use super::recipe::{CalibrateRecipe, Recipe};
use super::records::describe;
use crate::generate::{GenerateOptions, Renderer, generate};
use crate::runtime::files::{rewrite_model_folder, write_atomically};
use shared_model::bundle::{WEIGHTS_FILE, WeightsDtype};

/// What the command line adds to a recipe: nothing that changes the model it makes.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--minutes`: scales every stage's budget by its share of the epochs.
    pub minutes: Option<f64>,
    /// `--resume`: continue an interrupted run.
    pub resume: bool,
    /// `--devices`: where each stage trains.
    pub devices: Option<String>,
}

/// Where a recipe run works: `OUT-work` beside `--out`.
pub fn work_dir(out: &Path) -> PathBuf {
    let mut name = out.file_name().map_or_else(|| "model".into(), |n| n.to_os_string());
    name.push("-work");
    out.with_file_name(name)
}

/// Runs `recipe` into the model folder `out`: data (generated unless `data` is given), every
/// stage, then the last stage's model copied to `out` with the recipe in its `training.json`.
/// See [`RunOptions`] for what the command line adds.
pub fn run(recipe: &Recipe, out: &Path, data: Option<&Path>, run: &RunOptions) -> Result<()> {
    let RunOptions { minutes, resume, ref devices } = *run;
    let started = Instant::now();
    let work = work_dir(out);
    if !resume {
        ensure!(
            !out.join(STATE_FILE).exists() && !work.exists(),
            "{} or {} already holds a run: pass --resume to continue it, or choose another --out",
            out.display(),
            work.display()
        );
    }
    std::fs::create_dir_all(work.join("stages")).with_context(|| format!("creating {}", work.display()))?;
    let data = match data {
        Some(dir) => dir.to_path_buf(),
        None => generated_data(recipe, &work)?,
    };
    let total_epochs = recipe.epochs() as f64;
    let mut previous: Option<PathBuf> = None;
    let mut records = Vec::new();
    for (index, stage) in recipe.stages.iter().enumerate() {
        let dir = work.join("stages").join(format!("{:02}-{}", index + 1, stage.name));
        let done = dir.with_extension("done");
        let budget = minutes.map(|m| m * stage.epochs as f64 / total_epochs);
        if !done.exists() {
            let mut options = recipe.stage_options(stage, &data, &dir, budget)?;
            options.devices.clone_from(devices);
            options.resume = dir.join(STATE_FILE).exists();
            options.init = if options.resume { None } else { previous.clone() };
            eprintln!(
                "recipe {}: stage {}/{} '{}' ({} epochs{}{})",
                recipe.name,
                index + 1,
                recipe.stages.len(),
                stage.name,
                stage.epochs,
                budget.map_or(String::new(), |m| format!(", {m:.1} minutes")),
                if options.resume { ", resumed" } else { "" }
            );
            fit(options)?;
            write_atomically(&done, "finished\n")?;
        }
        records.push((stage.name.clone(), read_state(&dir)?.history));
        previous = Some(dir);
    }
    let last = previous.context("a recipe has at least one stage")?;
    if let Some(calibration) = &recipe.calibrate {
        calibrate(recipe, calibration, &last, &data)?;
    }
    let mut state = read_state(&last)?;
    state.recipe = Some(RecipeRun { recipe: recipe.clone(), minutes, stages: records });
    let mut replaced = vec![(STATE_FILE, serde_json::to_vec_pretty(&state)?)];
    if recipe.weights != WeightsDtype::F32 {
        replaced.push((WEIGHTS_FILE, crate::train::export::weights_as(&last, recipe.weights)?));
    }
    rewrite_model_folder(&last, out, &replaced)?;
    let val = state.history.last().map(describe).unwrap_or_default();
    eprintln!(
        "recipe {} finished in {:.1} min: {} (work files in {})\nlast epoch: {val}",
        recipe.name,
        started.elapsed().as_secs_f64() / 60.0,
        out.display(),
        work.display()
    );
    Ok(())
}

/// Calibrates the last stage's model in place (once: a `.calibrated` file beside it records it).
fn calibrate(recipe: &Recipe, calibration: &CalibrateRecipe, last: &Path, data: &Path) -> Result<()> {
    let done = last.with_extension("calibrated");
    if done.exists() {
        return Ok(());
    }
    eprintln!(
        "recipe {}: calibrating on Val ({} GIFs) and Train ({} GIFs)",
        recipe.name, calibration.max_gifs, calibration.world_gifs
    );
    crate::eval::calibrate::run(crate::eval::calibrate::CalibrateOptions {
        model: last.to_path_buf(),
        data: data.to_path_buf(),
        split: "Val".into(),
        max_gifs: Some(calibration.max_gifs),
        world_gifs: calibration.world_gifs,
        out_of_world: Vec::new(),
        no_verify: false,
    })?;
    write_atomically(&done, "calibrated\n")
}

/// `OUT-work/data`, generated from the recipe's seed unless an earlier run already did.
fn generated_data(recipe: &Recipe, work: &Path) -> Result<PathBuf> {
    let dir = work.join("data");
    if dir.exists() {
        return Ok(dir);
    }
    eprintln!(
        "recipe {}: generating {} GIFs (seed {}, {:?} wording, {:?} drawing)",
        recipe.name, recipe.data.gifs, recipe.data.seed, recipe.data.wording, recipe.data.drawing
    );
    let bar = crate::runtime::progress::progress(recipe.data.gifs as u64, "generating GIFs");
    let options = GenerateOptions {
        out: dir.clone(),
        seed: recipe.data.seed,
        gifs: recipe.data.gifs,
        wording: recipe.data.wording,
        renderer: Renderer::Primary,
        drawing: recipe.data.drawing,
    };
    generate(&options, &|| bar.inc(1))?;
    bar.finish_and_clear();
    Ok(dir)
}

/// A stage folder's `training.json`.
fn read_state(dir: &Path) -> Result<TrainState> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{} is invalid", path.display()))
}
