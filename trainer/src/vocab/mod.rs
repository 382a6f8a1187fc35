//! Builds the benchmark's WordPiece `tokenizer.json` and the open-ended answer vocabulary from the
//! training questions. Whole words seen in training get their own token; letters and `##letters`
//! let unseen words fall back to characters instead of `[UNK]`.
//!
//! With [`VocabKind::Minilm`] the tokenizer is instead all-MiniLM-L6-v2's uncased WordPiece,
//! pruned to a size the page can carry ([`build_minilm_vocab`]), and the new model's token
//! embedding starts from MiniLM's vectors reduced to its width by PCA ([`minilm_token_embeddings`]),
//! so that words MiniLM puts close together (jump, hop) start close in the small model too.

/// Principal components, to reduce MiniLM's embeddings to the model's width.
pub mod pca;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared_model::model::bert::{WordEmbeddings, load_word_embeddings};
use shared_model::text::questions::{Answer, QaItem, QuestionType};
use shared_model::text::tokenize::TextTokenizer;

use crate::vocab::pca::{Pca, scale_to_rms};
use tokenizers::Tokenizer;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;

const SPECIAL: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Which tokenizer a new model gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum VocabKind {
    /// Built from the training questions: their whole words, letters and `##letters`.
    #[default]
    Built,
    /// all-MiniLM-L6-v2's English WordPiece, pruned, with embeddings started from MiniLM's.
    Minilm,
}

impl VocabKind {
    /// Whether this is the default (kept out of `training.json` then, as before the option).
    pub fn is_built(&self) -> bool {
        *self == VocabKind::Built
    }
}

/// Environment variable naming the all-MiniLM-L6-v2 folder (as `scripts/fetch-minilm.sh` reads it).
pub const MINILM_DIR_VAR: &str = "GIFQA_MINILM_DIR";

/// Where `scripts/fetch-minilm.sh` puts all-MiniLM-L6-v2, under `$HOME`.
pub const MINILM_DEFAULT_DIR: &str = ".cache/gifqa/all-MiniLM-L6-v2";

/// Files of the MiniLM folder that `--vocab minilm` reads.
const MINILM_FILES: [&str; 3] = ["tokenizer.json", "config.json", "model.safetensors"];

/// The all-MiniLM-L6-v2 folder: `given` (`--minilm`), else `$GIFQA_MINILM_DIR`, else
/// `~/.cache/gifqa/all-MiniLM-L6-v2`; an error says how to fetch it when a file is missing.
pub fn minilm_dir(given: Option<&Path>) -> Result<PathBuf> {
    let dir = match (given, std::env::var_os(MINILM_DIR_VAR)) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(dir)) => PathBuf::from(dir),
        (None, None) => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(MINILM_DEFAULT_DIR),
    };
    if let Some(missing) = MINILM_FILES.iter().find(|name| !dir.join(name).is_file()) {
        anyhow::bail!(
            "--vocab minilm: no {missing} in {} (run scripts/fetch-minilm.sh, or name the folder with --minilm or \
             ${MINILM_DIR_VAR})",
            dir.display()
        );
    }
    Ok(dir)
}

/// How a MiniLM vocabulary is pruned. Kept always: the special tokens, every single-character
/// and `##`-character token (so any word MiniLM could spell is still spelled, never `[UNK]`),
/// and every token of the training texts (so they tokenize exactly as with the whole vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneRule {
    /// Further tokens kept by frequency: the lowest ids among MiniLM's multi-character English
    /// pieces (lower-case ASCII letters and digits, whole words and `##` pieces). BERT's vocabulary
    /// file has no counts, but past the `[unused]` and character block its ids follow WordPiece's
    /// training order, roughly most frequent first.
    pub frequent: usize,
    /// Further whole words kept per whole word of the training texts: its nearest neighbours by
    /// cosine in MiniLM's token embedding (the likeliest rewordings: spin → rotate), which
    /// frequency alone misses when they are rare in MiniLM's pre-training text.
    pub neighbours: usize,
}

/// Default of [`PruneRule::frequent`] (`--minilm-frequent`). With the synthetic benchmark's
/// training pieces, their neighbours and the ~2,000 character tokens the vocabulary holds about
/// 8,200 tokens, so the 64-wide embedding table grows by under 1 MiB at f16 (8,192 rows).
pub const DEFAULT_MINILM_FREQUENT: usize = 6000;

