//! Loads Hugging Face CLIP checkpoints into [`ClipVisionModel`] and [`ClipTextModel`].
//!
//! Key map (Hugging Face name → ours), `L` a layer, `P` the tower's optional prefix:
//!
//! | Hugging Face | ours |
//! | --- | --- |
//! | `P embeddings.class_embedding` | vision `class_embedding` |
//! | `P embeddings.patch_embedding.weight` `[out, in, p, p]` | vision `patch_embedding` (Linear `[in*p*p, out]`) |
//! | `P embeddings.position_embedding.weight` | vision `position_embedding` / text `position_embedding` |
//! | `P embeddings.token_embedding.weight` | text `token_embedding` |
//! | `P pre_layrnorm.*`, `P post_layernorm.*` | vision `pre_norm`, `post_norm` |
//! | `P final_layer_norm.*` | text `final_norm` |
//! | `P encoder.layers.L.self_attn.{q,k,v,out}_proj.*` | `layers[L].attention.{query,key,value,output}` |
//! | `P encoder.layers.L.layer_norm{1,2}.*` | `layers[L].norm{1,2}` |
//! | `P encoder.layers.L.mlp.fc{1,2}.*` | `layers[L].fc{1,2}` |
//! | `visual_projection.weight` / `text_projection.weight` | the tower's `projection` (if present) |
//!
//! `P` is empty in transformers 5's standalone files (the tiny fixtures) and `vision_model.` /
//! `text_model.` in transformers 4's and in full `CLIPModel` files (openai/clip-vit-*). In a
//! prefixed file, the other tower's tensors (its prefix, its projection) and `logit_scale` belong to
//! the other tower and are skipped; `P embeddings.position_ids` (an int buffer in older files) is
//! skipped too. Any other tensor the map does not name is an error.

use std::path::Path;

use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;
use safetensors::SafeTensors;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::layer::ClipEncoderLayer;
use super::text::{ClipTextConfig, ClipTextModel};
use super::vision::{ClipVisionConfig, ClipVisionModel};
use crate::model::pretrained::{PretrainedError, Target, in_file, load_map, read_file};

/// Weight or bias of a Linear or LayerNorm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipAffine {
    /// `weight` (a LayerNorm's `gamma`).
    Weight,
    /// `bias` (a LayerNorm's `beta`).
    Bias,
}

/// A parameter of one encoder layer, shared by both towers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipLayerSlot {
    /// `self_attn.q_proj`
    Query(ClipAffine),
    /// `self_attn.k_proj`
    Key(ClipAffine),
    /// `self_attn.v_proj`
    Value(ClipAffine),
    /// `self_attn.out_proj`
    AttentionOutput(ClipAffine),
    /// `layer_norm1`
    Norm1(ClipAffine),
    /// `layer_norm2`
    Norm2(ClipAffine),
    /// `mlp.fc1`
    Fc1(ClipAffine),
    /// `mlp.fc2`
    Fc2(ClipAffine),
}

/// Where one vision checkpoint tensor goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipVisionSlot {
    /// `embeddings.class_embedding`
    ClassEmbedding,
    /// `embeddings.patch_embedding.weight`
    PatchEmbedding,
    /// `embeddings.position_embedding.weight`
    PositionEmbedding,
    /// `pre_layrnorm` (sic)
    PreNorm(ClipAffine),
    /// `post_layernorm`
    PostNorm(ClipAffine),
    /// `encoder.layers.N`
    Layer(usize, ClipLayerSlot),
    /// `visual_projection.weight`
    Projection,
}

/// Where one text checkpoint tensor goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipTextSlot {
    /// `embeddings.token_embedding.weight`
    TokenEmbedding,
    /// `embeddings.position_embedding.weight`
    PositionEmbedding,
    /// `final_layer_norm`
    FinalNorm(ClipAffine),
    /// `encoder.layers.N`
    Layer(usize, ClipLayerSlot),
    /// `text_projection.weight`
    Projection,
}

