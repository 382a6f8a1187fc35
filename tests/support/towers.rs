//! What the pretrained-tower CLI tests share (`text_encoder.rs`, `vision_encoder.rs`): running the
//! trainer binary, finding the parity fixtures, the three training runs each file makes (frozen,
//! resumed, fine-tuned), reading a module's weights, and predict + eval on a trained folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::backend::Flex;
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use serde_json::Value;
use shared_model::bundle::ModelBundle;

pub type B = Flex;

const TRAINER: &str = env!("CARGO_BIN_EXE_trainer");

pub fn run(args: &[&str]) -> Output {
    Command::new(TRAINER).args(args).output().expect("running trainer")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `../shared/data/parity/NAME`, or `None` (with a note) when the shared data is absent.
pub fn parity_dir(name: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/parity").join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: {} not found (the workplace's shared data sits beside the repository)", dir.display());
        None
    }
}

/// A generated dataset and the three model folders trained on it.
pub struct TowerRuns {
    pub root: PathBuf,
    pub data: PathBuf,
    /// Trained with the tower frozen for one epoch, then resumed for a second.
    pub frozen: PathBuf,
    /// Trained with the tower fine-tuned at the full learning rate for one epoch.
    pub tuned: PathBuf,
}

/// The `train` arguments for (data, out, encoder folder).
pub type TrainArgs = for<'a> fn(&'a str, &'a str, &'a str) -> Vec<&'a str>;

/// Generates a 30-GIF benchmark (`seed`) in a fresh temp folder `gifqa-{name}-PID`, makes the
/// encoder folder with `encoder(root)`, and trains through the CLI: frozen (`freeze_flag`) for one
/// epoch, resumed to two, and fine-tuned with `lr_scale_flag 1` for one epoch.
pub fn train_frozen_resumed_and_tuned(
    name: &str,
    seed: &str,
    encoder: impl FnOnce(&Path) -> PathBuf,
    train_args: TrainArgs,
    freeze_flag: &str,
    lr_scale_flag: &str,
) -> TowerRuns {
    let root = std::env::temp_dir().join(format!("gifqa-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let data = root.join("data");
    let generate = run(&["generate", "--out", data.to_str().unwrap(), "--seed", seed, "--gifs", "30"]);
    assert!(generate.status.success(), "{}", stderr(&generate));
    let encoder = encoder(&root);
    let (frozen, tuned) = (root.join("frozen"), root.join("tuned"));
    let (d, e) = (data.to_str().unwrap(), encoder.to_str().unwrap());
    for extra in [["--epochs", "1", freeze_flag], ["--epochs", "2", "--resume"]] {
        let mut args = train_args(d, frozen.to_str().unwrap(), e);
        args.extend(extra);
        let train = run(&args);
        assert!(train.status.success(), "{}", stderr(&train));
    }
    let mut args = train_args(d, tuned.to_str().unwrap(), e);
    args.extend(["--epochs", "1", lr_scale_flag, "1"]);
    let train = run(&args);
    assert!(train.status.success(), "{}", stderr(&train));
    TowerRuns { root, data, frozen, tuned }
}

/// Every float parameter of a module, flattened, in visiting order.
pub fn weights<M: Module<B>>(module: &M) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl<Bk: Backend> ModuleVisitor<Bk> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Bk, D>>) {
            self.0.push(param.val().into_data().to_vec::<f32>().unwrap());
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}

pub fn load(dir: &Path) -> ModelBundle<B> {
    ModelBundle::<B>::load_dir(dir, &Default::default()).unwrap()
}

/// The first GIF of the generated Test split.
pub fn first_test_gif(data: &Path) -> PathBuf {
    let mut all: Vec<PathBuf> = std::fs::read_dir(data.join("Test/gifs")).unwrap().map(|e| e.unwrap().path()).collect();
    all.sort();
    all.remove(0)
}

/// `predict` with five candidates gives probabilities summing to 1, and `eval` on the Test split
/// reports FrameQA.
pub fn assert_predict_and_eval_work(data: &Path, model: &Path) {
    let (model, gif) = (model.to_str().unwrap(), first_test_gif(data));
    let question = "What does the red star do 2 times ?";
    let candidates = "jump|spin|blink|grow|move left";
    let gif = gif.to_str().unwrap();
    let output =
        run(&["predict", "--model", model, "--gif", gif, "--question", question, "--candidates", candidates, "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let total: f64 = json["ranked"].as_array().unwrap().iter().map(|r| r["probability"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-4, "{json}");
    let eval = run(&["eval", "--data", data.to_str().unwrap(), "--model", model, "--split", "Test"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    assert!(String::from_utf8_lossy(&eval.stdout).contains("frameqa"));
}
