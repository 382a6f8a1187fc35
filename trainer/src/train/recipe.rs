//! Training recipes: one command from nothing to a model folder (`trainer train --recipe`). A
//! recipe (JSON) names the generated data, the `trainer train` options every stage shares (the
//! architecture), and its stages, each started from the previous stage's weights; this module
//! reads and checks recipes and turns a stage into its `trainer train` options. Running them is
//! `cook`; the model folder's `training.json` keeps the recipe, so `--recipe OUT/training.json`
//! replays it.
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, FromArgMatches};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared_model::bundle::WeightsDtype;

use super::options::TrainOptions;
use crate::generate::{Drawing, Wording};

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
    /// How the finished model's `model.safetensors` stores the weights: `f32` (the default) or
    /// `f16`, half the bytes for the page (`trainer export`). Stage checkpoints stay f32.
    #[serde(default, skip_serializing_if = "is_f32")]
    pub weights: WeightsDtype,
}

/// Whether `dtype` is the default width (left out of a written recipe).
fn is_f32(dtype: &WeightsDtype) -> bool {
    *dtype == WeightsDtype::F32
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
    pub(super) fn epochs(&self) -> usize {
        self.stages.iter().map(|s| s.epochs).sum()
    }

    /// The `trainer train` options of `stage`, as its command line would give them.
    pub(super) fn stage_options(
        &self,
        stage: &Stage,
        data: &Path,
        out: &Path,
        minutes: Option<f64>,
    ) -> Result<TrainOptions> {
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
        assert_eq!(recipe.weights, WeightsDtype::F16, "the page downloads half the weights");
    }

    #[test]
    fn a_recipe_names_its_weights_width_and_defaults_to_f32() {
        let recipe = |weights: &str| {
            format!(r#"{{"name":"t","data":{{"seed":1,"gifs":3}},"stages":[{{"name":"a","epochs":1}}]{weights}}}"#)
        };
        let parse = |json: String| Recipe::parse(json.as_bytes());
        let plain = parse(recipe("")).unwrap();
        assert_eq!(plain.weights, WeightsDtype::F32);
        assert!(
            serde_json::to_value(&plain).unwrap().get("weights").is_none(),
            "a default recipe is written as before"
        );
        let half = parse(recipe(r#","weights":"f16""#)).unwrap();
        assert_eq!(half.weights, WeightsDtype::F16);
        assert_eq!(serde_json::to_value(&half).unwrap()["weights"], "f16");
        let error = format!("{:#}", parse(recipe(r#","weights":"bf16""#)).unwrap_err());
        assert!(error.contains("bf16"), "{error}");
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
