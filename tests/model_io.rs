//! Weight I/O: a saved model reloads to identical outputs; loading fails loudly on missing or
//! unused tensors and on a tokenizer that does not fit; the model shipped for the page still loads
//! and answers freshly generated benchmark GIFs (another seed than its training data); weights
//! stored in f16 are half the file and reload close to the f32 model.

use burn::backend::Flex;
use burn::tensor::Tensor;
use gifqa_tests::{TempDir, checkpoint, repo_root};
use shared_model::answer::pipeline::ClipAggregation;
use shared_model::bundle::{
    BundleError, ModelBundle, Verify, WeightsDtype, load_weights, load_weights_partially, weights_to_bytes,
    weights_to_bytes_as,
};
use shared_model::model::{CountHead, QaModel, QaModelConfig};
use shared_model::sampling::SamplingStrategy;

type B = Flex;

fn tiny(temporal_layers: usize) -> QaModelConfig {
    gifqa_tests::tiny::config().with_temporal_layers(temporal_layers)
}

/// A model of `config` with weights drawn from `seed` alone (under the lock every test's draw
/// takes: Flex seeds one process-wide generator and the tests run in parallel threads).
fn init(config: &QaModelConfig, seed: u64) -> QaModel<B> {
    gifqa_tests::tiny::model(config, seed)
}

/// Choice and count logits of `model` on the fixed tiny batch (2 videos × 3 frames, 3 questions,
/// 4 choices).
fn outputs(model: &QaModel<B>) -> Vec<f32> {
    let batch = gifqa_tests::tiny::batch::<B>(&Default::default());
    let video = model.encode_video(batch.frames, batch.times);
    let question = model.encode_text(batch.ids.clone(), batch.padding.clone());
    let context = model.fuse(&video, &gifqa_tests::tiny::VIDEO_INDEX, &question);
    let candidates = model.encode_text(batch.ids.repeat_dim(0, 4), batch.padding.repeat_dim(0, 4));
    let mut out = model.choice_logits(&context, candidates.pooled).into_data().to_vec::<f32>().unwrap();
    out.extend(model.count_logits(&context).into_data().to_vec::<f32>().unwrap());
    out
}

/// A tiny config as config.json was written before `option` existed (the key absent).
fn config_without(option: &str) -> QaModelConfig {
    let mut json: serde_json::Value = serde_json::from_str(&tiny(1).to_string()).unwrap();
    json.as_object_mut().unwrap().remove(option);
    serde_json::from_value(json).unwrap()
}

/// Loads a plain tiny model's weights into a model built from `config` (with one new part), as
/// growing a trained model does: returns the plain model's outputs, the extended model and the tensor paths
/// that had to stay fresh. Nothing of the plain model may be left unused.
fn extend_plain(config: &QaModelConfig, seed: u64) -> (Vec<f32>, QaModel<B>, Vec<String>) {
    let plain = init(&tiny(1), seed);
    let mut extended = init(config, seed + 1);
    let result = load_weights_partially(&mut extended, weights_to_bytes(&plain).unwrap()).unwrap();
    assert!(result.unused.is_empty(), "{:?}", result.unused);
    (outputs(&plain), extended, result.missing)
}

/// Saved and reloaded into a fresh model of `config`, `model` gives `expected` exactly; a plain
/// tiny model refuses those weights with an error naming `part`.
fn assert_reloads_and_plain_refuses(config: &QaModelConfig, model: &QaModel<B>, expected: &[f32], part: &str) {
    let bytes = weights_to_bytes(model).unwrap();
    let mut fresh = init(config, 1);
    load_weights(&mut fresh, bytes.clone()).unwrap();
    assert!(outputs(&fresh) == expected, "a model with {part} reloads exactly");
    let error = load_weights(&mut init(&tiny(1), 1), bytes).unwrap_err();
    assert!(error.to_string().contains(part), "{error}");
}

