//! The object check (`shared_model::object_check`), pinned on a tiny random model with fused
//! captions: answering (`predict`, the page) adds to each caption's logit the weighted
//! log-probability the FrameQA head gives the shape it names for its colour, relative to the most
//! probable answer, and to each colour answer to "What color is the {shape} ?" that of the shape
//! for that colour, exactly as asking the head by hand gives; evaluation scores the same way, and
//! its weight sweep reproduces a model that carries the weight. Old configs have no check.

use burn::backend::Flex;
use gifqa_tests::TempDir;
use gifqa_tests::generated::{ask, first_clip, questions_by_gif, right_when_asked};
use shared_model::batch::{encode_tokens, video_tensors};
use shared_model::bundle::ModelBundle;
use shared_model::object_check::ObjectCheck;
use shared_model::pipeline::{Prediction, softmax};
use shared_model::questions::{Answer, QaItem, QuestionType};
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
    let device = Default::default();
    let config = &bundle.config;
    let (frames, times) = video_tensors::<B>(&[clip], &config.preprocess, config.model.time_positions, &device);
    let video = bundle.model.encode_video(frames, times);
    let tokens = bundle.tokenizer.encode_batch(questions, config.model.max_text_len).unwrap();
    let encoding = encode_tokens(&bundle.model, &tokens, &device);
    let context = bundle.model.fuse(&video, &vec![0; questions.len()], &encoding);
    bundle.model.answer_logits(&context).into_data().to_vec::<f32>().unwrap()
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
    let logits: Vec<f32> =
        item.candidates.iter().zip(&gains).map(|(c, gain)| probability(&base, c).ln() + gain).collect();
    let mut moved = 0.0f32;
    for (candidate, p) in item.candidates.iter().zip(softmax(&logits)) {
        let got = probability(&got, candidate);
        assert!((got - p).abs() < 1e-4, "{candidate}: {got} vs {p}");
        moved = moved.max((got - probability(&base, candidate)).abs());
    }
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
    let logits: Vec<f32> = base.iter().zip(&gains).map(|(l, g)| l + g).collect();
    let probabilities = softmax(&logits);
    for ranked in &got.ranked {
        let class = answers.iter().position(|a| *a == ranked.answer).expect("an answer class");
        assert!((ranked.probability - probabilities[class]).abs() < 1e-4, "{}", ranked.answer);
    }
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
    let right = items
        .iter()
        .filter(|(g, item)| {
            let Answer::Word(truth) = &item.answer else { return false };
            ask(&checked, &first_clip(&split, *g), &item.question, &[]).ranked[0].answer
                == trainer::vocab::normalise_answer(truth)
        })
        .count();
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