/// A CLIP vision tower with the configuration it was built from.
pub struct PretrainedClipVision<B: Backend> {
    /// The tower, with `visual_projection` when the checkpoint has it.
    pub model: ClipVisionModel<B>,
    /// Its configuration (hidden size, image size, patch size...).
    pub config: ClipVisionConfig,
}

/// A CLIP text tower with the configuration it was built from.
pub struct PretrainedClipText<B: Backend> {
    /// The tower, with `text_projection` when the checkpoint has it.
    pub model: ClipTextModel<B>,
    /// Its configuration.
    pub config: ClipTextConfig,
}

/// The two towers of a CLIP checkpoint, and what sets their tensors apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tower {
    Vision,
    Text,
}

impl Tower {
    fn prefix(self) -> &'static str {
        match self {
            Tower::Vision => "vision_model.",
            Tower::Text => "text_model.",
        }
    }

    fn projection(self) -> &'static str {
        match self {
            Tower::Vision => "visual_projection.weight",
            Tower::Text => "text_projection.weight",
        }
    }

    fn other(self) -> Tower {
        match self {
            Tower::Vision => Tower::Text,
            Tower::Text => Tower::Vision,
        }
    }
}

/// How one tower's tensors are named in a checkpoint.
struct Layout {
    /// `""` or the tower's prefix.
    prefix: &'static str,
    /// Whether the checkpoint has the tower's projection.
    projection: bool,
}

impl Layout {
    fn of(file: &SafeTensors, tower: Tower) -> Layout {
        let names = file.names();
        let prefixed = names.iter().any(|n| n.starts_with(tower.prefix()));
        Layout {
            prefix: if prefixed { tower.prefix() } else { "" },
            projection: names.iter().any(|n| *n == tower.projection()),
        }
    }

    /// Tensors of `tower`'s checkpoint that are not its weights but are expected there.
    fn skips(&self, tower: Tower, name: &str) -> bool {
        let other = tower.other();
        name == format!("{}embeddings.position_ids", self.prefix)
            || (!self.prefix.is_empty()
                && (name.starts_with(other.prefix()) || name == other.projection() || name == "logit_scale"))
    }
}

/// Makes a slot from weight-or-bias (an enum variant constructor).
type SlotOf<S> = fn(ClipAffine) -> S;

/// The tensors of encoder layer `l`, relative to the tower's prefix.
fn layer_key_map(l: usize) -> Vec<(String, ClipLayerSlot)> {
    use ClipLayerSlot::*;
    let parts: [(&str, SlotOf<ClipLayerSlot>); 8] = [
        ("self_attn.q_proj", Query),
        ("self_attn.k_proj", Key),
        ("self_attn.v_proj", Value),
        ("self_attn.out_proj", AttentionOutput),
        ("layer_norm1", Norm1),
        ("layer_norm2", Norm2),
        ("mlp.fc1", Fc1),
        ("mlp.fc2", Fc2),
    ];
    let mut map = Vec::new();
    for (part, slot) in parts {
        map.push((format!("encoder.layers.{l}.{part}.weight"), slot(ClipAffine::Weight)));
        map.push((format!("encoder.layers.{l}.{part}.bias"), slot(ClipAffine::Bias)));
    }
    map
}

/// `name.weight` and `name.bias` of a LayerNorm.
fn norm_keys<S: Copy>(name: &str, slot: SlotOf<S>) -> [(String, S); 2] {
    [(format!("{name}.weight"), slot(ClipAffine::Weight)), (format!("{name}.bias"), slot(ClipAffine::Bias))]
}

