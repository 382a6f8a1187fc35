//! Answering one question about one GIF for `trainer predict`, the demo, the benchmark and the
//! web page: input checks, sampling, ranking, the frames shown. The answer itself comes from the
//! answering engine ([`crate::answer`]), which `trainer eval` asks in batches, so both answer
//! alike. Tensor reads are `async` (WebGPU forbids blocking reads); native callers block on the
//! future.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::answer::answers::labels;
use crate::answer::checks::CheckWeights;
use crate::answer::heads::{Routing, StageOne};
use crate::answer::{Asked, Engine};
use crate::bundle::ModelBundle;
use crate::gif::DecodedGif;
use crate::model::VideoEncoding;
use crate::model::{encode_prepared, index_tensor};
use crate::preprocess::{PreparedClip, prepare_clip};
use crate::sampling::{SamplingStrategy, Timeline};
use crate::text::tokenize::TextTokenizer;
use crate::trust::calibration::softmax_with_temperature;
use crate::trust::in_world::{InWorldScore, clip_features, gif_feature};

pub use crate::answer::read::{ClipAggregation, InputError, aggregate, read_floats};
pub use crate::answer::route::{
    AnswerKind, Route, fuses_candidates, open_kind, question_kinds, route, route_of_kind, stage_one_texts,
};

/// Fewest and most candidate answers accepted.
pub const CANDIDATES: std::ops::RangeInclusive<usize> = 2..=10;
/// Longest question accepted, in bytes of UTF-8 (checked before tokenizing; the model's token
/// window, `max_text_len`, is checked after).
pub const MAX_QUESTION_BYTES: usize = 1000;
/// Longest candidate answer accepted, in bytes of UTF-8.
pub const MAX_CANDIDATE_BYTES: usize = 500;
/// Largest GIF file read for answering, in bytes (checked before reading it; the decoder's own
/// limits then bound the decoded frames).
pub const MAX_GIF_FILE_BYTES: u64 = 64 << 20;

/// One answer with its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedAnswer {
    /// Answer text.
    pub answer: String,
    /// Probability under the model.
    pub probability: f32,
}

/// One sampled frame and how relevant the model found it to the question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameInfo {
    /// Decoded frame index (`None` for a synthetic mean frame).
    pub source: Option<usize>,
    /// Time as a fraction of the GIF's duration.
    pub time: f32,
    /// Question-frame similarity (-1..1).
    pub relevance: f32,
    /// Where the question looked in this frame: its slot attention over the frame's grid of
    /// cells (row-major, square, sums to 1; 64 cells for the default 64 px input).
    #[serde(default)]
    pub attention: Vec<f32>,
}

impl FrameInfo {
    /// Centre of the most-attended cell as (x, y) fractions of the frame's width and height
    /// (`None` without attention).
    pub fn focus(&self) -> Option<(f32, f32)> {
        crate::preprocess::zoom::peak_cell_centre(&self.attention)
    }
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Which head answered.
    pub kind: AnswerKind,
    /// Answers, most probable first (all candidates, or the top open-ended ones).
    pub ranked: Vec<RankedAnswer>,
    /// The frames the question read, clip after clip, in time order: every sampled frame, or
    /// with CLIP-Cut the K it chose.
    pub frames: Vec<FrameInfo>,
    /// Top-answer probability below which this answer is unsure (the model's calibrated
    /// threshold, or [`UNSURE_BELOW`]).
    #[serde(default = "default_unsure_below")]
    pub unsure_below: f32,
    /// Words of the question and candidates that the model never saw in training (see
    /// [`crate::text::tokenize::TextTokenizer::unknown_words`]); when there are any, the answer is a guess.
    #[serde(default)]
    pub unknown_words: Vec<String>,
    /// How far the GIF is from the GIFs the model was trained on (`None` when the model has no
    /// in-world statistics); past its threshold the answers mean little.
    #[serde(default)]
    pub in_world: Option<InWorldScore>,
}

pub use crate::trust::calibration::UNSURE_BELOW;

impl Prediction {
    /// Whether the top answer's probability is below the model's unsure threshold (or there is
    /// no answer).
    pub fn unsure(&self) -> bool {
        self.ranked.first().is_none_or(|top| top.probability < self.unsure_below)
    }
}

impl Prediction {
    /// Whether the question or a candidate holds words the model never saw: the answer is a guess.
    pub fn guess(&self) -> bool {
        !self.unknown_words.is_empty()
    }

    /// Whether the GIF is out of the model's world (see [`crate::in_world`]).
    pub fn out_of_world(&self) -> bool {
        self.in_world.is_some_and(|score| score.out_of_world())
    }
}

