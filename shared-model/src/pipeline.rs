//! Answering one question about one GIF: the code path shared by `trainer predict`, `trainer eval`
//! and the web page. Tensor reads are `async` (WebGPU forbids blocking reads); native callers
//! block on the future.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::batch::{encode_prepared, encode_tokens, index_tensor};
use crate::bundle::ModelBundle;
use crate::calibration::softmax_with_temperature;
use crate::clipcut::fuse_selected;
use crate::count_check::{CountCheck, Repeated};
use crate::gif_decode::DecodedGif;
use crate::in_world::{InWorldScore, clip_features, gif_feature};
use crate::model::{QaModel, QaModelConfig, TextEncoding, VideoEncoding, kinds_of};
use crate::object_check::ObjectCheck;
use crate::order_check::OrderCheck;
use crate::preprocess::{PreparedClip, prepare_clip};
use crate::questions::{CAPTION_PROMPT, QuestionType};
use crate::sampling::{SamplingStrategy, Timeline};
use crate::segment_count_check::SegmentCountCheck;
use crate::timeline_check::TimelineCheck;
use crate::tokenize::{TextTokenizer, TokenizeError};

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

/// How logits of several clips of one GIF are combined (ClipBERT's inference aggregation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipAggregation {
    /// Mean of the logits.
    Mean,
    /// Element-wise maximum.
    Max,
    /// log-mean-exp: a soft maximum.
    Lse,
}

impl std::str::FromStr for ClipAggregation {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mean" => Ok(Self::Mean),
            "max" => Ok(Self::Max),
            "lse" => Ok(Self::Lse),
            other => Err(InputError::Aggregation(other.to_string())),
        }
    }
}

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