/// The key map of a vision tower with `num_layers` layers whose names start with `prefix`, plus
/// `visual_projection.weight` (never prefixed) when `projection`.
pub fn clip_vision_key_map(num_layers: usize, prefix: &str, projection: bool) -> Vec<(String, ClipVisionSlot)> {
    use ClipVisionSlot::*;
    let mut map = vec![
        ("embeddings.class_embedding".to_string(), ClassEmbedding),
        ("embeddings.patch_embedding.weight".to_string(), PatchEmbedding),
        ("embeddings.position_embedding.weight".to_string(), PositionEmbedding),
    ];
    map.extend(norm_keys("pre_layrnorm", PreNorm));
    for l in 0..num_layers {
        map.extend(layer_key_map(l).into_iter().map(|(name, slot)| (name, Layer(l, slot))));
    }
    map.extend(norm_keys("post_layernorm", PostNorm));
    let mut map: Vec<_> = map.into_iter().map(|(name, slot)| (format!("{prefix}{name}"), slot)).collect();
    if projection {
        map.push((Tower::Vision.projection().to_string(), Projection));
    }
    map
}

/// The key map of a text tower; see [`clip_vision_key_map`].
pub fn clip_text_key_map(num_layers: usize, prefix: &str, projection: bool) -> Vec<(String, ClipTextSlot)> {
    use ClipTextSlot::*;
    let mut map = vec![
        ("embeddings.token_embedding.weight".to_string(), TokenEmbedding),
        ("embeddings.position_embedding.weight".to_string(), PositionEmbedding),
    ];
    for l in 0..num_layers {
        map.extend(layer_key_map(l).into_iter().map(|(name, slot)| (name, Layer(l, slot))));
    }
    map.extend(norm_keys("final_layer_norm", FinalNorm));
    let mut map: Vec<_> = map.into_iter().map(|(name, slot)| (format!("{prefix}{name}"), slot)).collect();
    if projection {
        map.push((Tower::Text.projection().to_string(), Projection));
    }
    map
}

/// Hugging Face's defaults for the `CLIPVisionConfig` fields a `config.json` leaves out (ViT-B/32).
fn vision_defaults() -> Value {
    json!({
        "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
        "num_channels": 3, "image_size": 224, "patch_size": 32, "layer_norm_eps": 1e-5,
        "hidden_act": "quick_gelu", "projection_dim": 512,
    })
}

/// Hugging Face's defaults for the `CLIPTextConfig` fields a `config.json` leaves out, except
/// `eos_token_id`: absent means "pool at the largest id".
fn text_defaults() -> Value {
    json!({
        "vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12,
        "num_attention_heads": 8, "max_position_embeddings": 77, "layer_norm_eps": 1e-5,
        "hidden_act": "quick_gelu", "projection_dim": 512,
    })
}

/// The tower's part of a `config.json`: the `sub_key` object of a full `CLIPModel` config (whose
/// top-level `projection_dim` wins), or the whole file when its `model_type` is `standalone_type`.
fn tower_json(bytes: &[u8], sub_key: &str, standalone_type: &str) -> Result<Value, PretrainedError> {
    let root: Value = serde_json::from_slice(bytes)?;
    if let Some(sub) = root.get(sub_key).filter(|v| v.is_object()) {
        let mut sub = sub.clone();
        if let (Some(dim), Some(fields)) = (root.get("projection_dim"), sub.as_object_mut()) {
            fields.insert("projection_dim".to_string(), dim.clone());
        }
        return Ok(sub);
    }
    match root.get("model_type").and_then(Value::as_str) {
        Some(found) if found == standalone_type => Ok(root),
        found => Err(PretrainedError::Invalid(format!(
            "expected model_type `{standalone_type}` or a CLIP config with `{sub_key}`, found model_type {found:?}"
        ))),
    }
}

/// Parses the vision tower's configuration from a Hugging Face `config.json` (a standalone
/// `CLIPVisionConfig` or a full `CLIPModel` config) and checks that it can be built.
pub fn parse_clip_vision_config(bytes: &[u8]) -> Result<ClipVisionConfig, PretrainedError> {
    let config: ClipVisionConfig = parse_tower(bytes, "vision_config", "clip_vision_model", vision_defaults())?;
    buildable(config.problem(), config)
}