/// What `trainer predict` and the page say when the question or candidates hold words the model
/// never saw in training (`None` when there are none).
pub fn unknown_words_note(words: &[String]) -> Option<String> {
    (!words.is_empty()).then(|| format!("This model has never seen: {}. The answer is a guess.", words.join(", ")))
}

fn default_unsure_below() -> f32 {
    UNSURE_BELOW
}

/// The unsure note for a model: with a calibration, its own threshold and how often such answers
/// were right on held-out questions; without, [`unsure_note`].
pub fn unsure_note_for(config: &crate::bundle::BundleConfig) -> String {
    match config.calibration {
        Some(c) => format!(
            "Unsure: the top answer is below {:.0}%. On held-out questions such answers were right {:.0}% of the time.",
            100.0 * c.unsure_below,
            100.0 * c.right_below
        ),
        None => unsure_note(),
    }
}

/// What `trainer predict` and the page say under an unsure answer ("2 times in 3" is
/// [`UNSURE_BELOW`]'s measurement).
pub fn unsure_note() -> String {
    format!(
        "Unsure: the top answer is below {:.0}%. On the benchmark's Test split such answers are right 2 times in 3.",
        100.0 * UNSURE_BELOW
    )
}

/// Checks a question and its candidates; returns trimmed candidates.
pub fn validate(question: &str, candidates: &[String]) -> Result<Vec<String>, InputError> {
    if question.trim().is_empty() {
        return Err(InputError::EmptyQuestion);
    }
    if question.len() > MAX_QUESTION_BYTES {
        return Err(InputError::TooManyBytes {
            what: "the question".into(),
            bytes: question.len(),
            limit: MAX_QUESTION_BYTES,
        });
    }
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    if !CANDIDATES.contains(&candidates.len()) {
        return Err(InputError::CandidateCount(candidates.len()));
    }
    let trimmed: Vec<String> = candidates.iter().map(|c| c.trim().to_string()).collect();
    for (i, c) in trimmed.iter().enumerate() {
        if c.is_empty() {
            return Err(InputError::EmptyCandidate(i + 1));
        }
        if c.len() > MAX_CANDIDATE_BYTES {
            return Err(InputError::TooManyBytes {
                what: format!("candidate answer {}", i + 1),
                bytes: c.len(),
                limit: MAX_CANDIDATE_BYTES,
            });
        }
        if trimmed[..i].iter().any(|earlier| earlier.eq_ignore_ascii_case(c)) {
            return Err(InputError::DuplicateCandidate(c.clone()));
        }
    }
    Ok(trimmed)
}

/// Checks that the question and every candidate fit the model's token window (`max_len`), so
/// that no word is dropped unseen.
pub fn check_token_window(
    tokenizer: &crate::text::tokenize::TextTokenizer,
    question: &str,
    candidates: &[String],
    max_len: usize,
) -> Result<(), InputError> {
    let texts = std::iter::once(("the question".to_string(), question))
        .chain(candidates.iter().enumerate().map(|(i, c)| (format!("candidate answer {}", i + 1), c.as_str())));
    for (what, text) in texts {
        let tokens = tokenizer.token_count(text)?;
        if tokens > max_len {
            return Err(InputError::TooManyTokens { what, tokens, limit: max_len });
        }
    }
    Ok(())
}

/// Samples and preprocesses the clips of one GIF (the CPU part of answering).
pub fn prepare_gif(
    gif: &DecodedGif,
    strategy: SamplingStrategy,
    preprocess: &crate::preprocess::PreprocessConfig,
    seed: u64,
) -> Vec<PreparedClip> {
    let timeline = Timeline::from_delays(&gif.frames.iter().map(|f| f.delay_ms).collect::<Vec<_>>());
    strategy.sample(&timeline, seed).iter().map(|clip| prepare_clip(gif, clip, preprocess)).collect()
}

/// Seed of the sampling strategy for single-GIF inference (`trainer predict` and the page use the
/// same one, so their frames and answers match).
pub const INFERENCE_SEED: u64 = crate::sampling::seed_of("predict");

/// Runs the model on prepared clips and ranks the answers: [`encode_clips`] then [`answer_encoded`].
/// `strategy` is the one that sampled `clips` (CLIP-Cut chooses each question's frames from them).
pub async fn answer_prepared<B: Backend>(
    bundle: &ModelBundle<B>,
    clips: &[PreparedClip],
    strategy: SamplingStrategy,
    question: &str,
    candidates: &[String],
    aggregation: ClipAggregation,
    device: &B::Device,
) -> Result<Prediction, InputError> {
    validate(question, candidates)?;
    let video = encode_clips(bundle, clips, device);
    answer_encoded(bundle, &video, clips, strategy, question, candidates, aggregation, device).await
}