#[test]
fn saved_weights_reload_to_identical_outputs() {
    let model = init(&tiny(2), 3);
    let expected = outputs(&model);
    let bytes = weights_to_bytes(&model).unwrap();
    // Burn initialises parameters lazily: seed differently so the fresh model's weights differ.
    let mut fresh = init(&tiny(2), 99);
    assert!(outputs(&fresh) != expected, "a fresh model differs before loading");
    assert!(outputs(&model) == expected, "outputs are deterministic");
    load_weights(&mut fresh, bytes.clone()).unwrap();
    let after = outputs(&fresh);
    let diff = after.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff == 0.0, "max output difference after reloading: {diff}");
    let diff = outputs(&fresh).iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff == 0.0, "max difference {diff}: {:?} vs {:?}", &outputs(&fresh)[..4], &expected[..4]);
}

#[test]
fn grid_max_token_models_reload_and_old_configs_default_to_without() {
    let config = tiny(1).with_grid_max_token(Some(true));
    let model = init(&config, 5);
    let expected = outputs(&model);
    assert!(expected.iter().all(|v| v.is_finite()));
    // A model without the token cannot silently take those weights.
    assert_reloads_and_plain_refuses(&config, &model, &expected, "grid_max");
    // config.json written before the option existed still parses, without the token.
    assert_eq!(config_without("grid_max_token").grid_max_token, None);
}

#[test]
fn frame_evidence_count_head_reloads_and_old_configs_default_to_pooled() {
    let config = tiny(1).with_count_head(Some(CountHead::FrameEvidence));
    let model = init(&config, 6);
    let expected = outputs(&model);
    assert!(expected.iter().all(|v| v.is_finite()));
    // Neither head silently takes the other's weights.
    assert_reloads_and_plain_refuses(&config, &model, &expected, "event_counter");
    let pooled = init(&tiny(1), 6);
    let error = load_weights(&mut init(&config, 6), weights_to_bytes(&pooled).unwrap()).unwrap_err();
    assert!(error.to_string().contains("event_counter"), "{error}");
    // config.json written before the option existed still parses, with the pooled head.
    assert_eq!(config_without("count_head").count_head(), CountHead::Pooled);
}

#[test]
fn temporal_event_counter_reloads_and_old_configs_default_to_frame_at_a_time() {
    let without = tiny(1).with_count_head(Some(CountHead::PooledAndEvidence));
    let config = without.clone().with_count_temporal_kernel(Some(3));
    let model = init(&config, 8);
    let expected = outputs(&model);
    assert!(expected.iter().all(|v| v.is_finite()));
    assert_reloads_and_plain_refuses(&config, &model, &expected, "event_counter");
    // The frame-at-a-time counter neither takes the temporal one's weights nor gives it its own.
    let error = load_weights(&mut init(&without, 8), weights_to_bytes(&model).unwrap()).unwrap_err();
    assert!(error.to_string().contains("event_counter."), "{error}");
    let error = load_weights(&mut init(&config, 8), weights_to_bytes(&init(&without, 8)).unwrap());
    assert!(error.unwrap_err().to_string().contains("event_counter"));
    assert!(tiny(1).with_count_temporal_kernel(Some(4)).check().is_err(), "an even kernel is refused");
    assert_eq!(config_without("count_temporal_kernel").count_temporal_kernel, None);
}

#[test]
fn evidence_beside_pooled_starts_near_the_pooled_answers_and_reloads() {
    // Added to a trained pooled model, the event counter's flat
    // parabola lowers each count logit by at most e^-4 · 10² ≈ 1.8 (count 10 against an expected
    // count near 0) and leaves the other outputs as they were.
    let config = tiny(1).with_count_head(Some(CountHead::PooledAndEvidence));
    let (expected, extended, missing) = extend_plain(&config, 12);
    assert!(missing.iter().all(|path| path.starts_with("event_counter.")) && missing.len() == 5, "{missing:?}");
    let after = outputs(&extended);
    let counts = after.len() - 3 * 11; // tiny's three questions end the outputs with 11 count logits each
    assert!(after[..counts] == expected[..counts], "the choice logits do not change");
    let shifts: Vec<f32> = after[counts..].iter().zip(&expected[counts..]).map(|(a, b)| a - b).collect();
    assert!(shifts.iter().all(|s| (-1.9..=0.0).contains(s)), "{shifts:?}");
    assert!(shifts.iter().any(|&s| s < 0.0), "the evidence takes part");
    assert_reloads_and_plain_refuses(&config, &extended, &after, "event_counter");
}

