//! The answer checks (`shared_model::count_check`, `shared_model::order_check`), pinned on a tiny
//! random model: the answering path (`predict`, the page) adds to each candidate's logit the
//! weighted log-probability the count head gives the counts it states, and the transition head
//! the orders it states, relative to each head's most probable answer, exactly as asking those
//! questions by hand gives; evaluation scores the same way, and its weight sweeps reproduce a
//! model that carries the weights.

use gifqa_tests::TempDir;
use gifqa_tests::generated::{ask, first_clip, questions_by_gif, right_when_asked};
use shared_model::answer::checks::caption_text::common_object;
use shared_model::answer::checks::count::CountCheck;
use shared_model::answer::checks::order::{OrderCheck, caption_order_claims};
use shared_model::answer::pipeline::{Prediction, softmax};
use shared_model::bundle::ModelBundle;
use shared_model::text::questions::{QaItem, QuestionType};
use trainer::eval::Evaluator;

type B = burn::backend::Flex;

const WEIGHT: f64 = 3.0;
const ORDER_WEIGHT: f64 = 2.0;

/// Two copies of one tiny random model with fused captions and 7 count classes (so that every
/// count is among `predict`'s ten ranked answers): one checks counts at [`WEIGHT`] and orders at
/// [`ORDER_WEIGHT`], one does not.
fn tiny_bundles() -> (ModelBundle<B>, ModelBundle<B>) {
    // `bundle_with` materialises the lazily initialised parameters, so the clone below copies
    // values instead of drawing its own.
    let plain = gifqa_tests::tiny::bundle_with(11, |config| {
        config.fused_captions = Some(true);
        config.count_classes = 7;
    });
    let mut config = plain.config.clone();
    config.model.count_check_weight = Some(WEIGHT);
    config.model.order_check_weight = Some(ORDER_WEIGHT);
    let checked = ModelBundle { config, model: plain.model.clone(), tokenizer: plain.tokenizer.clone() };
    (checked, plain)
}

fn evaluator(bundle: &ModelBundle<B>, sweep: Vec<f32>) -> Evaluator<'_, B> {
    Evaluator { count_check_sweep: sweep, ..gifqa_tests::generated::evaluator(bundle) }
}

fn probability(prediction: &Prediction, answer: &str) -> f32 {
    prediction.ranked.iter().find(|r| r.answer == answer).map(|r| r.probability).expect("ranked")
}

/// The benchmark's multiple-choice questions that state counts, by GIF.
fn counted_questions(split: &trainer::data::Split) -> Vec<(usize, &QaItem)> {
    questions_by_gif(split)
        .into_iter()
        .filter(|(_, item)| matches!(item.qtype, QuestionType::Action | QuestionType::Caption))
        .filter(|(_, item)| {
            let captions = item.qtype == QuestionType::Caption;
            !CountCheck::new(&item.question, &item.candidates, captions).is_empty()
        })
        .collect()
}

#[test]
fn answering_adds_the_heads_log_likelihood_of_each_stated_count_and_order() {
    let (checked, plain) = tiny_bundles();
    let dir = TempDir::new("count-check-answer");
    let split = gifqa_tests::generated::split(&plain, &dir, 2718, 24);
    let questions = counted_questions(&split);
    let action = questions.iter().find(|(_, i)| i.qtype == QuestionType::Action).expect("an action question");
    let caption = questions.iter().find(|(_, i)| i.qtype == QuestionType::Caption).expect("a caption question");
    for (g, item) in [action, caption] {
        let clip = first_clip(&split, *g);
        let got = ask(&checked, &clip, &item.question, &item.candidates);
        let base = ask(&plain, &clip, &item.question, &item.candidates);
        // By hand: each candidate's log-probability plus, per claim, the weighted log of the
        // claimed count's probability over the most probable count's (asked open-ended).
        let check = CountCheck::new(&item.question, &item.candidates, item.qtype == QuestionType::Caption);
        let counts: Vec<Prediction> = check.questions.iter().map(|q| ask(&plain, &clip, q, &[])).collect();
        // Orders (captions only): each Transition question asked with its candidates.
        let orders = OrderCheck::new(&item.candidates);
        let transitions: Vec<Prediction> = (0..orders.questions.len())
            .filter(|_| item.qtype == QuestionType::Caption)
            .map(|q| ask(&plain, &clip, &orders.questions[q], &orders.candidates[q]))
            .collect();
        // Captions are asked about the object most of them name.
        let object = common_object(&item.candidates).unwrap_or_default();
        let order_gain = |candidate: &str| -> f32 {
            if transitions.is_empty() {
                return 0.0;
            }
            caption_order_claims(candidate, &object)
                .iter()
                .map(|claim| {
                    let q = orders.questions.iter().position(|q| *q == claim.question).expect("asked");
                    (probability(&transitions[q], &claim.answer) / transitions[q].ranked[0].probability).ln()
                })
                .sum()
        };
        if item.qtype == QuestionType::Caption {
            assert!(!transitions.is_empty(), "a caption question with orders to check");
        }
        let logits: Vec<f32> = item
            .candidates
            .iter()
            .map(|candidate| {
                let claims = match item.qtype {
                    QuestionType::Caption => shared_model::answer::checks::count::caption_claims(
                        candidate,
                        &object,
                        shared_model::answer::checks::count::Repeated::Totals,
                    ),
                    _ => shared_model::answer::checks::count::action_claims(&item.question, candidate),
                };
                let gain: f32 = claims
                    .iter()
                    .map(|claim| {
                        let q = check.questions.iter().position(|q| *q == claim.question).expect("asked");
                        let best = counts[q].ranked[0].probability;
                        (probability(&counts[q], &claim.count.to_string()) / best).ln()
                    })
                    .sum();
                probability(&base, candidate).ln() + WEIGHT as f32 * gain + ORDER_WEIGHT as f32 * order_gain(candidate)
            })
            .collect();
        let expected = softmax(&logits);
        let mut moved = 0.0f32;
        for (candidate, p) in item.candidates.iter().zip(&expected) {
            let got = probability(&got, candidate);
            assert!((got - p).abs() < 1e-4, "{}: {candidate}: {got} vs {p}", item.question);
            moved = moved.max((got - probability(&base, candidate)).abs());
        }
        assert!(moved > 1e-3, "the check changed nothing for {:?}", item.candidates);
    }
}

