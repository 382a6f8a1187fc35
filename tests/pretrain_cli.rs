//! `trainer pretrain` end to end on a tiny generated benchmark: the contrastive loss falls when it
//! overfits 16 (GIF, caption) pairs for 30 steps, the folder loads as a model, `pretrain.json`
//! holds before/after metrics, and `trainer train --init` starts from it (or refuses a folder
//! built with other options). (Registered as a test of the `trainer` package so that Cargo
//! builds the binary for it.)

use std::path::Path;
use std::process::{Command, Output};

const TRAINER: &str = env!("CARGO_BIN_EXE_trainer");

fn run(args: &[&str]) -> Output {
    Command::new(TRAINER).args(args).output().expect("running trainer")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const SHAPE: [&str; 6] = ["--image-size", "16", "--d-model", "16", "--frames", "4"];

fn pretrain(data: &Path, out: &Path, loss: &str) -> serde_json::Value {
    let args = [
        &[
            "pretrain",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--loss",
            loss,
            "--max-gifs",
            "16",
            "--val-gifs",
            "3",
            "--batch-gifs",
            "16",
            "--epochs",
            "30",
            "--warmup",
            "5",
            "--lr",
            "3e-3",
        ][..],
        &SHAPE[..],
    ]
    .concat();
    let output = run(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(out.join("pretrain.json")).expect("pretrain.json");
    serde_json::from_str(&text).expect("pretrain.json is JSON")
}

#[test]
fn pretrain_overfits_and_its_folder_starts_training() {
    let root = std::env::temp_dir().join(format!("gifqa-pretrain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("data");
    let generate = run(&["generate", "--out", data.to_str().unwrap(), "--seed", "5", "--gifs", "30"]);
    assert!(generate.status.success(), "{}", stderr(&generate));

    for loss in ["infonce", "hnac"] {
        let out = root.join(loss);
        let state = pretrain(&data, &out, loss);
        // One step per epoch (16 pairs, batches of 16): 30 steps on the same pairs.
        let history = state["history"].as_array().expect("history");
        assert_eq!(history.len(), 30);
        let first = history[0]["loss"].as_f64().unwrap();
        let last = history[29]["loss"].as_f64().unwrap();
        assert!(last < 0.6 * first, "{loss}: loss {first} -> {last} did not fall while overfitting");
        for when in ["before", "after"] {
            let metrics = &state[when];
            assert_eq!(metrics["queries"].as_u64(), Some(3), "{when}: {metrics}");
            for key in ["cosine_gap", "r1", "r5", "r10", "median_rank"] {
                assert!(metrics[key].as_f64().is_some_and(f64::is_finite), "{when}.{key}: {metrics}");
            }
        }
        let bundle =
            trainer::runtime::backend::load_model(&out, false).expect("the pretrained folder loads as a model");
        assert_eq!(bundle.config.model.d_model, 16);
    }

    // QA training from the InfoNCE folder, with the same options. The answer checks' weights are
    // settings of answering: the trained folder keeps the ones of the folder it started from.
    let init = root.join("infonce");
    let config_path = init.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["model"]["count_check_weight"] = serde_json::json!(1.0);
    config["model"]["order_check_weight"] = serde_json::json!(0.5);
    // Data of another seed orders the same answers differently (by frequency): training keeps
    // the folder's order, which its FrameQA head was trained for.
    let mut answers = config["answers"].as_array().expect("answers").clone();
    assert!(answers.len() > 2, "{answers:?}");
    answers.reverse();
    config["answers"] = serde_json::Value::Array(answers.clone());
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let qa = root.join("qa");
    let train = |out: &Path, shape: &[&str]| {
        let args = [
            &[
                "train",
                "--data",
                data.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--init",
                init.to_str().unwrap(),
                "--max-gifs",
                "4",
                "--val-gifs",
                "2",
                "--epochs",
                "1",
                "--batch-gifs",
                "4",
                // config.json was edited above, so it no longer matches the folder's manifest.
                "--no-verify",
            ][..],
            shape,
        ]
        .concat();
        run(&args)
    };
    let output = train(&qa, &[&SHAPE[..], &["--order-drills", "both"]].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("starting from the weights in"), "{}", stderr(&output));
    assert!(stderr(&output).contains("order drills: "), "{}", stderr(&output));
    let trained: serde_json::Value = serde_json::from_slice(&std::fs::read(qa.join("config.json")).unwrap()).unwrap();
    assert_eq!(trained["model"]["count_check_weight"], 1.0);
    assert_eq!(trained["model"]["order_check_weight"], 0.5);
    assert_eq!(trained["answers"], serde_json::Value::Array(answers));
    assert!(stderr(&output).contains("orders its answers differently"), "{}", stderr(&output));
    // Other model options than the folder's: one clear error naming the differing field.
    let output = train(&root.join("qa-bad"), &["--image-size", "16", "--d-model", "24", "--frames", "4"]);
    let err = stderr(&output);
    assert!(!output.status.success());
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: --init") && last.contains("model.d_model"), "{err}");
    assert!(!root.join("qa-bad/model.safetensors").exists());
    let _ = std::fs::remove_dir_all(&root);
}
