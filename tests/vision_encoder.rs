//! `trainer train --vision-encoder DIR` end to end with the tiny random CLIP vision tower of the
//! parity fixtures (../shared/data/parity/tiny-clip-vision: 32 px, 8 px patches): the model folder
//! records the tower and CLIP's preprocessing, every frame becomes the tower's 4×4 patch grid,
//! a frozen tower stays bit-identical (also across `--resume`) and keeps parity with transformers,
//! a fine-tuned one moves, predict and eval run on the result, and a folder of another
//! architecture is refused naming the file. (Registered as a test of the `trainer` package so that
//! Cargo builds the binary for it.)

#[path = "support/towers.rs"]
mod towers;

use std::path::PathBuf;
use std::sync::OnceLock;

use burn::prelude::*;
use burn::tensor::TensorData;
use serde_json::Value;
use shared_model::model::clip::load_clip_vision_dir;
use shared_model::model::clip::{CLIP_IMAGE_MEAN, CLIP_IMAGE_STD};
use towers::{B, TowerRuns, load, parity_dir, run, stderr, weights};

/// Parity tolerance of the tiny tower's hidden states (as in tests/parity_clip.rs).
const TOL_HIDDEN: f32 = 1e-4;

struct Fixture {
    tiny: PathBuf,
    runs: TowerRuns,
}

fn train_args<'a>(data: &'a str, out: &'a str, encoder: &'a str) -> Vec<&'a str> {
    let mut args = vec!["train", "--data", data, "--out", out, "--vision-encoder", encoder];
    args.extend(["--max-gifs", "8", "--val-gifs", "3", "--d-model", "16"]);
    args.extend(["--frames", "4", "--batch-gifs", "4", "--warmup", "1", "--lr", "0.01"]);
    args
}

/// One dataset, one frozen and one fine-tuned model, made through the CLI.
fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let tiny = parity_dir("tiny-clip-vision")?;
            let runs = towers::train_frozen_resumed_and_tuned(
                "visionenc",
                "6",
                |_| tiny.clone(),
                train_args,
                "--freeze-vision-encoder",
                "--vision-encoder-lr-scale",
            );
            Some(Fixture { tiny, runs })
        })
        .as_ref()
}

/// `{shape, data}` of the fixture as a tensor.
fn float_tensor<const D: usize>(v: &Value) -> Tensor<B, D> {
    let shape: Vec<usize> = v["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
    let data: Vec<f32> = v["data"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), &Default::default())
}

#[test]
fn frozen_tower_is_unchanged_and_keeps_parity() {
    let Some(f) = fixture() else { return };
    let bundle = load(&f.runs.frozen);
    let tower = bundle.model.vision_tower().expect("the folder has a vision tower");
    let standalone = load_clip_vision_dir::<B>(&f.tiny, &Default::default()).unwrap().model;
    assert!(weights(tower.clip()) == weights(&standalone), "frozen weights changed in training (2 epochs, resumed)");

    let expected: Value = serde_json::from_slice(&std::fs::read(f.tiny.join("expected.json")).unwrap()).unwrap();
    let pixels = float_tensor::<4>(&expected["inputs"]["pixel_values"]);
    let inside = tower.clip().forward(pixels.clone()).last_hidden_state.into_data().to_vec::<f32>().unwrap();
    let alone = standalone.forward(pixels).last_hidden_state.into_data().to_vec::<f32>().unwrap();
    assert!(inside == alone, "the tower inside the QA model differs from the standalone one");
    let want = float_tensor::<3>(&expected["outputs"]["last_hidden_state"]).into_data().to_vec::<f32>().unwrap();
    let err = inside.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    eprintln!("vision tower inside the trained QA model vs transformers: max abs error {err:.3e}");
    assert!(err <= TOL_HIDDEN, "parity lost: {err}");

    let config = &bundle.config;
    let recorded = config.model.vision_tower.as_ref().unwrap();
    assert!(recorded.frozen && recorded.clip.hidden_size == 32 && recorded.clip.patch_size == 8);
    assert_eq!((config.model.image_size, config.preprocess.image_size), (32, 32), "the tower's input size");
    assert_eq!((config.preprocess.mean, config.preprocess.std), (CLIP_IMAGE_MEAN, CLIP_IMAGE_STD));
}

#[test]
fn every_frame_becomes_the_towers_patch_grid() {
    let Some(f) = fixture() else { return };
    let bundle = load(&f.runs.frozen);
    let device = Default::default();
    let frames = Tensor::<B, 5>::random([2, 3, 3, 32, 32], burn::tensor::Distribution::Default, &device);
    let times = Tensor::<B, 2, Int>::zeros([2, 3], &device);
    let encoding = bundle.model.encode_video(frames, times);
    assert_eq!(encoding.tokens.dims(), [2, 3, 16, 16], "[videos, frames, 4x4 patches, d_model]");
}

#[test]
fn fine_tuned_tower_moves() {
    let Some(f) = fixture() else { return };
    let bundle = load(&f.runs.tuned);
    let tower = bundle.model.vision_tower().expect("the folder has a vision tower");
    assert!(!bundle.config.model.vision_tower.as_ref().unwrap().frozen);
    let standalone = load_clip_vision_dir::<B>(&f.tiny, &Default::default()).unwrap().model;
    let (tuned, original) = (weights(tower.clip()), weights(&standalone));
    let moved = tuned.iter().zip(&original).filter(|(a, b)| a != b).count();
    assert!(moved > tuned.len() / 2, "only {moved} of {} tower tensors were updated", tuned.len());
}

#[test]
fn predict_and_eval_work_with_a_vision_tower() {
    let Some(f) = fixture() else { return };
    towers::assert_predict_and_eval_work(&f.runs.data, &f.runs.tuned);
}

#[test]
fn a_folder_of_another_architecture_is_refused() {
    let Some(f) = fixture() else { return };
    let Some(bert) = parity_dir("tiny-bert") else { return };
    let out = f.runs.root.join("refused");
    let args = train_args(f.runs.data.to_str().unwrap(), out.to_str().unwrap(), bert.to_str().unwrap());
    let output = run(&args);
    let err = stderr(&output);
    assert!(!output.status.success());
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: ") && last.contains(bert.to_str().unwrap()), "{err}");
    assert!(!out.exists(), "nothing written");
}
