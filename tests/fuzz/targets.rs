//! The fuzz targets: one per reader of outside input. Each takes raw bytes, may reject them with
//! an error (the expected outcome for most mutants), and must never panic or hang. Where the
//! reader accepts an input, the target also checks what it returned (sizes, indices, ranges):
//! a broken promise panics too, and so counts as a finding.

use std::path::{Path, PathBuf};

use shared_model::answer::pipeline::{open_kind, prepare_gif, validate};
use shared_model::bundle::BundleConfig;
use shared_model::gif::{DecodeLimits, decode_gif};
use shared_model::preprocess::{PreprocessConfig, gather_clip};
use shared_model::sampling::{FrameSource, SamplingStrategy, Timeline, seed_of};
use shared_model::text::msrvtt::parse_msrvtt_mc;
use shared_model::text::questions::{Answer, QuestionType, parse_questions, question_text};
use shared_model::text::tokenize::TextTokenizer;

use crate::repo_root;

/// Why the targets could not be set up.
#[derive(Debug, thiserror::Error)]
// Each variant's fields are named in its #[error] message and its doc line.
#[allow(missing_docs)]
pub enum TargetError {
    /// A file a target needs (the shipped model's config or tokenizer) could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The shipped model's config.json does not parse.
    #[error("{path} is not a model config: {source}")]
    Config {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// The shipped tokenizer does not load.
    #[error("{path}: {reason}")]
    Tokenizer { path: String, reason: String },
    /// No target has this name.
    #[error("no fuzz target '{0}' (see --list)")]
    Unknown(String),
}

/// A reader of outside input, driven with raw bytes.
pub trait Target {
    /// The name used on the command line and for corpus and regression folders.
    fn name(&self) -> &'static str;
    /// What the target runs, in one line (for `--list`).
    fn about(&self) -> &'static str;
    /// Whether inputs are text (adds line-, field- and UTF-8-level mutations).
    fn text(&self) -> bool;
    /// Tokens that mutations insert (block markers, column names, strategy names).
    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[]
    }
    /// Seed files read at run time from outside `tests/fuzz/corpus/<name>/` (which is always read).
    fn external_seeds(&self) -> Vec<PathBuf> {
        Vec::new()
    }
    /// Runs the reader on `input`; `true` when it accepted the input. Panics on a broken promise.
    fn run(&self, input: &[u8]) -> bool;
}

/// Every target, in `--list` order.
pub fn all() -> Result<Vec<Box<dyn Target>>, TargetError> {
    let model = repo_root().join("www/model");
    let tokenizer = read(&model.join("tokenizer.json"))?;
    let shipped_tokenizer = || {
        TextTokenizer::from_bytes(&tokenizer).map_err(|err| TargetError::Tokenizer {
            path: model.join("tokenizer.json").display().to_string(),
            reason: err.to_string(),
        })
    };
    let config_path = model.join("config.json");
    let config: BundleConfig = serde_json::from_slice(&read(&config_path)?)
        .map_err(|source| TargetError::Config { path: config_path.display().to_string(), source })?;
    Ok(vec![
        Box::new(GifTarget::new(config.preprocess)),
        Box::new(SamplingTarget),
        Box::new(TgifTarget),
        Box::new(MsrvttTarget),
        Box::new(QuestionTarget { tokenizer: shipped_tokenizer()?, max_len: config.model.max_text_len }),
        Box::new(ConfigTarget),
        Box::new(TokenizerTarget),
    ])
}

/// The target called `name`.
pub fn by_name(name: &str) -> Result<Box<dyn Target>, TargetError> {
    all()?.into_iter().find(|t| t.name() == name).ok_or_else(|| TargetError::Unknown(name.to_string()))
}

/// `tests/fuzz/corpus/<target>`: the seeds kept in the repository.
pub fn corpus_dir(target: &str) -> PathBuf {
    repo_root().join("tests/fuzz/corpus").join(target)
}

/// `tests/fuzz/regressions/<target>`: every input that ever made the target panic or hang.
pub fn regressions_dir(target: &str) -> PathBuf {
    repo_root().join("tests/fuzz/regressions").join(target)
}

