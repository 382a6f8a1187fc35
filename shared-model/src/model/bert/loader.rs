//! Loads Hugging Face BERT/MiniLM checkpoints (`config.json` + `model.safetensors`) into
//! [`BertModel`].
//!
//! [`bert_key_map`] is the one place that says where each checkpoint tensor goes. Loading fails,
//! naming the tensor, on any missing, unused (other than [`SKIPPED_TENSORS`]), mis-shaped or
//! non-float32 tensor.

use std::path::Path;

use burn::nn::{Embedding, LayerNorm, Linear};
use burn::prelude::*;
use safetensors::SafeTensors;

use super::tower::{BertConfig, BertModel};
use crate::model::pretrained::{PretrainedError, Target, in_file, load_map, read_f32, read_file};
use crate::text::tokenize::TextTokenizer;

/// Checkpoint tensors that are not weights and are ignored (MiniLM stores its position ids).
pub const SKIPPED_TENSORS: &[&str] = &["embeddings.position_ids"];

/// The checkpoint's token embedding table, `[vocab_size, hidden_size]`: the tower's
/// [`TableSlot::Word`], and what [`load_word_embeddings`] reads alone for a small model's
/// vocabulary.
pub const WORD_EMBEDDINGS: &str = "embeddings.word_embeddings.weight";

/// A Hugging Face text checkpoint: architecture, weights and the tokenizer that goes with them.
pub struct PretrainedText<B: Backend> {
    /// The BERT fields of `config.json`.
    pub config: BertConfig,
    /// The tower with the checkpoint's weights.
    pub model: BertModel<B>,
    /// `tokenizer.json`, with its baked-in padding and truncation turned off.
    pub tokenizer: TextTokenizer,
}

/// Reads a BERT folder with its tokenizer (`config.json`, `model.safetensors`, `tokenizer.json`),
/// checking that the tokenizer's vocabulary is the checkpoint's.
pub fn load_bert_dir_with_tokenizer<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<PretrainedText<B>, PretrainedError> {
    let path = dir.join("tokenizer.json");
    let bytes =
        std::fs::read(&path).map_err(|error| PretrainedError::Io { path: path.display().to_string(), error })?;
    let tokenizer = TextTokenizer::from_bytes(&bytes)
        .map_err(|error| PretrainedError::Tokenizer { path: path.display().to_string(), error })?;
    let config = parse_bert_config(&read_file(dir, "config.json")?).map_err(in_file(dir, "config.json"))?;
    if tokenizer.vocab_size() != config.vocab_size {
        return Err(PretrainedError::VocabMismatch {
            path: path.display().to_string(),
            tokenizer: tokenizer.vocab_size(),
            config: config.vocab_size,
        });
    }
    let model = load_bert_dir(dir, device)?;
    Ok(PretrainedText { config, model, tokenizer })
}

/// Which Linear layer of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinearSlot {
    /// `encoder.layer.N.attention.self.query`
    Query(usize),
    /// `encoder.layer.N.attention.self.key`
    Key(usize),
    /// `encoder.layer.N.attention.self.value`
    Value(usize),
    /// `encoder.layer.N.attention.output.dense`
    AttentionOutput(usize),
    /// `encoder.layer.N.intermediate.dense`
    Intermediate(usize),
    /// `encoder.layer.N.output.dense`
    Output(usize),
    /// `pooler.dense`
    Pooler,
}

/// Which LayerNorm of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormSlot {
    /// `embeddings.LayerNorm`
    Embeddings,
    /// `encoder.layer.N.attention.output.LayerNorm`
    Attention(usize),
    /// `encoder.layer.N.output.LayerNorm`
    Output(usize),
}

/// Which embedding table of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableSlot {
    /// `embeddings.word_embeddings`
    Word,
    /// `embeddings.position_embeddings`
    Position,
    /// `embeddings.token_type_embeddings`
    TokenType,
}