/// Bad user input, reported as one line.
#[derive(Debug, thiserror::Error)]
// Each variant's fields are named in its #[error] message and its doc line.
#[allow(missing_docs)]
pub enum InputError {
    /// Empty question.
    #[error("the question is empty")]
    EmptyQuestion,
    /// Too few or too many candidates.
    #[error("give 2 to 10 candidate answers (got {0}), or none for an open-ended question")]
    CandidateCount(usize),
    /// An empty candidate.
    #[error("candidate answer {0} is empty")]
    EmptyCandidate(usize),
    /// The same candidate twice.
    #[error("candidate answer '{0}' is given twice")]
    DuplicateCandidate(String),
    /// Unknown aggregation.
    #[error("unknown clip aggregation '{0}' (expected mean, max or lse)")]
    Aggregation(String),
    /// Tokenizer failure.
    #[error(transparent)]
    Tokenize(#[from] TokenizeError),
    /// A tensor could not be read back from the device.
    #[error("reading the result from the device failed: {0}")]
    Device(String),
    /// A question or candidate longer than [`MAX_QUESTION_BYTES`] / [`MAX_CANDIDATE_BYTES`].
    #[error("{what} is {bytes} bytes long; the limit is {limit}")]
    TooManyBytes { what: String, bytes: usize, limit: usize },
    /// A text with more tokens than the model reads (they would be dropped unseen).
    #[error("{what} is {tokens} tokens long, and this model reads at most {limit}: shorten it")]
    TooManyTokens { what: String, tokens: usize, limit: usize },
    /// The model computed NaN or infinity: its weights are damaged or it diverged in training.
    #[error("the model's output is not a finite number (its weights are damaged or diverged)")]
    NonFinite,
    /// The model's in-world statistics do not fit its features.
    #[error(transparent)]
    InWorld(#[from] crate::in_world::InWorldError),
}

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
        crate::zoom::peak_cell_centre(&self.attention)
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
    /// [`crate::tokenize::TextTokenizer::unknown_words`]); when there are any, the answer is a guess.
    #[serde(default)]
    pub unknown_words: Vec<String>,
    /// How far the GIF is from the GIFs the model was trained on (`None` when the model has no
    /// in-world statistics); past its threshold the answers mean little.
    #[serde(default)]
    pub in_world: Option<InWorldScore>,
}

/// Top-answer probability below which an answer is reported as unsure. Measured with `trainer
/// eval --answers` on the benchmark's Test split (5,864 questions): answers below it were right
/// about two times in three (67-69% for two models), the others 98.5% of the time. A calibrated
/// model folder sets its own (`unsure_below`, chosen on Val by `trainer calibrate`).
pub const UNSURE_BELOW: f32 = 0.8;

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
    tokenizer: &crate::tokenize::TextTokenizer,
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
/// (no video); `None` for a model without the head. `trainer eval` and [`answer_encoded`] both
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

/// Adds the answer checks' gains to `logits` (`[clips, labels]`, row-major), for models whose
/// config.json weights them (`QaModelConfig::count_check_weight` and the others: the model
/// shipped before the kind head). These read the benchmark's grammar in the question and
/// candidates; a model without those weights (every one `train --recipe` makes) skips them all.
#[allow(clippy::too_many_arguments)]
async fn add_check_gains<B: Backend>(
    bundle: &ModelBundle<B>,
    video: &VideoEncoding<B>,
    clips: &[PreparedClip],
    strategy: SamplingStrategy,
    question: &str,
    candidates: &[String],
    route: Route,
    logits: &mut [f32],
    device: &B::Device,
) -> Result<(), InputError> {
    let config = &bundle.config;
    let kind = route.answer_kind();
    let fused_choices = route.fused();
    let sources: Vec<&[Option<usize>]> = clips.iter().map(|clip| clip.sources.as_slice()).collect();
    let weight = config.model.count_check_weight();
    if kind == AnswerKind::Choice && weight > 0.0 {
        let by_segment = fused_choices && bundle.model.counts_by_segment();
        let repeated = if by_segment { Repeated::BySegment } else { Repeated::Totals };
        let check = CountCheck::with_repeated(question, candidates, fused_choices, repeated);
        let gains = check_counts(bundle, video, &sources, strategy.top_k(), &check, weight, device).await?;
        for (logit, gain) in logits.iter_mut().zip(gains) {
            *logit += gain;
        }
        if by_segment {
            let check = SegmentCountCheck::new(candidates, true);
            let gains = check_segment_counts(bundle, video, &sources, strategy.top_k(), &check, weight, device).await?;
            for (logit, gain) in logits.iter_mut().zip(gains) {
                *logit += gain;
            }
        }
    }
    let weight = config.model.order_check_weight();
    if fused_choices && weight > 0.0 {
        let check = OrderCheck::new(candidates);
        let gains = check_order(bundle, video, &sources, strategy.top_k(), &check, weight, device).await?;
        for (logit, gain) in logits.iter_mut().zip(gains) {
            *logit += gain;
        }
    }
    let weight = config.model.timeline_check_weight();
    if kind == AnswerKind::Choice && weight > 0.0 {
        let check = TimelineCheck::new(question, candidates, fused_choices);
        let gains = check_timeline(bundle, video, &sources, strategy.top_k(), &check, weight, device).await?;
        for (logit, gain) in logits.iter_mut().zip(gains) {
            *logit += gain;
        }
    }
    let weight = config.model.object_check_weight();
    if kind == AnswerKind::Word
        && weight > 0.0
        && let Some(check) = ObjectCheck::colour_answers(question, &config.answers).or_else(|| {
            ObjectCheck::shape_answers(question, &config.answers).filter(|_| config.model.object_zoom().is_some())
        })
    {
        let gains = check_objects(bundle, video, clips, strategy.top_k(), &check, weight, device).await?;
        for (logit, gain) in logits.iter_mut().zip(gains) {
            *logit += gain;
        }
    }
    if fused_choices && weight > 0.0 {
        let check = ObjectCheck::new(candidates, true, &config.answers);
        let gains = check_objects(bundle, video, clips, strategy.top_k(), &check, weight, device).await?;
        for (logit, gain) in logits.iter_mut().zip(gains) {
            *logit += gain;
        }
    }
    Ok(())
}

/// Answers one question from an encoded GIF and ranks the answers; `clips` are the ones encoded,
/// sampled by `strategy`. With `clipcut:K` the question reads only its K most relevant frames of
/// the encoded pool (see `clipcut.rs`), and `Prediction::frames` lists those.
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
    let max_len = config.model.max_text_len;
    check_token_window(&bundle.tokenizer, question, &candidates, max_len)?;
    let n_clips = clips.len();
    let route = answer_route(bundle, question, &candidates, device).await?;
    // Stage 1 reads each clip with the question, or with each candidate when they are fused.
    let per_clip = stage_one_texts(route, question, &candidates);
    let fused_choices = route.fused();
    let rows: Vec<String> = (0..n_clips).flat_map(|_| per_clip.iter().map(|t| t.to_string())).collect();
    let video_index: Vec<usize> = (0..n_clips).flat_map(|k| std::iter::repeat_n(k, per_clip.len())).collect();
    let question_tokens = bundle.tokenizer.encode_batch(&rows, max_len)?;
    let question_encoding = encode_tokens(&bundle.model, &question_tokens, device);
    let sources: Vec<&[Option<usize>]> = clips.iter().map(|clip| clip.sources.as_slice()).collect();
    let fused = fuse_selected(&bundle.model, video, &video_index, &question_encoding, &sources, strategy.top_k())
        .await
        .map_err(|e| InputError::Device(e.0))?;
    let context = fused.context;