/// Default of [`PruneRule::neighbours`] (`--minilm-neighbours`): enough to reach spin → rotate
/// and blink → flicker, few enough (about 700 words for the benchmark) to leave the budget to
/// frequency.
pub const DEFAULT_MINILM_NEIGHBOURS: usize = 12;

/// A special token such as `[CLS]` (MiniLM's `[unusedN]` placeholders are not).
fn is_special(token: &str) -> bool {
    token.len() > 2 && token.starts_with('[') && token.ends_with(']') && !token.starts_with("[unused")
}

/// A single character, or `##` and one character.
fn is_character(token: &str) -> bool {
    token.strip_prefix("##").unwrap_or(token).chars().count() == 1
}

/// A multi-character English piece: lower-case ASCII letters and digits, with or without `##`.
fn is_english_piece(token: &str) -> bool {
    let body = token.strip_prefix("##").unwrap_or(token);
    body.len() > 1 && body.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A whole English word (no `##`) of more than one character.
fn is_english_word(token: &str) -> bool {
    !token.starts_with("##") && is_english_piece(token)
}

/// The ids (into `tokens`, indexed by id) that `rule` keeps, ascending; `needed` are the ids the
/// training texts use and `neighbours` those chosen as their neighbours.
pub fn prune(tokens: &[String], needed: &BTreeSet<u32>, neighbours: &BTreeSet<u32>, rule: PruneRule) -> Vec<u32> {
    let mut kept: BTreeSet<u32> = needed.union(neighbours).copied().collect();
    kept.extend((0..tokens.len() as u32).filter(|&id| {
        let token = &tokens[id as usize];
        is_special(token) || is_character(token)
    }));
    let frequent = (0..tokens.len() as u32).filter(|&id| is_english_piece(&tokens[id as usize]));
    kept.extend(frequent.take(rule.frequent));
    kept.into_iter().collect()
}

/// For each of `seeds` (token ids), the `per_seed` English whole words whose embedding rows are
/// nearest by cosine (the seed itself excluded).
pub fn nearest_words(
    tokens: &[String],
    embeddings: &WordEmbeddings,
    seeds: &BTreeSet<u32>,
    per_seed: usize,
) -> BTreeSet<u32> {
    let hidden = embeddings.hidden;
    let row = |id: u32| &embeddings.values[id as usize * hidden..(id as usize + 1) * hidden];
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    let candidates: Vec<u32> =
        (0..tokens.len().min(embeddings.rows) as u32).filter(|&id| is_english_word(&tokens[id as usize])).collect();
    let norms: Vec<f32> = candidates.iter().map(|&id| norm(row(id))).collect();
    let mut chosen = BTreeSet::new();
    if per_seed == 0 {
        return chosen;
    }
    for &seed in seeds.iter().filter(|&&id| (id as usize) < embeddings.rows) {
        let query = row(seed);
        let query_norm = norm(query);
        let mut scored: Vec<(f32, u32)> = candidates
            .iter()
            .zip(&norms)
            .filter(|&(&id, _)| id != seed)
            .map(|(&id, &n)| (query.iter().zip(row(id)).map(|(a, b)| a * b).sum::<f32>() / (n * query_norm), id))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        chosen.extend(scored.into_iter().take(per_seed).map(|(_, id)| id));
    }
    chosen
}

/// The tokens of a WordPiece `tokenizer.json` (parsed), indexed by id.
fn tokens_by_id(json: &Value) -> Result<Vec<String>> {
    let vocab = json.pointer("/model/vocab").and_then(Value::as_object).context("tokenizer.json has no model.vocab")?;
    let mut tokens = vec![None; vocab.len()];
    for (token, id) in vocab {
        let id = id.as_u64().and_then(|id| usize::try_from(id).ok()).filter(|&id| id < tokens.len());
        let slot = id.and_then(|id| tokens.get_mut(id)).context("tokenizer.json's ids are not 0..vocab size")?;
        anyhow::ensure!(slot.is_none(), "tokenizer.json gives two tokens the same id");
        *slot = Some(token.clone());
    }
    tokens.into_iter().collect::<Option<Vec<_>>>().context("tokenizer.json's ids are not 0..vocab size")
}

/// `json` (a BERT WordPiece `tokenizer.json`, parsed) with only the tokens `kept` (old ids,
/// ascending), renumbered 0.. in their old order; added tokens and the post-processor's special
/// tokens follow. Normaliser, pre-tokeniser and decoder stay the same; padding and truncation are
/// dropped (the model pads and truncates itself).
pub fn pruned_tokenizer_json(json: &Value, kept: &[u32]) -> Result<Value> {
    let tokens = tokens_by_id(json)?;
    let new_id: BTreeMap<u32, u32> = kept.iter().enumerate().map(|(new, &old)| (old, new as u32)).collect();
    let remap = |old: u64| -> Result<u32> {
        let old = u32::try_from(old).context("a token id over u32")?;
        new_id.get(&old).copied().with_context(|| format!("token id {old} is used by the tokenizer but not kept"))
    };
    let mut out = json.clone();
    let mut vocab = serde_json::Map::new();
    for &old in kept {
        let token = tokens.get(old as usize).with_context(|| format!("kept id {old} is not in the vocabulary"))?;
        vocab.insert(token.clone(), Value::from(remap(u64::from(old))?));
    }
    *out.pointer_mut("/model/vocab").context("tokenizer.json has no model.vocab")? = Value::Object(vocab);
    if let Some(added) = out.get_mut("added_tokens").and_then(Value::as_array_mut) {
        for token in added {
            let id = token.get("id").and_then(Value::as_u64).context("an added token has no id")?;
            token["id"] = Value::from(remap(id)?);
        }
    }
    if let Some(special) = out.pointer_mut("/post_processor/special_tokens").and_then(Value::as_object_mut) {
        for token in special.values_mut() {
            if let Some(ids) = token.get_mut("ids").and_then(Value::as_array_mut) {
                for id in ids {
                    *id = Value::from(remap(id.as_u64().context("a special token id is not a number")?)?);
                }
            }
        }
    }
    // BertProcessing names its tokens as [token, id] pairs.
    for field in ["sep", "cls"] {
        if let Some(id) = out.pointer(&format!("/post_processor/{field}/1")).and_then(Value::as_u64) {
            out["post_processor"][field][1] = Value::from(remap(id)?);
        }
    }
    out["padding"] = Value::Null;
    out["truncation"] = Value::Null;
    Ok(out)
}

/// The texts a model reads in training: questions, candidates and FrameQA answers.
fn training_texts(items: &[QaItem]) -> impl Iterator<Item = &str> {
    items.iter().flat_map(|item| {
        let answer = match &item.answer {
            Answer::Word(w) => Some(w.as_str()),
            _ => None,
        };
        std::iter::once(item.question.as_str()).chain(item.candidates.iter().map(String::as_str)).chain(answer)
    })
}

/// A pruned MiniLM vocabulary.
pub struct MinilmVocab {
    /// The pruned tokenizer (ids 0.. in MiniLM's order).
    pub tokenizer: TextTokenizer,
    /// MiniLM's id of each new id.
    pub original_ids: Vec<u32>,
    /// MiniLM's token embedding table (all of it).
    pub embeddings: WordEmbeddings,
}

/// all-MiniLM-L6-v2's tokenizer (in `dir`) pruned by `rule` around the training texts of `items`.
pub fn build_minilm_vocab(dir: &Path, items: &[QaItem], rule: PruneRule) -> Result<MinilmVocab> {
    let path = dir.join("tokenizer.json");
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let full = TextTokenizer::from_bytes(&bytes).with_context(|| format!("{} is not a tokenizer", path.display()))?;
    let json: Value = serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON", path.display()))?;
    let tokens = tokens_by_id(&json).with_context(|| path.display().to_string())?;
    let embeddings = load_word_embeddings(dir)?;
    anyhow::ensure!(
        embeddings.rows == tokens.len(),
        "{} has {} tokens but {}'s word embeddings have {} rows",
        path.display(),
        tokens.len(),
        dir.join("model.safetensors").display(),
        embeddings.rows
    );
    let mut needed = BTreeSet::new();
    for text in training_texts(items) {
        needed.extend(full.encode(text, usize::MAX)?);
    }
    let seeds: BTreeSet<u32> = needed.iter().copied().filter(|&id| is_english_word(&tokens[id as usize])).collect();
    let neighbours = nearest_words(&tokens, &embeddings, &seeds, rule.neighbours);
    let kept = prune(&tokens, &needed, &neighbours, rule);
    let pruned = pruned_tokenizer_json(&json, &kept).with_context(|| format!("pruning {}", path.display()))?;
    let tokenizer = TextTokenizer::from_bytes(&serde_json::to_vec(&pruned)?).context("the pruned MiniLM tokenizer")?;
    anyhow::ensure!(tokenizer.vocab_size() == kept.len(), "the pruned MiniLM tokenizer lost tokens");
    Ok(MinilmVocab { tokenizer, original_ids: kept, embeddings })
}

/// Root mean square of a fresh token embedding's entries: Burn's `Embedding` starts from N(0, 1).
pub const EMBEDDING_INIT_RMS: f32 = 1.0;

/// The new model's token embedding, row-major `[original_ids.len(), d_model]`: MiniLM's rows of
/// the kept tokens, centred and projected on their `d_model` top principal directions, scaled to
/// the magnitude of the model's own initialisation.
pub fn minilm_token_embeddings(embeddings: &WordEmbeddings, original_ids: &[u32], d_model: usize) -> Result<Vec<f32>> {
    anyhow::ensure!(
        d_model <= embeddings.hidden,
        "--d-model {d_model} is wider than MiniLM's {} token vectors",
        embeddings.hidden
    );
    let hidden = embeddings.hidden;
    let mut rows = Vec::with_capacity(original_ids.len() * hidden);
    for &id in original_ids {
        let start = id as usize * hidden;
        let row = embeddings.values.get(start..start + hidden).with_context(|| format!("MiniLM has no token {id}"))?;
        rows.extend_from_slice(row);
    }
    let mut projected = Pca::fit(&rows, hidden, d_model).project(&rows);
    scale_to_rms(&mut projected, EMBEDDING_INIT_RMS);
    Ok(projected)
}

/// Builds a BERT-style WordPiece tokenizer covering every word of `items`.
pub fn build_tokenizer(items: &[QaItem]) -> Result<TextTokenizer> {
    let mut words = BTreeSet::new();
    let mut add = |text: &str| {
        for word in text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            words.insert(word.to_string());
        }
    };
    for item in items {
        add(&item.question);
        item.candidates.iter().for_each(|c| add(c));
        if let Answer::Word(w) = &item.answer {
            add(w);
        }
    }
    let mut tokens: Vec<String> = SPECIAL.iter().map(|s| s.to_string()).collect();
    tokens.extend("?.,!'-".chars().map(String::from));
    for c in ('a'..='z').chain('0'..='9') {
        tokens.push(c.to_string());
        tokens.push(format!("##{c}"));
    }
    tokens.extend(words);
    let mut vocab = BTreeMap::new();
    for token in tokens {
        let next = vocab.len() as u32;
        vocab.entry(token).or_insert(next);
    }
    let id = |t: &str| vocab.get(t).copied().context("special token missing");
    let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
    let model = WordPiece::builder()
        .vocab(vocab.into_iter().collect::<ahash::AHashMap<_, _>>())
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| anyhow::anyhow!("building WordPiece: {e}"))?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(BertNormalizer::default()))
        .with_pre_tokenizer(Some(BertPreTokenizer))
        .with_post_processor(Some(BertProcessing::new(("[SEP]".into(), sep), ("[CLS]".into(), cls))));
    let json = tokenizer.to_string(false).map_err(|e| anyhow::anyhow!("serialising tokenizer: {e}"))?;
    Ok(TextTokenizer::from_bytes(json.as_bytes())?)
}

