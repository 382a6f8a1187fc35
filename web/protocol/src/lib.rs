//! Messages between the page's main thread (`web`) and its Web Worker (`web-worker`). The worker
//! downloads and checks the model, decodes and samples GIFs and runs the model, so that a large
//! GIF never freezes the page; the main thread only draws and handles events, and its wasm holds
//! no Burn. Each message is one JSON text (serde) and at most one transferred `ArrayBuffer` (a
//! GIF's bytes, or the pixels of the frames an answer read), so big data is moved, not copied.
//!
//! This crate holds no Burn either: what the main thread draws is computed in the worker with
//! shared-model's rules (notes, focus cells) and sent ready to draw ([`AnswerView`]); the
//! `Prediction` itself travels whole as JSON ([`Answer::prediction`]), so fields added to it reach
//! `window.gifqa.last` without changes here.

use serde::{Deserialize, Serialize};

/// A compute backend in the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendKind {
    /// Burn's `Flex` in wasm.
    #[serde(rename = "cpu")]
    Cpu,
    /// Burn's wgpu backend on WebGPU.
    #[serde(rename = "webgpu")]
    WebGpu,
}

impl BackendKind {
    /// Name shown to the user.
    pub fn label(self) -> &'static str {
        match self {
            BackendKind::Cpu => "CPU (wasm)",
            BackendKind::WebGpu => "WebGPU",
        }
    }

    /// Name in `window.gifqa.backend` and the Backend menu's values.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::WebGpu => "webgpu",
        }
    }
}

/// What the main thread asks of the worker; one at a time, each answered by exactly one final
/// [`Reply`] (after any number of [`Reply::Progress`] and [`Reply::Status`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
// Each variant's fields are described by its doc line.
#[allow(missing_docs)]
pub enum Request {
    /// Get the model files (Cache API or network, checked against the manifest) and build the
    /// model on the CPU and, when there is an adapter, on WebGPU. With `warm_up`, time a question
    /// on each to pick the faster; a worker restarted after a cancel skips that (the page already
    /// knows). Answered by [`Reply::Loaded`].
    Load { warm_up: bool },
    /// Decode and sample the GIF whose bytes come with the message (`sampling`: a strategy, or
    /// empty for the model's own). Answered by [`Reply::Prepared`].
    Prepare { name: String, sampling: String },
    /// Answer a question about the prepared GIF, sampled again first when `sampling` changed.
    /// Answered by [`Reply::Answered`]; the frames' pixels come with it.
    Ask { question: String, candidates: Vec<String>, sampling: String, backend: BackendKind },
}

/// What the worker sends back.
#[derive(Debug, Clone, Serialize, Deserialize)]
// Each variant's fields are described by its doc line.
#[allow(missing_docs)]
pub enum Reply {
    /// The worker listens: sent once, when its wasm has started. Messages posted to a worker
    /// before its handler exists are dropped, so the page waits for this one.
    Started,
    /// Model bytes obtained so far (not final).
    Progress { loaded: u64, total: u64 },
    /// A step has begun, e.g. "encoding the GIF on WebGPU…" (not final).
    Status { text: String },
    /// The model is ready.
    Loaded(Box<Loaded>),
    /// The GIF is decoded and sampled.
    Prepared(Prepared),
    /// The answer.
    Answered(Box<Answer>),
    /// The request failed; the message is for the user.
    Failed { error: String },
}

impl Reply {
    /// Whether this reply ends its request.
    pub fn is_final(&self) -> bool {
        !matches!(self, Reply::Progress { .. } | Reply::Status { .. })
    }
}

/// Warm-up timings that chose the backend.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Warmup {
    /// Milliseconds of one warm question on the CPU.
    pub cpu_ms: f64,
    /// The same on WebGPU, when an adapter exists.
    pub webgpu_ms: Option<f64>,
    /// Why WebGPU is not available, when it is not.
    pub webgpu_missing: Option<String>,
    /// Whether the WebGPU adapter is a software fallback (then it is not timed).
    pub webgpu_software: bool,
}

/// The loaded model, as the page describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Loaded {
    /// Empty when the load skipped the warm-up.
    pub warmup: Warmup,
    /// Whether the model was also built on WebGPU.
    pub has_webgpu: bool,
    /// The backend the warm-up found faster.
    pub fastest: BackendKind,
    /// The Frames menu: (value, label), the model's own strategy first (value "").
    pub sampling: Vec<(String, String)>,
    /// Bytes of the three model files.
    pub total_bytes: u64,
    /// Whether every file came from the Cache API.
    pub from_cache: bool,
    /// Cached files that failed their hash and were downloaded again.
    pub repaired: Vec<String>,
    /// Milliseconds the load took inside the worker.
    pub load_ms: f64,
}

/// A GIF decoded and sampled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prepared {
    /// File name shown to the user.
    pub name: String,
    /// Decoded frame count.
    pub frame_count: usize,
    /// Frames sampled over all clips.
    pub sampled: usize,
    /// The strategy that sampled them.
    pub strategy: String,
    /// Milliseconds spent decoding.
    pub decode_ms: f64,
    /// Milliseconds spent sampling and resizing.
    pub sample_ms: f64,
}

/// Per-step milliseconds of one answer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Timings {
    /// GIF decoding.
    pub decode_ms: f64,
    /// Frame sampling and resizing.
    pub sample_ms: f64,
    /// Video encoding on the backend (0 when reused from an earlier question on this GIF).
    pub encode_ms: f64,
    /// Question encoding, fusion and heads.
    pub answer_ms: f64,
    /// Whether the video encoding was reused.
    pub encode_reused: bool,
}

/// An answer: the prediction whole, and what the page draws of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answer {
    /// The GIF asked about.
    pub gif: String,
    /// The question as asked.
    pub question: String,
    /// The candidates after validation (trimmed).
    pub candidates: Vec<String>,
    /// The backend that answered.
    pub backend: BackendKind,
    /// `shared_model::answer::pipeline::Prediction`, serialized whole.
    pub prediction: serde_json::Value,
    /// What the page draws.
    pub view: AnswerView,
    /// Per-step times.
    pub timings: Timings,
    /// Set when the question's sampling differed from the GIF's, so it was sampled again.
    pub resampled: Option<Prepared>,
}

/// The parts of an answer the page draws, computed in the worker with shared-model's rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnswerView {
    /// (answer, probability), most probable first.
    pub ranked: Vec<(String, f32)>,
    /// The note naming words the model never saw (then the answer is a guess).
    pub unknown_words_note: Option<String>,
    /// The unsure note, when the top answer is below the model's threshold.
    pub unsure_note: Option<String>,
    /// The out-of-world warning, when the GIF is unlike the model's training GIFs (then the
    /// answer is a guess too).
    pub out_of_world_note: Option<String>,
    /// The frames the question read, in the order of the transferred pixels.
    pub frames: Vec<FrameView>,
    /// Side of each frame in pixels; the transferred buffer holds `frames.len()` RGBA frames.
    pub frame_size: usize,
}

/// One frame the question read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrameView {
    /// Time as a fraction of the GIF's duration.
    pub time: f32,
    /// Question-frame similarity (-1..1).
    pub relevance: f32,
    /// Centre of the most-attended grid cell as (x, y) fractions of the frame's side.
    pub focus: Option<(f32, f32)>,
    /// Grid cells per side (the outline's size).
    pub cells_per_side: usize,
}