/// The files of `dir`, sorted by name (so runs replay); none when it does not exist.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// A target's seeds: its corpus folder, its external seeds and its regression inputs, sorted
/// within each group.
pub fn seed_files(target: &dyn Target) -> Vec<PathBuf> {
    let mut files = files_in(&corpus_dir(target.name()));
    files.extend(target.external_seeds());
    files.extend(files_in(&regressions_dir(target.name())));
    files
}

fn read(path: &Path) -> Result<Vec<u8>, TargetError> {
    std::fs::read(path).map_err(|source| TargetError::Read { path: path.display().to_string(), source })
}

/// The GIFs in `dir`, sorted; none when it does not exist.
fn gifs_in(dir: &Path) -> Vec<PathBuf> {
    files_in(dir).into_iter().filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("gif"))).collect()
}

/// A seed for the randomised samplers, from the input (so an input always replays the same way).
fn seed_from(input: &[u8]) -> u64 {
    seed_of(&String::from_utf8_lossy(&input[..input.len().min(64)])) ^ input.len() as u64
}

/// `gif`: [`decode_gif`] with the default limits, then [`prepare_gif`] as the shipped model
/// preprocesses: `uniform:16` always, and on GIFs of at most [`SMALL_GIF_BYTES`] decoded also
/// `sparse:2x8`, `dropout:8` and `mean:4` (which resizes every frame).
///
/// A GIF at the decode limits (1 GiB of frames, 4096x4096) takes about 0.6 s to decode and 50 ms
/// per distinct 4096x4096 frame to resize on a 2-core machine, so running every strategy on it
/// would pass the fuzzer's 2 s on work the limits allow; `mean` over 1 GiB of narrow frames
/// takes several seconds. The other strategies' picks are fuzzed on their own by `sampling`.
pub struct GifTarget {
    preprocess: PreprocessConfig,
    strategies: Vec<SamplingStrategy>,
}

/// Decoded size (all frames' RGBA) up to which the gif target runs every strategy.
pub const SMALL_GIF_BYTES: usize = 64 << 20;

impl GifTarget {
    /// Prepares clips with `preprocess` (the shipped model's).
    pub fn new(preprocess: PreprocessConfig) -> Self {
        let strategies = [
            SamplingStrategy::Uniform { frames: 16 },
            SamplingStrategy::Sparse { clips: 2, frames: 8 },
            SamplingStrategy::Dropout { frames: 8 },
            SamplingStrategy::Mean { frames: 4 },
        ];
        GifTarget { preprocess, strategies: strategies.to_vec() }
    }
}

impl Target for GifTarget {
    fn name(&self) -> &'static str {
        "gif"
    }
    fn about(&self) -> &'static str {
        "gif::decode_gif, then pipeline::prepare_gif (uniform:16; sparse:2x8, dropout:8, mean:4 on small GIFs)"
    }
    fn text(&self) -> bool {
        false
    }
    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            b"GIF89a",
            b"GIF87a",
            b"!\xF9\x04\x09\x0A\x00\x01\x00", // graphic control: restore to background, transparent 1
            b"!\xF9\x04\x0C\x00\x00\x00\x00", // graphic control: restore to previous, delay 0
            b"!\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00",
            b"!\xFE\x01x\x00",
            b",\x00\x00\x00\x00\xFF\xFF\xFF\xFF\x00", // image descriptor: 65535 x 65535
            b",\x00\x00\x00\x00\x01\x00\x01\x00\x40", // image descriptor: 1 x 1, interlaced
            b",\x00\x00\x00\x00\x01\x00\x01\x00\x87", // image descriptor: 1 x 1, local palette of 256
            b"\x02\x02\x44\x01\x00",                  // the LZW data of one pixel
            b"\x00",
            b";",
        ]
    }
    fn external_seeds(&self) -> Vec<PathBuf> {
        let mut seeds = gifs_in(&repo_root().join("www/samples"));
        seeds.extend(gifs_in(&repo_root().join("../shared/data/gif-corpus")));
        seeds
    }
    fn run(&self, input: &[u8]) -> bool {
        let Ok(gif) = decode_gif(input, &DecodeLimits::default()) else { return false };
        assert!(!gif.frames.is_empty(), "decoded with no frames");
        let canvas = gif.width as usize * gif.height as usize * 4;
        for (i, frame) in gif.frames.iter().enumerate() {
            assert_eq!(frame.rgba.len(), canvas, "frame {i} of a {}x{} canvas", gif.width, gif.height);
        }
        let size = self.preprocess.image_size;
        let strategies =
            if canvas * gif.frames.len() <= SMALL_GIF_BYTES { &self.strategies[..] } else { &self.strategies[..1] };
        for &strategy in strategies {
            let clips = prepare_gif(&gif, strategy, &self.preprocess, seed_from(input));
            for clip in &clips {
                let frames = strategy.frames_per_clip();
                assert_eq!((clip.times.len(), clip.sources.len()), (frames, frames), "{strategy}");
                assert_eq!(clip.pixels.len(), frames * size * size * 3, "{strategy}");
            }
        }
        true
    }
}