#[test]
fn slot_coordinates_start_as_a_no_op_reload_and_default_to_off() {
    // Added to a trained model, the zero-initialised
    // position read changes nothing until training moves it.
    let config = tiny(1).with_slot_coordinates(Some(true));
    let (expected, extended, missing) = extend_plain(&config, 7);
    assert_eq!(missing, ["fusion.slot_reader.where_read.bias", "fusion.slot_reader.where_read.weight"]);
    assert!(outputs(&extended) == expected, "a fresh position read leaves the answers unchanged");
    assert_reloads_and_plain_refuses(&config, &extended, &expected, "where_read");
    assert_eq!(config_without("slot_coordinates").slot_coordinates, None);
}

#[test]
fn object_probe_leaves_answers_unchanged_reloads_and_defaults_to_off() {
    let device = Default::default();
    // Added to a trained model: answering never reads it.
    let config = tiny(1).with_object_probe(Some(true));
    let (expected, extended, missing) = extend_plain(&config, 8);
    assert_eq!(
        missing,
        [
            "object_probe.colour.bias",
            "object_probe.colour.weight",
            "object_probe.shape.bias",
            "object_probe.shape.weight"
        ]
    );
    assert!(outputs(&extended) == expected, "the probe changes no answer");
    // It reads shape and colour logits over the answer classes from pooled grid tokens.
    let (objects, cells) = (3, 4);
    let tokens = Tensor::<B, 3>::ones([objects, cells, config.d_model], &device);
    let weights = Tensor::<B, 2>::full([objects, cells], 0.25, &device);
    let logits = extended.probe_objects(tokens, weights).expect("the extended model has a probe");
    assert_eq!(logits.shape.dims(), [objects, config.answer_classes]);
    assert_eq!(logits.colour.dims(), [objects, config.answer_classes]);
    let plain = init(&tiny(1), 8);
    assert!(
        plain
            .probe_objects(Tensor::ones([1, cells, config.d_model], &device), Tensor::ones([1, cells], &device))
            .is_none()
    );
    assert_reloads_and_plain_refuses(&config, &extended, &expected, "object_probe");
    assert_eq!(config_without("object_probe").object_probe, None);
}

#[test]
fn grid_attention_starts_as_a_no_op_reloads_and_defaults_to_off() {
    // Added to a trained model, its closed gate keeps
    // every answer.
    let config = tiny(1).with_grid_attention_layers(Some(1));
    let (expected, extended, missing) = extend_plain(&config, 9);
    assert!(!missing.is_empty());
    assert!(missing.iter().all(|path| path.starts_with("frame_encoder.grid_attention.")), "{missing:?}");
    assert!(outputs(&extended) == expected, "a closed gate leaves the answers unchanged");
    assert_reloads_and_plain_refuses(&config, &extended, &expected, "grid_attention");
    assert_eq!(config_without("grid_attention_layers").grid_attention_layers, None);
}

#[test]
fn fused_captions_add_no_tensor_and_default_to_off() {
    // Fused captions only flip the config: every trained tensor is used as is.
    let (_, _, missing) = extend_plain(&tiny(1).with_fused_captions(Some(true)), 11);
    assert!(missing.is_empty(), "{missing:?}");
    assert!(!config_without("fused_captions").fuses_captions());
}

/// Safetensors `bytes` with `change` applied to the values of every (f32) tensor, by name.
fn rewritten(bytes: &[u8], change: impl Fn(&str, &mut [f32])) -> Vec<u8> {
    let mut tensors = checkpoint::read(bytes, "");
    for tensor in &mut tensors {
        let mut values = tensor.f32_values();
        change(&tensor.name, &mut values);
        *tensor = checkpoint::Owned::f32(&tensor.name, tensor.shape.clone(), &values);
    }
    checkpoint::to_bytes(&tensors)
}

