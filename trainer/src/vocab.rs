//! Builds the benchmark's WordPiece `tokenizer.json` and the open-ended answer vocabulary from the
//! training questions. Whole words seen in training get their own token; letters and `##letters`
//! let unseen words fall back to characters instead of `[UNK]`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use shared_model::questions::{Answer, QaItem, QuestionType};
use shared_model::tokenize::TextTokenizer;
use tokenizers::Tokenizer;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;

const SPECIAL: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

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
