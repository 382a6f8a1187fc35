//! The count check segment by segment (`shared_model::segment_count_check`), pinned on a tiny
//! random model with fused captions, a segment tagger and an event counter: answering (`predict`,
//! the page) adds to each caption's logit the count head's check of the counts it states, actions
//! named twice checked per segment (the event counter's evidence summed over the frames the
//! tagger aligns to each segment), exactly as computing both by hand gives; evaluation scores the
//! same way, and its count-check sweep reproduces a model that carries the weight.

use burn::backend::Flex;
use gifqa_tests::TempDir;
use gifqa_tests::generated::{ask, first_clip, questions_by_gif, right_when_asked};
use shared_model::answer::checks::count::{CountCheck, Repeated};
use shared_model::answer::checks::segment_count::SegmentCountCheck;
use shared_model::answer::pipeline::{Prediction, softmax};
use shared_model::bundle::ModelBundle;
use shared_model::model::{CountHead, QuestionContext};
use shared_model::model::{encode_tokens, video_tensors};
use shared_model::preprocess::PreparedClip;
use shared_model::text::questions::{QaItem, QuestionType};
use trainer::eval::Evaluator;

type B = Flex;

const WEIGHT: f64 = 2.0;

/// A benchmark seed whose first Train GIFs have caption questions naming an action twice.
const SEED: u64 = 1;

/// Two copies of one tiny random model that counts by segment: one checks counts at [`WEIGHT`],
/// one does not (no other check in either).
fn tiny_bundles() -> (ModelBundle<B>, ModelBundle<B>) {
    let plain = gifqa_tests::tiny::bundle_with(19, |config| {
        config.fused_captions = Some(true);
        config.segment_tagger = Some(true);
        config.count_head = Some(CountHead::PooledAndEvidence);
    });
    assert!(plain.model.counts_by_segment());
    let mut config = plain.config.clone();
    config.model.count_check_weight = Some(WEIGHT);
    let checked = ModelBundle { config, model: plain.model.clone(), tokenizer: plain.tokenizer.clone() };
    (checked, plain)
}

fn probability(prediction: &Prediction, answer: &str) -> f32 {
    prediction.ranked.iter().find(|r| r.answer == answer).map(|r| r.probability).expect("ranked")
}

/// Stage 1 of `clip` read with each of `questions`, by hand.
fn read(bundle: &ModelBundle<B>, clip: &PreparedClip, questions: &[String]) -> QuestionContext<B> {
    let device = Default::default();
    let config = &bundle.config;
    let (frames, times) = video_tensors::<B>(&[clip], &config.preprocess, config.model.time_positions, &device);
    let video = bundle.model.encode_video(frames, times);
    let tokens = bundle.tokenizer.encode_batch(questions, config.model.max_text_len).unwrap();
    let encoding = encode_tokens(&bundle.model, &tokens, &device);
    bundle.model.fuse(&video, &vec![0; questions.len()], &encoding)
}

fn floats<const D: usize>(tensor: burn::tensor::Tensor<B, D>) -> Vec<f32> {
    tensor.into_data().to_vec::<f32>().unwrap()
}

#[test]
fn answering_checks_the_counts_of_repeated_actions_segment_by_segment() {
    let (checked, plain) = tiny_bundles();
    let dir = TempDir::new("segment-counts-answer");
    let split = gifqa_tests::generated::split(&plain, &dir, SEED, 16);
    let (g, item) = questions_by_gif(&split)
        .into_iter()
        .find(|(_, item)| {
            item.qtype == QuestionType::Caption && !SegmentCountCheck::new(&item.candidates, true).is_empty()
        })
        .expect("a caption question naming an action twice");
    let clip = first_clip(&split, g);
    let got = ask(&checked, &clip, &item.question, &item.candidates);
    let base = ask(&plain, &clip, &item.question, &item.candidates);

    let classes = plain.config.model.count_classes;
    let weight = WEIGHT as f32;
    let counts = CountCheck::with_repeated(&item.question, &item.candidates, true, Repeated::BySegment);
    let mut gains = vec![0.0; item.candidates.len()];
    if !counts.is_empty() {
        let logits = floats(plain.model.count_logits(&read(&plain, &clip, &counts.questions)));
        gains = counts.adjustments(&logits, classes, weight);
    }
    let segments = SegmentCountCheck::new(&item.candidates, true);
    let context = read(&plain, &clip, &segments.questions());
    let tags = plain.model.tag_frames(&context).expect("a tagger");
    let [_, frames, actions] = tags.dims();
    let tags = floats(tags);
    let evidence = floats(plain.model.count(&context).events.expect("an event counter").evidence);
    let by_segment = segments.adjustments(&tags[..frames * actions], &evidence, frames, classes, weight);
    assert!(by_segment.iter().any(|g| g.abs() > 1e-4), "the segments changed nothing: {by_segment:?}");
    gains.iter_mut().zip(&by_segment).for_each(|(g, s)| *g += s);

    let logits: Vec<f32> =
        item.candidates.iter().zip(&gains).map(|(c, gain)| probability(&base, c).ln() + gain).collect();
    for (candidate, p) in item.candidates.iter().zip(softmax(&logits)) {
        let got = probability(&got, candidate);
        assert!((got - p).abs() < 1e-4, "{candidate}: {got} vs {p}");
    }
}

#[test]
fn evaluation_counts_by_segment_as_answering_does_and_its_sweep_reproduces_the_weight() {
    let (checked, plain) = tiny_bundles();
    let dir = TempDir::new("segment-counts-eval");
    let split = gifqa_tests::generated::split(&plain, &dir, SEED, 16);
    let evaluator = |bundle: &ModelBundle<B>, sweep: Vec<f32>| -> trainer::eval::Report {
        Evaluator { count_check_sweep: sweep, ..gifqa_tests::generated::evaluator(bundle) }
            .evaluate(&split, false, false)
            .expect("evaluates")
    };
    assert!(
        questions_by_gif(&split).iter().any(|(_, item)| !SegmentCountCheck::new(&item.candidates, true).is_empty()),
        "a caption question naming an action twice"
    );
    let report = evaluator(&checked, Vec::new());
    let swept = evaluator(&plain, vec![0.0, WEIGHT as f32]);
    let items: Vec<(usize, &QaItem)> =
        questions_by_gif(&split).into_iter().filter(|(_, item)| item.qtype == QuestionType::Caption).collect();
    let right = right_when_asked(&checked, &split, &items);
    let tag = QuestionType::Caption.tag();
    assert_eq!(report[tag].n, items.len());
    assert!((report[tag].accuracy - right as f64 / items.len() as f64).abs() < 1e-9);
    let sweep = swept[tag].count_check.as_ref().expect("swept");
    assert_eq!(sweep[&WEIGHT.to_string()], report[tag].accuracy);
    assert_eq!(sweep["0"], swept[tag].accuracy);
}