#[test]
fn a_further_grid_attention_layer_starts_as_the_identity() {
    let one = tiny(1).with_grid_attention_layers(Some(1));
    // A trained one-layer branch: its gate open, its layer no longer the identity it starts as.
    let fresh = weights_to_bytes(&init(&one, 10)).unwrap();
    let trained_bytes = rewritten(&fresh, |name, values| {
        if name == "frame_encoder.grid_attention.gate" {
            values.fill(0.7);
        } else if name.starts_with("frame_encoder.grid_attention.transformer.layers.0.") {
            values.iter_mut().enumerate().for_each(|(i, v)| *v += 0.05 * ((i * 7 % 11) as f32 - 5.0));
        }
    });
    let mut trained = init(&one, 10);
    load_weights(&mut trained, trained_bytes.clone()).unwrap();
    let expected = outputs(&trained);
    let mut untrained = init(&one, 10);
    load_weights(&mut untrained, fresh).unwrap();
    assert!(outputs(&untrained) != expected, "the trained branch changes the answers");
    // A second layer added to such a model changes none.
    let two = tiny(1).with_grid_attention_layers(Some(2));
    let mut extended = init(&two, 10);
    let result = load_weights_partially(&mut extended, trained_bytes).unwrap();
    assert!(result.unused.is_empty(), "{:?}", result.unused);
    assert!(!result.missing.is_empty());
    let new_layer = "frame_encoder.grid_attention.transformer.layers.1.";
    assert!(result.missing.iter().all(|path| path.starts_with(new_layer)), "{:?}", result.missing);
    assert!(outputs(&extended) == expected, "a layer that starts as the identity leaves the answers unchanged");
}

#[test]
fn loading_fails_on_missing_or_unused_tensors() {
    let shallow = weights_to_bytes(&init(&tiny(1), 1)).unwrap();
    let deep = weights_to_bytes(&init(&tiny(2), 1)).unwrap();
    let missing = load_weights(&mut init(&tiny(2), 1), shallow).unwrap_err().to_string();
    assert!(missing.contains("missing") && missing.contains("fusion.temporal.layers.1"), "{missing}");
    let unused = load_weights(&mut init(&tiny(1), 1), deep).unwrap_err().to_string();
    assert!(unused.contains("unused") && unused.contains("fusion.temporal.layers.1"), "{unused}");
    let garbage = load_weights(&mut init(&tiny(1), 1), b"not safetensors".to_vec());
    assert!(garbage.is_err());
}

/// The page's architecture in miniature: every kind of block the demo recipe trains (raw `Param`s
/// of our own blocks, Linear, Embedding, Conv1d, LayerNorm), so each goes through f16.
fn tiny_like_the_page() -> QaModelConfig {
    tiny(2)
        .with_slot_coordinates(Some(true))
        .with_grid_attention_layers(Some(2))
        .with_count_head(Some(CountHead::PooledAndEvidence))
        .with_count_temporal_kernel(Some(3))
        .with_kind_head(Some(true))
}

/// Bytes of tensor data in safetensors `bytes`, and whether every tensor is stored as `dtype`.
fn data_bytes(bytes: &[u8], dtype: safetensors::Dtype) -> (usize, bool) {
    let tensors = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let views = tensors.tensors();
    (views.iter().map(|(_, v)| v.data().len()).sum(), views.iter().all(|(_, v)| v.dtype() == dtype))
}

#[test]
fn f16_weights_are_half_the_file_and_reload_close_to_f32() {
    let config = tiny_like_the_page();
    let model = init(&config, 21);
    let expected = outputs(&model);
    let f32_bytes = weights_to_bytes(&model).unwrap();
    let f16_bytes = weights_to_bytes_as(&model, WeightsDtype::F16).unwrap();
    let (f32_data, all_f32) = data_bytes(&f32_bytes, safetensors::Dtype::F32);
    let (f16_data, all_f16) = data_bytes(&f16_bytes, safetensors::Dtype::F16);
    assert!(all_f32 && all_f16, "every tensor is stored in the asked width");
    assert_eq!(2 * f16_data, f32_data, "f16 stores each weight in half the bytes");
    let ratio = f16_bytes.len() as f64 / f32_bytes.len() as f64;
    assert!((0.5..0.55).contains(&ratio), "the f16 file is {ratio:.3} of the f32 one (headers are the rest)");

    let mut fresh = init(&config, 99);
    load_weights(&mut fresh, f16_bytes.clone()).unwrap();
    let after = outputs(&fresh);
    // f16 keeps 11 significant bits (relative rounding under 2^-11 ≈ 0.05%) per weight; through
    // the tiny model's layers the logits move by under 0.1% of their scale (measured: 0.02%).
    let scale = expected.iter().fold(1f32, |m, v| m.max(v.abs()));
    let diff = after.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff > 0.0 && diff <= 0.001 * scale, "max logit difference {diff} (scale {scale})");
    // Widened to f32 and narrowed again, every weight is the same f16 value.
    let tensors = |bytes: &[u8]| {
        let mut tensors: Vec<_> = checkpoint::read(bytes, "").into_iter().map(|t| (t.name, t.data)).collect();
        tensors.sort();
        tensors
    };
    let again = weights_to_bytes_as(&fresh, WeightsDtype::F16).unwrap();
    // (Compared by name: the header's metadata comes from a hash map, so its bytes may differ.)
    assert!(tensors(&again) == tensors(&f16_bytes), "f16 round trips exactly");
    assert!(tensors(&weights_to_bytes(&fresh).unwrap()) != tensors(&f32_bytes), "the model holds the rounded values");
}

