//! Text to token ids with the `tokenizers` crate, from a `tokenizer.json` (ours, or a real BERT's).

use tokenizers::Tokenizer;

/// Errors from loading or running a tokenizer.
#[derive(Debug, thiserror::Error)]
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
        let mut inner = Tokenizer::from_bytes(bytes).map_err(|e| TokenizeError::Invalid(e.to_string()))?;
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