/// `sampling`: the first line is a strategy ([`SamplingStrategy::parse`]), the bytes after it
/// little-endian u16 frame delays in hundredths of a second (as in a GIF); the strategy samples the
/// time line ([`Timeline::from_delays`]).
pub struct SamplingTarget;

/// Most delays the sampling target reads (the decoder's default frame limit).
const MAX_TIMELINE_FRAMES: usize = 4000;

impl Target for SamplingTarget {
    fn name(&self) -> &'static str {
        "sampling"
    }
    fn about(&self) -> &'static str {
        "sampling::SamplingStrategy::parse, Timeline::from_delays and SamplingStrategy::sample"
    }
    fn text(&self) -> bool {
        true
    }
    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            b"uniform",
            b"sparse",
            b"staggered",
            b"keyframes",
            b"weighted",
            b"dropout",
            b"mean",
            b"clipcut",
            b":",
            b"x",
            b"256",
            b"257",
            b"1x256",
            b"256x256",
            b"0x1",
            b" ",
        ]
    }
    fn run(&self, input: &[u8]) -> bool {
        let (line, rest) = match input.iter().position(|&b| b == b'\n') {
            Some(end) => (&input[..end], &input[end + 1..]),
            None => (input, &[][..]),
        };
        let text = String::from_utf8_lossy(line);
        let Ok(strategy) = SamplingStrategy::parse(&text, 16) else { return false };
        assert_eq!(SamplingStrategy::parse(&strategy.to_string(), 16).ok(), Some(strategy), "{text:?} round trip");
        let mut delays: Vec<u32> = rest
            .chunks_exact(2)
            .take(MAX_TIMELINE_FRAMES)
            .map(|pair| u32::from(u16::from_le_bytes([pair[0], pair[1]])) * 10)
            .collect();
        if delays.is_empty() {
            delays.push(0); // a time line has at least one frame
        }
        let timeline = Timeline::from_delays(&delays);
        assert_eq!(timeline.len(), delays.len());
        let clips = strategy.sample(&timeline, seed_from(input));
        let expected_clips = match strategy {
            SamplingStrategy::Sparse { clips, .. } | SamplingStrategy::Staggered { clips, .. } => clips,
            _ => 1,
        };
        assert_eq!(clips.len(), expected_clips, "{strategy}");
        for clip in &clips {
            assert_eq!(clip.len(), strategy.frames_per_clip(), "{strategy}");
            for frame in clip {
                assert!((0.0..=1.0).contains(&frame.time), "{strategy}: time {}", frame.time);
                if let FrameSource::Index(i) = frame.source {
                    assert!(i < timeline.len(), "{strategy}: frame {i} of {}", timeline.len());
                }
            }
            // What preprocessing does with the picks, on 1-pixel frames.
            let prepared = gather_clip(clip, timeline.len(), 1, |_| vec![0; 3]);
            assert_eq!(prepared.pixels.len(), clip.len() * 3);
        }
        true
    }
}

/// `tgif`: a TGIF-QA question file's bytes ([`question_text`]), parsed as each question type
/// ([`parse_questions`]).
pub struct TgifTarget;