#[test]
fn f16_weights_still_fail_loudly_on_missing_unused_or_misshaped_tensors() {
    let f16 = |config: &QaModelConfig| weights_to_bytes_as(&init(config, 1), WeightsDtype::F16).unwrap();
    let missing = load_weights(&mut init(&tiny(2), 1), f16(&tiny(1))).unwrap_err().to_string();
    assert!(missing.contains("missing") && missing.contains("fusion.temporal.layers.1"), "{missing}");
    let unused = load_weights(&mut init(&tiny(1), 1), f16(&tiny(2))).unwrap_err().to_string();
    assert!(unused.contains("unused") && unused.contains("fusion.temporal.layers.1"), "{unused}");
    // A kernel of 3 frames where the model has 5: same names, other shapes.
    let five = tiny_like_the_page().with_count_temporal_kernel(Some(5));
    let shape = load_weights(&mut init(&five, 1), f16(&tiny_like_the_page())).unwrap_err().to_string();
    assert!(shape.contains("event_counter") && shape.contains("Shape"), "{shape}");
}

#[test]
fn a_weight_beyond_f16_range_is_refused_when_saving_in_f16() {
    let config = tiny(1);
    let huge = rewritten(&weights_to_bytes(&init(&config, 2)).unwrap(), |name, values| {
        if name == "answer_head.logits.bias" {
            values[0] = 1e6;
        }
    });
    let mut model = init(&config, 2);
    load_weights(&mut model, huge).unwrap();
    let error = weights_to_bytes_as(&model, WeightsDtype::F16).unwrap_err().to_string();
    assert!(error.contains("answer_head.logits.bias") && error.contains("beyond f16's range"), "{error}");
    assert!(weights_to_bytes(&model).is_ok(), "f32 holds it");
}

#[test]
fn weights_dtype_names_parse() {
    for dtype in [WeightsDtype::F32, WeightsDtype::F16] {
        assert_eq!(dtype.name().parse::<WeightsDtype>(), Ok(dtype));
    }
    assert!("bf16".parse::<WeightsDtype>().unwrap_err().contains("f32 or f16"));
}

#[test]
fn a_model_folder_must_be_complete_and_consistent() {
    let shipped = repo_root().join("www/model");
    let read = |f: &str| std::fs::read(shipped.join(f)).unwrap();
    let device = Default::default();
    let dir = TempDir::new("model-folder");
    let missing = ModelBundle::<B>::load_dir(&dir.0, &device).err().expect("empty folder fails").to_string();
    assert!(missing.contains("has no manifest.json"), "{missing}");
    let missing =
        ModelBundle::<B>::load_dir_with(&dir.0, Verify::Skip, &device).err().expect("empty folder fails").to_string();
    assert!(missing.contains("config.json"), "{missing}");
    // A tokenizer with another vocabulary size than the model's.
    let mut tokenizer: serde_json::Value = serde_json::from_slice(&read("tokenizer.json")).unwrap();
    tokenizer["model"]["vocab"].as_object_mut().unwrap().insert("zzzextra".into(), 99_999.into());
    let result = ModelBundle::<B>::from_bytes(
        &read("config.json"),
        read("model.safetensors"),
        &serde_json::to_vec(&tokenizer).unwrap(),
        &device,
    );
    let error = result.err().expect("a mismatched vocabulary fails");
    let vocab_size = serde_json::from_slice::<serde_json::Value>(&read("config.json")).unwrap()["model"]["vocab_size"]
        .as_u64()
        .unwrap();
    assert!(matches!(error, BundleError::VocabMismatch { .. }), "{error:?}");
    let expected = format!(
        "tokenizer.json has a vocabulary of {} tokens but config.json's model.vocab_size is {vocab_size}",
        vocab_size + 1
    );
    assert!(error.to_string().starts_with(&expected), "{error}");
    let truncated = read("model.safetensors")[..1000].to_vec();
    let result = ModelBundle::<B>::from_bytes(&read("config.json"), truncated, &read("tokenizer.json"), &device);
    assert!(matches!(result, Err(BundleError::Weights(_))));
}

