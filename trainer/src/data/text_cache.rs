//! A pretrained text tower's outputs, computed once per distinct text.
//!
//! A tower whose weights do not change (frozen in training, or any tower at evaluation) maps a
//! text to the same token states every time: the tower has no dropout. The questions and
//! candidate answers of a QA dataset repeat (the synthetic benchmark's 46,861 Train questions
//! have 1,366 distinct question texts and 10 distinct action candidates), so the tower runs once
//! per distinct text and later batches read its states from host memory; only the tower's
//! projection to `d_model`, which trains, runs every step. The result equals running the tower,
//! up to float rounding (the tower sees each text padded to another length).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use anyhow::Result;
use burn::prelude::*;
use burn::tensor::TensorData;
use shared_model::answer::TextEncoder;
use shared_model::answer::read::InputError;
use shared_model::model::{PretrainedTextTower, QaModel, TextEncoding};
use shared_model::model::{encode_tokens, token_tensors};
use shared_model::text::tokenize::{TextTokenizer, TokenBatch};

/// Token states of a text tower per text, kept on the host.
pub struct TowerStateCache {
    /// The tower's width (`hidden_size`).
    hidden: usize,
    /// Text → its real tokens' states, `[tokens, hidden]` row-major (padding is not stored).
    states: Mutex<HashMap<String, Vec<f32>>>,
}

impl TowerStateCache {
    /// An empty cache for a tower `hidden` wide. Only valid while the tower's weights stay fixed.
    pub fn new(hidden: usize) -> Self {
        TowerStateCache { hidden, states: Mutex::new(HashMap::new()) }
    }

    /// Distinct texts cached so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no text is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<f32>>> {
        // A panic while holding the lock cannot leave a half-written entry (entries are inserted
        // whole), so a poisoned map is still consistent.
        self.states.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tower's states for `texts`, tokenized as `tokens` (one row per text): cached ones from
    /// memory, the others computed now from their rows of `tokens` (once per distinct text) and kept.
    ///
    /// # Shapes
    /// - output: `[texts, tokens.len, hidden]`, zeros at padded positions
    fn states<B: Backend>(
        &self,
        tower: &PretrainedTextTower<B>,
        texts: &[&str],
        tokens: &TokenBatch,
        device: &B::Device,
    ) -> Result<Tensor<B, 3>> {
        // The first row of each text not cached yet.
        let missing: Vec<usize> = {
            let cached = self.lock();
            let mut seen = HashSet::new();
            (0..texts.len()).filter(|&row| !cached.contains_key(texts[row]) && seen.insert(texts[row])).collect()
        };
        if !missing.is_empty() {
            let len = tokens.len;
            let missing_tokens = TokenBatch {
                ids: rows_of(&tokens.ids, &missing, len),
                padding: rows_of(&tokens.padding, &missing, len),
                batch: missing.len(),
                len,
            };
            let (ids, padding) = token_tensors::<B>(&missing_tokens, device);
            let states = tower.states(ids, padding); // [missing, len, hidden]
            let hidden = states.dims()[2];
            anyhow::ensure!(hidden == self.hidden, "the text tower is {hidden} wide, its cache {}", self.hidden);
            let values: Vec<f32> = states
                .into_data()
                .convert::<f32>()
                .to_vec()
                .map_err(|e| anyhow::anyhow!("reading tower states: {e:?}"))?;
            let mut cached = self.lock();
            for (row, &text_row) in missing.iter().enumerate() {
                // `encode_batch` pads on the right: a row's real tokens come first.
                let real = missing_tokens.padding[row * len..(row + 1) * len].iter().filter(|pad| !**pad).count();
                let start = row * len * hidden;
                cached.insert(texts[text_row].to_string(), values[start..start + real * hidden].to_vec());
            }
        }
        let (batch, len, hidden) = (tokens.batch, tokens.len, self.hidden);
        let mut values = vec![0.0f32; batch * len * hidden];
        let cached = self.lock();
        for (row, text) in texts.iter().enumerate() {
            // Invariant: every text of the batch was inserted above (entries are never removed).
            let Some(states) = cached.get(*text) else { anyhow::bail!("text tower cache lost {text:?}") };
            anyhow::ensure!(states.len() <= len * hidden, "{text:?} tokenizes longer than its batch");
            values[row * len * hidden..][..states.len()].copy_from_slice(states);
        }
        Ok(Tensor::from_data(TensorData::new(values, [batch, len, hidden]), device))
    }
}

