//! Text to token ids with the `tokenizers` crate, from a `tokenizer.json` (ours, or a real BERT's).

use tokenizers::Tokenizer;

/// Errors from loading or running a tokenizer.
#[derive(Debug, thiserror::Error)]
// Each variant's fields are named in its #[error] message and its doc line.
#[allow(missing_docs)]
pub enum TokenizeError {
    /// The JSON is not a tokenizer.
    #[error("tokenizer.json is not a valid tokenizer: {0}")]
    Invalid(String),
    /// Encoding failed.
    #[error("could not tokenize '{text}': {reason}")]
    Encode { text: String, reason: String },
}

/// Token ids and padding mask of a batch of texts, padded to the longest.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    /// `[batch * len]` ids, row-major.
    pub ids: Vec<i64>,
    /// `[batch * len]`, `true` at padded positions (the crate-wide padding convention).
    pub padding: Vec<bool>,
    /// Number of texts.
    pub batch: usize,
    /// Padded length.
    pub len: usize,
}

/// JSON that refuses an object with the same key twice: `serde_json::Value` keeps the last, while
/// the tokenizers crate may read the first, so a check of the value could miss what gets loaded.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut keys = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("the key \"{key}\" appears twice in one object")));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
}

/// Refuses what the tokenizers crate would panic on while loading or encoding, anywhere in the
/// file: a `Precompiled` normalizer (SentencePiece's; its unchecked tables panic the loader or the
/// encoder, and BERT-family tokenizers, the only ones the model reads, have none). Checking the
/// JSON syntax first (the caller's parse) also keeps the loader from panicking on a syntax error
/// inside `decoder`.
fn refuse_panicking_parts(value: &serde_json::Value) -> Result<(), TokenizeError> {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("type").and_then(serde_json::Value::as_str) == Some("Precompiled") {
                return Err(TokenizeError::Invalid("the Precompiled normalizer is not supported".into()));
            }
            map.values().try_for_each(refuse_panicking_parts)
        }
        serde_json::Value::Array(items) => items.iter().try_for_each(refuse_panicking_parts),
        _ => Ok(()),
    }
}

/// Checks every `TemplateProcessing` post-processor (as the loaded tokenizer serialises it, so
/// templates written as strings are pieces here): each special token a template names must be
/// defined, and the single-sequence template may only name sequence A; the crate panics at
/// encoding time otherwise. Each special token needs as many ids as tokens.
fn check_templates(value: &serde_json::Value) -> Result<(), TokenizeError> {
    use serde_json::Value;
    match value {
        Value::Object(map) if map.get("type").and_then(Value::as_str) == Some("TemplateProcessing") => {
            let defined = map.get("special_tokens").and_then(Value::as_object);
            for (id, token) in defined.into_iter().flatten() {
                let length = |field: &str| token.get(field).and_then(Value::as_array).map(Vec::len);
                if length("ids") != length("tokens") {
                    return Err(TokenizeError::Invalid(format!(
                        "special token '{id}' has {:?} ids but {:?} tokens",
                        length("ids"),
                        length("tokens")
                    )));
                }
            }
            for (template, only_a) in [("single", true), ("pair", false)] {
                for piece in map.get(template).and_then(Value::as_array).into_iter().flatten() {
                    if let Some(id) = piece.pointer("/SpecialToken/id").and_then(Value::as_str)
                        && !defined.is_some_and(|tokens| tokens.contains_key(id))
                    {
                        return Err(TokenizeError::Invalid(format!(
                            "the {template} template names the special token '{id}', which special_tokens does not define"
                        )));
                    }
                    if only_a && piece.pointer("/Sequence/id").and_then(Value::as_str) == Some("B") {
                        return Err(TokenizeError::Invalid("the single template names sequence B".into()));
                    }
                }
            }
            Ok(())
        }
        Value::Object(map) => map.values().try_for_each(check_templates),
        Value::Array(items) => items.iter().try_for_each(check_templates),
        _ => Ok(()),
    }
}

/// A tokenizer with padding and truncation handled here, not by the file
/// (real checkpoints often bake in fixed padding to 128, which would waste work).
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    pad_id: u32,
}

