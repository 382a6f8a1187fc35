//! The `trainer` binary end to end on a tiny generated benchmark: generate → train → resume →
//! eval → predict → frames, and every kind of bad input giving a one-line error, a non-zero exit
//! and nothing half-written. (Registered as a test of the `trainer` package so that Cargo builds
//! the binary for it.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const TRAINER: &str = env!("CARGO_BIN_EXE_trainer");

fn run(args: &[&str]) -> Output {
    Command::new(TRAINER).args(args).output().expect("running trainer")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a clean failure: non-zero exit and a last stderr line `error: ...` containing `needle`.
fn assert_fails(args: &[&str], needle: &str) {
    let output = run(args);
    let err = stderr(&output);
    assert!(!output.status.success(), "{args:?} should fail");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: ") && last.contains(needle), "{args:?}: expected '{needle}' in {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
}

struct Fixture {
    root: PathBuf,
    data: PathBuf,
    model: PathBuf,
    gif: PathBuf,
}

/// One tiny dataset and model for all tests of this file, made through the CLI itself.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("gifqa-cli-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let data = root.join("data");
        let model = root.join("model");
        let generate = run(&["generate", "--out", data.to_str().unwrap(), "--seed", "5", "--gifs", "30"]);
        assert!(generate.status.success(), "{}", stderr(&generate));
        let tiny = [
            "--data",
            data.to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
            "--max-gifs",
            "8",
            "--val-gifs",
            "3",
            "--image-size",
            "16",
            "--d-model",
            "16",
            "--frames",
            "4",
            "--batch-gifs",
            "4",
        ];
        let train = run(&[&["train", "--epochs", "1"], &tiny[..]].concat());
        assert!(train.status.success(), "{}", stderr(&train));
        let resume = run(&[&["train", "--epochs", "2", "--resume"], &tiny[..]].concat());
        assert!(resume.status.success(), "{}", stderr(&resume));
        assert!(stderr(&resume).contains("resuming after epoch 1"), "{}", stderr(&resume));
        let gif = first_gif(&data.join("Test/gifs"));
        Fixture { root, data, model, gif }
    })
}

fn first_gif(dir: &Path) -> PathBuf {
    let mut gifs: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    gifs.sort();
    gifs.remove(0)
}