    let kind = route.answer_kind();
    let (labels, logits) = match route {
        Route::Count => {
            let labels = (0..config.model.count_classes).map(|c| c.to_string()).collect();
            (labels, bundle.model.count_logits(&context))
        }
        Route::Word => (config.answers.clone(), bundle.model.answer_logits(&context)),
        Route::Choice { fused: true } => {
            let logits = bundle.model.fused_choice_logits(&context, question_encoding.pooled, candidates.len());
            (candidates.clone(), logits)
        }
        Route::Choice { fused: false } => {
            let repeated: Vec<String> = (0..n_clips).flat_map(|_| candidates.iter().cloned()).collect();
            let candidate_tokens = bundle.tokenizer.encode_batch(&repeated, max_len)?;
            let candidate_encoding = encode_tokens(&bundle.model, &candidate_tokens, device);
            (candidates.clone(), bundle.model.choice_logits(&context, candidate_encoding.pooled))
        }
    };
    let mut logits = read_floats(logits).await?;
    add_check_gains(bundle, video, clips, strategy, question, &candidates, route, &mut logits, device).await?;
    let probabilities = softmax_with_temperature(&aggregate(&logits, n_clips, aggregation), config.temperature());
    if probabilities.iter().any(|p| !p.is_finite()) {
        return Err(InputError::NonFinite);
    }
    // The frames shown are those each clip read: with fused candidates, as the most probable one.
    let shown: Vec<usize> = match probabilities.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) {
        Some((best, _)) if fused_choices => (0..n_clips).map(|k| k * per_clip.len() + best).collect(),
        _ => (0..n_clips).collect(),
    };
    let (relevance, attention) = if fused_choices {
        let index = index_tensor::<B>(&shown, device);
        (context.frame_relevance.select(0, index.clone()), context.attention.select(0, index))
    } else {
        (context.frame_relevance, context.attention)
    };
    let relevance = read_floats(relevance).await?;
    let attention = read_floats(attention).await?;
    let cells = attention.len() / relevance.len().max(1); // [clips, frames read, cells], row-major

    let ranked = rank(labels, probabilities, kind);
    // The frames each clip's question read: CLIP-Cut's picks, or all of them.
    let read: Vec<(Option<usize>, f32)> = match &fused.picks {
        Some(picks) => clips
            .iter()
            .zip(&shown)
            .flat_map(|(clip, &row)| picks[row].iter().map(|&i| (clip.sources[i], clip.times[i])))
            .collect(),
        None => clips.iter().flat_map(|clip| clip.sources.iter().copied().zip(clip.times.iter().copied())).collect(),
    };
    let frames = read
        .into_iter()
        .zip(relevance)
        .zip(attention.chunks(cells.max(1)))
        .map(|(((source, time), relevance), attention)| FrameInfo {
            source,
            time,
            relevance,
            attention: attention.to_vec(),
        })
        .collect();
    let unknown_words = unknown_words_of(&bundle.tokenizer, question, &candidates)?;
    let in_world = in_world_score(bundle, video).await?;
    Ok(Prediction { kind, ranked, frames, unsure_below: config.unsure_below(), unknown_words, in_world })
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

