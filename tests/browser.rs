//! End to end in headless Chromium: the built site (`dist/`, served under a sub-path) loads the
//! shipped model, answers sample questions with the same probabilities as the native pipeline
//! (`trainer predict`'s code) within 1e-3 on the CPU backend and 1e-2 on WebGPU (Chromium's
//! SwiftShader adapter), ranks the right answer first where the native model does, reports a
//! non-GIF file, a truncated GIF, an empty question and a duplicate candidate in the page and keeps
//! working, and loads from the Cache API on reload.
//!
//! Needs `trunk build --release --public-url /demo/` (dist/), `npm ci` in tests/browser and
//! /usr/bin/chromium; `scripts/test.sh` does all three and sets GIFQA_REQUIRE_BROWSER=1 so that a
//! missing piece fails instead of skipping.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use burn::backend::Flex;
use gifqa_tests::{TempDir, repo_root};
use serde_json::Value;
use shared_model::bundle::ModelBundle;
use shared_model::gif_decode::{DecodeLimits, decode_gif};
use shared_model::pipeline::{ClipAggregation, INFERENCE_SEED, Prediction, UNSURE_BELOW, answer_prepared, prepare_gif};
use shared_model::samples::Sample;
use shared_model::sampling::SamplingStrategy;

/// Paths the test needs, or `None` (skipped) when they are absent and not required.
fn prerequisites() -> Option<(PathBuf, PathBuf)> {
    let root = repo_root();
    let dist = std::env::var_os("GIFQA_DIST").map(PathBuf::from).unwrap_or_else(|| root.join("dist"));
    let driver = root.join("tests/browser");
    let chromium = std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into());
    let missing: Vec<String> = [
        (dist.join("index.html"), "dist/ (run trunk build --release --public-url /demo/)"),
        (driver.join("node_modules/playwright-core"), "tests/browser/node_modules (run npm ci there)"),
        (chromium, "chromium (apt-get install chromium)"),
    ]
    .into_iter()
    .filter(|(path, _)| !path.exists())
    .map(|(_, what)| what.to_string())
    .collect();
    if missing.is_empty() {
        return Some((dist, driver));
    }
    let message = format!("browser test needs {}", missing.join(", "));
    assert!(std::env::var_os("GIFQA_REQUIRE_BROWSER").is_none(), "{message}");
    eprintln!("SKIPPED: {message}");
    None
}

/// The native pipeline's answer to every sample question, as `trainer predict` computes it.
fn native_predictions(dist: &Path) -> (Vec<Sample>, Vec<Prediction>) {
    let device = Default::default();
    let bundle = ModelBundle::<Flex>::load_dir(&dist.join("model"), &device).expect("the model in dist loads");
    let strategy: SamplingStrategy = bundle.config.sampling.parse().expect("the model's strategy parses");
    let samples_dir = dist.join("samples");
    let samples: Vec<Sample> =
        serde_json::from_slice(&std::fs::read(samples_dir.join("samples.json")).expect("samples.json")).unwrap();
    let predictions = samples
        .iter()
        .map(|sample| {
            let gif = decode_gif(&std::fs::read(samples_dir.join(&sample.gif)).unwrap(), &DecodeLimits::default())
                .expect("sample GIFs decode");
            let clips = prepare_gif(&gif, strategy, &bundle.config.preprocess, INFERENCE_SEED);
            let answer = answer_prepared(
                &bundle,
                &clips,
                strategy,
                &sample.question,
                &sample.candidates,
                ClipAggregation::Mean,
                &device,
            );
            futures_lite::future::block_on(answer).expect("native answer")
        })
        .collect();
    (samples, predictions)
}

