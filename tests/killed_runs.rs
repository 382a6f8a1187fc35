//! Runs killed with SIGKILL at chosen instants (`GIFQA_PAUSE_AT` stops the process there, then
//! the test kills it): a training run mid-epoch and mid-checkpoint-write resumes into a model that
//! loads, with no partial file left; a killed `generate` leaves no dataset that could be half-read,
//! is reported as unfinished on the next use, and runs again cleanly. (A test of the `trainer`
//! package so that Cargo builds the binary for it.)

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const TRAINER: &str = env!("CARGO_BIN_EXE_trainer");

fn run(args: &[&str]) -> Output {
    Command::new(TRAINER).args(args).output().expect("running trainer")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `trainer ARGS` until it pauses at `point` (`NAME:K`), then kills it with SIGKILL.
fn kill_at(point: &str, args: &[&str]) {
    let mut child = Command::new(TRAINER)
        .args(args)
        .env("GIFQA_PAUSE_AT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting trainer");
    let mut seen = Vec::new();
    let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let paused = lines.by_ref().map_while(Result::ok).any(|line| {
        seen.push(line.clone());
        line.starts_with("paused at ")
    });
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    let status = child.wait().expect("waiting for the killed trainer");
    assert!(paused, "{args:?} never reached {point}; stderr:\n{}", seen.join("\n"));
    assert!(!status.success(), "the run was killed, not finished");
}

/// A fresh scratch folder.
fn scratch(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("gifqa-killed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    root
}

/// Names in `dir` that start with a dot: what an interrupted atomic write would leave.
fn hidden_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect()
}

fn epochs_recorded(model: &Path) -> usize {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("training.json")).unwrap()).unwrap();
    state["history"].as_array().unwrap().len()
}

fn generate(out: &Path) {
    let generate = run(&["generate", "--out", out.to_str().unwrap(), "--seed", "3", "--gifs", "20"]);
    assert!(generate.status.success(), "{}", stderr(&generate));
}

/// A tiny training run's arguments: 8 GIFs in batches of 4, so 2 steps per epoch.
fn tiny(data: &Path, out: &Path, epochs: &'static str) -> Vec<String> {
    [
        "train",
        "--epochs",
        epochs,
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--max-gifs",
        "8",
        "--val-gifs",
        "2",
        "--image-size",
        "16",
        "--d-model",
        "16",
        "--frames",
        "4",
        "--batch-gifs",
        "4",
    ]
    .map(String::from)
    .to_vec()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn training_killed_mid_epoch_and_mid_checkpoint_resumes() {
    let root = scratch("train");
    let data = root.join("data");
    generate(&data);
    let model = root.join("model");
    let args = tiny(&data, &model, "3");

    // Killed in epoch 2 (after step 3 of 6): the folder holds epoch 1's checkpoint, whole.
    kill_at("train-step:3", &strs(&args));
    assert_eq!(epochs_recorded(&model), 1);
    trainer::runtime::backend::load_model(&model, false).expect("epoch 1's checkpoint loads and matches its manifest");

    // Resumed, then killed while writing epoch 3's checkpoint (one file of it written): the
    // folder still holds epoch 2's checkpoint, whole; the unfinished copy sits beside it.
    let mut resume = args.clone();
    resume.push("--resume".into());
    kill_at("checkpoint-write:2", &strs(&resume));
    assert_eq!(epochs_recorded(&model), 2);
    trainer::runtime::backend::load_model(&model, false).expect("epoch 2's checkpoint loads and matches its manifest");
    assert_eq!(hidden_entries(&root).len(), 1, "the killed write's staging folder: {:?}", hidden_entries(&root));

    // Resumed to the end: the leftover is removed and the model is complete.
    let finished = run(&strs(&resume));
    assert!(finished.status.success(), "{}", stderr(&finished));
    assert!(stderr(&finished).contains("left by an interrupted run"), "{}", stderr(&finished));
    assert_eq!(epochs_recorded(&model), 3);
    trainer::runtime::backend::load_model(&model, false).expect("the resumed model loads");
    assert!(hidden_entries(&root).is_empty(), "no partial files: {:?}", hidden_entries(&root));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_killed_generate_is_never_half_read() {
    let root = scratch("generate");
    let data = root.join("data");
    kill_at("generate-gif:5", &["generate", "--out", data.to_str().unwrap(), "--seed", "3", "--gifs", "20"]);
    assert!(!data.exists(), "the output folder appears only when complete");
    assert_eq!(hidden_entries(&root).len(), 1, "{:?}", hidden_entries(&root));

    let train = run(&strs(&tiny(&data, &root.join("model"), "1")));
    assert!(!train.status.success());
    let last = stderr(&train).lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("error: ") && last.contains("interrupted `trainer generate`"), "{last}");

    generate(&data);
    assert!(hidden_entries(&root).is_empty(), "the unfinished output is removed: {:?}", hidden_entries(&root));
    // The same seed again, uninterrupted, gives the same files.
    let again = root.join("again");
    generate(&again);
    for split in ["Train", "Val", "Test"] {
        let name = format!("{split}_action_question.csv");
        assert_eq!(
            std::fs::read(data.join(split).join(&name)).unwrap(),
            std::fs::read(again.join(split).join(&name)).unwrap(),
            "{name}"
        );
    }
    std::fs::remove_dir_all(&root).unwrap();
}

/// A two-stage recipe of the tiny model (2 steps per epoch, one epoch per stage), its model
/// written with f16 weights.
const TINY_RECIPE: &str = r#"{
  "name": "tiny",
  "data": { "seed": 3, "gifs": 20 },
  "model": { "image-size": 16, "d-model": 16, "frames": 4, "slot-coordinates": true },
  "stages": [
    { "name": "first", "epochs": 1, "options": { "max-gifs": 8, "val-gifs": 2, "batch-gifs": 4 } },
    { "name": "second", "epochs": 1, "options": { "max-gifs": 8, "val-gifs": 2, "batch-gifs": 4, "lr": 0.001 } }
  ],
  "calibrate": { "max-gifs": 2, "world-gifs": 8 },
  "weights": "f16"
}"#;