/// Parses the text tower's configuration; see [`parse_clip_vision_config`].
pub fn parse_clip_text_config(bytes: &[u8]) -> Result<ClipTextConfig, PretrainedError> {
    let config: ClipTextConfig = parse_tower(bytes, "text_config", "clip_text_model", text_defaults())?;
    buildable(config.layer_shape().problem(), config)
}

/// The tower's fields of a `config.json` (see [`tower_json`]), Hugging Face's `defaults` for
/// those it leaves out; other fields are ignored.
fn parse_tower<C: DeserializeOwned>(
    bytes: &[u8],
    sub_key: &str,
    standalone_type: &str,
    defaults: Value,
) -> Result<C, PretrainedError> {
    let mut tower = tower_json(bytes, sub_key, standalone_type)?;
    if let (Some(fields), Value::Object(defaults)) = (tower.as_object_mut(), defaults) {
        for (name, value) in defaults {
            fields.entry(name).or_insert(value);
        }
    }
    Ok(serde_json::from_value(tower)?)
}

/// `config`, unless `problem` says why it cannot be built.
fn buildable<C>(problem: Option<String>, config: C) -> Result<C, PretrainedError> {
    problem.map_or(Ok(config), |problem| Err(PretrainedError::Invalid(problem)))
}

/// Reads a CLIP folder (`config.json` + `model.safetensors`, Hugging Face layout; a standalone
/// vision model or a full CLIP model) into the vision tower.
pub fn load_clip_vision_dir<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<PretrainedClipVision<B>, PretrainedError> {
    let config = parse_clip_vision_config(&read_file(dir, "config.json")?).map_err(in_file(dir, "config.json"))?;
    let model = load_clip_vision_safetensors(&config, &read_file(dir, "model.safetensors")?, device)
        .map_err(in_file(dir, "model.safetensors"))?;
    Ok(PretrainedClipVision { model, config })
}

/// Reads a CLIP folder into the text tower; see [`load_clip_vision_dir`].
pub fn load_clip_text_dir<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<PretrainedClipText<B>, PretrainedError> {
    let config = parse_clip_text_config(&read_file(dir, "config.json")?).map_err(in_file(dir, "config.json"))?;
    let model = load_clip_text_safetensors(&config, &read_file(dir, "model.safetensors")?, device)
        .map_err(in_file(dir, "model.safetensors"))?;
    Ok(PretrainedClipText { model, config })
}

/// Builds the vision tower from `config` and the bytes of a `model.safetensors` file.
pub fn load_clip_vision_safetensors<B: Backend>(
    config: &ClipVisionConfig,
    bytes: &[u8],
    device: &B::Device,
) -> Result<ClipVisionModel<B>, PretrainedError> {
    let with_projection = |model: ClipVisionModel<B>| model.with_projection(config.init_projection(device));
    let key_map = |prefix: &str, projection| clip_vision_key_map(config.num_hidden_layers, prefix, projection);
    load_tower(bytes, Tower::Vision, config.init(device), with_projection, key_map, vision_target, device)
}

/// Builds the text tower from `config` and the bytes of a `model.safetensors` file.
pub fn load_clip_text_safetensors<B: Backend>(
    config: &ClipTextConfig,
    bytes: &[u8],
    device: &B::Device,
) -> Result<ClipTextModel<B>, PretrainedError> {
    let with_projection = |model: ClipTextModel<B>| model.with_projection(config.init_projection(device));
    let key_map = |prefix: &str, projection| clip_text_key_map(config.num_hidden_layers, prefix, projection);
    load_tower(bytes, Tower::Text, config.init(device), with_projection, key_map, text_target, device)
}

