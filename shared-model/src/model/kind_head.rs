//! The question-kind head: which type of question a text asks (TGIF-QA's Action, Transition, Count
//! and FrameQA, or a caption question; [`QuestionType::ALL`]'s order), read from the question's
//! pooled text encoding alone, without the video.
//!
//! Answering goes by its prediction (`pipeline::route`): an open question to the Count head or the
//! FrameQA word head, candidates to the choice head or to fused captions. So the model, not a rule
//! on the question's words, decides which head answers, and people's own phrasings reach the
//! right head as far as the text encoder generalises. Training supervises it with every training
//! question's type (`trainer train --kind-head`).

use burn::prelude::*;

use super::heads::{ClassifierHead, ClassifierHeadConfig};
use crate::text::questions::QuestionType;

/// Configuration of [`KindHead`].
#[derive(Config, Debug)]
pub struct KindHeadConfig {
    /// Width of the pooled text encoding.
    pub d_model: usize,
    /// Question kinds: the logits' columns are [`QuestionType::ALL`] in order.
    #[config(default = "QuestionType::ALL.len()")]
    pub kinds: usize,
}

/// A two-layer MLP over the pooled question encoding (`TextEncoding::pooled`, `[questions,
/// d_model]`) giving logits over the kinds, `[questions, kinds]`: the same block as the
/// open-ended heads, so its weights keep their names (`hidden`, `logits`).
pub type KindHead<B> = ClassifierHead<B>;

impl KindHeadConfig {
    /// Builds the module with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> KindHead<B> {
        ClassifierHeadConfig::new(self.d_model, self.kinds).init(device)
    }
}

/// The kind of each row of `logits` (row-major `[questions, kinds]`, kinds in
/// [`QuestionType::ALL`]'s order): its largest logit's.
pub fn kinds_of(logits: &[f32]) -> Vec<QuestionType> {
    logits
        .chunks(QuestionType::ALL.len())
        .map(|row| {
            let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
            QuestionType::ALL[best]
        })
        .collect()
}

/// The column of `kind` in the head's logits.
pub fn kind_index(kind: QuestionType) -> usize {
    QuestionType::ALL.iter().position(|&k| k == kind).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn one_logit_per_kind_for_each_question() {
        let device = Default::default();
        let head = KindHeadConfig::new(16).init::<Flex>(&device);
        let logits = head.forward(Tensor::<Flex, 2>::ones([3, 16], &device));
        assert_eq!(logits.dims(), [3, QuestionType::ALL.len()]);
    }

    #[test]
    fn kinds_are_the_largest_logits_in_report_order() {
        let logits = [0.0, 0.0, 3.0, 1.0, 0.0, /* */ 0.0, 0.0, 0.0, 0.0, 2.0];
        assert_eq!(kinds_of(&logits), vec![QuestionType::Count, QuestionType::Caption]);
        assert!(QuestionType::ALL.iter().all(|&k| QuestionType::ALL[kind_index(k)] == k));
    }
}