impl Target for TgifTarget {
    fn name(&self) -> &'static str {
        "tgif"
    }
    fn about(&self) -> &'static str {
        "questions::question_text, then questions::parse_questions as each question type"
    }
    fn text(&self) -> bool {
        true
    }
    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            b"gif_name",
            b"question",
            b"answer",
            b"a1",
            b"a2",
            b"a3",
            b"a4",
            b"a5",
            b"vid_id",
            b"key",
            b"\t",
            b"\r\n",
            b"\t\t\t\t\t\t",
            b"4",
            b"5",
        ]
    }
    fn run(&self, input: &[u8]) -> bool {
        let Ok(text) = question_text(input.to_vec(), "fuzz.csv") else { return false };
        let mut accepted = false;
        for qtype in QuestionType::ALL {
            let Ok(items) = parse_questions(&text, qtype, "fuzz.csv") else { continue };
            accepted |= !items.is_empty();
            for item in &items {
                assert_eq!(item.qtype, qtype);
                assert!(!item.gif_name.is_empty(), "{qtype}: empty gif_name");
                assert_eq!(item.candidates.len(), if qtype.is_multiple_choice() { 5 } else { 0 }, "{qtype}");
                match item.answer {
                    Answer::Choice(i) => assert!(i < item.candidates.len(), "{qtype}: choice {i}"),
                    Answer::Count(_) => assert_eq!(qtype, QuestionType::Count),
                    Answer::Word(_) => assert_eq!(qtype, QuestionType::FrameQa),
                }
            }
        }
        accepted
    }
}

/// `msrvtt`: an MSRVTT-MC file's bytes ([`question_text`]), parsed by [`parse_msrvtt_mc`].
pub struct MsrvttTarget;

impl Target for MsrvttTarget {
    fn name(&self) -> &'static str {
        "msrvtt"
    }
    fn about(&self) -> &'static str {
        "questions::question_text, then msrvtt::parse_msrvtt_mc"
    }
    fn text(&self) -> bool {
        true
    }
    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[b"vid_key", b"VID_KEY", b"a1", b"a2", b"a3", b"a4", b"a5", b"answer", b"\t", b"\r\n", b"4", b"5"]
    }
    fn run(&self, input: &[u8]) -> bool {
        let Ok(text) = question_text(input.to_vec(), "MSR_MC_test.csv") else { return false };
        let Ok(items) = parse_msrvtt_mc(&text, "MSR_MC_test.csv") else { return false };
        for item in &items {
            assert_eq!(item.qtype, QuestionType::Caption);
            assert!(!item.gif_name.is_empty(), "empty vid_key");
            assert_eq!(item.candidates.len(), 5);
            assert!(item.candidates.iter().all(|c| !c.is_empty()), "empty caption");
            assert!(matches!(item.answer, Answer::Choice(i) if i < 5), "{:?}", item.answer);
        }
        !items.is_empty()
    }
}

/// `question`: the bytes (lossy UTF-8) split at `|` and newlines into a question and candidates,
/// checked by [`validate`], and, when valid, each part tokenized by the shipped tokenizer (ids, unknown
/// words, the token window), as answering does.
pub struct QuestionTarget {
    tokenizer: TextTokenizer,
    max_len: usize,
}

impl Target for QuestionTarget {
    fn name(&self) -> &'static str {
        "question"
    }
    fn about(&self) -> &'static str {
        "pipeline::validate, then (if valid) the shipped tokenizer's encode, unknown_words and the token window"
    }
    fn text(&self) -> bool {
        true
    }
    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            b"|",
            b"\n",
            b"[CLS]",
            b"[SEP]",
            b"[PAD]",
            b"[UNK]",
            b"[MASK]",
            b"##",
            b"how many times",
            b"which caption describes the gif ?",
            b"\xF0\x9F\x98\x80", // U+1F600
            b"\xE4\xB8\xAD",     // U+4E2D
            b"e\xCC\x81",        // e + combining acute
            b"\xC4\xB0",         // U+0130, lowercases to two chars
            b"\xEF\xAC\x83",     // U+FB03 ligature ffi
            b"\xE2\x80\x8B",     // zero-width space
        ]
    }
    fn run(&self, input: &[u8]) -> bool {
        let text = String::from_utf8_lossy(input);
        let mut parts = text.split(['|', '\n']);
        let question = parts.next().unwrap_or_default();
        let candidates: Vec<String> = parts.map(str::to_string).collect();
        let valid = validate(question, &candidates);
        if let Ok(trimmed) = &valid {
            assert_eq!(trimmed.len(), candidates.len());
        }
        let _ = open_kind(question);
        // Answering tokenizes only what validation accepted (its byte limits bound the work).
        let Ok(candidates) = valid else { return false };
        let texts: Vec<&str> = std::iter::once(question).chain(candidates.iter().map(String::as_str)).collect();
        for text in &texts {
            if let Ok(ids) = self.tokenizer.encode(text, self.max_len) {
                assert!(ids.len() <= self.max_len, "{} ids", ids.len());
            }
            if let Ok(words) = self.tokenizer.unknown_words(text) {
                assert!(words.iter().all(|w| !w.is_empty()), "{words:?}");
            }
        }
        let _ =
            shared_model::answer::pipeline::check_token_window(&self.tokenizer, question, &candidates, self.max_len);
        if let Ok(batch) = self.tokenizer.encode_batch(&texts, self.max_len) {
            assert_eq!((batch.ids.len(), batch.padding.len()), (batch.batch * batch.len, batch.batch * batch.len));
            assert!(batch.len <= self.max_len.max(1));
        }
        true
    }
}

