//! Numerical parity of the Burn CLIP vision and text towers with Hugging Face transformers on the
//! tiny random fixtures (../shared/data/parity/tiny-clip-{vision,text}), the full-CLIPModel layout
//! (prefixes, projections, `logit_scale`) built from them, and the loader's error messages.

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::TensorData;
use safetensors::Dtype;
use serde_json::{Value, json};
use shared_model::model::clip::{ClipTextModel, ClipTextOutput, ClipTextPooling};
use shared_model::model::clip::{ClipVisionModel, ClipVisionOutput};
use shared_model::model::clip::{
    load_clip_text_dir, load_clip_vision_dir, parse_clip_text_config, parse_clip_vision_config,
};
use shared_model::model::pretrained::PretrainedError;

type B = Flex;

use gifqa_tests::checkpoint::{self, Owned};
use gifqa_tests::parity::{float_tensor, read_json, values};

fn int_batch(v: &Value) -> Tensor<B, 2, Int> {
    gifqa_tests::parity::int_batch::<B>(v)
}

/// Absolute tolerance for the tiny models in float32 on CPU (parity README).
const TOL: f32 = 1e-4;

fn fixture(name: &str) -> Option<PathBuf> {
    gifqa_tests::shared_data().map(|d| d.join("parity").join(name))
}

/// Max abs error of `got` against the stored `want`, after checking the shape.
fn error_vs<const D: usize>(label: &str, got: Tensor<B, D>, want: &Value) -> f32 {
    let (want_shape, want) = float_tensor(want);
    let (shape, got) = values(got);
    assert_eq!(shape, want_shape, "{label}: shape");
    let err = got.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    eprintln!("{label}: max abs error {err:.3e}");
    assert!(err <= TOL, "{label}: max abs error {err} > {TOL}");
    err
}

fn run_vision(model: &ClipVisionModel<B>, expected: &Value) -> ClipVisionOutput<B> {
    let (shape, data) = float_tensor(&expected["inputs"]["pixel_values"]);
    let shape: [usize; 4] = shape.try_into().expect("4-d pixel_values");
    model.forward(Tensor::from_data(TensorData::new(data, shape), &Default::default()))
}

fn run_text(model: &ClipTextModel<B>, inputs: &Value) -> ClipTextOutput<B> {
    model.forward(int_batch(&inputs["input_ids"]), inputs.get("attention_mask").map(int_batch))
}

/// Compares a vision output with the fixture: every hidden state, last_hidden_state, pooler_output.
fn check_vision(label: &str, out: ClipVisionOutput<B>, expected: &Value) {
    let states = expected["outputs"]["hidden_states"].as_array().expect("hidden_states");
    assert_eq!(states.len(), out.hidden_states.len(), "{label}: number of hidden states");
    for (i, (mine, want)) in out.hidden_states.into_iter().zip(states).enumerate() {
        error_vs(&format!("{label} hidden_states[{i}]"), mine, want);
    }
    error_vs(&format!("{label} last_hidden_state"), out.last_hidden_state, &expected["outputs"]["last_hidden_state"]);
    error_vs(&format!("{label} pooler_output"), out.pooler_output, &expected["outputs"]["pooler_output"]);
}

/// Compares a text output with one case of the fixture (hidden states when the case has them).
fn check_text(label: &str, out: ClipTextOutput<B>, case: &Value) {
    if let Some(states) = case["outputs"].get("hidden_states").and_then(Value::as_array) {
        assert_eq!(states.len(), out.hidden_states.len(), "{label}: number of hidden states");
        for (i, (mine, want)) in out.hidden_states.into_iter().zip(states).enumerate() {
            error_vs(&format!("{label} hidden_states[{i}]"), mine, want);
        }
    }
    error_vs(&format!("{label} last_hidden_state"), out.last_hidden_state, &case["outputs"]["last_hidden_state"]);
    error_vs(&format!("{label} pooler_output"), out.pooler_output, &case["outputs"]["pooler_output"]);
}

#[test]
fn tiny_clip_vision_matches_transformers() {
    let Some(dir) = fixture("tiny-clip-vision") else { return };
    let loaded = load_clip_vision_dir::<B>(&dir, &Default::default()).expect("loading tiny-clip-vision");
    assert_eq!((loaded.config.image_size, loaded.config.patch_size, loaded.config.num_patches()), (32, 8, 16));
    assert!(!loaded.model.has_projection());
    let expected = read_json(&dir.join("expected.json"));
    let out = run_vision(&loaded.model, &expected);
    assert!(out.image_embeds.is_none());
    check_vision("tiny-clip-vision", out, &expected);
}

