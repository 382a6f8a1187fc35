//! `trainer train --recipe`: one command from nothing to a model folder. A recipe (JSON) names the
//! generated data, the `trainer train` options every stage shares (the architecture), and its
//! stages, each started from the previous stage's weights; the runner generates the data, runs
//! every stage and writes the last stage's model to `--out`, whose `training.json` keeps the
//! recipe (so `--recipe OUT/training.json` replays it). Work happens in `OUT-work/` beside it
//! (`data/`, `stages/NN-NAME/` and a `.done` file per finished stage), so `--resume` continues an
//! interrupted recipe at its unfinished stage, from that stage's last checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, FromArgMatches};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::checkpoint::{STATE_FILE, TrainState};
use super::options::TrainOptions;
use super::records::{EpochRecord, describe};
use crate::files::{read_folder, write_atomically, write_folder_atomically};
use crate::generate::{Drawing, GenerateOptions, Renderer, Wording, generate};

/// The recipe of the page's model, built in (`--recipe demo`).
const DEMO: &str = include_str!("../../recipes/demo.json");

/// Largest recipe file read, in bytes.
pub const MAX_RECIPE_BYTES: u64 = 16 << 20;

/// Options a recipe may not set: the runner sets them per stage.
const RUNNER_OPTIONS: [&str; 8] = ["data", "out", "resume", "init", "epochs", "minutes", "no-verify", "recipe"];

/// A training recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Short name, shown in logs.
    pub name: String,
    /// What the recipe makes, for people.
    #[serde(default)]
    pub about: String,
    /// The synthetic benchmark the stages train on (unless `--data` is given).
    pub data: DataRecipe,
    /// `trainer train` options (flag name without `--` → value; `true` for a bare flag) that every
    /// stage shares: the architecture, which each stage must keep to start from the last.
    #[serde(default)]
    pub model: BTreeMap<String, Value>,
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// `trainer calibrate` on the last stage's model (temperature, unsure threshold, in-world
    /// score), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibrate: Option<CalibrateRecipe>,
}

/// The calibration that ends a recipe: fitted on the data's Val split (and, for the in-world
/// score, its Train GIFs), never on Test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CalibrateRecipe {
    /// `trainer calibrate --max-gifs`: Val GIFs the temperature and thresholds are fitted on.
    pub max_gifs: usize,
    /// `trainer calibrate --world-gifs`: Train GIFs the in-world statistics are fitted on.
    pub world_gifs: usize,
}

/// The generated data of a recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRecipe {
    /// `trainer generate --seed`.
    pub seed: u64,
    /// `trainer generate --gifs`.
    pub gifs: usize,
    /// `trainer generate --wording`: `templates` (the default) or `seen`, the training pool of
    /// phrasings. `unseen` is refused: those phrasings are held out for measuring.
    #[serde(default)]
    pub wording: Wording,
    /// `trainer generate --drawing`: `plain` (the default) or `varied`, the primary renderer's
    /// many looks.
    #[serde(default)]
    pub drawing: Drawing,
}

/// One stage: a `trainer train` run from the previous stage's weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Short name (its folder is `stages/NN-NAME`).
    pub name: String,
    /// Epochs of this stage.
    pub epochs: usize,
    /// Further `trainer train` options of this stage (flag name → value).
    #[serde(default)]
    pub options: BTreeMap<String, Value>,
}

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