/// `config`: a model folder's config.json ([`BundleConfig`], then `model.check()` and its
/// sampling strategy) and a training run's training.json ([`trainer::train::TrainState`]).
pub struct ConfigTarget;

impl Target for ConfigTarget {
    fn name(&self) -> &'static str {
        "config"
    }
    fn about(&self) -> &'static str {
        "serde_json into bundle::BundleConfig (then model.check() and its sampling) and train::TrainState"
    }
    fn text(&self) -> bool {
        true
    }
    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            b"\"format\"",
            b"\"model\"",
            b"\"vision_tower\"",
            b"\"text_tower\"",
            b"\"d_model\"",
            b"\"n_heads\"",
            b"\"image_size\"",
            b"\"preprocess\"",
            b"\"sampling\"",
            b"\"answers\"",
            b"\"options\"",
            b"\"history\"",
            b"\"shape\"",
            b"\"order_drills\"",
            b"null",
            b"[]",
            b"{}",
            b"1.7976931348623157e308",
            b"-9223372036854775808",
            b"18446744073709551615",
        ]
    }
    fn external_seeds(&self) -> Vec<PathBuf> {
        vec![repo_root().join("www/model/config.json")]
    }
    fn run(&self, input: &[u8]) -> bool {
        let config = serde_json::from_slice::<BundleConfig>(input);
        if let Ok(config) = &config {
            let _ = config.model.check();
            let _ = SamplingStrategy::parse(&config.sampling, 16);
        }
        let state = serde_json::from_slice::<trainer::train::TrainState>(input);
        config.is_ok() || state.is_ok()
    }
}

/// `tokenizer`: a tokenizer.json's bytes ([`TextTokenizer::from_bytes`]), then a fixed sentence
/// encoded.
pub struct TokenizerTarget;

/// The sentence the tokenizer target encodes with each tokenizer that loads.
const SENTENCE: &str = "What does the red star do 3 times ? Which caption describes the GIF: «naïve» 中文 😀";

impl Target for TokenizerTarget {
    fn name(&self) -> &'static str {
        "tokenizer"
    }
    fn about(&self) -> &'static str {
        "tokenize::TextTokenizer::from_bytes, then encode and encode_batch of a fixed sentence"
    }
    fn text(&self) -> bool {
        true
    }
    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            b"\"type\"",
            b"\"WordPiece\"",
            b"\"BPE\"",
            b"\"WordLevel\"",
            b"\"Unigram\"",
            b"\"BertNormalizer\"",
            b"\"BertPreTokenizer\"",
            b"\"BertProcessing\"",
            b"\"TemplateProcessing\"",
            b"\"ByteLevel\"",
            b"\"Sequence\"",
            b"\"vocab\"",
            b"\"merges\"",
            b"\"unk_token\"",
            b"\"[UNK]\"",
            b"\"[PAD]\"",
            b"\"max_input_chars_per_word\"",
            b"\"continuing_subword_prefix\"",
            b"\"added_tokens\"",
            b"\"truncation\"",
            b"\"padding\"",
            b"\"lowercase\"",
            b"\"strip_accents\"",
        ]
    }
    fn external_seeds(&self) -> Vec<PathBuf> {
        vec![repo_root().join("www/model/tokenizer.json")]
    }
    fn run(&self, input: &[u8]) -> bool {
        let Ok(tokenizer) = TextTokenizer::from_bytes(input) else { return false };
        let _ = tokenizer.vocab_size();
        if let Ok(ids) = tokenizer.encode(SENTENCE, 40) {
            assert!(ids.len() <= 40);
        }
        let _ = tokenizer.encode_batch(&[SENTENCE, "", "?"], 40);
        true
    }
}