#[test]
fn tiny_clip_text_matches_transformers() {
    let Some(dir) = fixture("tiny-clip-text") else { return };
    let loaded = load_clip_text_dir::<B>(&dir, &Default::default()).expect("loading tiny-clip-text");
    assert_eq!(loaded.model.pooling(), ClipTextPooling::FirstId(99));
    let expected = read_json(&dir.join("expected.json"));
    check_text("tiny-clip-text main", run_text(&loaded.model, &expected["inputs"]), &expected);
    let extra = expected["extra_cases"].as_array().expect("extra_cases");
    assert_eq!(extra.len(), 1);
    for case in extra {
        let label = format!("tiny-clip-text {}", case["name"].as_str().expect("name"));
        check_text(&label, run_text(&loaded.model, &case["inputs"]), case);
    }
}

/// Without `eos_token_id` (and with OpenAI's legacy `2`) the pooler takes the largest id, which in the
/// fixture is the eos (99) too; with repeated eos ids the first one is pooled.
#[test]
fn text_pooling_rules() {
    let Some(dir) = fixture("tiny-clip-text") else { return };
    let expected = read_json(&dir.join("expected.json"));
    let mut config_json = read_json(&dir.join("config.json"));
    for (eos, rule) in [(Value::Null, ClipTextPooling::LargestId), (json!(2), ClipTextPooling::LargestId)] {
        config_json["eos_token_id"] = eos;
        let config = parse_clip_text_config(config_json.to_string().as_bytes()).expect("config");
        assert_eq!(config.pooling(), rule);
        let bytes = std::fs::read(dir.join("model.safetensors")).expect("checkpoint");
        let model = shared_model::model::clip::load_clip_text_safetensors::<B>(&config, &bytes, &Default::default())
            .expect("loading");
        let out = run_text(&model, &expected["inputs"]);
        error_vs("tiny-clip-text pooler, largest-id rule", out.pooler_output, &expected["outputs"]["pooler_output"]);
    }

    let loaded = load_clip_text_dir::<B>(&dir, &Default::default()).expect("loading tiny-clip-text");
    let ids = json!({ "input_ids": [[0, 5, 99, 99, 1], [0, 7, 8, 9, 3]] });
    let out = run_text(&loaded.model, &ids);
    let (_, pooled) = values(out.pooler_output);
    let (_, hidden) = values(out.last_hidden_state);
    let row = |b: usize, t: usize| &hidden[(b * 5 + t) * 32..(b * 5 + t + 1) * 32];
    assert_eq!(&pooled[..32], row(0, 2), "first of two eos ids");
    assert_eq!(&pooled[32..], row(1, 0), "no eos id: position 0, as transformers");
}

fn read_tensors(path: &Path, prefix: &str) -> Vec<Owned> {
    checkpoint::read(&std::fs::read(path).expect("checkpoint"), prefix)
}

fn write_checkpoint(path: &Path, tensors: &[Owned]) {
    std::fs::write(path, checkpoint::to_bytes(tensors)).expect("writing checkpoint");
}

/// A deterministic `[rows, cols]` matrix with distinct entries.
fn projection_values(rows: usize, cols: usize) -> Vec<f32> {
    (0..rows * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 100.0).collect()
}

/// `x [batch, k] · wᵀ` with `w [n, k]` (Hugging Face's Linear without bias).
fn project(x: &[f32], k: usize, w: &[f32], n: usize) -> Vec<f32> {
    x.chunks(k)
        .flat_map(|row| (0..n).map(move |j| row.iter().zip(&w[j * k..(j + 1) * k]).map(|(a, b)| a * b).sum()))
        .collect()
}

/// The two tiny towers merged into one folder laid out like openai/clip-vit-base-patch32:
/// prefixed tensors, both projections, `logit_scale`, int position ids, a `CLIPModel` config.
fn full_clip_dir(vision: &Path, text: &Path, dir: &Path, extra: Option<&str>) {
    const PROJECTION: usize = 24;
    let mut tensors = read_tensors(&vision.join("model.safetensors"), "vision_model.");
    tensors.extend(read_tensors(&text.join("model.safetensors"), "text_model."));
    tensors.push(Owned::f32("visual_projection.weight", vec![PROJECTION, 32], &projection_values(PROJECTION, 32)));
    tensors.push(Owned::f32("text_projection.weight", vec![PROJECTION, 32], &projection_values(PROJECTION, 32)));
    tensors.push(Owned::f32("logit_scale", vec![], &[2.6592]));
    for tower in ["vision_model.", "text_model."] {
        let ids: Vec<u8> = (0..16i64).flat_map(|i| i.to_le_bytes()).collect();
        tensors.push(Owned {
            name: format!("{tower}embeddings.position_ids"),
            dtype: Dtype::I64,
            shape: vec![1, 16],
            data: ids,
        });
    }
    if let Some(name) = extra {
        tensors.push(Owned::f32(name, vec![2], &[0.0, 0.0]));
    }
    write_checkpoint(&dir.join("model.safetensors"), &tensors);
    let config = json!({
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": PROJECTION,
        "logit_scale_init_value": 2.6592,
        "vision_config": read_json(&vision.join("config.json")),
        "text_config": read_json(&text.join("config.json")),
    });
    std::fs::write(dir.join("config.json"), config.to_string()).expect("writing config");
}

