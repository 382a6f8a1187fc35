//! The object check (`shared_model::object_check`), pinned on a tiny random model with fused
//! captions: answering (`predict`, the page) adds to each caption's logit the weighted
//! log-probability the FrameQA head gives the shape it names for its colour, relative to the most
//! probable answer, and to each colour answer to "What color is the {shape} ?" that of the shape
//! for that colour, exactly as asking the head by hand gives; evaluation scores the same way, and
//! its weight sweep reproduces a model that carries the weight. With a closer look
//! (`shared_model::zoom`) the caption check's answers are the joint log-probabilities of the read
//! of the whole frames and that of the crops around where each question looked, in answering and
//! evaluation alike. Old configs have no check and no closer look.

use burn::backend::Flex;
use gifqa_tests::TempDir;
use gifqa_tests::generated::{ask, first_clip, questions_by_gif, right_when_asked};
use shared_model::answer::checks::object::ObjectCheck;
use shared_model::answer::pipeline::{Prediction, softmax};
use shared_model::bundle::ModelBundle;
use shared_model::model::{encode_tokens, video_tensors};
use shared_model::preprocess::zoom;
use shared_model::text::questions::{QaItem, QuestionType};
use trainer::eval::Evaluator;

type B = Flex;

const WEIGHT: f64 = 2.0;

/// Two copies of one tiny random model with fused captions: one checks objects at [`WEIGHT`], one
/// does not (no other check in either).
fn tiny_bundles() -> (ModelBundle<B>, ModelBundle<B>) {
    let plain = gifqa_tests::tiny::bundle_with(17, |config| config.fused_captions = Some(true));
    let mut config = plain.config.clone();
    config.model.object_check_weight = Some(WEIGHT);
    let checked = ModelBundle { config, model: plain.model.clone(), tokenizer: plain.tokenizer.clone() };
    (checked, plain)
}

fn probability(prediction: &Prediction, answer: &str) -> f32 {
    prediction.ranked.iter().find(|r| r.answer == answer).map(|r| r.probability).expect("ranked")
}

/// Asserts that `got` ranks `candidates` as `base` does with each logit plus its gain.
fn assert_base_plus_gains(got: &Prediction, base: &Prediction, candidates: &[String], gains: &[f32]) {
    let logits: Vec<f32> = candidates.iter().zip(gains).map(|(c, gain)| probability(base, c).ln() + gain).collect();
    for (candidate, p) in candidates.iter().zip(softmax(&logits)) {
        let got = probability(got, candidate);
        assert!((got - p).abs() < 1e-4, "{candidate}: {got} vs {p}");
    }
}

/// Asserts that each open answer of `got` has the probability of the answer `logits` (over
/// `answers`) with each class's gain added.
fn assert_logits_plus_gains(got: &Prediction, logits: &[f32], gains: &[f32], answers: &[String]) {
    let probabilities = softmax(&logits.iter().zip(gains).map(|(l, g)| l + g).collect::<Vec<_>>());
    for ranked in &got.ranked {
        let class = answers.iter().position(|a| *a == ranked.answer).expect("an answer class");
        assert!((ranked.probability - probabilities[class]).abs() < 1e-4, "{}", ranked.answer);
    }
}

/// The largest change of a candidate's probability between two answers.
fn largest_change(a: &Prediction, b: &Prediction, candidates: &[String]) -> f32 {
    candidates.iter().map(|c| (probability(a, c) - probability(b, c)).abs()).fold(0.0, f32::max)
}

/// The benchmark's caption questions whose candidates name more than one object, by GIF.
fn checked_captions<'a>(bundle: &ModelBundle<B>, split: &'a trainer::data::Split) -> Vec<(usize, &'a QaItem)> {
    questions_by_gif(split)
        .into_iter()
        .filter(|(_, item)| item.qtype == QuestionType::Caption)
        .filter(|(_, item)| !ObjectCheck::new(&item.candidates, true, &bundle.config.answers).is_empty())
        .collect()
}

/// The FrameQA head's logits `[questions, answers]` for `questions` on `clip`, by hand.
fn answer_logits(
    bundle: &ModelBundle<B>,
    clip: &shared_model::preprocess::PreparedClip,
    questions: &[String],
) -> Vec<f32> {
    read_by_hand(bundle, clip, questions).0
}