/// Encodes the clips of one GIF; any number of questions can then read the encoding.
///
/// # Shapes
/// - `clips`: equally long clips of `[frames, size, size, 3]` bytes; the encoding has one row per clip
pub fn encode_clips<B: Backend>(
    bundle: &ModelBundle<B>,
    clips: &[PreparedClip],
    device: &B::Device,
) -> VideoEncoding<B> {
    let config = &bundle.config;
    let clip_refs: Vec<&PreparedClip> = clips.iter().collect();
    encode_prepared(&bundle.model, &config.preprocess, config.model.time_positions, &clip_refs, device)
}

/// Waits until the device has finished computing `video` (reads one value back), so that encoding
/// and answering can be timed apart.
pub async fn settle<B: Backend>(video: &VideoEncoding<B>) -> Result<(), InputError> {
    let [clips, frames, tokens, dim] = video.tokens.dims();
    if clips * frames * tokens * dim > 0 {
        read_floats(video.tokens.clone().slice([0..1, 0..1, 0..1, 0..1])).await?;
    }
    Ok(())
}

/// Answers one question from an encoded GIF and ranks the answers; `clips` are the ones encoded,
/// sampled by `strategy`. The question is a batch of one for the answering engine
/// ([`crate::answer`]), one row per clip, routed as `trainer eval` routes it. With `clipcut:K` the
/// question reads only its K most relevant frames of the encoded pool (see `clipcut.rs`), and
/// `Prediction::frames` lists those.
#[allow(clippy::too_many_arguments)] // the page and `trainer predict` pass the same eight things
pub async fn answer_encoded<B: Backend>(
    bundle: &ModelBundle<B>,
    video: &VideoEncoding<B>,
    clips: &[PreparedClip],
    strategy: SamplingStrategy,
    question: &str,
    candidates: &[String],
    aggregation: ClipAggregation,
    device: &B::Device,
) -> Result<Prediction, InputError> {
    let candidates = validate(question, candidates)?;
    let config = &bundle.config;
    check_token_window(&bundle.tokenizer, question, &candidates, config.model.max_text_len)?;
    let engine = Engine { model: &bundle.model, config, texts: &bundle.tokenizer, top_k: strategy.top_k(), device };
    let rows: Vec<Asked<'_>> =
        (0..clips.len()).map(|video| Asked { video, question, candidates: &candidates, known: None }).collect();
    let weights = CheckWeights::of(&config.model);
    let answers = engine.answer(video, clips, &rows, Routing::ByModel, weights).await?;
    let route = answers.routes().first().copied().unwrap_or_else(|| route(&config.model, None, question, &candidates));
    let combined = answers.combined(0..clips.len(), weights, aggregation);
    let probabilities = softmax_with_temperature(&combined, config.temperature());
    if probabilities.iter().any(|p| !p.is_finite()) {
        return Err(InputError::NonFinite);
    }
    let frames = frames_read(&answers.heads.stage_one, clips, route, &probabilities, device).await?;
    let kind = route.answer_kind();
    let ranked = rank(labels(route, &candidates, config), probabilities, kind);
    let unknown_words = unknown_words_of(&bundle.tokenizer, question, &candidates)?;
    let in_world = in_world_score(bundle, video).await?;
    Ok(Prediction { kind, ranked, frames, unsure_below: config.unsure_below(), unknown_words, in_world })
}

/// The frames each clip's question read (CLIP-Cut's picks, or all of them), with their relevance
/// and attention; with fused candidates, as the most probable candidate read them.
async fn frames_read<B: Backend>(
    stage_one: &StageOne<B>,
    clips: &[PreparedClip],
    route: Route,
    probabilities: &[f32],
    device: &B::Device,
) -> Result<Vec<FrameInfo>, InputError> {
    let best = match probabilities.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) {
        Some((best, _)) if route.fused() => best,
        _ => 0,
    };
    let shown: Vec<usize> = stage_one.first_row.iter().map(|&first| first + best).collect();
    let context = &stage_one.rows;
    let (relevance, attention) = if route.fused() {
        let index = index_tensor::<B>(&shown, device);
        (context.frame_relevance.clone().select(0, index.clone()), context.attention.clone().select(0, index))
    } else {
        (context.frame_relevance.clone(), context.attention.clone())
    };
    let relevance = read_floats(relevance).await?;
    let attention = read_floats(attention).await?;
    let cells = attention.len() / relevance.len().max(1); // [clips, frames read, cells], row-major
    let read: Vec<(Option<usize>, f32)> = match &stage_one.picks {
        Some(picks) => clips
            .iter()
            .zip(&shown)
            .flat_map(|(clip, &row)| picks[row].iter().map(|&i| (clip.sources[i], clip.times[i])))
            .collect(),
        None => clips.iter().flat_map(|clip| clip.sources.iter().copied().zip(clip.times.iter().copied())).collect(),
    };
    Ok(read
        .into_iter()
        .zip(relevance)
        .zip(attention.chunks(cells.max(1)))
        .map(|(((source, time), relevance), attention)| FrameInfo {
            source,
            time,
            relevance,
            attention: attention.to_vec(),
        })
        .collect())
}