#[test]
fn full_clip_checkpoint_loads_each_tower() {
    let (Some(vision), Some(text)) = (fixture("tiny-clip-vision"), fixture("tiny-clip-text")) else { return };
    let tmp = gifqa_tests::TempDir::new("clip-full");
    full_clip_dir(&vision, &text, &tmp.0, None);
    let device = Default::default();

    let loaded = load_clip_vision_dir::<B>(&tmp.0, &device).expect("vision tower of a full CLIP checkpoint");
    assert_eq!(loaded.config.projection_dim, 24);
    let expected = read_json(&vision.join("expected.json"));
    let out = run_vision(&loaded.model, &expected);
    let (_, pooled) = values(out.pooler_output.clone());
    let embeds = out.image_embeds.clone().expect("image_embeds");
    let want = project(&pooled, 32, &projection_values(24, 32), 24);
    error_vs("full CLIP image_embeds", embeds, &json!({"shape": [2, 24], "data": want}));
    check_vision("full CLIP vision", out, &expected);

    let loaded = load_clip_text_dir::<B>(&tmp.0, &device).expect("text tower of a full CLIP checkpoint");
    let expected = read_json(&text.join("expected.json"));
    let out = run_text(&loaded.model, &expected["inputs"]);
    let (_, pooled) = values(out.pooler_output.clone());
    let embeds = out.text_embeds.clone().expect("text_embeds");
    let want = project(&pooled, 32, &projection_values(24, 32), 24);
    error_vs("full CLIP text_embeds", embeds, &json!({"shape": [2, 24], "data": want}));
    check_text("full CLIP text", out, &expected);

    // A tensor of neither tower is an error for both; the other tower's are not.
    let tmp = gifqa_tests::TempDir::new("clip-full-extra");
    full_clip_dir(&vision, &text, &tmp.0, Some("vision_model.encoder.layers.0.mlp.fc3.bias"));
    let err = load_clip_vision_dir::<B>(&tmp.0, &device).err().expect("unknown vision tensor");
    assert!(matches!(err.innermost(), PretrainedError::Unused(n) if n == "vision_model.encoder.layers.0.mlp.fc3.bias"));
    load_clip_text_dir::<B>(&tmp.0, &device).expect("the vision tower's tensors belong to the other tower");
    full_clip_dir(&vision, &text, &tmp.0, Some("projection_bias"));
    for err in [
        load_clip_vision_dir::<B>(&tmp.0, &device).err().expect("unknown tensor, vision"),
        load_clip_text_dir::<B>(&tmp.0, &device).err().expect("unknown tensor, text"),
    ] {
        assert!(matches!(err.innermost(), PretrainedError::Unused(n) if n == "projection_bias"), "{err}");
    }
}

/// What a bad checkpoint does to the load of `fixture`: the error's text.
fn load_error(fixture_dir: &Path, tmp: &Path, tensors: &[Owned], vision: bool) -> PretrainedError {
    std::fs::copy(fixture_dir.join("config.json"), tmp.join("config.json")).expect("copying config");
    write_checkpoint(&tmp.join("model.safetensors"), tensors);
    let device = Default::default();
    if vision {
        load_clip_vision_dir::<B>(tmp, &device).err().expect("a bad vision checkpoint fails")
    } else {
        load_clip_text_dir::<B>(tmp, &device).err().expect("a bad text checkpoint fails")
    }
}

