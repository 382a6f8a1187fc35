//! CLIP-Cut's semantics, pinned on a tiny random model: each question reads exactly the top-K pool
//! frames by the model's frame/question relevance, in time order, and answering with `clipcut:K`
//! equals answering with those K frames sampled directly.

use burn::backend::Flex;
use shared_model::answer::pipeline::{
    ClipAggregation, INFERENCE_SEED, Prediction, answer_prepared, encode_clips, prepare_gif,
};
use shared_model::bundle::ModelBundle;
use shared_model::gif::{DecodedGif, GifFrame};
use shared_model::model::encode_tokens;
use shared_model::preprocess::prepare_clip;
use shared_model::sampling::{FrameSource, SampledFrame, SamplingStrategy};

type B = Flex;

fn tiny_bundle() -> ModelBundle<B> {
    gifqa_tests::tiny::bundle(11)
}

/// 50 different 24×24 frames of 100 ms (more than the pool, so no frame repeats in it).
fn noisy_gif() -> DecodedGif {
    let frames = (0..50u32)
        .map(|f| GifFrame {
            rgba: (0..24 * 24 * 4u32).map(|i| ((i * 7 + f * 13) ^ (i / 96 * f)) as u8).collect(),
            delay_ms: 100,
        })
        .collect();
    DecodedGif { width: 24, height: 24, frames }
}

fn ask(
    bundle: &ModelBundle<B>,
    clips: &[shared_model::preprocess::PreparedClip],
    strategy: SamplingStrategy,
    question: &str,
    candidates: &[String],
) -> Prediction {
    futures_lite::future::block_on(answer_prepared(
        bundle,
        clips,
        strategy,
        question,
        candidates,
        ClipAggregation::Mean,
        &Default::default(),
    ))
    .expect("answers")
}

#[test]
fn clipcut_reads_the_top_k_frames_and_equals_feeding_them_directly() {
    let bundle = tiny_bundle();
    let device = Default::default();
    let gif = noisy_gif();
    let k = 4;
    let strategy = SamplingStrategy::ClipCut { frames: k };
    let pool = prepare_gif(&gif, strategy, &bundle.config.preprocess, INFERENCE_SEED);
    assert_eq!((pool.len(), pool[0].times.len()), (1, 32), "one pool clip of max(4K, 32) frames");
    let candidates: Vec<String> = ["jump", "spin", "blink", "grow", "move left"].map(String::from).to_vec();

    for question in ["What does the red star do 3 times ?", "What is the colour of the circle ?"] {
        // The pool's relevance, computed on its own.
        let video = encode_clips(&bundle, &pool, &device);
        let tokens = bundle.tokenizer.encode_batch(&[question], bundle.config.model.max_text_len).unwrap();
        let encoded_question = encode_tokens(&bundle.model, &tokens, &device);
        let relevance =
            bundle.model.frame_relevance(&video, &[0], &encoded_question).into_data().to_vec::<f32>().unwrap();
        let mut order: Vec<usize> = (0..relevance.len()).collect();
        order.sort_by(|&a, &b| relevance[b].total_cmp(&relevance[a]));
        let mut expected: Vec<usize> = order[..k].to_vec();
        expected.sort_unstable();
        assert!(relevance[order[k - 1]] > relevance[order[k]], "no tie at the cut: {relevance:?}");

        for candidates in [&candidates[..], &[]] {
            let cut = ask(&bundle, &pool, strategy, question, candidates);
            assert_eq!(cut.frames.len(), k, "{question}");
            for (info, &i) in cut.frames.iter().zip(&expected) {
                assert_eq!((info.source, info.time), (pool[0].sources[i], pool[0].times[i]), "{question}");
                assert!(
                    (info.relevance - relevance[i]).abs() < 1e-5,
                    "{question}: {} vs {}",
                    info.relevance,
                    relevance[i]
                );
            }

            // The same K frames (same times) sampled directly, every frame read.
            let picked: Vec<SampledFrame> = expected
                .iter()
                .map(|&i| SampledFrame {
                    source: FrameSource::Index(pool[0].sources[i].unwrap()),
                    time: pool[0].times[i],
                })
                .collect();
            let direct_clip = [prepare_clip(&gif, &picked, &bundle.config.preprocess)];
            let direct = ask(&bundle, &direct_clip, SamplingStrategy::Uniform { frames: k }, question, candidates);
            assert_eq!(cut.kind, direct.kind);
            assert_eq!(cut.ranked.len(), direct.ranked.len());
            for (a, b) in cut.ranked.iter().zip(&direct.ranked) {
                assert_eq!(a.answer, b.answer, "{question}");
                assert!((a.probability - b.probability).abs() < 1e-5, "{question}: {a:?} vs {b:?}");
            }
        }
    }
}

#[test]
fn clipcut_on_a_short_gif_reads_distinct_frames() {
    let bundle = tiny_bundle();
    let mut gif = noisy_gif();
    gif.frames.truncate(6);
    let strategy = SamplingStrategy::ClipCut { frames: 4 };
    let pool = prepare_gif(&gif, strategy, &bundle.config.preprocess, INFERENCE_SEED);
    let prediction = ask(&bundle, &pool, strategy, "What does the red star do 3 times ?", &[]);
    let mut sources: Vec<Option<usize>> = prediction.frames.iter().map(|f| f.source).collect();
    assert!(prediction.frames.windows(2).all(|w| w[0].time < w[1].time), "time order");
    sources.dedup();
    assert_eq!(sources.len(), 4, "4 different frames of the 6, not one frame's repeats: {sources:?}");
}