#[test]
fn damaged_weights_are_named_before_they_answer() {
    let shipped = repo_root().join("www/model");
    let device = Default::default();
    let dir = TempDir::new("damaged-model");
    for file in ["config.json", "model.safetensors", "tokenizer.json", "manifest.json"] {
        std::fs::copy(shipped.join(file), dir.0.join(file)).unwrap();
    }
    ModelBundle::<B>::load_dir(&dir.0, &device).expect("an intact copy loads");
    // One weight set to NaN (bytes past the header, which ends at 8 + its little-endian length).
    let mut weights = std::fs::read(shipped.join("model.safetensors")).unwrap();
    let header = 8 + u64::from_le_bytes(weights[..8].try_into().unwrap()) as usize;
    weights[header + 4..header + 8].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(dir.0.join("model.safetensors"), &weights).unwrap();
    let error = ModelBundle::<B>::load_dir(&dir.0, &device).err().expect("the manifest catches it");
    assert!(matches!(error, BundleError::Manifest(_)), "{error:?}");
    assert!(error.to_string().starts_with("model.safetensors does not match manifest.json"), "{error}");
    let error = ModelBundle::<B>::load_dir_with(&dir.0, Verify::Skip, &device).err().expect("the NaN check catches it");
    assert!(matches!(error, BundleError::NonFinite { count: 1, .. }), "{error:?}");
    // A file over its size limit is refused before it is read.
    assert_eq!(shared_model::bundle::max_file_bytes("config.json"), shared_model::bundle::MAX_CONFIG_BYTES);
    std::fs::write(dir.0.join("config.json"), vec![b' '; shared_model::bundle::MAX_CONFIG_BYTES as usize + 1]).unwrap();
    let error = ModelBundle::<B>::load_dir_with(&dir.0, Verify::Skip, &device).err().expect("too large");
    assert!(matches!(error, BundleError::TooLarge { .. }), "{error:?}");
}

/// Held-out accuracy the shipped model must keep on 48 GIFs of a seed it never saw, set a little
/// under what it measured there (100.0% on every type; earlier shipped models measured 81-100%).
/// One question is about 2 points, so caption's floor (41 of 48) sits six questions under the
/// shipped model and transition's (43 of 47) four. docs/results/README.md has the full Test
/// figures. Multiple-choice chance is 20%; these floors guard that a retrained model never
/// ships worse.
const SHIPPED_FLOORS: [(&str, f64); 5] =
    [("action", 0.85), ("transition", 0.91), ("count", 0.85), ("frameqa", 0.92), ("caption", 0.85)];

/// The shipped model was trained with `--attention-supervision`: for questions naming an object by
/// colour and shape, its slot attention peaks on that object in (measured) 100% of the frames in
/// which it is visible, where chance is about 8% of cells.
const SHIPPED_POINTING_FLOOR: f64 = 0.9;