#[test]
fn training_records_every_epoch_and_resumes() {
    let f = fixture();
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.model.join("training.json")).unwrap()).unwrap();
    let history = state["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert!(history[1]["step"].as_u64() > history[0]["step"].as_u64());
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(f.model.join(file).is_file(), "{file}");
    }
    // No staging folders left behind by the atomic writes.
    let leftovers: Vec<_> = std::fs::read_dir(&f.root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn eval_reports_every_type() {
    let f = fixture();
    let report = f.root.join("report.json");
    let output = run(&[
        "eval",
        "--data",
        f.data.to_str().unwrap(),
        "--model",
        f.model.to_str().unwrap(),
        "--split",
        "Test",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    for qtype in ["action", "transition", "count", "frameqa", "caption"] {
        assert!(table.contains(qtype), "{table}");
        let accuracy = json[qtype]["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&accuracy) && json[qtype]["n"].as_u64().unwrap() > 0, "{json}");
    }
    assert!(json["count"]["mae"].is_number());
    for key in ["r1", "r5", "r10", "median_rank"] {
        assert!(json["caption"][key].is_number(), "{key}");
    }
}

#[test]
fn predict_ranks_candidates_and_open_answers() {
    let f = fixture();
    let (model, gif) = (f.model.to_str().unwrap(), f.gif.to_str().unwrap());
    let output = run(&[
        "predict",
        "--model",
        model,
        "--gif",
        gif,
        "--question",
        "What does the red star do 2 times ?",
        "--candidates",
        "jump|spin|blink|grow|move left",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let ranked = json["ranked"].as_array().unwrap();
    assert_eq!(ranked.len(), 5);
    let probabilities: Vec<f64> = ranked.iter().map(|r| r["probability"].as_f64().unwrap()).collect();
    assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-4);
    assert!(probabilities.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(json["frames"].as_array().unwrap().len(), 4, "one entry per sampled frame");

    let open = run(&[
        "predict",
        "--model",
        model,
        "--gif",
        gif,
        "--question",
        "How many times does the red star jump ?",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&open.stdout).unwrap();
    assert_eq!(json["kind"], "count");
    let word =
        run(&["predict", "--model", model, "--gif", gif, "--question", "How many objects are there ?", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&word.stdout).unwrap();
    assert_eq!(json["kind"], "word");
}

#[test]
fn frames_writes_what_the_model_sees() {
    let f = fixture();
    let all = f.root.join("frames-all");
    let sampled = f.root.join("frames-sampled");
    let gif = f.gif.to_str().unwrap();
    assert!(run(&["frames", "--gif", gif, "--out", all.to_str().unwrap()]).status.success());
    assert!(
        run(&["frames", "--gif", gif, "--out", sampled.to_str().unwrap(), "--sample", "uniform:6"]).status.success()
    );
    let count = |d: &Path| std::fs::read_dir(d).unwrap().count();
    assert!(count(&all) >= 1 && all.join("frame_0000.png").is_file());
    assert_eq!(count(&sampled), 6);
    assert_fails(&["frames", "--gif", gif, "--out", all.to_str().unwrap()], "not empty");
}

#[test]
fn bad_input_gives_one_clear_line() {
    let f = fixture();
    let (model, gif) = (f.model.to_str().unwrap(), f.gif.to_str().unwrap());
    let not_gif = f.root.join("not.gif");
    std::fs::write(&not_gif, b"\x89PNG\r\n\x1a\n definitely not a gif").unwrap();
    let truncated = f.root.join("truncated.gif");
    let bytes = std::fs::read(&f.gif).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let bomb = f.root.join("bomb.gif");
    std::fs::write(&bomb, b"GIF89a\x60\xea\x60\xea\x00\x00\x00;").unwrap();
    let ask = |gif: &str, question: &str, candidates: Option<&str>| {
        let mut args = vec!["predict", "--model", model, "--gif", gif, "--question", question];
        if let Some(c) = candidates {
            args.extend(["--candidates", c]);
        }
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let check =
        |args: Vec<String>, needle: &str| assert_fails(&args.iter().map(String::as_str).collect::<Vec<_>>(), needle);
    check(ask(not_gif.to_str().unwrap(), "q ?", None), "not a GIF");
    check(ask(truncated.to_str().unwrap(), "q ?", None), "truncated");
    check(ask(bomb.to_str().unwrap(), "q ?", None), "exceeds the limit");
    check(ask(gif, "   ", None), "question is empty");
    check(ask(gif, "q ?", Some("only one")), "2 to 10");
    check(ask(gif, "q ?", Some("a|b|c|d|e|f|g|h|i|j|k")), "2 to 10");
    check(ask(gif, "q ?", Some("a||c")), "candidate answer 2 is empty");
    check(ask(gif, "q ?", Some("jump|Jump")), "given twice");
    let mut sampled = ask(gif, "q ?", None);
    sampled.extend(["--sample".into(), "zigzag".into()]);
    check(sampled, "unknown sampling strategy");
    assert_fails(&["predict", "--model", "/nonexistent/model", "--gif", gif, "--question", "q ?"], "config.json");
    let corrupt = f.root.join("corrupt-model");
    std::fs::create_dir_all(&corrupt).unwrap();
    for file in ["config.json", "tokenizer.json"] {
        std::fs::copy(f.model.join(file), corrupt.join(file)).unwrap();
    }
    std::fs::write(corrupt.join("model.safetensors"), b"garbage").unwrap();
    assert_fails(
        &["predict", "--model", corrupt.to_str().unwrap(), "--gif", gif, "--question", "q ?"],
        "model.safetensors",
    );
    // generate refuses to overwrite, and to make fewer GIFs than splits.
    assert_fails(&["generate", "--out", f.data.to_str().unwrap(), "--gifs", "10"], "not empty");
    assert_fails(&["generate", "--out", f.root.join("tiny").to_str().unwrap(), "--gifs", "2"], "");
    assert!(!f.root.join("tiny").exists(), "nothing half-written");
    // train refuses to overwrite a model without --resume.
    assert_fails(&["train", "--data", f.data.to_str().unwrap(), "--out", model], "--resume");
    // --devices: unknown kind, no index, a duplicate, a kind the build does not run.
    let fresh = f.root.join("never-written");
    let train_on = |devices: &str, needle: &str| {
        let args =
            ["train", "--data", f.data.to_str().unwrap(), "--out", fresh.to_str().unwrap(), "--devices", devices];
        assert_fails(&args, needle);
    };
    train_on("tpu:0", "unknown device kind 'tpu'");
    train_on("cpu", "not KIND:INDEX");
    train_on("cpu:x", "'x' is not a device index");
    train_on("cpu:0,cpu:1,cpu:0", "lists 'cpu:0' twice");
    train_on("cuda:0,cuda:1", "--features cuda");
    assert!(!fresh.exists(), "nothing half-written");
}

#[test]
fn training_on_two_cpu_devices_writes_a_model() {
    let f = fixture();
    let out = f.root.join("two-devices");
    let args = [
        "train",
        "--data",
        f.data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--devices",
        "cpu:0,cpu:1",
        "--epochs",
        "1",
        "--max-gifs",
        "5",
        "--val-gifs",
        "2",
        "--image-size",
        "16",
        "--d-model",
        "16",
        "--frames",
        "4",
        "--batch-gifs",
        "3",
    ];
    let output = run(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("devices cpu:0,cpu:1"), "{}", stderr(&output));
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("training.json")).unwrap()).unwrap();
    assert_eq!(state["history"][0]["step"].as_u64(), Some(2), "5 GIFs in batches of 3");
    assert!(out.join("model.safetensors").is_file());
}
