//! `trainer train --text-encoder DIR` end to end with the tiny random BERT of the parity fixtures
//! (../shared/data/parity/tiny-bert) and a generated vocab-100 WordPiece tokenizer: the model
//! folder loads, predict and eval work, a frozen tower stays bit-identical (also across
//! `--resume`) and keeps parity with transformers, a fine-tuned one moves, and a tokenizer that
//! does not fit the checkpoint is refused naming the file and both sizes. (Registered as a test of
//! the `trainer` package so that Cargo builds the binary for it.)

#[path = "support/towers.rs"]
mod towers;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::prelude::*;
use burn::tensor::TensorData;
use serde_json::{Value, json};
use shared_model::model::bert::load_bert_dir;
use towers::{B, TowerRuns, load, parity_dir, run, stderr, weights};

/// Parity tolerance of the tiny model's hidden states (as in tests/parity_bert.rs).
const TOL_HIDDEN: f32 = 1e-4;

/// A BERT-style WordPiece `tokenizer.json` with exactly `size` tokens (the specials first).
fn wordpiece_json(size: usize) -> String {
    let mut tokens: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "?"].map(String::from).to_vec();
    for c in 'a'..='z' {
        tokens.push(c.to_string());
        tokens.push(format!("##{c}"));
    }
    let words = ["what", "does", "the", "do", "how", "many", "times", "is", "color", "of", "red", "star"];
    tokens.extend(words.map(String::from));
    tokens.extend((0..).map(|i| format!("filler{i}")).take(size.saturating_sub(tokens.len())));
    tokens.truncate(size);
    let vocab: serde_json::Map<String, Value> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), json!(i))).collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    })
    .to_string()
}

/// A copy of tiny-bert with a tokenizer of `vocab` tokens.
fn encoder_dir(tiny: &Path, root: &Path, name: &str, vocab: usize) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(tiny.join(file), dir.join(file)).unwrap();
    }
    std::fs::write(dir.join("tokenizer.json"), wordpiece_json(vocab)).unwrap();
    dir
}

struct Fixture {
    tiny: PathBuf,
    runs: TowerRuns,
}

fn train_args<'a>(data: &'a str, out: &'a str, encoder: &'a str) -> Vec<&'a str> {
    let mut args = vec!["train", "--data", data, "--out", out, "--text-encoder", encoder];
    args.extend(["--max-gifs", "8", "--val-gifs", "3", "--image-size", "16", "--d-model", "16"]);
    args.extend(["--frames", "4", "--batch-gifs", "4", "--warmup", "1", "--lr", "0.01"]);
    args
}

/// One dataset, one frozen and one fine-tuned model, made through the CLI.
fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let tiny = parity_dir("tiny-bert")?;
            let runs = towers::train_frozen_resumed_and_tuned(
                "textenc",
                "5",
                |root| encoder_dir(&tiny, root, "tiny-bert", 100),
                train_args,
                "--freeze-text-encoder",
                "--text-encoder-lr-scale",
            );
            Some(Fixture { tiny, runs })
        })
        .as_ref()
}

fn int_batch(v: &Value) -> Tensor<B, 2, Int> {
    let rows = v.as_array().unwrap();
    let len = rows[0].as_array().unwrap().len();
    let data: Vec<i64> = rows.iter().flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap())).collect();
    Tensor::from_data(TensorData::new(data, [rows.len(), len]), &Default::default())
}

#[test]
fn frozen_tower_is_unchanged_and_keeps_parity() {
    let Some(f) = fixture() else { return };
    let bundle = load(&f.runs.frozen);
    let tower = bundle.model.text_tower().expect("the folder has a text tower");
    let standalone = load_bert_dir::<B>(&f.tiny, &Default::default()).unwrap();
    assert!(weights(tower.bert()) == weights(&standalone), "frozen weights changed in training (2 epochs, resumed)");

    let expected: Value = serde_json::from_slice(&std::fs::read(f.tiny.join("expected.json")).unwrap()).unwrap();
    let (ids, mask) = (int_batch(&expected["inputs"]["input_ids"]), int_batch(&expected["inputs"]["attention_mask"]));
    let inside = tower.bert().forward(ids.clone(), None, Some(mask.clone())).last_hidden_state;
    let alone = standalone.forward(ids, None, Some(mask)).last_hidden_state;
    let inside = inside.into_data().to_vec::<f32>().unwrap();
    assert!(inside == alone.into_data().to_vec::<f32>().unwrap(), "the tower inside the QA model differs");
    let want: Vec<f32> = expected["outputs"]["last_hidden_state"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let err = inside.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    eprintln!("tower inside the trained QA model vs transformers: max abs error {err:.3e}");
    assert!(err <= TOL_HIDDEN, "parity lost: {err}");

    let config = bundle.config.model.text_tower.as_ref().unwrap();
    assert!(config.frozen && config.bert.hidden_size == 32 && bundle.config.model.vocab_size == 100);
    assert_eq!(bundle.tokenizer.vocab_size(), 100, "the folder's tokenizer.json is the tower's");
}

#[test]
fn fine_tuned_tower_moves() {
    let Some(f) = fixture() else { return };
    let bundle = load(&f.runs.tuned);
    let tower = bundle.model.text_tower().expect("the folder has a text tower");
    assert!(!bundle.config.model.text_tower.as_ref().unwrap().frozen);
    let standalone = load_bert_dir::<B>(&f.tiny, &Default::default()).unwrap();
    let (tuned, original) = (weights(tower.bert()), weights(&standalone));
    let moved = tuned.iter().zip(&original).filter(|(a, b)| a != b).count();
    assert!(moved > tuned.len() / 2, "only {moved} of {} tower tensors were updated", tuned.len());
}

#[test]
fn predict_and_eval_work_with_a_tower() {
    let Some(f) = fixture() else { return };
    towers::assert_predict_and_eval_work(&f.runs.data, &f.runs.frozen);
    let (model, gif) = (f.runs.frozen.to_str().unwrap(), towers::first_test_gif(&f.runs.data));
    let question = "How many objects are there ?";
    let open = run(&["predict", "--model", model, "--gif", gif.to_str().unwrap(), "--question", question, "--json"]);
    assert!(open.status.success(), "{}", stderr(&open));
    let json: Value = serde_json::from_slice(&open.stdout).unwrap();
    assert_eq!(json["kind"], "word");
}

#[test]
fn a_tokenizer_of_another_size_is_refused() {
    let Some(f) = fixture() else { return };
    let encoder = encoder_dir(&f.tiny, &f.runs.root, "tiny-bert-99", 99);
    let out = f.runs.root.join("refused");
    let args = train_args(f.runs.data.to_str().unwrap(), out.to_str().unwrap(), encoder.to_str().unwrap());
    let output = run(&args);
    let err = stderr(&output);
    assert!(!output.status.success());
    let last = err.lines().last().unwrap_or_default();
    let file = encoder.join("tokenizer.json");
    assert!(
        last.starts_with("error: ")
            && last.contains(file.to_str().unwrap())
            && last.contains("99")
            && last.contains("100"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
}