#[test]
fn shipped_model_answers_fresh_benchmark_gifs() {
    let device = Default::default();
    let bundle = ModelBundle::<B>::load_dir(&repo_root().join("www/model"), &device).expect("www/model loads");
    let data = TempDir::new("fresh-benchmark");
    let out = data.0.join("bench");
    trainer::generate::generate(
        &trainer::generate::GenerateOptions {
            out: out.clone(),
            seed: 90_210,
            gifs: 60,
            wording: Default::default(),
            renderer: Default::default(),
            drawing: Default::default(),
        },
        &|| {},
    )
    .unwrap();
    let split = trainer::data::load(&out, "Train", &bundle.config.preprocess, None).unwrap();
    let annotations = trainer::data::attention_targets::ObjectAnnotations::load(&out, "Train").unwrap();
    let evaluator = trainer::eval::Evaluator {
        model: &bundle.model,
        config: &bundle.config,
        tokenizer: &bundle.tokenizer,
        strategy: SamplingStrategy::parse(&bundle.config.sampling, 16).unwrap(),
        aggregation: ClipAggregation::Mean,
        batch_gifs: 16,
        device,
        annotations: Some(&annotations),
        retrieval_gallery: None,
        count_check_sweep: Vec::new(),
        order_check_sweep: Vec::new(),
        timeline_check_sweep: Vec::new(),
        object_check_sweep: Vec::new(),
    };
    let trainer::eval::Evaluation { report, answers, .. } =
        evaluator.evaluate_with_answers(&split, false, false).unwrap();
    println!("{}", trainer::eval::table(&report));
    // `eval --answers` lists the questions the report counts, each scored as the report scores it.
    for (qtype, metrics) in &report {
        let listed: Vec<_> = answers.iter().filter(|a| a.qtype == qtype.as_str()).collect();
        assert_eq!(listed.len(), metrics.n, "{qtype}: one answer per question");
        let right = listed.iter().filter(|a| a.right).count();
        assert_eq!(right as f64 / metrics.n as f64, metrics.accuracy, "{qtype}: right answers");
        for answer in listed {
            let agrees = answer.predicted == answer.answer;
            assert_eq!(answer.right, agrees, "{answer:?}");
            assert!((0.0..=1.0).contains(&answer.probability), "{answer:?}");
        }
    }
    for (qtype, floor) in SHIPPED_FLOORS {
        let accuracy = report[qtype].accuracy;
        assert!(accuracy >= floor, "{qtype}: {accuracy:.3} < {floor}");
    }
    for qtype in ["action", "transition", "count"] {
        let pointing = report[qtype].pointing.expect("generated data has object annotations");
        assert!(pointing >= SHIPPED_POINTING_FLOOR, "{qtype}: looks at its object in {pointing:.3} of frames");
    }
}

/// The page and `trainer predict` show where the model looked (`FrameInfo::attention`, outlined on
/// each frame): on fresh benchmark GIFs, the shipped model's most-attended cell there holds the
/// object an action question names in at least 90% of the frames showing it (chance about 8%):
/// the inference path points like the evaluation's (measured: 324 of 324 frames).
#[test]
fn shipped_model_shows_where_it_looked() {
    use shared_model::answer::pipeline::{INFERENCE_SEED, answer_prepared, prepare_gif};
    use shared_model::gif::{DecodeLimits, decode_gif};
    use shared_model::text::questions::QuestionType;

    let device = Default::default();
    let bundle = ModelBundle::<B>::load_dir(&repo_root().join("www/model"), &device).expect("www/model loads");
    let data = TempDir::new("where-it-looked");
    let out = data.0.join("bench");
    trainer::generate::generate(
        &trainer::generate::GenerateOptions {
            out: out.clone(),
            seed: 4_242,
            gifs: 30,
            wording: Default::default(),
            renderer: Default::default(),
            drawing: Default::default(),
        },
        &|| {},
    )
    .unwrap();
    let annotations = trainer::data::attention_targets::ObjectAnnotations::load(&out, "Train").unwrap();
    let items = shared_model::text::questions::load_split(&out, "Train").unwrap();
    let strategy = SamplingStrategy::parse(&bundle.config.sampling, 16).unwrap();
    let size = bundle.config.preprocess.image_size;
    let (mut hits, mut frames) = (0, 0);
    for item in items.iter().filter(|i| i.qtype == QuestionType::Action).take(12) {
        let bytes = std::fs::read(out.join("Train/gifs").join(format!("{}.gif", item.gif_name))).unwrap();
        let gif = decode_gif(&bytes, &DecodeLimits::default()).unwrap();
        let clips = prepare_gif(&gif, strategy, &bundle.config.preprocess, INFERENCE_SEED);
        let prediction = futures_lite::future::block_on(answer_prepared(
            &bundle,
            &clips,
            strategy,
            &item.question,
            &item.candidates,
            ClipAggregation::Mean,
            &device,
        ))
        .unwrap();
        let cells = prediction.frames[0].attention.len();
        let grid = (cells as f64).sqrt() as usize;
        assert_eq!(grid * grid, cells, "a square grid");
        let target = annotations.target(&item.gif_name, &item.question, &clips[0], size, grid).unwrap();
        for (f, info) in prediction.frames.iter().enumerate() {
            assert!((info.attention.iter().sum::<f32>() - 1.0).abs() < 1e-3);
            let wanted = &target[f * cells..(f + 1) * cells];
            if wanted.iter().all(|&v| v == 0.0) {
                continue;
            }
            let (x, y) = info.focus().unwrap();
            let cell = (y * grid as f32) as usize * grid + (x * grid as f32) as usize;
            hits += usize::from(wanted[cell] > 0.0);
            frames += 1;
        }
    }
    assert!(frames >= 100, "only {frames} frames with a visible object");
    let pointing = hits as f64 / frames as f64;
    println!("looks at the object in {hits} of {frames} frames");
    assert!(pointing >= SHIPPED_POINTING_FLOOR, "looks at the object in {pointing:.3} of {frames} frames");
}