/// The FrameQA head's logits `[questions, answers]` for `questions` on `clip`, with where each
/// question looked (`[questions, frames, cells]`) and the cells per frame.
fn read_by_hand(
    bundle: &ModelBundle<B>,
    clip: &shared_model::preprocess::PreparedClip,
    questions: &[String],
) -> (Vec<f32>, Vec<f32>, usize) {
    let device = Default::default();
    let config = &bundle.config;
    let (frames, times) = video_tensors::<B>(&[clip], &config.preprocess, config.model.time_positions, &device);
    let video = bundle.model.encode_video(frames, times);
    let tokens = bundle.tokenizer.encode_batch(questions, config.model.max_text_len).unwrap();
    let encoding = encode_tokens(&bundle.model, &tokens, &device);
    let context = bundle.model.fuse(&video, &vec![0; questions.len()], &encoding);
    let logits = bundle.model.answer_logits(&context).into_data().to_vec::<f32>().unwrap();
    let cells = context.attention.dims()[2];
    (logits, context.attention.into_data().to_vec::<f32>().unwrap(), cells)
}

/// The object check's FrameQA logits with a closer look at `window`, by hand: each question's
/// read of the whole frames and of its crops, as joint log-probabilities.
fn closer_look_logits(
    bundle: &ModelBundle<B>,
    clip: &shared_model::preprocess::PreparedClip,
    questions: &[String],
    window: f32,
) -> Vec<f32> {
    let (plain, attention, cells) = read_by_hand(bundle, clip, questions);
    let classes = bundle.config.answers.len();
    let per_question = attention.len() / questions.len();
    let size = bundle.config.preprocess.image_size;
    questions
        .iter()
        .enumerate()
        .flat_map(|(q, question)| {
            let attention = &attention[q * per_question..(q + 1) * per_question];
            let look = zoom::closer_looks(&[(clip, question.as_str())], attention, cells, window, size);
            let closer = answer_logits(bundle, &look[0], std::slice::from_ref(question));
            zoom::joint_log_probs(&plain[q * classes..(q + 1) * classes], &closer, classes)
        })
        .collect()
}

#[test]
fn answering_adds_the_weighted_log_likelihood_of_each_named_shape() {
    let (checked, plain) = tiny_bundles();
    let dir = TempDir::new("object-check-answer");
    let split = gifqa_tests::generated::split(&plain, &dir, 2718, 16);
    let (g, item) = checked_captions(&plain, &split).into_iter().next().expect("a caption question to check");
    let clip = first_clip(&split, g);
    let got = ask(&checked, &clip, &item.question, &item.candidates);
    let base = ask(&plain, &clip, &item.question, &item.candidates);
    let check = ObjectCheck::new(&item.candidates, true, &plain.config.answers);
    let logits = answer_logits(&plain, &clip, &check.questions);
    let gains = check.adjustments(&logits, plain.config.answers.len(), WEIGHT as f32);
    assert_base_plus_gains(&got, &base, &item.candidates, &gains);
    let moved = largest_change(&got, &base, &item.candidates);
    assert!(moved > 1e-3, "the check changed nothing for {:?}", item.candidates);
}

#[test]
fn colour_answers_gain_the_weighted_log_likelihood_of_their_object_having_the_asked_shape() {
    let (checked, plain) = tiny_bundles();
    let answers = &plain.config.answers;
    // The first colour question, over a few benchmark seeds, on which the check moves something
    // (a random model may name the asked shape for every colour).
    let (clip, item, gains) = [2718, 1, 2, 3, 4, 5]
        .into_iter()
        .find_map(|seed| {
            let dir = TempDir::new(&format!("object-check-colour-{seed}"));
            let split = gifqa_tests::generated::split(&plain, &dir, seed, 16);
            questions_by_gif(&split).into_iter().find_map(|(g, item)| {
                let check = ObjectCheck::colour_answers(&item.question, answers)?;
                let clip = first_clip(&split, g);
                let logits = answer_logits(&plain, &clip, &check.questions);
                let gains = check.adjustments(&logits, answers.len(), WEIGHT as f32);
                gains.iter().any(|g| *g < -1e-3).then(|| (clip, item.clone(), gains))
            })
        })
        .expect("a colour question the check moves");
    let got = ask(&checked, &clip, &item.question, &[]);
    let base = answer_logits(&plain, &clip, std::slice::from_ref(&item.question));
    assert_logits_plus_gains(&got, &base, &gains, answers);
}