#[test]
fn bad_checkpoints_name_the_file_and_tensor() {
    for (name, vision, target, bad_shape) in [
        ("tiny-clip-vision", true, "encoder.layers.1.self_attn.k_proj.weight", vec![32, 3, 8, 7]),
        ("tiny-clip-text", false, "encoder.layers.1.mlp.fc1.weight", vec![64, 31]),
    ] {
        let Some(dir) = fixture(name) else { return };
        let tmp = gifqa_tests::TempDir::new(&format!("{name}-bad"));
        let file = tmp.0.join("model.safetensors").display().to_string();
        let tensors = read_tensors(&dir.join("model.safetensors"), "");

        let missing: Vec<Owned> =
            read_tensors(&dir.join("model.safetensors"), "").into_iter().filter(|t| t.name != target).collect();
        let err = load_error(&dir, &tmp.0, &missing, vision);
        assert!(matches!(err.innermost(), PretrainedError::Missing(n) if n == target), "{err}");
        assert!(err.to_string().contains(&file) && err.to_string().contains(target), "{err}");
        eprintln!("{name}, missing: {err}");

        let mut misshaped = read_tensors(&dir.join("model.safetensors"), "");
        let conv = if vision { "embeddings.patch_embedding.weight" } else { target };
        for t in misshaped.iter_mut().filter(|t| t.name == conv) {
            t.shape = bad_shape.clone();
            t.data = vec![0u8; bad_shape.iter().product::<usize>() * 4];
        }
        let err = load_error(&dir, &tmp.0, &misshaped, vision);
        assert!(matches!(err.innermost(), PretrainedError::Shape { name: n, .. } if n == conv), "{err}");
        assert!(err.to_string().contains(&format!("{bad_shape:?}")) && err.to_string().contains(&file), "{err}");
        eprintln!("{name}, mis-shaped: {err}");

        let mut extra = tensors;
        extra.push(Owned::f32("encoder.layers.2.mlp.fc1.bias", vec![2], &[0.0, 0.0]));
        let err = load_error(&dir, &tmp.0, &extra, vision);
        assert!(matches!(err.innermost(), PretrainedError::Unused(n) if n == "encoder.layers.2.mlp.fc1.bias"), "{err}");
        eprintln!("{name}, unknown: {err}");
    }
}

#[test]
fn configs_of_the_wrong_tower_are_rejected() {
    let (Some(vision), Some(text)) = (fixture("tiny-clip-vision"), fixture("tiny-clip-text")) else { return };
    let vision_json = std::fs::read(vision.join("config.json")).expect("config");
    let text_json = std::fs::read(text.join("config.json")).expect("config");
    let err = parse_clip_vision_config(&text_json).expect_err("a text config is not a vision config");
    assert!(err.to_string().contains("clip_text_model"), "{err}");
    parse_clip_text_config(&vision_json).expect_err("a vision config is not a text config");
    let mut odd: Value = serde_json::from_slice(&vision_json).expect("json");
    odd["patch_size"] = json!(7);
    let err = parse_clip_vision_config(odd.to_string().as_bytes()).expect_err("32 is not a multiple of 7");
    assert!(err.to_string().contains("patch_size 7"), "{err}");
    odd["patch_size"] = json!(8);
    odd["hidden_act"] = json!("relu");
    parse_clip_vision_config(odd.to_string().as_bytes()).expect_err("unknown activation");
}

/// The real openai/clip-vit-base-patch32 (a full `CLIPModel` folder: config.json + model.safetensors),
/// when present: both towers load through the key maps and give 512-wide embeddings. No reference
/// outputs are stored for it; the tiny fixtures carry the numerical parity.
#[test]
fn openai_clip_loads_when_present() {
    let dir = match std::env::var_os("GIFQA_CLIP_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".cache/gifqa/clip-vit-base-patch32"),
            None => return eprintln!("SKIPPED: HOME is not set"),
        },
    };
    if !dir.join("model.safetensors").is_file() {
        eprintln!(
            "SKIPPED: {} not found (put openai/clip-vit-base-patch32's config.json and model.safetensors \
             there, or set GIFQA_CLIP_DIR)",
            dir.display()
        );
        return;
    }
    let device = Default::default();
    let vision = load_clip_vision_dir::<B>(&dir, &device).expect("loading the vision tower");
    let size = vision.config.image_size;
    let pixels = Tensor::<B, 4>::zeros([1, 3, size, size], &device);
    let out = vision.model.forward(pixels);
    assert_eq!(out.last_hidden_state.dims(), [1, vision.config.num_patches() + 1, vision.config.hidden_size]);
    assert_eq!(out.image_embeds.expect("visual_projection").dims(), [1, 512]);
    let text = load_clip_text_dir::<B>(&dir, &device).expect("loading the text tower");
    // OpenAI's configs carry eos_token_id 2: pooled at the largest id (49407, end of text).
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![49406i64, 320, 1929, 49407], [1, 4]), &device);
    let out = text.model.forward(ids, None);
    assert_eq!(out.text_embeds.expect("text_projection").dims(), [1, 512]);
}