#[test]
fn shipped_manifest_lists_the_shipped_files() {
    // The page keys its cache by these hashes and verifies every download against them.
    let dir = repo_root().join("www/model");
    let manifest: shared_model::bundle::manifest::Manifest =
        serde_json::from_slice(&std::fs::read(dir.join(shared_model::bundle::manifest::MANIFEST_FILE)).unwrap())
            .unwrap();
    for name in
        [shared_model::bundle::CONFIG_FILE, shared_model::bundle::WEIGHTS_FILE, shared_model::bundle::TOKENIZER_FILE]
    {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        manifest.verify(name, &bytes).unwrap_or_else(|e| panic!("www/model/manifest.json is stale: {e}"));
    }
}

/// The shipped model's in-world score (`config.json`'s `in_world`, fitted on Train GIFs only)
/// flags every real GIF of TGIF-QA (people and animals) and none of 30 fresh GIFs of its own
/// world (another seed than its training data), through the answering path's own functions.
#[test]
fn shipped_model_flags_real_gifs_and_not_its_own_world() {
    use shared_model::answer::pipeline::{INFERENCE_SEED, encode_clips, in_world_score, prepare_gif};
    use shared_model::gif::{DecodeLimits, decode_gif};

    let device = Default::default();
    let bundle = ModelBundle::<B>::load_dir(&repo_root().join("www/model"), &device).expect("www/model loads");
    let strategy = SamplingStrategy::parse(&bundle.config.sampling, 16).unwrap();
    let score = |path: &std::path::Path| {
        let gif = decode_gif(&std::fs::read(path).unwrap(), &DecodeLimits::default()).unwrap();
        let clips = prepare_gif(&gif, strategy, &bundle.config.preprocess, INFERENCE_SEED);
        let video = encode_clips(&bundle, &clips, &device);
        futures_lite::future::block_on(in_world_score(&bundle, &video)).unwrap().expect("www/model has in_world")
    };
    let gifs_in = |dir: &std::path::Path| {
        let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        paths
    };
    let Some(shared) = gifqa_tests::shared_data() else { return };
    let real = gifs_in(&shared.join("tgif-qa/gifs"));
    assert_eq!(real.len(), 12);
    for path in &real {
        let s = score(path);
        assert!(s.out_of_world(), "{} is not flagged: {s:?}", path.display());
    }
    let data = TempDir::new("in-world");
    let out = data.0.join("bench");
    trainer::generate::generate(
        &trainer::generate::GenerateOptions {
            out: out.clone(),
            seed: 31_337,
            gifs: 30,
            wording: Default::default(),
            renderer: Default::default(),
            drawing: Default::default(),
        },
        &|| {},
    )
    .unwrap();
    let own: Vec<_> =
        ["Train", "Val", "Test"].iter().flat_map(|split| gifs_in(&out.join(split).join("gifs"))).collect();
    assert_eq!(own.len(), 30);
    for path in &own {
        let s = score(path);
        assert!(!s.out_of_world(), "{} of the model's own world is flagged: {s:?}", path.display());
    }
}