#[test]
fn evaluation_checks_answers_as_answering_does_and_its_sweeps_reproduce_the_weights() {
    let (checked, plain) = tiny_bundles();
    let dir = TempDir::new("count-check-eval");
    let split = gifqa_tests::generated::split(&plain, &dir, 2718, 24);
    let report = evaluator(&checked, Vec::new()).evaluate(&split, false, false).expect("evaluates");
    let mut counts_only = ModelBundle {
        config: checked.config.clone(),
        model: checked.model.clone(),
        tokenizer: checked.tokenizer.clone(),
    };
    counts_only.config.model.order_check_weight = None;
    let swept = evaluator(&plain, vec![0.0, WEIGHT as f32]).evaluate(&split, false, false).expect("evaluates");
    let mut order_sweep = evaluator(&counts_only, Vec::new());
    order_sweep.order_check_sweep = vec![0.0, ORDER_WEIGHT as f32];
    let order_swept = order_sweep.evaluate(&split, false, false).expect("evaluates");
    for qtype in [QuestionType::Action, QuestionType::Caption] {
        // Answering each question as `predict` does gives the evaluation's accuracy.
        let items: Vec<(usize, &QaItem)> =
            questions_by_gif(&split).into_iter().filter(|(_, item)| item.qtype == qtype).collect();
        let right = right_when_asked(&checked, &split, &items);
        let tag = qtype.tag();
        assert_eq!(report[tag].n, items.len());
        assert!((report[tag].accuracy - right as f64 / items.len() as f64).abs() < 1e-9, "{tag}");
        // Captions also check orders, so only action answers equal the count sweep's.
        let sweep = swept[tag].count_check.as_ref().expect("swept");
        if qtype == QuestionType::Action {
            assert_eq!(sweep[&WEIGHT.to_string()], report[tag].accuracy, "{tag}");
        }
        assert_eq!(sweep["0"], swept[tag].accuracy, "{tag}");
        let sweep = order_swept[tag].order_check.as_ref().expect("swept");
        assert_eq!(sweep[&ORDER_WEIGHT.to_string()], report[tag].accuracy, "{tag}");
        assert_eq!(sweep["0"], order_swept[tag].accuracy, "{tag}");
    }
}

#[test]
fn evaluation_gives_every_question_the_answer_and_probability_that_predict_gives() {
    // Both ask the answering engine (`shared_model::answer`): evaluation many questions at once,
    // `predict` one; the checks, the routing and the heads are the same code.
    let (checked, _) = tiny_bundles();
    let dir = TempDir::new("engine-parity");
    let split = gifqa_tests::generated::split(&checked, &dir, 2718, 24);
    let evaluation = evaluator(&checked, Vec::new()).evaluate_with_answers(&split, false, false).expect("evaluates");
    let mut compared = 0;
    for (g, item) in questions_by_gif(&split) {
        let answered = ask(&checked, &first_clip(&split, g), &item.question, &item.candidates);
        let evaluated = evaluation
            .answers
            .iter()
            .find(|a| a.gif == item.gif_name && a.question == item.question && a.candidates == item.candidates)
            .expect("evaluated");
        let top = &answered.ranked[0];
        assert_eq!(evaluated.predicted, top.answer, "{}", item.question);
        // Batches of five GIFs and of one may round the last digits differently.
        assert!((evaluated.probability - top.probability).abs() < 1e-5, "{}", item.question);
        compared += 1;
    }
    assert_eq!(compared, evaluation.answers.len());
    assert!(compared > 30, "{compared} questions");
}