impl Recipe {
    /// `demo`, a recipe file, or a model folder's `training.json` (its recipe).
    pub fn load(name_or_path: &str) -> Result<Self> {
        if name_or_path == "demo" {
            return Self::parse(DEMO.as_bytes()).context("the built-in demo recipe");
        }
        let path = Path::new(name_or_path);
        let bytes = std::fs::metadata(path)
            .with_context(|| format!("--recipe {name_or_path}: not `demo` and not a readable file"))?
            .len();
        ensure!(bytes <= MAX_RECIPE_BYTES, "{} is {bytes} bytes, over the limit of {MAX_RECIPE_BYTES}", path.display());
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("reading the recipe in {}", path.display()))
    }

    /// A recipe from JSON: the recipe itself, or a `training.json` holding one.
    pub fn parse(json: &[u8]) -> Result<Self> {
        let value: Value = serde_json::from_slice(json)?;
        let recipe = match value.get("recipe") {
            Some(Value::Null) => bail!("this training.json was written by a plain `trainer train`, not a recipe"),
            Some(run) => run.get("recipe").cloned().context("training.json's recipe has no `recipe` field")?,
            None => value,
        };
        let recipe: Recipe = serde_json::from_value(recipe)?;
        recipe.check()?;
        Ok(recipe)
    }

    /// Refuses empty recipes and options the runner sets itself, and checks that every stage's
    /// options parse as `trainer train`'s.
    fn check(&self) -> Result<()> {
        ensure!(!self.stages.is_empty(), "recipe {} has no stages", self.name);
        ensure!(
            self.data.wording != Wording::Unseen,
            "recipe {}: data.wording \"unseen\" names the held-out phrasings, which no training may see; use \"seen\"",
            self.name
        );
        for stage in &self.stages {
            ensure!(stage.epochs > 0, "stage {} has no epochs", stage.name);
            ensure!(
                !stage.name.is_empty() && stage.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "stage name '{}' must be letters, digits and '-'",
                stage.name
            );
            for flag in self.model.keys().chain(stage.options.keys()) {
                ensure!(!RUNNER_OPTIONS.contains(&flag.as_str()), "stage {}: the runner sets --{flag}", stage.name);
            }
            self.stage_options(stage, Path::new("data"), Path::new("out"), None)
                .with_context(|| format!("stage {}", stage.name))?;
        }
        Ok(())
    }

    /// Total epochs over the stages.
    fn epochs(&self) -> usize {
        self.stages.iter().map(|s| s.epochs).sum()
    }

    /// The `trainer train` options of `stage`, as its command line would give them.
    fn stage_options(&self, stage: &Stage, data: &Path, out: &Path, minutes: Option<f64>) -> Result<TrainOptions> {
        let mut argv: Vec<String> = vec!["train".into(), "--epochs".into(), stage.epochs.to_string()];
        argv.extend(["--data".into(), data.display().to_string(), "--out".into(), out.display().to_string()]);
        if let Some(minutes) = minutes {
            argv.push(format!("--minutes={minutes}"));
        }
        for (flag, value) in self.model.iter().chain(&stage.options) {
            match value {
                Value::Bool(true) => argv.push(format!("--{flag}")),
                Value::Bool(false) => {}
                Value::Number(n) => argv.push(format!("--{flag}={n}")),
                Value::String(s) => argv.push(format!("--{flag}={s}")),
                other => bail!("--{flag}: {other} is not a flag's value (use a number, a string or true)"),
            }
        }
        let matches = TrainOptions::augment_args(clap::Command::new("train"))
            .try_get_matches_from(&argv)
            .map_err(|e| anyhow::anyhow!("{}", e.render().to_string().lines().next().unwrap_or_default()))?;
        Ok(TrainOptions::from_arg_matches(&matches)?)
    }
}

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
            super::fit::fit(options)?;
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
    let mut files = read_folder(&last, &[STATE_FILE])?;
    files.push((STATE_FILE.to_string(), serde_json::to_vec_pretty(&state)?));
    let borrowed: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    write_folder_atomically(out, &borrowed)?;
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
    crate::calibrate::run(crate::calibrate::CalibrateOptions {
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
    let bar = crate::progress::progress(recipe.data.gifs as u64, "generating GIFs");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_recipe_parses_into_stage_options() {
        let recipe = Recipe::load("demo").unwrap();
        assert_eq!(recipe.stages.len(), 2);
        let learn = recipe.stage_options(&recipe.stages[0], Path::new("d"), Path::new("o"), Some(12.0)).unwrap();
        assert_eq!((learn.schedule.epochs, learn.shape.frames, learn.schedule.minutes), (10, 48, Some(12.0)));
        assert!(learn.shape.slot_coordinates && learn.shape.fused_captions && learn.shape.kind_head);
        assert_eq!(learn.shape.count_head, crate::train::CountHeadKind::PooledAndEvidence);
        let settle = recipe.stage_options(&recipe.stages[1], Path::new("d"), Path::new("o"), None).unwrap();
        assert_eq!((settle.schedule.lr, settle.shape.frames, settle.schedule.frameqa_warmup), (0.0003, 48, 0));
    }

    #[test]
    fn a_recipe_names_the_minilm_vocabulary_and_training_json_records_it() {
        use crate::vocab::VocabKind;
        let recipe = |model: &str, options: &str| {
            format!(
                r#"{{"name":"t","data":{{"seed":1,"gifs":3}},"model":{{{model}}},"stages":[{{"name":"a","epochs":1,"options":{{{options}}}}}]}}"#
            )
        };
        let parse = |json: String| Recipe::parse(json.as_bytes());
        let options = |recipe: &Recipe| recipe.stage_options(&recipe.stages[0], Path::new("d"), Path::new("o"), None);
        let minilm = parse(recipe(r#""vocab":"minilm","minilm-neighbours":4"#, "")).unwrap();
        let shape = options(&minilm).unwrap().shape;
        assert_eq!((shape.vocab, shape.minilm_neighbours, shape.minilm.as_deref()), (VocabKind::Minilm, 4, None));
        let in_stage = parse(recipe("", r#""vocab":"minilm","minilm":"/models/minilm""#)).unwrap();
        let shape = options(&in_stage).unwrap().shape;
        assert_eq!((shape.vocab, shape.minilm.as_deref()), (VocabKind::Minilm, Some(Path::new("/models/minilm"))));
        let error = format!("{:#}", parse(recipe(r#""vocab":"glove""#, "")).unwrap_err());
        assert!(error.contains("glove"), "{error}");
        // training.json keeps the choice under the flag's name, and a default run's has no trace
        // of the option (its files stay as they were before it).
        let recorded = serde_json::to_value(options(&minilm).unwrap()).unwrap();
        assert_eq!((recorded["vocab"].as_str(), recorded["minilm_neighbours"].as_u64()), (Some("minilm"), Some(4)));
        let plain = serde_json::to_value(options(&parse(recipe("", "")).unwrap()).unwrap()).unwrap();
        for key in ["vocab", "minilm", "minilm_frequent", "minilm_neighbours"] {
            assert!(plain.get(key).is_none(), "{key} in {plain}");
        }
        let back: TrainOptions = serde_json::from_value(recorded).unwrap();
        assert_eq!((back.shape.vocab, back.shape.minilm_neighbours), (VocabKind::Minilm, 4));
    }

    #[test]
    fn bad_recipes_are_refused_with_the_reason() {
        let with = |stage: &str| format!(r#"{{"name":"t","data":{{"seed":1,"gifs":3}},"stages":[{stage}]}}"#);
        let error = |json: String| format!("{:#}", Recipe::parse(json.as_bytes()).unwrap_err());
        assert!(error(with(r#"{"name":"a","epochs":1,"options":{"out":"x"}}"#)).contains("the runner sets --out"));
        assert!(error(with(r#"{"name":"a","epochs":1,"options":{"no-such-flag":1}}"#)).contains("no-such-flag"));
        assert!(error(with(r#"{"name":"a","epochs":0}"#)).contains("no epochs"));
        assert!(error(with(r#"{"name":"a b","epochs":1}"#)).contains("letters, digits"));
        assert!(error(r#"{"name":"t","data":{"seed":1,"gifs":3},"stages":[]}"#.into()).contains("no stages"));
        assert!(error(r#"{"recipe":null}"#.into()).contains("plain `trainer train`"));
        let worded = |wording: &str| {
            format!(
                r#"{{"name":"t","data":{{"seed":1,"gifs":3,"wording":"{wording}"}},"stages":[{{"name":"a","epochs":1}}]}}"#
            )
        };
        assert!(error(worded("unseen")).contains("held-out phrasings"));
        assert!(error(worded("shouted")).contains("shouted"));
        let seen = Recipe::parse(worded("seen").as_bytes()).unwrap();
        assert_eq!(seen.data.drawing, Drawing::Plain);
        let varied = r#"{"name":"t","data":{"seed":1,"gifs":3,"drawing":"varied"},"stages":[{"name":"a","epochs":1}]}"#;
        assert_eq!(Recipe::parse(varied.as_bytes()).unwrap().data.drawing, Drawing::Varied);
        assert_eq!(seen.data.wording, Wording::Seen);
        let plain = Recipe::parse(with(r#"{"name":"a","epochs":1}"#).as_bytes()).unwrap();
        assert_eq!(plain.data.wording, Wording::Templates);
    }
}
