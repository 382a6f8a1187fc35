//! Which head answers a question, and how stage 1 reads it: by the model's kind head, by the
//! question's known type, or by the legacy rules on its words for models without the head.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::read::{InputError, read_floats};
use crate::model::{QaModel, QaModelConfig, TextEncoding, kinds_of};
use crate::text::questions::{CAPTION_PROMPT, QuestionType};

/// Which head answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerKind {
    /// Multiple choice over the given candidates.
    Choice,
    /// Open-ended word.
    Word,
    /// A count.
    Count,
}

/// Which head answers a question, and how stage 1 reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Multiple choice; `fused`: stage 1 reads the GIF once per candidate, with the candidate as
    /// its question text (a caption question of a model with fused captions).
    Choice {
        /// Whether the candidates are fused as questions.
        fused: bool,
    },
    /// The FrameQA word head.
    Word,
    /// The Count head.
    Count,
}

impl Route {
    /// The head that answers.
    pub fn answer_kind(self) -> AnswerKind {
        match self {
            Route::Choice { .. } => AnswerKind::Choice,
            Route::Word => AnswerKind::Word,
            Route::Count => AnswerKind::Count,
        }
    }

    /// Whether the candidates are fused as questions.
    pub fn fused(self) -> bool {
        self == Route::Choice { fused: true }
    }
}

/// The route of a question of type `kind`: with candidates, the choice head, or fused captions when
/// the model fuses them and `kind` is a caption question; without, the Count head for a count
/// question and the word head for any other. Answering passes the kind head's prediction
/// ([`question_kinds`]); training passes the data's type.
pub fn route_of_kind(config: &QaModelConfig, kind: QuestionType, has_candidates: bool) -> Route {
    match (has_candidates, kind) {
        (true, kind) => Route::Choice { fused: config.fuses_captions() && kind == QuestionType::Caption },
        (false, QuestionType::Count) => Route::Count,
        (false, _) => Route::Word,
    }
}

/// The route of one question: by the kind the model's kind head predicted (`kind`, from
/// [`question_kinds`]), or, for a model without the head (`kind` `None`), by the legacy rules on
/// its words ([`open_kind`], [`fuses_candidates`]).
pub fn route(config: &QaModelConfig, kind: Option<QuestionType>, question: &str, candidates: &[String]) -> Route {
    match kind {
        Some(kind) => route_of_kind(config, kind, !candidates.is_empty()),
        None if !candidates.is_empty() => Route::Choice { fused: fuses_candidates(config, question, candidates) },
        None => match open_kind(question) {
            AnswerKind::Count => Route::Count,
            _ => Route::Word,
        },
    }
}

/// The question types the model's kind head predicts for questions from their text encoding alone
/// (no video); `None` for a model without the head. `trainer eval` and `pipeline::answer_encoded` both
/// route by it ([`route`]).
///
/// # Shapes
/// - `questions.pooled`: `[questions, d_model]`; the output has one type per question
pub async fn question_kinds<B: Backend>(
    model: &QaModel<B>,
    questions: &TextEncoding<B>,
) -> Result<Option<Vec<QuestionType>>, InputError> {
    let Some(logits) = model.kind_logits(questions.pooled.clone()) else { return Ok(None) };
    Ok(Some(kinds_of(&read_floats(logits).await?)))
}

/// Legacy rule for models without a kind head (see [`route`]): which open-ended head a question
/// goes to, by its opening words (TGIF-QA's Count questions all start this way). It goes when the
/// models without the head are retired.
pub fn open_kind(question: &str) -> AnswerKind {
    if question.trim_start().to_lowercase().starts_with("how many times") {
        AnswerKind::Count
    } else {
        AnswerKind::Word
    }
}

/// Legacy rule for models without a kind head (see [`route`]): whether stage 1 reads `question`
/// once per candidate, with the candidate as its question text: caption questions (the fixed
/// [`CAPTION_PROMPT`]) of a model with fused captions. It goes when the models without the head
/// are retired.
pub fn fuses_candidates(config: &QaModelConfig, question: &str, candidates: &[String]) -> bool {
    config.fuses_captions() && !candidates.is_empty() && question.trim().eq_ignore_ascii_case(CAPTION_PROMPT)
}

/// The texts stage 1 fuses with the video for one question answered by `route`: the question, or
/// each candidate when they are fused.
pub fn stage_one_texts<'a>(route: Route, question: &'a str, candidates: &'a [String]) -> Vec<&'a str> {
    if route.fused() { candidates.iter().map(String::as_str).collect() } else { vec![question] }
}