/// Runs the driver; returns its JSON report.
fn drive(dist: &Path, driver: &Path, mode: &str, questions: &[usize], out_dir: &Path) -> Value {
    let out = out_dir.join(format!("browser-{mode}.json"));
    let list: Vec<String> = questions.iter().map(usize::to_string).collect();
    let mut child = Command::new("node")
        .arg(driver.join("e2e.mjs"))
        .args(["--dist".as_ref(), dist.as_os_str()])
        .args(["--mode", mode, "--questions", &list.join(",")])
        .args(["--out".as_ref(), out.as_os_str()])
        .spawn()
        .expect("node runs");
    let deadline = Instant::now() + Duration::from_secs(20 * 60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for node") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the browser test ({mode}) did not finish in 20 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let report: Value = serde_json::from_slice(&std::fs::read(&out).expect("the driver writes its report")).unwrap();
    if let Some(keep) = std::env::var_os("GIFQA_BROWSER_REPORTS") {
        let _ = std::fs::create_dir_all(&keep);
        // The report and the driver's screenshots (for the docs).
        for name in [format!("browser-{mode}.json"), format!("page-{mode}.png"), format!("page-{mode}-phone.png")] {
            let _ = std::fs::copy(out_dir.join(&name), Path::new(&keep).join(&name));
        }
    }
    assert!(status.success(), "browser test ({mode}) failed: {}\nconsole: {}", report["failure"], report["console"]);
    report
}

fn check_mode(mode: &str, tolerance: f32, pick: impl Fn(&[Sample], &[Prediction]) -> Vec<usize>) {
    let Some((dist, driver)) = prerequisites() else { return };
    let (samples, native) = native_predictions(&dist);
    let right = |i: usize| native[i].ranked[0].answer == samples[i].answer;
    let questions = pick(&samples, &native);
    assert!(questions.iter().any(|&i| right(i)), "the native model gets none of the chosen questions right");
    let temp = TempDir::new(&format!("browser-{mode}"));
    let report = drive(&dist, &driver, mode, &questions, &temp.0);

    let answers = report["answers"].as_array().expect("answers");
    assert_eq!(answers.len(), questions.len());
    let mut worst = 0f32;
    for answer in answers {
        let index = answer["index"].as_u64().unwrap() as usize;
        assert_eq!(answer["backend"], mode, "question {index} ran on the wrong backend");
        let page = &answer["prediction"];
        let expected = &native[index];
        let ranked = page["ranked"].as_array().unwrap();
        assert_eq!(ranked.len(), expected.ranked.len(), "question {index}: answer count");
        for want in &expected.ranked {
            // Open answers are cut to the top 10, and answers the checks rule out sit near 0,
            // where backends may order them differently: one may miss only below the tolerance.
            let Some(got) = ranked.iter().find(|r| r["answer"] == want.answer.as_str()) else {
                assert!(
                    want.probability <= tolerance,
                    "question {index}: the page lacks answer '{}' ({})",
                    want.answer,
                    want.probability
                );
                continue;
            };
            let diff = (got["probability"].as_f64().unwrap() as f32 - want.probability).abs();
            worst = worst.max(diff);
            assert!(diff <= tolerance, "question {index} '{}': page and native differ by {diff}", want.answer);
        }
        let frames = page["frames"].as_array().unwrap();
        assert_eq!(frames.len(), expected.frames.len(), "question {index}: sampled frames");
        for (got, want) in frames.iter().zip(&expected.frames) {
            assert_eq!(got["source"].as_u64().map(|s| s as usize), want.source, "question {index}: frame choice");
            let diff = (got["relevance"].as_f64().unwrap() as f32 - want.relevance).abs();
            assert!(diff <= tolerance, "question {index}: frame relevance differs by {diff}");
        }
        // The unsure note shows exactly when the native answer is unsure (unless the top
        // probability is within the backends' tolerance of the threshold).
        let top = expected.ranked[0].probability;
        if (top - UNSURE_BELOW).abs() > tolerance {
            assert_eq!(answer["unsureShown"], expected.unsure(), "question {index}: unsure note (top {top})");
        }
        if right(index) {
            assert_eq!(ranked[0]["answer"], samples[index].answer.as_str(), "question {index}: right answer not first");
        }
    }
    eprintln!("{mode}: {} questions, worst probability difference {worst:.2e}", answers.len());

    let bad = &report["badInput"];
    assert!(bad["shown"].as_str().unwrap_or("").contains("not a GIF"), "bad-input message: {bad}");
    assert!(report["truncated"].as_str().unwrap_or("").contains("truncated"), "truncated GIF: {}", report["truncated"]);
    assert_eq!(report["afterBadInput"]["backend"], mode, "the page answers again after bad input");
    assert_eq!(report["emptyQuestion"], "the question is empty");
    assert!(
        report["duplicateCandidate"].as_str().unwrap_or("").contains("given twice"),
        "{}",
        report["duplicateCandidate"]
    );
    assert_eq!(report["reload"]["modelSource"], "cache", "a reload should load the model from the Cache API");
}

#[test]
fn page_matches_native_on_cpu_wasm() {
    check_mode("cpu", 1e-3, |samples, _| (0..samples.len()).collect());
}

#[test]
fn page_matches_native_on_webgpu() {
    // SwiftShader is slow: four questions the native model gets right and two it gets wrong.
    check_mode("webgpu", 1e-2, |samples, native| {
        let right: Vec<usize> =
            (0..samples.len()).filter(|&i| native[i].ranked[0].answer == samples[i].answer).collect();
        let wrong: Vec<usize> = (0..samples.len()).filter(|i| !right.contains(i)).collect();
        let mut picked: Vec<usize> = right.into_iter().take(4).chain(wrong.into_iter().take(2)).collect();
        picked.sort();
        picked
    });
}