#[test]
fn evaluation_checks_objects_as_answering_does_and_its_sweep_reproduces_the_weight() {
    let (checked, plain) = tiny_bundles();
    let dir = TempDir::new("object-check-eval");
    let split = gifqa_tests::generated::split(&plain, &dir, 2718, 16);
    let evaluator = |bundle: &ModelBundle<B>, sweep: Vec<f32>| -> trainer::eval::Report {
        Evaluator { object_check_sweep: sweep, ..gifqa_tests::generated::evaluator(bundle) }
            .evaluate(&split, false, false)
            .expect("evaluates")
    };
    let report = evaluator(&checked, Vec::new());
    let swept = evaluator(&plain, vec![0.0, WEIGHT as f32]);
    let items: Vec<(usize, &QaItem)> =
        questions_by_gif(&split).into_iter().filter(|(_, item)| item.qtype == QuestionType::Caption).collect();
    let right = right_when_asked(&checked, &split, &items);
    let tag = QuestionType::Caption.tag();
    assert_eq!(report[tag].n, items.len());
    assert!((report[tag].accuracy - right as f64 / items.len() as f64).abs() < 1e-9);
    let sweep = swept[tag].object_check.as_ref().expect("swept");
    assert_eq!(sweep[&WEIGHT.to_string()], report[tag].accuracy);
    assert_eq!(sweep["0"], swept[tag].accuracy);
    // FrameQA: every word answer as answering gives it, the colour questions checked.
    let tag = QuestionType::FrameQa.tag();
    let items: Vec<(usize, &QaItem)> =
        questions_by_gif(&split).into_iter().filter(|(_, item)| item.qtype == QuestionType::FrameQa).collect();
    let right = right_when_asked(&checked, &split, &items);
    assert_eq!(report[tag].n, items.len());
    assert!((report[tag].accuracy - right as f64 / items.len() as f64).abs() < 1e-9);
    let sweep = swept[tag].object_check.as_ref().expect("swept");
    assert_eq!(sweep[&WEIGHT.to_string()], report[tag].accuracy);
    assert_eq!(sweep["0"], swept[tag].accuracy);
}

#[test]
fn old_configs_have_no_object_check_and_bad_weights_are_refused() {
    let (checked, _) = tiny_bundles();
    let mut json: serde_json::Value = serde_json::from_str(&checked.config.model.to_string()).unwrap();
    json.as_object_mut().unwrap().remove("object_check_weight");
    let old: shared_model::model::QaModelConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old.object_check_weight(), 0.0);
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(old.clone().with_object_check_weight(Some(bad)).check().is_err(), "{bad}");
    }
}

/// Side of the closer look's window in the tests.
const WINDOW: f64 = 0.5;

