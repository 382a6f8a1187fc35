//! Numerical parity of the Burn BERT tower with Hugging Face transformers, on the tiny random
//! BERT fixture and on the real all-MiniLM-L6-v2, plus the loader's error messages.

use std::path::PathBuf;

use burn::backend::Flex;
use burn::prelude::*;
use serde_json::Value;
use shared_model::model::bert::{BertModel, BertOutput};
use shared_model::model::bert::{load_bert_dir, load_bert_safetensors, parse_bert_config};
use shared_model::model::pretrained::PretrainedError;

type B = Flex;

use gifqa_tests::checkpoint::{self, Owned};
use gifqa_tests::parity::{float_tensor, read_json, values};

fn int_batch(v: &Value) -> Tensor<B, 2, Int> {
    gifqa_tests::parity::int_batch::<B>(v)
}

/// Tolerance for the tiny model and MiniLM hidden states (parity README, float32 on CPU).
const TOL_HIDDEN: f32 = 1e-4;
/// Tolerance for MiniLM sentence embeddings and cosines.
const TOL_EMBEDDING: f32 = 1e-5;

fn tiny_dir() -> Option<PathBuf> {
    gifqa_tests::shared_data().map(|d| d.join("parity/tiny-bert"))
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn run(model: &BertModel<B>, inputs: &Value) -> BertOutput<B> {
    let ids = int_batch(&inputs["input_ids"]);
    let types = inputs.get("token_type_ids").map(int_batch);
    let mask = inputs.get("attention_mask").map(int_batch);
    model.forward(ids, types, mask)
}

/// Compares one case; returns (max abs error of last_hidden_state, of pooler_output).
fn check_case(name: &str, model: &BertModel<B>, case: &Value) -> (f32, f32) {
    let out = run(model, &case["inputs"]);
    let (want_shape, want) = float_tensor(&case["outputs"]["last_hidden_state"]);
    let (shape, got) = values(out.last_hidden_state.clone());
    assert_eq!(shape, want_shape, "{name}: last_hidden_state shape");
    let err_hidden = max_abs(&got, &want);
    let (want_shape, want) = float_tensor(&case["outputs"]["pooler_output"]);
    let (shape, got) = values(out.pooler_output.clone());
    assert_eq!(shape, want_shape, "{name}: pooler_output shape");
    let err_pooler = max_abs(&got, &want);
    if let Some(states) = case["outputs"].get("hidden_states").and_then(Value::as_array) {
        assert_eq!(states.len(), out.hidden_states.len(), "{name}: number of hidden states");
        for (i, (state, mine)) in states.iter().zip(&out.hidden_states).enumerate() {
            let (_, want) = float_tensor(state);
            let (_, got) = values(mine.clone());
            let err = max_abs(&got, &want);
            eprintln!("tiny-bert {name}: hidden_states[{i}] max abs error {err:.3e}");
        }
    }
    eprintln!("tiny-bert {name}: last_hidden_state max abs error {err_hidden:.3e}, pooler_output {err_pooler:.3e}");
    (err_hidden, err_pooler)
}

#[test]
fn tiny_bert_matches_transformers() {
    let Some(dir) = tiny_dir() else { return };
    let device = Default::default();
    let model = load_bert_dir::<B>(&dir, &device).expect("loading tiny-bert");
    let expected = read_json(&dir.join("expected.json"));
    let mut cases =
        vec![("main".to_string(), serde_json::json!({"inputs": expected["inputs"], "outputs": expected["outputs"]}))];
    for case in expected["extra_cases"].as_array().expect("extra_cases") {
        cases.push((case["name"].as_str().expect("name").to_string(), case.clone()));
    }
    assert_eq!(cases.len(), 3);
    for (name, case) in &cases {
        let (err_hidden, err_pooler) = check_case(name, &model, case);
        assert!(err_hidden <= TOL_HIDDEN, "{name}: last_hidden_state max abs error {err_hidden}");
        assert!(err_pooler <= TOL_HIDDEN, "{name}: pooler_output max abs error {err_pooler}");
    }
}

#[test]
fn minilm_matches_sentence_transformers() {
    let Some(shared) = gifqa_tests::shared_data() else { return };
    let Some(home) = std::env::var_os("HOME") else {
        eprintln!("SKIPPED: HOME is not set");
        return;
    };
    let dir = PathBuf::from(home).join(".cache/gifqa/all-MiniLM-L6-v2");
    if !dir.join("model.safetensors").is_file() {
        eprintln!("SKIPPED: {} not found", dir.display());
        return;
    }
    let device = Default::default();
    let model = load_bert_dir::<B>(&dir, &device).expect("loading MiniLM");
    let reference = read_json(&shared.join("parity/minilm_reference.json"));

    // Tokenizer: our ids must equal the stored ones (tokenizer.json pads to 128; compare the real tokens).
    let tokenizer = shared_model::text::tokenize::TextTokenizer::from_bytes(
        &std::fs::read(dir.join("tokenizer.json")).expect("reading tokenizer.json"),
    )
    .expect("parsing tokenizer.json");
    let sentences = reference["sentences"].as_array().expect("sentences");
    for (i, sentence) in sentences.iter().enumerate() {
        let want: Vec<u32> = reference["tokenization"]["input_ids"][i]
            .as_array()
            .expect("ids")
            .iter()
            .map(|x| x.as_u64().expect("id") as u32)
            .collect();
        let got = tokenizer.encode(sentence.as_str().expect("sentence"), 128).expect("encoding");
        assert_eq!(&got[..want.len()], &want[..], "token ids of sentence {i}");
    }

    // Sentence 0 alone, unpadded: the full last_hidden_state.
    let ids0 = serde_json::json!({ "input_ids": [reference["tokenization"]["input_ids"][0]] });
    let out0 = run(&model, &ids0);
    let (want_shape, want) = float_tensor(&reference["last_hidden_state_sentence0"]);
    let (shape, got) = values(out0.last_hidden_state.clone().squeeze_dim::<2>(0));
    assert_eq!(shape, want_shape);
    let err_single = max_abs(&got, &want);

    // The padded batch.
    let batch = &reference["batch"];
    let out = run(&model, batch);
    let [n, len, hidden] = out.last_hidden_state.dims();
    let mask: Vec<i64> = batch["attention_mask"]
        .as_array()
        .expect("mask")
        .iter()
        .flat_map(|r| r.as_array().expect("row").iter().map(|x| x.as_i64().expect("int")))
        .collect();
    let (_, first8_want) = float_tensor(&reference["last_hidden_state_first8"]);
    let (_, first8_got) = values(out.last_hidden_state.clone().slice([0..n, 0..len, 0..8]));
    let mut err_first8_real = 0.0f32;
    let mut err_first8_all = 0.0f32;
    for (j, (g, w)) in first8_got.iter().zip(&first8_want).enumerate() {
        let e = (g - w).abs();
        err_first8_all = err_first8_all.max(e);
        if mask[j / 8] == 1 {
            err_first8_real = err_first8_real.max(e);
        }
    }
    let (_, pooler_want) = float_tensor(&reference["pooler_output"]);
    let (_, pooler_got) = values(out.pooler_output.clone());
    let err_pooler = max_abs(&pooler_got, &pooler_want);

    // Mean pooling over real tokens, then L2 normalisation.
    let mask_t = int_batch(&batch["attention_mask"]).float().unsqueeze_dim::<3>(2);
    let summed = (out.last_hidden_state * mask_t.clone()).sum_dim(1).reshape([n, hidden]);
    let counts = mask_t.sum_dim(1).reshape([n, 1]);
    let mean = summed / counts;
    let norm = mean.clone().powi_scalar(2).sum_dim(1).sqrt();
    let embedding = mean / norm;
    let (_, emb_want) = float_tensor(&reference["sentence_embedding"]);
    let (_, emb_got) = values(embedding.clone());
    let err_emb = max_abs(&emb_got, &emb_want);
    let (_, cos_want) = float_tensor(&reference["cosine_similarity"]);
    let (_, cos_got) = values(embedding.clone().matmul(embedding.transpose()));
    let err_cos = max_abs(&cos_got, &cos_want);

    eprintln!("MiniLM: sentence0 last_hidden_state max abs error {err_single:.3e}");
    eprintln!(
        "MiniLM: batch last_hidden_state[..8] max abs error {err_first8_real:.3e} (real tokens), {err_first8_all:.3e} (all)"
    );
    eprintln!("MiniLM: pooler_output max abs error {err_pooler:.3e}");
    eprintln!("MiniLM: sentence_embedding max abs error {err_emb:.3e}, cosine {err_cos:.3e}");
    assert!(err_single <= TOL_HIDDEN, "sentence0 last_hidden_state {err_single}");
    assert!(err_first8_real <= TOL_HIDDEN, "batch last_hidden_state {err_first8_real}");
    assert!(err_pooler <= TOL_HIDDEN, "pooler_output {err_pooler}");
    assert!(err_emb <= TOL_EMBEDDING, "sentence_embedding {err_emb}");
    assert!(err_cos <= TOL_EMBEDDING, "cosine {err_cos}");
}

/// Rewrites a safetensors file: drops `drop`, zero-fills `reshape` with another shape, adds an `add` tensor.
fn edit_checkpoint(
    bytes: &[u8],
    drop: Option<&str>,
    reshape: Option<(&str, Vec<usize>)>,
    add: Option<&str>,
) -> Vec<u8> {
    let mut tensors: Vec<Owned> =
        checkpoint::read(bytes, "").into_iter().filter(|t| Some(t.name.as_str()) != drop).collect();
    if let Some((target, shape)) = &reshape {
        for tensor in tensors.iter_mut().filter(|t| t.name == *target) {
            tensor.data = vec![0u8; shape.iter().product::<usize>() * 4];
            tensor.shape = shape.clone();
        }
    }
    if let Some(extra) = add {
        tensors.push(Owned::f32(extra, vec![2], &[0.0, 0.0]));
    }
    checkpoint::to_bytes(&tensors)
}

#[test]
fn bad_checkpoints_name_the_tensor() {
    let Some(dir) = tiny_dir() else { return };
    let device = Default::default();
    let config = parse_bert_config(&std::fs::read(dir.join("config.json")).expect("config")).expect("config");
    let bytes = std::fs::read(dir.join("model.safetensors")).expect("checkpoint");
    let name = "encoder.layer.1.attention.self.key.weight";

    let missing = edit_checkpoint(&bytes, Some(name), None, None);
    let err = load_bert_safetensors::<B>(&config, &missing, &device).expect_err("missing tensor");
    assert!(matches!(&err, PretrainedError::Missing(n) if n == name), "{err}");
    assert!(err.to_string().contains(name), "{err}");

    let misshaped = edit_checkpoint(&bytes, None, Some((name, vec![32, 31])), None);
    let err = load_bert_safetensors::<B>(&config, &misshaped, &device).expect_err("mis-shaped tensor");
    assert!(matches!(&err, PretrainedError::Shape { name: n, .. } if n == name), "{err}");
    assert!(err.to_string().contains(name) && err.to_string().contains("[32, 31]"), "{err}");

    let unused = edit_checkpoint(&bytes, None, None, Some("encoder.layer.2.output.dense.bias"));
    let err = load_bert_safetensors::<B>(&config, &unused, &device).expect_err("unused tensor");
    assert!(err.to_string().contains("encoder.layer.2.output.dense.bias"), "{err}");
    eprintln!("errors read e.g.: {err}");

    // position_ids is skipped; the unedited file loads.
    load_bert_safetensors::<B>(&config, &bytes, &device).expect("the unedited checkpoint loads");
}
