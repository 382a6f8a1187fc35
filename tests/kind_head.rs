//! The question-kind head (`QaModelConfig::kind_head`), pinned on tiny random models: answering
//! (`predict`, the page) sends a question to the head the kind head picks from its text, not to
//! the one its words would pick, and evaluation scores every question through that same head.

use gifqa_tests::TempDir;
use gifqa_tests::generated::{ask, first_clip, questions_by_gif};
use shared_model::answer::pipeline::{AnswerKind, open_kind, question_kinds};
use shared_model::bundle::ModelBundle;
use shared_model::model::encode_tokens;
use shared_model::text::questions::QuestionType;

type B = burn::backend::Flex;

const COUNT_QUESTION: &str = "How many times does the red star jump ?";

/// The kind `bundle`'s head predicts for `question`.
fn kind_of(bundle: &ModelBundle<B>, question: &str) -> QuestionType {
    let tokens = bundle.tokenizer.encode_batch(&[question.to_string()], bundle.config.model.max_text_len).unwrap();
    let encoding = encode_tokens(&bundle.model, &tokens, &Default::default());
    let kinds = futures_lite::future::block_on(question_kinds(&bundle.model, &encoding)).unwrap();
    kinds.expect("the model has a kind head")[0]
}

/// A tiny random model with a kind head and fused captions whose untrained head does not take
/// [`COUNT_QUESTION`] for a count question, though its words would send it to the Count head.
fn miscounting_bundle() -> ModelBundle<B> {
    (0..50)
        .map(|seed| {
            gifqa_tests::tiny::bundle_with(seed, |config| {
                config.kind_head = Some(true);
                config.fused_captions = Some(true);
                config.count_classes = 7;
            })
        })
        .find(|bundle| kind_of(bundle, COUNT_QUESTION) != QuestionType::Count)
        .expect("a random kind head that does not call the count question a count")
}

#[test]
fn answering_and_evaluation_go_by_the_kind_head_not_by_the_words() {
    let bundle = miscounting_bundle();
    let dir = TempDir::new("kind-head");
    let split = gifqa_tests::generated::split(&bundle, &dir, 2718, 30);
    let clip = first_clip(&split, 0);

    // The legacy rule reads "how many times" as a count; the model's head says otherwise, and
    // the word head answers.
    assert_eq!(open_kind(COUNT_QUESTION), AnswerKind::Count);
    assert_eq!(ask(&bundle, &clip, COUNT_QUESTION, &[]).kind, AnswerKind::Word);

    // Evaluation gives every question the answer `predict` gives: the same head, the same logits.
    let evaluation = gifqa_tests::generated::evaluator(&bundle).evaluate_with_answers(&split, false, false).unwrap();
    let mut compared = 0;
    for (g, item) in questions_by_gif(&split) {
        let answered = ask(&bundle, &first_clip(&split, g), &item.question, &item.candidates);
        let expected_kind = match kind_of(&bundle, &item.question) {
            _ if !item.candidates.is_empty() => AnswerKind::Choice,
            QuestionType::Count => AnswerKind::Count,
            _ => AnswerKind::Word,
        };
        assert_eq!(answered.kind, expected_kind, "{}", item.question);
        let evaluated = evaluation
            .answers
            .iter()
            .find(|a| a.gif == item.gif_name && a.question == item.question && a.candidates == item.candidates)
            .expect("evaluated");
        assert_eq!(evaluated.predicted, answered.ranked[0].answer, "{}", item.question);
        compared += 1;
    }
    assert!(compared > 20, "{compared} questions");
    // The report says how often the head named each type.
    for (qtype, report) in &evaluation.report {
        let accuracy = report.kind_accuracy.unwrap_or_else(|| panic!("{qtype}: no kind accuracy"));
        assert!((0.0..=1.0).contains(&accuracy));
    }
}