#[test]
fn a_closer_look_adds_its_log_likelihoods_to_the_whole_frames_in_answering_and_evaluation() {
    let (checked, plain) = tiny_bundles();
    let mut config = checked.config.clone();
    config.model.object_zoom = Some(WINDOW);
    let zoomed = ModelBundle { config, model: plain.model.clone(), tokenizer: plain.tokenizer.clone() };
    let dir = TempDir::new("object-check-zoom");
    let split = gifqa_tests::generated::split(&plain, &dir, 2718, 16);
    let (g, item) = checked_captions(&plain, &split).into_iter().next().expect("a caption question to check");
    let clip = first_clip(&split, g);
    let got = ask(&zoomed, &clip, &item.question, &item.candidates);
    let base = ask(&plain, &clip, &item.question, &item.candidates);
    let without = ask(&checked, &clip, &item.question, &item.candidates);
    let check = ObjectCheck::new(&item.candidates, true, &plain.config.answers);
    let logits = closer_look_logits(&plain, &clip, &check.questions, WINDOW as f32);
    let gains = check.adjustments(&logits, plain.config.answers.len(), WEIGHT as f32);
    assert_base_plus_gains(&got, &base, &item.candidates, &gains);
    let moved = largest_change(&got, &without, &item.candidates);
    assert!(moved > 1e-4, "the closer look changed nothing for {:?}", item.candidates);
    // Colour answers take no closer look.
    let colour = "What color is the star ?";
    assert_eq!(ask(&zoomed, &clip, colour, &[]), ask(&checked, &clip, colour, &[]));
    // Shape answers gain the weighted log-likelihood the closer look alone gives them.
    let shape = "What shape is the red object ?".to_string();
    let answers = &plain.config.answers;
    let (whole, attention, cells) = read_by_hand(&plain, &clip, std::slice::from_ref(&shape));
    let size = plain.config.preprocess.image_size;
    let look = zoom::closer_looks(&[(&clip, shape.as_str())], &attention, cells, WINDOW as f32, size);
    let closer = answer_logits(&plain, &look[0], std::slice::from_ref(&shape));
    let check = ObjectCheck::shape_answers(&shape, answers).expect("a shape question");
    let gains = check.adjustments(&closer, answers.len(), WEIGHT as f32);
    let got = ask(&zoomed, &clip, &shape, &[]);
    assert_logits_plus_gains(&got, &whole, &gains, answers);
    assert_ne!(got, ask(&checked, &clip, &shape, &[]), "without a closer look shape answers are not checked");

    // Evaluation: captions right as answering gets them, and the sweep reproduces the weight.
    let report = gifqa_tests::generated::evaluator(&zoomed).evaluate(&split, false, false).unwrap();
    let mut unweighted = zoomed.config.clone();
    unweighted.model.object_check_weight = Some(1.0);
    let unweighted = ModelBundle { config: unweighted, model: plain.model.clone(), tokenizer: plain.tokenizer.clone() };
    let swept = Evaluator { object_check_sweep: vec![WEIGHT as f32], ..gifqa_tests::generated::evaluator(&unweighted) }
        .evaluate(&split, false, false)
        .unwrap();
    let items: Vec<(usize, &QaItem)> =
        questions_by_gif(&split).into_iter().filter(|(_, item)| item.qtype == QuestionType::Caption).collect();
    let right = right_when_asked(&zoomed, &split, &items);
    let tag = QuestionType::Caption.tag();
    assert!((report[tag].accuracy - right as f64 / items.len() as f64).abs() < 1e-9);
    assert_eq!(swept[tag].object_check.as_ref().expect("swept")[&WEIGHT.to_string()], report[tag].accuracy);
    // FrameQA, shape questions among them: every word answer as answering gives it.
    let tag = QuestionType::FrameQa.tag();
    let items: Vec<(usize, &QaItem)> =
        questions_by_gif(&split).into_iter().filter(|(_, item)| item.qtype == QuestionType::FrameQa).collect();
    assert!(items.iter().any(|(_, item)| ObjectCheck::shape_answers(&item.question, answers).is_some()));
    let right = right_when_asked(&zoomed, &split, &items);
    assert!((report[tag].accuracy - right as f64 / items.len() as f64).abs() < 1e-9);
    assert_eq!(swept[tag].object_check.as_ref().expect("swept")[&WEIGHT.to_string()], report[tag].accuracy);
}

#[test]
fn old_configs_take_no_closer_look_and_bad_windows_are_refused() {
    let (checked, _) = tiny_bundles();
    assert_eq!(checked.config.model.object_zoom, None);
    assert_eq!(checked.config.model.object_zoom(), None);
    let zoomed = checked.config.model.clone().with_object_zoom(Some(WINDOW));
    assert_eq!(zoomed.object_zoom(), Some(WINDOW as f32));
    // No object check, no closer look.
    assert_eq!(zoomed.clone().with_object_check_weight(Some(0.0)).object_zoom(), None);
    for bad in [-0.5, 1.5, f64::NAN] {
        assert!(zoomed.clone().with_object_zoom(Some(bad)).check().is_err(), "{bad}");
    }
}