/// The rows `rows` of a row-major `[_, len]` table.
fn rows_of<T: Copy>(values: &[T], rows: &[usize], len: usize) -> Vec<T> {
    rows.iter().flat_map(|row| &values[row * len..(row + 1) * len]).copied().collect()
}

/// How a batch's texts become the model's text encoding: the tokenizer, and for a model with a
/// fixed pretrained text tower, optionally the cache of that tower's states.
#[derive(Clone, Copy)]
pub struct Texts<'a> {
    /// The model folder's tokenizer.
    pub tokenizer: &'a TextTokenizer,
    /// Tower states per text; only for a tower whose weights do not change while it is used.
    pub cache: Option<&'a TowerStateCache>,
}

impl<'a> Texts<'a> {
    /// Texts encoded by running the model's text encoder every time.
    pub fn uncached(tokenizer: &'a TextTokenizer) -> Self {
        Texts { tokenizer, cache: None }
    }

    /// Encodes `texts` (padded to the longest, at most `max_len` tokens).
    ///
    /// # Shapes
    /// - output: `hidden` `[texts, len, d_model]`, `pooled` `[texts, d_model]`
    pub fn encode<B: Backend>(
        &self,
        model: &QaModel<B>,
        texts: &[&str],
        max_len: usize,
        device: &B::Device,
    ) -> Result<TextEncoding<B>> {
        let tokens = self.tokenizer.encode_batch(texts, max_len)?;
        match (self.cache, model.text_tower()) {
            (Some(cache), Some(tower)) => {
                let states = cache.states(tower, texts, &tokens, device)?;
                let (_, padding) = token_tensors::<B>(&tokens, device);
                Ok(tower.encode_states(states, padding))
            }
            _ => Ok(encode_tokens(model, &tokens, device)),
        }
    }
}

impl<B: Backend> TextEncoder<B> for Texts<'_> {
    fn encode_texts(
        &self,
        model: &QaModel<B>,
        texts: &[&str],
        max_len: usize,
        device: &B::Device,
    ) -> Result<TextEncoding<B>, InputError> {
        self.encode(model, texts, max_len, device).map_err(|e| InputError::TextEncoding(format!("{e:#}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use shared_model::model::bert::BertConfig;
    use shared_model::model::{PretrainedTextConfig, QaModelConfig};
    use shared_model::text::questions::{Answer, QaItem, QuestionType};

    use crate::vocab::build_tokenizer;

    type B = Flex;

    fn max_abs_diff<const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    #[test]
    fn cached_tower_states_give_the_towers_encoding() {
        let texts = [
            "what does the red star do after jumping ?",
            "how many times does the blue circle spin ?",
            "jump",
            "a green square moves left then spins 3 times",
        ];
        let items: Vec<QaItem> = texts
            .iter()
            .map(|text| QaItem {
                qtype: QuestionType::FrameQa,
                gif_name: "g".into(),
                question: (*text).into(),
                candidates: Vec::new(),
                answer: Answer::Word("red".into()),
                vid_id: "0".into(),
            })
            .collect();
        let tokenizer = build_tokenizer(&items).expect("tokenizer");
        let bert = BertConfig::new(tokenizer.vocab_size(), 32, 2, 4, 64, 64, 2, 1e-12);
        let mut config = QaModelConfig::new(tokenizer.vocab_size(), 4);
        config.text_tower = Some(PretrainedTextConfig::new(bert));
        let device = Default::default();
        let model = config.init::<B>(&device);

        let cache = TowerStateCache::new(32);
        let cached = Texts { tokenizer: &tokenizer, cache: Some(&cache) };
        let plain = Texts::uncached(&tokenizer);
        // Different batches pad a text to different lengths; the second and third read the cache.
        for batch in [&texts[..], &texts[1..3], &[texts[2], texts[2], texts[0]][..]] {
            let want = plain.encode(&model, batch, 40, &device).expect("uncached");
            let got = cached.encode(&model, batch, 40, &device).expect("cached");
            assert_eq!(got.padding.clone().into_data(), want.padding.clone().into_data());
            assert!(max_abs_diff(got.pooled, want.pooled) < 1e-5);
            let keep = want.padding.bool_not().float().unsqueeze_dim::<3>(2); // [texts, len, 1]
            assert!(max_abs_diff(got.hidden * keep.clone(), want.hidden * keep) < 1e-5);
        }
        assert_eq!(cache.len(), 4);
    }
}
