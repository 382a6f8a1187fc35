//! Caption candidates fused as questions (`QaModelConfig::fused_captions`), pinned on a tiny
//! random model: training's batch forward, the answering path (`predict`, the page) and
//! evaluation's retrieval score a caption the same way, each candidate reading the GIF alone.

use std::collections::HashMap;

use burn::backend::Flex;
use gifqa_tests::TempDir;
use gifqa_tests::generated::{ask, first_clip};
use shared_model::answer::pipeline::softmax;
use shared_model::bundle::ModelBundle;
use shared_model::model::QaModelConfig;
use shared_model::preprocess::PreparedClip;
use shared_model::text::questions::{Answer, CAPTION_PROMPT, QaItem, QuestionType};
use trainer::data::BatchQuestion;
use trainer::data::text_cache::Texts;
use trainer::eval::Evaluator;
use trainer::train::forward::{Routing, forward};

type B = Flex;

/// A tiny random model with fused captions (the option adds no weights).
fn tiny_fused_bundle() -> ModelBundle<B> {
    let mut bundle = gifqa_tests::tiny::bundle(5);
    bundle.config.model.fused_captions = Some(true);
    bundle
}

fn caption_item(gif: &str, candidates: Vec<String>) -> QaItem {
    QaItem {
        qtype: QuestionType::Caption,
        gif_name: gif.to_string(),
        question: CAPTION_PROMPT.to_string(),
        candidates,
        answer: Answer::Choice(0),
        vid_id: "test".into(),
    }
}

/// Training's logits for one question about one clip.
fn batch_logits(bundle: &ModelBundle<B>, clip: &PreparedClip, item: &QaItem) -> Vec<f32> {
    let texts = Texts { tokenizer: &bundle.tokenizer, cache: None };
    let questions = [BatchQuestion { video: 0, item }];
    let answers = HashMap::new();
    let output = forward(
        &bundle.model,
        &bundle.config,
        texts,
        &answers,
        &[clip],
        &questions,
        None,
        Routing::ByType,
        &Default::default(),
    )
    .expect("forward");
    assert_eq!(output.choice.len(), 1);
    output.choice[0].logits.clone().into_data().to_vec::<f32>().expect("floats")
}

#[test]
fn training_and_answering_score_fused_captions_alike_and_show_the_best_candidates_reading() {
    let bundle = tiny_fused_bundle();
    let dir = TempDir::new("fused-answer");
    let split = gifqa_tests::generated::split(&bundle, &dir, 314, 30);
    let clip = first_clip(&split, 0);
    let caption = split.gifs[0].items.iter().map(|&i| &split.items[i]).find(|i| i.qtype == QuestionType::Caption);
    let candidates = caption.expect("every benchmark GIF has a caption question").candidates.clone();

    let trained = batch_logits(&bundle, &clip, &caption_item(&split.gifs[0].name, candidates.clone()));
    let answered = ask(&bundle, &clip, CAPTION_PROMPT, &candidates);
    let expected = softmax(&trained);
    for (candidate, p) in candidates.iter().zip(&expected) {
        let got = answered.ranked.iter().find(|r| r.answer == *candidate).map(|r| r.probability);
        assert!(got.is_some_and(|got| (got - p).abs() < 1e-5), "{candidate}: {got:?} vs {p}");
    }

    // Each candidate reads the GIF alone: its logit does not depend on the others.
    let reversed: Vec<String> = candidates.iter().rev().cloned().collect();
    let again = batch_logits(&bundle, &clip, &caption_item(&split.gifs[0].name, reversed));
    for (a, b) in trained.iter().zip(again.iter().rev()) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }

    // The frames shown are the reading of the most probable candidate: the same as asking that
    // candidate as an open question.
    let best = &answered.ranked[0].answer;
    let open = ask(&bundle, &clip, best, &[]);
    assert_eq!(answered.frames.len(), 8);
    for (fused, alone) in answered.frames.iter().zip(&open.frames) {
        assert!((fused.relevance - alone.relevance).abs() < 1e-5);
        assert!(fused.attention.iter().zip(&alone.attention).all(|(a, b)| (a - b).abs() < 1e-5));
    }

    // Turned off (and in configs written before the option), the caption prompt is read once.
    let mut plain = tiny_fused_bundle();
    plain.config.model.fused_captions = None;
    let plain_logits = batch_logits(&plain, &clip, &caption_item(&split.gifs[0].name, candidates.clone()));
    assert!(plain_logits.iter().zip(&trained).any(|(a, b)| (a - b).abs() > 1e-4));
    let json = serde_json::to_value(&plain.config.model).expect("serialises");
    let without: QaModelConfig = serde_json::from_value(json).expect("parses");
    assert!(!without.fuses_captions());
}

#[test]
fn fused_retrieval_ranks_each_caption_against_every_gallery_gif() {
    let bundle = tiny_fused_bundle();
    let dir = TempDir::new("fused-retrieval");
    let split = gifqa_tests::generated::split(&bundle, &dir, 314, 30);
    let evaluator =
        Evaluator { batch_gifs: 3, retrieval_gallery: Some(5), ..gifqa_tests::generated::evaluator(&bundle) };
    let ranks = evaluator.caption_ranks(&split, Texts { tokenizer: &bundle.tokenizer, cache: None }).expect("ranks");
    assert_eq!(ranks.len(), 5);

    // By hand: each true caption as the only candidate, about each of the five GIFs.
    let truths: Vec<(usize, String)> = (0..split.gifs.len())
        .filter_map(|g| {
            let item =
                split.gifs[g].items.iter().map(|&i| &split.items[i]).find(|i| i.qtype == QuestionType::Caption)?;
            match item.answer {
                Answer::Choice(c) => Some((g, item.candidates[c].clone())),
                _ => None,
            }
        })
        .take(5)
        .collect();
    let scores: Vec<Vec<f32>> = truths
        .iter()
        .map(|(_, caption)| {
            truths
                .iter()
                .map(|(g, _)| {
                    let item = caption_item(&split.gifs[*g].name, vec![caption.clone()]);
                    batch_logits(&bundle, &first_clip(&split, *g), &item)[0]
                })
                .collect()
        })
        .collect();
    let expected: Vec<usize> =
        scores.iter().enumerate().map(|(q, row)| 1 + row.iter().filter(|&&s| s > row[q]).count()).collect();
    assert_eq!(ranks, expected, "scores {scores:?}");
}