/// `labels` with their probabilities, most probable first; open answers keep their top 10.
fn rank(labels: Vec<String>, probabilities: Vec<f32>, kind: AnswerKind) -> Vec<RankedAnswer> {
    let mut ranked: Vec<RankedAnswer> = labels
        .into_iter()
        .zip(probabilities)
        .map(|(answer, probability)| RankedAnswer { answer, probability })
        .collect();
    ranked.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    if kind != AnswerKind::Choice {
        ranked.truncate(10);
    }
    ranked
}

/// The words of the question and candidates that the tokenizer does not know, each once.
fn unknown_words_of(
    tokenizer: &TextTokenizer,
    question: &str,
    candidates: &[String],
) -> Result<Vec<String>, InputError> {
    let mut unknown_words: Vec<String> = Vec::new();
    for text in std::iter::once(question).chain(candidates.iter().map(String::as_str)) {
        for word in tokenizer.unknown_words(text)? {
            if !unknown_words.contains(&word) {
                unknown_words.push(word);
            }
        }
    }
    Ok(unknown_words)
}

/// The GIF's in-world score from its encoding (`None` when the model has no in-world statistics).
pub async fn in_world_score<B: Backend>(
    bundle: &ModelBundle<B>,
    video: &VideoEncoding<B>,
) -> Result<Option<InWorldScore>, InputError> {
    let Some(statistics) = &bundle.config.in_world else { return Ok(None) };
    let clips = video.tokens.dims()[0];
    let features = read_floats(clip_features(video.tokens.clone())).await?;
    Ok(Some(statistics.score(&gif_feature(&features, clips))?))
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rejects_bad_input() {
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches!(validate("  ", &[]), Err(InputError::EmptyQuestion)));
        assert!(matches!(validate("q", &c(&["a"])), Err(InputError::CandidateCount(1))));
        assert!(matches!(validate("q", &c(&["a"; 11])), Err(InputError::CandidateCount(11))));
        assert!(matches!(validate("q", &c(&["a", " "])), Err(InputError::EmptyCandidate(2))));
        assert!(matches!(validate("q", &c(&["jump", "Jump"])), Err(InputError::DuplicateCandidate(_))));
        assert_eq!(validate("q", &c(&[" a ", "b"])).unwrap(), c(&["a", "b"]));
    }

    #[test]
    fn unsure_below_the_threshold() {
        let with_top = |probability| Prediction {
            kind: AnswerKind::Choice,
            ranked: vec![RankedAnswer { answer: "jump".into(), probability }],
            frames: Vec::new(),
            unsure_below: UNSURE_BELOW,
            unknown_words: Vec::new(),
            in_world: None,
        };
        assert!(with_top(0.79).unsure());
        assert!(!with_top(0.8).unsure());
        assert!(!with_top(0.99).unsure());
        assert!(Prediction { ranked: Vec::new(), ..with_top(1.0) }.unsure());
    }

    #[test]
    fn unknown_words_make_a_guess_with_a_note() {
        let words = vec!["cat".to_string(), "bulldog".to_string()];
        let prediction = Prediction { unknown_words: words.clone(), ..unsure_free() };
        assert!(prediction.guess() && !unsure_free().guess());
        assert_eq!(
            unknown_words_note(&words).unwrap(),
            "This model has never seen: cat, bulldog. The answer is a guess."
        );
        assert!(unknown_words_note(&[]).is_none());
    }

    fn unsure_free() -> Prediction {
        Prediction {
            kind: AnswerKind::Word,
            ranked: vec![RankedAnswer { answer: "red".into(), probability: 0.99 }],
            frames: Vec::new(),
            unsure_below: UNSURE_BELOW,
            unknown_words: Vec::new(),
            in_world: None,
        }
    }

    #[test]
    fn aggregation_modes() {
        let logits = [0.0, 2.0, 4.0, 0.0]; // two clips, two classes
        assert_eq!(aggregate(&logits, 2, ClipAggregation::Mean), vec![2.0, 1.0]);
        assert_eq!(aggregate(&logits, 2, ClipAggregation::Max), vec![4.0, 2.0]);
        let lse = aggregate(&logits, 2, ClipAggregation::Lse);
        assert!((lse[0] - ((1.0f32 + 4f32.exp()) / 2.0).ln()).abs() < 1e-5);
    }
}