/// Loads the checkpoint's tensors into `model`, a freshly built `tower` given the checkpoint's
/// projection by `with_projection` if it has one, by `key_map` (of the tower's prefix in this
/// checkpoint and whether it has the projection).
fn load_tower<B: Backend, M, S: Copy>(
    bytes: &[u8],
    tower: Tower,
    model: M,
    with_projection: impl FnOnce(M) -> M,
    key_map: impl FnOnce(&str, bool) -> Vec<(String, S)>,
    target: for<'a> fn(&'a mut M, S) -> Target<'a, B>,
    device: &B::Device,
) -> Result<M, PretrainedError> {
    let file = SafeTensors::deserialize(bytes)?;
    let layout = Layout::of(&file, tower);
    let mut model = if layout.projection { with_projection(model) } else { model };
    let map = key_map(layout.prefix, layout.projection);
    load_map(&file, &map, |name: &str| layout.skips(tower, name), &mut model, target, device)?;
    Ok(model)
}

fn vision_target<B: Backend>(model: &mut ClipVisionModel<B>, slot: ClipVisionSlot) -> Target<'_, B> {
    let patch = model.patch_size();
    match slot {
        ClipVisionSlot::ClassEmbedding => Target::Vector(&mut model.class_embedding),
        ClipVisionSlot::PatchEmbedding => {
            let [inputs, hidden] = model.patch_embedding.weight.dims();
            let channels = inputs / (patch * patch);
            Target::PatchConv(&mut model.patch_embedding, [hidden, channels, patch, patch])
        }
        ClipVisionSlot::PositionEmbedding => Target::Matrix(&mut model.position_embedding),
        ClipVisionSlot::PreNorm(affine) => norm_target(&mut model.pre_norm, affine),
        ClipVisionSlot::PostNorm(affine) => norm_target(&mut model.post_norm, affine),
        ClipVisionSlot::Layer(l, slot) => layer_target(&mut model.layers[l], slot),
        ClipVisionSlot::Projection => projection_target(&mut model.projection),
    }
}

fn text_target<B: Backend>(model: &mut ClipTextModel<B>, slot: ClipTextSlot) -> Target<'_, B> {
    match slot {
        ClipTextSlot::TokenEmbedding => Target::Table(&mut model.token_embedding),
        ClipTextSlot::PositionEmbedding => Target::Table(&mut model.position_embedding),
        ClipTextSlot::FinalNorm(affine) => norm_target(&mut model.final_norm, affine),
        ClipTextSlot::Layer(l, slot) => layer_target(&mut model.layers[l], slot),
        ClipTextSlot::Projection => projection_target(&mut model.projection),
    }
}

fn projection_target<B: Backend>(projection: &mut Option<Linear<B>>) -> Target<'_, B> {
    match projection {
        Some(linear) => Target::LinearWeight(linear),
        // Invariant: the loaders add the projection before mapping `*_projection.weight`.
        None => unreachable!("the projection is created before its weight is loaded"),
    }
}

fn layer_target<B: Backend>(layer: &mut ClipEncoderLayer<B>, slot: ClipLayerSlot) -> Target<'_, B> {
    use ClipLayerSlot::*;
    match slot {
        Query(affine) => linear_target(&mut layer.attention.query, affine),
        Key(affine) => linear_target(&mut layer.attention.key, affine),
        Value(affine) => linear_target(&mut layer.attention.value, affine),
        AttentionOutput(affine) => linear_target(&mut layer.attention.output, affine),
        Norm1(affine) => norm_target(&mut layer.norm1, affine),
        Norm2(affine) => norm_target(&mut layer.norm2, affine),
        Fc1(affine) => linear_target(&mut layer.fc1, affine),
        Fc2(affine) => linear_target(&mut layer.fc2, affine),
    }
}

fn linear_target<B: Backend>(linear: &mut Linear<B>, affine: ClipAffine) -> Target<'_, B> {
    match affine {
        ClipAffine::Weight => Target::LinearWeight(linear),
        ClipAffine::Bias => Target::LinearBias(linear),
    }
}

fn norm_target<B: Backend>(norm: &mut LayerNorm<B>, affine: ClipAffine) -> Target<'_, B> {
    match affine {
        ClipAffine::Weight => Target::NormGamma(norm),
        ClipAffine::Bias => Target::NormBeta(norm),
    }
}