/// FrameQA answers of the training set, most frequent first (ties alphabetical).
pub fn answer_vocabulary(items: &[QaItem]) -> Vec<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for item in items.iter().filter(|i| i.qtype == QuestionType::FrameQa) {
        if let Answer::Word(w) = &item.answer {
            *counts.entry(normalise_answer(w)).or_default() += 1;
        }
    }
    let mut answers: Vec<(String, usize)> = counts.into_iter().collect();
    answers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    answers.into_iter().map(|(a, _)| a).collect()
}

/// Answers are compared case- and space-insensitively.
pub fn normalise_answer(answer: &str) -> String {
    answer.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A small tokenizer.json shaped like MiniLM's: `[unused]` slots, specials as added tokens, a
    /// template post-processor and fixed padding.
    fn synthetic(tokens: &[&str]) -> Value {
        let vocab: serde_json::Map<String, Value> =
            tokens.iter().enumerate().map(|(id, t)| (t.to_string(), Value::from(id))).collect();
        let id = |t: &str| tokens.iter().position(|x| *x == t).unwrap();
        let added: Vec<Value> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            .iter()
            .map(|t| json!({"id": id(t), "special": true, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false}))
            .collect();
        let special = |t: &str| json!({"SpecialToken": {"id": t, "type_id": 0}});
        let sequence = |s: &str, type_id: u32| json!({"Sequence": {"id": s, "type_id": type_id}});
        json!({
            "version": "1.0",
            "truncation": {"max_length": 128, "strategy": "LongestFirst", "stride": 0},
            "padding": {"strategy": {"Fixed": 128}, "direction": "Right", "pad_to_multiple_of": null, "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
            "added_tokens": added,
            "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [special("[CLS]"), sequence("A", 0), special("[SEP]")],
                "pair": [special("[CLS]"), sequence("A", 0), special("[SEP]"), sequence("B", 1), special("[SEP]")],
                "special_tokens": {
                    "[CLS]": {"id": "[CLS]", "ids": [id("[CLS]")], "tokens": ["[CLS]"]},
                    "[SEP]": {"id": "[SEP]", "ids": [id("[SEP]")], "tokens": ["[SEP]"]}
                }
            },
            "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab}
        })
    }

    const TOKENS: [&str; 22] = [
        "[PAD]",
        "[unused0]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "a",
        "b",
        "c",
        "é",
        "##a",
        "##b",
        "##c",
        "##é",
        "the",
        "##ab",
        "cab",
        "km²",
        "bac",
        "abc",
        "ca",
        "##ca",
    ];

    #[test]
    fn pruning_keeps_specials_characters_needed_and_the_most_frequent_pieces() {
        let tokens: Vec<String> = TOKENS.iter().map(|t| t.to_string()).collect();
        let needed = BTreeSet::from([18]); // "bac"
        let neighbours = BTreeSet::from([20]); // "ca"
        let kept = prune(&tokens, &needed, &neighbours, PruneRule { frequent: 2, neighbours: 1 });
        let names: Vec<&str> = kept.iter().map(|&id| TOKENS[id as usize]).collect();
        // "the" and "##ab" are the two lowest-id English pieces; "km²" is not English ASCII and
        // "[unused0]" is a placeholder; "abc" and "##ca" are neither frequent enough nor needed.
        assert_eq!(
            names,
            [
                "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "é", "##a", "##b", "##c", "##é", "the",
                "##ab", "bac", "ca"
            ]
        );

        let json = pruned_tokenizer_json(&synthetic(&TOKENS), &kept).unwrap();
        let tokenizer = TextTokenizer::from_bytes(&serde_json::to_vec(&json).unwrap()).unwrap();
        assert_eq!(tokenizer.vocab_size(), kept.len());
        let id = |t: &str| tokenizer.inner().token_to_id(t).unwrap();
        assert_eq!((id("[PAD]"), id("[UNK]"), id("[CLS]"), id("[SEP]")), (0, 1, 2, 3));
        // Kept words stay whole, a dropped one is spelled with the pieces left (never [UNK]),
        // accents are stripped and case folded as by MiniLM's normaliser.
        let pieces = |text: &str| -> Vec<String> {
            let ids = tokenizer.encode(text, 64).unwrap();
            ids.iter().map(|&i| tokenizer.inner().id_to_token(i).unwrap()).collect()
        };
        assert_eq!(pieces("The BAC abc"), ["[CLS]", "the", "bac", "a", "##b", "##c", "[SEP]"]);
        assert_eq!(pieces("Cába"), ["[CLS]", "ca", "##b", "##a", "[SEP]"]);
        // A word with a letter no piece has ("é" is "e" once accents are stripped) is [UNK].
        assert_eq!(pieces("cabé"), ["[CLS]", "[UNK]", "[SEP]"]);
        assert_eq!(pieces("d"), ["[CLS]", "[UNK]", "[SEP]"]);
        // No baked-in padding or truncation in the file the page loads.
        assert!(json["padding"].is_null() && json["truncation"].is_null());
    }

    #[test]
    fn nearest_words_are_found_by_cosine() {
        let tokens: Vec<String> = ["[PAD]", "jump", "hop", "red", "##op", "x"].iter().map(|t| t.to_string()).collect();
        #[rustfmt::skip]
        let values = vec![
            0.0, 0.0, 0.0,
            1.0, 0.1, 0.0,
            2.0, 0.3, 0.0, // hop: close to jump in direction, not in length
            0.0, 0.0, 1.0,
            1.0, 0.1, 0.0, // ##op: a piece, never a neighbour
            1.0, 0.1, 0.0, // x: one letter, already kept
        ];
        let embeddings = WordEmbeddings { rows: 6, hidden: 3, values };
        assert_eq!(nearest_words(&tokens, &embeddings, &BTreeSet::from([1]), 1), BTreeSet::from([2]));
        assert_eq!(nearest_words(&tokens, &embeddings, &BTreeSet::from([1]), 0), BTreeSet::new());
    }

    #[test]
    fn a_missing_minilm_folder_says_how_to_fetch_it() {
        let dir = std::env::temp_dir().join("gifqa-no-minilm-here");
        let error = format!("{:#}", minilm_dir(Some(&dir)).unwrap_err());
        assert!(error.contains("scripts/fetch-minilm.sh") && error.contains("tokenizer.json"), "{error}");
    }

    /// The real all-MiniLM-L6-v2 folder, or `None` (the test is skipped) when it is absent.
    fn real_minilm() -> Option<PathBuf> {
        match minilm_dir(None) {
            Ok(dir) => Some(dir),
            Err(error) => {
                eprintln!("SKIPPED: {error:#}");
                None
            }
        }
    }

    fn item(question: &str, candidates: &[&str], answer: Answer) -> QaItem {
        QaItem {
            qtype: QuestionType::Action,
            gif_name: "g".into(),
            question: question.into(),
            candidates: candidates.iter().map(|c| c.to_string()).collect(),
            answer,
            vid_id: "v".into(),
        }
    }

    #[test]
    fn the_pruned_minilm_vocabulary_spells_reworded_words_as_words() {
        let Some(dir) = real_minilm() else { return };
        let items = [
            item(
                "What does the red star do 3 times ?",
                &["jump", "spin", "blink", "grow", "shrink", "move left"],
                Answer::Choice(0),
            ),
            item("Where is the blue circle at the end ?", &[], Answer::Word("top".into())),
        ];
        let rule = PruneRule { frequent: DEFAULT_MINILM_FREQUENT, neighbours: DEFAULT_MINILM_NEIGHBOURS };
        let vocab = build_minilm_vocab(&dir, &items, rule).unwrap();
        let tokenizer = &vocab.tokenizer;
        assert!(tokenizer.vocab_size() < 9000, "{} tokens", tokenizer.vocab_size());
        let pieces = |word: &str| -> Vec<String> {
            let ids = tokenizer.encode(word, 64).unwrap();
            ids[1..ids.len() - 1].iter().map(|&i| tokenizer.inner().id_to_token(i).unwrap()).collect()
        };
        let mut wrong = Vec::new();
        for (word, expected) in [
            ("hop", &["hop"][..]),
            ("rotate", &["rotate"]),
            ("colour", &["colour"]),
            ("things", &["things"]),
            ("flicker", &["flicker"]),
            ("expand", &["expand"]),
            ("jumping", &["jumping"]),
            ("Blink", &["blink"]),
        ] {
            let found = pieces(word);
            eprintln!("{word}: {found:?}");
            if found != expected {
                wrong.push(word);
            }
        }
        assert!(wrong.is_empty(), "spelled otherwise: {wrong:?}");
        // The training texts tokenize exactly as with MiniLM's whole vocabulary.
        let full = TextTokenizer::from_bytes(&std::fs::read(dir.join("tokenizer.json")).unwrap()).unwrap();
        let text = "What does the red star do 3 times ?";
        let original: Vec<u32> =
            tokenizer.encode(text, 64).unwrap().iter().map(|&i| vocab.original_ids[i as usize]).collect();
        assert_eq!(original, full.encode(text, 64).unwrap());
        // Accents are stripped as MiniLM does ("café" is "cafe").
        assert_eq!(pieces("café"), pieces("cafe"));
        let table = minilm_token_embeddings(&vocab.embeddings, &vocab.original_ids, 16).unwrap();
        assert_eq!(table.len(), vocab.original_ids.len() * 16);
        let rms = (table.iter().map(|v| v * v).sum::<f32>() / table.len() as f32).sqrt();
        assert!((rms - EMBEDDING_INIT_RMS).abs() < 1e-3, "{rms}");
    }
}