#[test]
fn a_recipe_killed_mid_stage_resumes_and_replays() {
    let root = scratch("recipe");
    let recipe = root.join("tiny.json");
    std::fs::write(&recipe, TINY_RECIPE).unwrap();
    let model = root.join("model");
    let args = ["train", "--recipe", recipe.to_str().unwrap(), "--out", model.to_str().unwrap()];

    // Killed in the second stage's first step: the first stage is done, no model folder yet.
    kill_at("train-step:3", &args);
    assert!(!model.exists(), "the model folder appears only when the recipe ends");
    let work = root.join("model-work");
    assert!(work.join("stages/01-first.done").is_file());
    let again = run(&args);
    assert!(!again.status.success(), "a second start without --resume is refused");
    assert!(stderr(&again).contains("--resume"), "{}", stderr(&again));

    let resumed = run(&[&args[..], &["--resume"]].concat());
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(!stderr(&resumed).contains("generating"), "the data is reused: {}", stderr(&resumed));
    // The first stage decoded the GIFs once into the frame cache; the second maps them.
    assert!(stderr(&resumed).contains("GIFs mapped from"), "the frame cache is reused: {}", stderr(&resumed));
    trainer::runtime::backend::load_model(&model, false).expect("the recipe's model loads");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("training.json")).unwrap()).unwrap();
    assert_eq!(state["recipe"]["recipe"]["name"], "tiny");
    assert_eq!(state["recipe"]["stages"].as_array().unwrap().len(), 2);
    // The recipe ends calibrated: temperature and unsure threshold (Val), in-world score (Train).
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(model.join("config.json")).unwrap()).unwrap();
    assert!(config["calibration"]["temperature"].as_f64().is_some(), "{config}");
    assert!(config["in_world"]["threshold"].as_f64().is_some_and(|t| t > 0.0), "{config}");
    assert!(hidden_entries(&root).is_empty(), "no partial files: {:?}", hidden_entries(&root));
    // The finished model's weights are f16 (the manifest lists them: it loaded above), the stage
    // checkpoints' stay f32.
    let all_stored_as = |dir: &Path, dtype: safetensors::Dtype| {
        let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        tensors.tensors().iter().all(|(_, view)| view.dtype() == dtype)
    };
    assert!(all_stored_as(&model, safetensors::Dtype::F16));
    assert!(all_stored_as(&work.join("stages/02-second"), safetensors::Dtype::F32));

    // The model folder's training.json replays the recipe.
    let replay = root.join("replay");
    let training = model.join("training.json");
    let replayed = run(&["train", "--recipe", training.to_str().unwrap(), "--out", replay.to_str().unwrap()]);
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    let replayed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(replay.join("training.json")).unwrap()).unwrap();
    assert_eq!(replayed["recipe"]["recipe"], state["recipe"]["recipe"]);
    std::fs::remove_dir_all(&root).unwrap();
}