/// Where one checkpoint tensor goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// A Linear weight. HF stores `[out, in]`; Burn's `Linear` holds `[in, out]`, so it is transposed.
    LinearWeight(LinearSlot),
    /// A Linear bias, `[out]`.
    LinearBias(LinearSlot),
    /// A LayerNorm scale (`weight` in HF, `gamma` in Burn).
    NormGamma(NormSlot),
    /// A LayerNorm shift (`bias` in HF, `beta` in Burn).
    NormBeta(NormSlot),
    /// An embedding table `[rows, hidden]`, stored the same way in both.
    Table(TableSlot),
}

/// The key map: every HF tensor name of a BERT with `num_layers` layers and where it goes.
pub fn bert_key_map(num_layers: usize) -> Vec<(String, Destination)> {
    use Destination::*;
    let mut map = vec![
        (WORD_EMBEDDINGS.to_string(), Table(TableSlot::Word)),
        ("embeddings.position_embeddings.weight".to_string(), Table(TableSlot::Position)),
        ("embeddings.token_type_embeddings.weight".to_string(), Table(TableSlot::TokenType)),
        ("embeddings.LayerNorm.weight".to_string(), NormGamma(NormSlot::Embeddings)),
        ("embeddings.LayerNorm.bias".to_string(), NormBeta(NormSlot::Embeddings)),
    ];
    for l in 0..num_layers {
        let p = format!("encoder.layer.{l}");
        let linears = [
            ("attention.self.query", LinearSlot::Query(l)),
            ("attention.self.key", LinearSlot::Key(l)),
            ("attention.self.value", LinearSlot::Value(l)),
            ("attention.output.dense", LinearSlot::AttentionOutput(l)),
            ("intermediate.dense", LinearSlot::Intermediate(l)),
            ("output.dense", LinearSlot::Output(l)),
        ];
        for (name, slot) in linears {
            map.push((format!("{p}.{name}.weight"), LinearWeight(slot)));
            map.push((format!("{p}.{name}.bias"), LinearBias(slot)));
        }
        for (name, slot) in
            [("attention.output.LayerNorm", NormSlot::Attention(l)), ("output.LayerNorm", NormSlot::Output(l))]
        {
            map.push((format!("{p}.{name}.weight"), NormGamma(slot)));
            map.push((format!("{p}.{name}.bias"), NormBeta(slot)));
        }
    }
    map.push(("pooler.dense.weight".to_string(), LinearWeight(LinearSlot::Pooler)));
    map.push(("pooler.dense.bias".to_string(), LinearBias(LinearSlot::Pooler)));
    map
}

/// Reads a BERT folder holding `config.json` and `model.safetensors` (Hugging Face layout).
pub fn load_bert_dir<B: Backend>(dir: &Path, device: &B::Device) -> Result<BertModel<B>, PretrainedError> {
    let config = parse_bert_config(&read_file(dir, "config.json")?).map_err(in_file(dir, "config.json"))?;
    load_bert_safetensors(&config, &read_file(dir, "model.safetensors")?, device)
        .map_err(in_file(dir, "model.safetensors"))
}

/// A checkpoint's token embedding table, row-major `[rows, hidden]`.
#[derive(Debug, Clone, PartialEq)]
pub struct WordEmbeddings {
    /// Tokens (the checkpoint's `vocab_size`).
    pub rows: usize,
    /// Width of a token vector (the checkpoint's `hidden_size`).
    pub hidden: usize,
    /// `rows * hidden` values, row `i` the vector of token id `i`.
    pub values: Vec<f32>,
}

