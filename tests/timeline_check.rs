//! The timeline check (`shared_model::timeline_check`), pinned on a tiny random model with a
//! segment tagger: answering (`predict`, the page) adds to each caption's and Transition answer's
//! logit the weighted log-probability of the best timeline it claims in the tagger's per-frame
//! actions, relative to the best candidate's, exactly as running the tagger by hand gives;
//! evaluation scores the same way, and its weight sweep reproduces a model that carries the
//! weight. The tagger's weights load strictly and old configs have none.

use burn::backend::Flex;
use gifqa_tests::TempDir;
use gifqa_tests::generated::{ask, first_clip, questions_by_gif, right_when_asked};
use shared_model::answer::checks::timeline::TimelineCheck;
use shared_model::answer::pipeline::{Prediction, softmax};
use shared_model::bundle::{ModelBundle, load_weights, weights_to_bytes};
use shared_model::model::{encode_tokens, video_tensors};
use shared_model::text::questions::{QaItem, QuestionType};
use trainer::eval::Evaluator;

type B = Flex;

const WEIGHT: f64 = 0.5;

/// Two copies of one tiny random model with fused captions and a segment tagger: one checks
/// timelines at [`WEIGHT`], one does not (no other check in either).
fn tiny_bundles() -> (ModelBundle<B>, ModelBundle<B>) {
    let plain = gifqa_tests::tiny::bundle_with(13, |config| {
        config.fused_captions = Some(true);
        config.segment_tagger = Some(true);
    });
    let mut config = plain.config.clone();
    config.model.timeline_check_weight = Some(WEIGHT);
    let checked = ModelBundle { config, model: plain.model.clone(), tokenizer: plain.tokenizer.clone() };
    (checked, plain)
}

fn probability(prediction: &Prediction, answer: &str) -> f32 {
    prediction.ranked.iter().find(|r| r.answer == answer).map(|r| r.probability).expect("ranked")
}

/// The benchmark's caption and Transition questions, by GIF.
fn checked_questions(split: &trainer::data::Split) -> Vec<(usize, &QaItem)> {
    questions_by_gif(split)
        .into_iter()
        .filter(|(_, item)| matches!(item.qtype, QuestionType::Transition | QuestionType::Caption))
        .collect()
}

/// The tagger's log-probabilities `[frames, actions]` for the check's question on `clip`, by hand.
fn tags(bundle: &ModelBundle<B>, clip: &shared_model::preprocess::PreparedClip, question: &str) -> (Vec<f32>, usize) {
    let device = Default::default();
    let config = &bundle.config;
    let (frames, times) = video_tensors::<B>(&[clip], &config.preprocess, config.model.time_positions, &device);
    let video = bundle.model.encode_video(frames, times);
    let tokens = bundle.tokenizer.encode_batch(&[question.to_string()], config.model.max_text_len).unwrap();
    let encoding = encode_tokens(&bundle.model, &tokens, &device);
    let context = bundle.model.fuse(&video, &[0], &encoding);
    let tags = bundle.model.tag_frames(&context).expect("a tagger");
    let frames = tags.dims()[1];
    (tags.into_data().to_vec::<f32>().unwrap(), frames)
}

#[test]
fn answering_adds_the_weighted_log_likelihood_of_each_claimed_timeline() {
    let (checked, plain) = tiny_bundles();
    let dir = TempDir::new("timeline-check-answer");
    let split = gifqa_tests::generated::split(&plain, &dir, 2718, 16);
    let questions = checked_questions(&split);
    for qtype in [QuestionType::Transition, QuestionType::Caption] {
        let (g, item) = questions.iter().find(|(_, i)| i.qtype == qtype).expect("a question of the type");
        let clip = first_clip(&split, *g);
        let got = ask(&checked, &clip, &item.question, &item.candidates);
        let base = ask(&plain, &clip, &item.question, &item.candidates);
        let check = TimelineCheck::new(&item.question, &item.candidates, qtype == QuestionType::Caption);
        let question = check.question().expect("the benchmark's questions make claims");
        let (log_probs, frames) = tags(&plain, &clip, &question);
        let gains = check.adjustments(&log_probs, frames, WEIGHT as f32);
        let logits: Vec<f32> =
            item.candidates.iter().zip(&gains).map(|(c, gain)| probability(&base, c).ln() + gain).collect();
        let mut moved = 0.0f32;
        for (candidate, p) in item.candidates.iter().zip(softmax(&logits)) {
            let got = probability(&got, candidate);
            assert!((got - p).abs() < 1e-4, "{}: {candidate}: {got} vs {p}", item.question);
            moved = moved.max((got - probability(&base, candidate)).abs());
        }
        assert!(moved > 1e-3, "the check changed nothing for {:?}", item.candidates);
    }
}

#[test]
fn evaluation_checks_timelines_as_answering_does_and_its_sweep_reproduces_the_weight() {
    let (checked, plain) = tiny_bundles();
    let dir = TempDir::new("timeline-check-eval");
    let split = gifqa_tests::generated::split(&plain, &dir, 2718, 16);
    let evaluator = |bundle: &ModelBundle<B>, sweep: Vec<f32>| -> trainer::eval::Report {
        Evaluator { timeline_check_sweep: sweep, ..gifqa_tests::generated::evaluator(bundle) }
            .evaluate(&split, false, false)
            .expect("evaluates")
    };
    let report = evaluator(&checked, Vec::new());
    let swept = evaluator(&plain, vec![0.0, WEIGHT as f32]);
    for qtype in [QuestionType::Transition, QuestionType::Caption] {
        let items: Vec<(usize, &QaItem)> =
            checked_questions(&split).into_iter().filter(|(_, item)| item.qtype == qtype).collect();
        let right = right_when_asked(&checked, &split, &items);
        let tag = qtype.tag();
        assert_eq!(report[tag].n, items.len());
        assert!((report[tag].accuracy - right as f64 / items.len() as f64).abs() < 1e-9, "{tag}");
        let sweep = swept[tag].timeline_check.as_ref().expect("swept");
        assert_eq!(sweep[&WEIGHT.to_string()], report[tag].accuracy, "{tag}");
        assert_eq!(sweep["0"], swept[tag].accuracy, "{tag}");
    }
}

#[test]
fn tagger_weights_load_strictly_and_old_configs_have_none() {
    let (_, with) = tiny_bundles();
    let without = gifqa_tests::tiny::bundle_with(13, |config| config.fused_captions = Some(true));
    // A model without the tagger refuses its weights, and one with it needs them.
    let error = load_weights(&mut without.model.clone(), weights_to_bytes(&with.model).unwrap()).unwrap_err();
    assert!(error.to_string().contains("segment_tagger"), "{error}");
    let error = load_weights(&mut with.model.clone(), weights_to_bytes(&without.model).unwrap()).unwrap_err();
    assert!(error.to_string().contains("segment_tagger"), "{error}");
    // config.json written before the option: no tagger, no check, whatever the weight says.
    let mut json: serde_json::Value = serde_json::from_str(&with.config.model.to_string()).unwrap();
    let object = json.as_object_mut().unwrap();
    object.remove("segment_tagger");
    object.insert("timeline_check_weight".into(), serde_json::json!(1.0));
    let old: shared_model::model::QaModelConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old.segment_tagger, None);
    assert_eq!(old.timeline_check_weight(), 0.0);
    assert!(old.clone().with_timeline_check_weight(Some(-1.0)).check().is_err());
}