impl TextTokenizer {
    /// Loads a `tokenizer.json` from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TokenizeError> {
        // The tokenizers crate (0.22) panics on some files instead of refusing them: those cases
        // are refused here first (found by fuzzing; tests/fuzz/regressions/tokenizer).
        serde_json::from_slice::<UniqueKeys>(bytes).map_err(|e| TokenizeError::Invalid(e.to_string()))?;
        let json: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| TokenizeError::Invalid(e.to_string()))?;
        refuse_panicking_parts(&json)?;
        let mut inner = Tokenizer::from_bytes(bytes).map_err(|e| TokenizeError::Invalid(e.to_string()))?;
        let processor =
            serde_json::to_value(inner.get_post_processor()).map_err(|e| TokenizeError::Invalid(e.to_string()))?;
        check_templates(&processor)?;
        inner.with_padding(None);
        inner.with_truncation(None).map_err(|e| TokenizeError::Invalid(e.to_string()))?;
        let pad_id = inner.token_to_id("[PAD]").or_else(|| inner.token_to_id("<pad>")).unwrap_or(0);
        Ok(TextTokenizer { inner, pad_id })
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The wrapped tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Number of tokens `text` takes with special tokens, before any truncation (what
    /// [`Self::encode`] would drop is `token_count - max_len`).
    pub fn token_count(&self, text: &str) -> Result<usize, TokenizeError> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| TokenizeError::Encode { text: text.to_string(), reason: e.to_string() })?;
        Ok(encoding.get_ids().len())
    }

    /// The words of `text` that the vocabulary has no whole token for, lower-cased, each once, in
    /// order: words the model never saw in training. The trainer builds a model's WordPiece
    /// vocabulary from its training texts, so a word it saw is one token; any other word falls
    /// apart into letters (or `[UNK]`), which the model can only guess at.
    pub fn unknown_words(&self, text: &str) -> Result<Vec<String>, TokenizeError> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| TokenizeError::Encode { text: text.to_string(), reason: e.to_string() })?;
        let unk = self.inner.token_to_id("[UNK]").or_else(|| self.inner.token_to_id("<unk>"));
        let mut words: Vec<(u32, usize, (usize, usize), bool)> = Vec::new(); // word, pieces, span, unknown
        for (i, word) in encoding.get_word_ids().iter().enumerate() {
            let Some(word) = *word else { continue };
            let offsets = encoding.get_offsets()[i];
            let is_unk = Some(encoding.get_ids()[i]) == unk;
            match words.last_mut() {
                Some(last) if last.0 == word => {
                    last.1 += 1;
                    last.2.1 = offsets.1;
                    last.3 |= is_unk;
                }
                _ => words.push((word, 1, offsets, is_unk)),
            }
        }
        let mut unknown: Vec<String> = Vec::new();
        for (_, pieces, (start, end), is_unk) in words {
            let word = text.get(start..end).unwrap_or_default().to_lowercase();
            if (pieces > 1 || is_unk) && !word.is_empty() && !unknown.contains(&word) {
                unknown.push(word);
            }
        }
        Ok(unknown)
    }

    /// Token ids of one text with special tokens, truncated to `max_len`.
    pub fn encode(&self, text: &str, max_len: usize) -> Result<Vec<u32>, TokenizeError> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| TokenizeError::Encode { text: text.to_string(), reason: e.to_string() })?;
        let mut ids = encoding.get_ids().to_vec();
        ids.truncate(max_len);
        Ok(ids)
    }

    /// Encodes texts and pads them to the longest (at most `max_len`).
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S], max_len: usize) -> Result<TokenBatch, TokenizeError> {
        let encoded: Vec<Vec<u32>> =
            texts.iter().map(|t| self.encode(t.as_ref(), max_len)).collect::<Result<_, _>>()?;
        let len = encoded.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(encoded.len() * len);
        let mut padding = Vec::with_capacity(encoded.len() * len);
        for row in &encoded {
            ids.extend(row.iter().map(|&id| i64::from(id)));
            ids.extend(std::iter::repeat_n(i64::from(self.pad_id), len - row.len()));
            padding.extend(std::iter::repeat_n(false, row.len()));
            padding.extend(std::iter::repeat_n(true, len - row.len()));
        }
        Ok(TokenBatch { ids, padding, batch: encoded.len(), len })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const SHIPPED: &str = include_str!("../../../www/model/tokenizer.json");

    /// The shipped tokenizer.json with `key` replaced by `value`.
    fn with(key: &str, value: Value) -> Vec<u8> {
        let mut tokenizer: Value = serde_json::from_str(SHIPPED).unwrap();
        tokenizer[key] = value;
        serde_json::to_vec(&tokenizer).unwrap()
    }

    /// A template's pieces: `$A` and `$B` are the sequences, anything else a special token.
    fn pieces(template: &[&str]) -> Value {
        let piece = |p: &&str| match *p {
            "$A" | "$B" => json!({"Sequence": {"id": &p[1..], "type_id": 0}}),
            id => json!({"SpecialToken": {"id": id, "type_id": 0}}),
        };
        Value::Array(template.iter().map(piece).collect())
    }

    /// The shipped tokenizer with a `TemplateProcessing` post-processor.
    fn template(single: &[&str], special_tokens: Value) -> Vec<u8> {
        let processor = json!({"type": "TemplateProcessing", "single": pieces(single), "pair": pieces(&["$A", "$B"]), "special_tokens": special_tokens});
        with("post_processor", processor)
    }

    #[test]
    fn files_the_tokenizers_crate_panics_on_are_refused() {
        assert!(TextTokenizer::from_bytes(SHIPPED.as_bytes()).is_ok());
        let cls = |ids: Value| json!({"[CLS]": {"id": "[CLS]", "ids": ids, "tokens": ["[CLS]"]}});
        let syntax = SHIPPED.replace(r#""decoder":null"#, "\"decoder\":{\"type\":\"Word\u{1}Piece\"}").into_bytes();
        for (what, bytes) in [
            ("precompiled", with("normalizer", json!({"type": "Precompiled", "precompiled_charsmap": "AAAA"}))),
            ("undefined special token", template(&["[CLS]", "$A"], json!({}))),
            ("sequence B", template(&["$B"], json!({}))),
            ("ids and tokens", template(&["[CLS]", "$A"], cls(json!([2, 3])))),
            ("syntax error in decoder", syntax),
            // The first of two `normalizer`s, which a check of the parsed value would not see.
            (
                "duplicate key",
                SHIPPED
                    .replacen('{', r#"{"normalizer":{"type":"Precompiled","precompiled_charsmap":"AA"},"#, 1)
                    .into_bytes(),
            ),
        ] {
            let err = TextTokenizer::from_bytes(&bytes).err().unwrap_or_else(|| panic!("{what}: accepted"));
            assert!(matches!(err, TokenizeError::Invalid(_)), "{what}: {err}");
        }
        // A template whose special tokens are defined loads and encodes.
        let tokenizer = TextTokenizer::from_bytes(&template(&["[CLS]", "$A"], cls(json!([2])))).unwrap();
        assert_eq!(tokenizer.encode("a", 40).unwrap(), vec![2, 11]);
    }
}