/// Reads only [`WORD_EMBEDDINGS`] of a BERT folder (`config.json`, `model.safetensors`), checking
/// its shape against `config.json`'s `vocab_size` and `hidden_size`.
pub fn load_word_embeddings(dir: &Path) -> Result<WordEmbeddings, PretrainedError> {
    let config = parse_bert_config(&read_file(dir, "config.json")?).map_err(in_file(dir, "config.json"))?;
    let bytes = read_file(dir, "model.safetensors")?;
    let read = || {
        let file = SafeTensors::deserialize(&bytes)?;
        let tensor = read_f32(&file, WORD_EMBEDDINGS)?;
        let expected = vec![config.vocab_size, config.hidden_size];
        if tensor.shape != expected {
            return Err(PretrainedError::Shape { name: tensor.name, found: tensor.shape, expected });
        }
        Ok(WordEmbeddings { rows: config.vocab_size, hidden: config.hidden_size, values: tensor.values })
    };
    read().map_err(in_file(dir, "model.safetensors"))
}

/// Parses the BERT fields of a Hugging Face `config.json` and checks that they can be built.
pub fn parse_bert_config(bytes: &[u8]) -> Result<BertConfig, PretrainedError> {
    let config: BertConfig = serde_json::from_slice(bytes)?;
    if config.num_attention_heads == 0 || !config.hidden_size.is_multiple_of(config.num_attention_heads) {
        return Err(PretrainedError::Invalid(format!(
            "hidden_size {} is not a multiple of num_attention_heads {}",
            config.hidden_size, config.num_attention_heads
        )));
    }
    Ok(config)
}

/// Builds a [`BertModel`] from `config` and the bytes of a `model.safetensors` file.
pub fn load_bert_safetensors<B: Backend>(
    config: &BertConfig,
    bytes: &[u8],
    device: &B::Device,
) -> Result<BertModel<B>, PretrainedError> {
    let file = SafeTensors::deserialize(bytes)?;
    let mut model = config.init::<B>(device);
    let map = bert_key_map(config.num_hidden_layers);
    load_map(&file, &map, |name| SKIPPED_TENSORS.contains(&name), &mut model, target, device)?;
    Ok(model)
}

/// The parameter of `model` that `destination` names.
fn target<B: Backend>(model: &mut BertModel<B>, destination: Destination) -> Target<'_, B> {
    match destination {
        Destination::LinearWeight(slot) => Target::LinearWeight(linear_mut(model, slot)),
        Destination::LinearBias(slot) => Target::LinearBias(linear_mut(model, slot)),
        Destination::NormGamma(slot) => Target::NormGamma(norm_mut(model, slot)),
        Destination::NormBeta(slot) => Target::NormBeta(norm_mut(model, slot)),
        Destination::Table(slot) => Target::Table(table_mut(model, slot)),
    }
}

fn linear_mut<B: Backend>(model: &mut BertModel<B>, slot: LinearSlot) -> &mut Linear<B> {
    match slot {
        LinearSlot::Query(l) => &mut model.layers[l].attention.attention.query,
        LinearSlot::Key(l) => &mut model.layers[l].attention.attention.key,
        LinearSlot::Value(l) => &mut model.layers[l].attention.attention.value,
        LinearSlot::AttentionOutput(l) => &mut model.layers[l].attention.attention.output,
        LinearSlot::Intermediate(l) => &mut model.layers[l].intermediate,
        LinearSlot::Output(l) => &mut model.layers[l].output,
        LinearSlot::Pooler => &mut model.pooler,
    }
}

fn norm_mut<B: Backend>(model: &mut BertModel<B>, slot: NormSlot) -> &mut LayerNorm<B> {
    match slot {
        NormSlot::Embeddings => &mut model.embeddings.norm,
        NormSlot::Attention(l) => &mut model.layers[l].attention.norm,
        NormSlot::Output(l) => &mut model.layers[l].norm,
    }
}

fn table_mut<B: Backend>(model: &mut BertModel<B>, slot: TableSlot) -> &mut Embedding<B> {
    match slot {
        TableSlot::Word => &mut model.embeddings.word,
        TableSlot::Position => &mut model.embeddings.position,
        TableSlot::TokenType => &mut model.embeddings.token_type,
    }
}