/// How `answer_encoded` answers `question`: by the kind the model's kind head predicts from the
/// question's text, or by the legacy rules for a model without the head (see [`route`]).
pub async fn answer_route<B: Backend>(
    bundle: &ModelBundle<B>,
    question: &str,
    candidates: &[String],
    device: &B::Device,
) -> Result<Route, InputError> {
    let kind = if bundle.config.model.has_kind_head() {
        let tokens = bundle.tokenizer.encode_batch(&[question.to_string()], bundle.config.model.max_text_len)?;
        let encoding = encode_tokens(&bundle.model, &tokens, device);
        question_kinds(&bundle.model, &encoding).await?.and_then(|kinds| kinds.first().copied())
    } else {
        None
    };
    Ok(route(&bundle.config.model, kind, question, candidates))
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

/// What each candidate's logit gains from the count head's answers to the counts it states
/// (`count_check`), `[clips, candidates]` row-major; all zero without claims.
pub async fn check_counts<B: Backend>(
    bundle: &ModelBundle<B>,
    video: &VideoEncoding<B>,
    sources: &[&[Option<usize>]],
    top_k: Option<usize>,
    check: &CountCheck,
    weight: f32,
    device: &B::Device,
) -> Result<Vec<f32>, InputError> {
    let n_clips = video.tokens.dims()[0];
    if check.is_empty() {
        return Ok(vec![0.0; n_clips * check.candidates()]);
    }
    let context = read_with(bundle, video, sources, top_k, &check.questions, device).await?;
    let classes = bundle.config.model.count_classes;
    let logits = read_floats(bundle.model.count_logits(&context)).await?;
    let per_clip = check.questions.len() * classes;
    Ok(logits.chunks(per_clip).flat_map(|clip| check.adjustments(clip, classes, weight)).collect())
}

/// What each fused caption's logit gains from the counts of its repeated actions, segment by
/// segment (`segment_count_check`), `[clips, captions]` row-major; all zero without claims or
/// without a segment tagger and an event counter.
pub async fn check_segment_counts<B: Backend>(
    bundle: &ModelBundle<B>,
    video: &VideoEncoding<B>,
    sources: &[&[Option<usize>]],
    top_k: Option<usize>,
    check: &SegmentCountCheck,
    weight: f32,
    device: &B::Device,
) -> Result<Vec<f32>, InputError> {
    let n_clips = video.tokens.dims()[0];
    let zeros = vec![0.0; n_clips * check.candidates()];
    let questions = check.questions();
    if questions.is_empty() {
        return Ok(zeros);
    }
    let context = read_with(bundle, video, sources, top_k, &questions, device).await?;
    let (Some(tags), Some(events)) = (bundle.model.tag_frames(&context), bundle.model.count(&context).events) else {
        return Ok(zeros);
    };
    let [_, frames, actions] = tags.dims();
    let tags = read_floats(tags).await?;
    let evidence = read_floats(events.evidence).await?;
    let classes = bundle.config.model.count_classes;
    // Rows are grouped by clip, the tagger's question first.
    Ok(tags
        .chunks(questions.len() * frames * actions)
        .zip(evidence.chunks(questions.len() * frames))
        .flat_map(|(tags, evidence)| check.adjustments(&tags[..frames * actions], evidence, frames, classes, weight))
        .collect())
}

/// What each fused caption's logit gains from the transition head's answers to the orders it
/// states (`order_check`), `[clips, captions]` row-major; all zero without claims.
pub async fn check_order<B: Backend>(
    bundle: &ModelBundle<B>,
    video: &VideoEncoding<B>,
    sources: &[&[Option<usize>]],
    top_k: Option<usize>,
    check: &OrderCheck,
    weight: f32,
    device: &B::Device,
) -> Result<Vec<f32>, InputError> {
    let n_clips = video.tokens.dims()[0];
    if check.is_empty() {
        return Ok(vec![0.0; n_clips * check.captions()]);
    }
    let context = read_with(bundle, video, sources, top_k, &check.questions, device).await?;
    let candidates: Vec<String> = (0..n_clips).flat_map(|_| check.candidates.iter().flatten().cloned()).collect();
    let tokens = bundle.tokenizer.encode_batch(&candidates, bundle.config.model.max_text_len)?;
    let encoding = encode_tokens(&bundle.model, &tokens, device);
    let logits = read_floats(bundle.model.choice_logits(&context, encoding.pooled)).await?;
    let per_clip = check.questions.len() * check.width();
    Ok(logits.chunks(per_clip).flat_map(|clip| check.adjustments(clip, weight)).collect())
}

/// What each candidate's logit gains from aligning what it states to the segment tagger's
/// per-frame actions (`timeline_check`), `[clips, candidates]` row-major; all zero without a
/// tagger or claims.
pub async fn check_timeline<B: Backend>(
    bundle: &ModelBundle<B>,
    video: &VideoEncoding<B>,
    sources: &[&[Option<usize>]],
    top_k: Option<usize>,
    check: &TimelineCheck,
    weight: f32,
    device: &B::Device,
) -> Result<Vec<f32>, InputError> {
    let n_clips = video.tokens.dims()[0];
    let Some(question) = check.question() else { return Ok(vec![0.0; n_clips * check.candidates()]) };
    let context = read_with(bundle, video, sources, top_k, &[question], device).await?;
    let Some(tags) = bundle.model.tag_frames(&context) else { return Ok(vec![0.0; n_clips * check.candidates()]) };
    let [_, frames, actions] = tags.dims();
    let log_probs = read_floats(tags).await?;
    Ok(log_probs.chunks(frames * actions).flat_map(|clip| check.adjustments(clip, frames, weight)).collect())
}

/// What each fused caption's logit, or each answer's to "What color is the {shape} ?", gains from
/// the FrameQA head's answers about the object it names (`object_check`), `[clips, candidates]`
/// row-major; all zero without claims. With `QaModelConfig::object_zoom` the questions are also
/// (captions) or only (shape answers) asked of a closer look at each clip (`zoom`; see
/// `object_check::Looks`).
pub async fn check_objects<B: Backend>(
    bundle: &ModelBundle<B>,
    video: &VideoEncoding<B>,
    clips: &[PreparedClip],
    top_k: Option<usize>,
    check: &ObjectCheck,
    weight: f32,
    device: &B::Device,
) -> Result<Vec<f32>, InputError> {
    let n_clips = video.tokens.dims()[0];
    if check.is_empty() {
        return Ok(vec![0.0; n_clips * check.candidates()]);
    }
    let sources: Vec<&[Option<usize>]> = clips.iter().map(|clip| clip.sources.as_slice()).collect();
    let context = read_with(bundle, video, &sources, top_k, &check.questions, device).await?;
    let classes = bundle.config.answers.len();
    let mut logits = read_floats(bundle.model.answer_logits(&context)).await?;
    if let Some(window) = bundle.config.model.object_zoom().filter(|_| check.takes_closer_look()) {
        let cells = context.attention.dims()[2];
        let attention = read_floats(context.attention).await?;
        // Rows are grouped by clip, as `read_with` asks them.
        let reads: Vec<(&PreparedClip, &str)> =
            clips.iter().flat_map(|clip| check.questions.iter().map(move |q| (clip, q.as_str()))).collect();
        let looks = crate::zoom::closer_looks(&reads, &attention, cells, window, bundle.config.preprocess.image_size);
        let looked = encode_clips(bundle, &looks, device);
        let look_sources: Vec<&[Option<usize>]> = looks.iter().map(|clip| clip.sources.as_slice()).collect();
        // Each look is its own video, read with its own question.
        let rows: Vec<String> = reads.iter().map(|(_, q)| q.to_string()).collect();
        let video_index: Vec<usize> = (0..looks.len()).collect();
        let context = read_rows(bundle, &looked, &look_sources, None, &rows, &video_index, device).await?;
        let closer = read_floats(bundle.model.answer_logits(&context)).await?;
        logits = check.looks.combine(&logits, &closer, classes);
    }
    let per_clip = check.questions.len() * classes;
    Ok(logits.chunks(per_clip).flat_map(|clip| check.adjustments(clip, classes, weight)).collect())
}

/// Stage 1 of every clip of `video` read with each of `questions` (rows grouped by clip).
async fn read_with<B: Backend>(
    bundle: &ModelBundle<B>,
    video: &VideoEncoding<B>,
    sources: &[&[Option<usize>]],
    top_k: Option<usize>,
    questions: &[String],
    device: &B::Device,
) -> Result<crate::model::QuestionContext<B>, InputError> {
    let n_clips = video.tokens.dims()[0];
    let rows: Vec<String> = (0..n_clips).flat_map(|_| questions.iter().cloned()).collect();
    let video_index: Vec<usize> = (0..n_clips).flat_map(|k| std::iter::repeat_n(k, questions.len())).collect();
    read_rows(bundle, video, sources, top_k, &rows, &video_index, device).await
}

/// Stage 1 of the videos of `video` read with `rows`, row r with video `video_index[r]`.
async fn read_rows<B: Backend>(
    bundle: &ModelBundle<B>,
    video: &VideoEncoding<B>,
    sources: &[&[Option<usize>]],
    top_k: Option<usize>,
    rows: &[String],
    video_index: &[usize],
    device: &B::Device,
) -> Result<crate::model::QuestionContext<B>, InputError> {
    let tokens = bundle.tokenizer.encode_batch(rows, bundle.config.model.max_text_len)?;
    let encoding = encode_tokens(&bundle.model, &tokens, device);
    let fused = fuse_selected(&bundle.model, video, video_index, &encoding, sources, top_k)
        .await
        .map_err(|e| InputError::Device(e.0))?;
    Ok(fused.context)
}

/// Reads a float tensor back to the host without blocking.
pub async fn read_floats<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Result<Vec<f32>, InputError> {
    let data = tensor.into_data_async().await.map_err(|e| InputError::Device(format!("{e:?}")))?;
    data.to_vec::<f32>().map_err(|e| InputError::Device(format!("{e:?}")))
}

/// Combines `[clips, classes]` logits (row-major) into one row.
pub fn aggregate(logits: &[f32], clips: usize, how: ClipAggregation) -> Vec<f32> {
    let classes = logits.len() / clips.max(1);
    (0..classes)
        .map(|c| {
            let column = (0..clips).map(|k| logits[k * classes + c]);
            match how {
                ClipAggregation::Mean => column.sum::<f32>() / clips as f32,
                ClipAggregation::Max => column.fold(f32::NEG_INFINITY, f32::max),
                ClipAggregation::Lse => {
                    let max = column.clone().fold(f32::NEG_INFINITY, f32::max);
                    max + (column.map(|x| (x - max).exp()).sum::<f32>() / clips as f32).ln()
                }
            }
        })
        .collect()
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
