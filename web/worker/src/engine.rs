//! The model on both browser backends (CPU-wasm `Flex` and `WebGpu`), the warm-up that picks the
//! faster one, and the three timed steps of answering (prepare, encode, answer), all through
//! shared-model's pipeline: the same code `trainer predict` runs. It runs in the page's worker, so
//! nothing here needs to yield: the page stays responsive while a step runs to its end.

use burn::backend::Flex;
use burn::backend::wgpu::{RuntimeOptions, WebGpu, WgpuDevice, graphics, init_setup_async};
use js_sys::Reflect;
use shared_model::answer::pipeline::{
    ClipAggregation, INFERENCE_SEED, Prediction, answer_encoded, encode_clips, prepare_gif, settle,
};
use shared_model::bundle::ModelBundle;
use shared_model::gif::{DecodeLimits, decode_gif};
use shared_model::model::VideoEncoding;
use shared_model::preprocess::PreparedClip;
use shared_model::sampling::SamplingStrategy;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_protocol::{BackendKind, Warmup};

use crate::error::{WebError, WebResult, model};

/// Decoded bytes allowed in the browser: a quarter of the native limit (a tab has less memory).
const BROWSER_LIMITS: DecodeLimits =
    DecodeLimits { max_canvas_pixels: 4096 * 4096, max_frames: 4000, max_total_bytes: 256 << 20 };

/// The three model files' contents.
pub struct ModelFiles {
    pub config: Vec<u8>,
    pub weights: Vec<u8>,
    pub tokenizer: Vec<u8>,
}

/// A GIF decoded, sampled and preprocessed: everything before the model.
pub struct PreparedGif {
    /// The strategy that sampled the clips (answers must use the same one).
    pub strategy: SamplingStrategy,
    /// The sampled clips.
    pub clips: Vec<PreparedClip>,
    /// Decoded frame count.
    pub frame_count: usize,
    /// Milliseconds spent decoding.
    pub decode_ms: f64,
    /// Milliseconds spent sampling and resizing.
    pub sample_ms: f64,
}

/// A GIF's encoding on one backend (held once per GIF, so the size difference does not matter).
#[allow(clippy::large_enum_variant)]
pub enum Encoded {
    Cpu(VideoEncoding<Flex>),
    Gpu(VideoEncoding<WebGpu>),
}

/// Both backends' copies of the model.
pub struct Engine {
    cpu: ModelBundle<Flex>,
    gpu: Option<(ModelBundle<WebGpu>, WgpuDevice)>,
    strategy: SamplingStrategy,
    /// Measured at start-up.
    pub warmup: Warmup,
}

/// `performance.now()` in milliseconds (in a window or a worker).
pub fn now_ms() -> f64 {
    Reflect::get(&js_sys::global(), &JsValue::from_str("performance"))
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map_or(0.0, |p| p.now())
}

/// What `navigator.gpu.requestAdapter()` gives.
enum Adapter {
    /// A hardware adapter.
    Hardware,
    /// A software fallback (e.g. SwiftShader): correct but far slower than the CPU backend.
    Software,
}

/// Asks `navigator.gpu` for an adapter in JS first: a missing adapter must not reach wgpu, whose
/// failure would abort the wasm instance. In the worker this is `WorkerNavigator.gpu`, which wgpu
/// uses there too.
async fn webgpu_adapter() -> Result<Adapter, String> {
    let navigator = Reflect::get(&js_sys::global(), &JsValue::from_str("navigator")).map_err(|_| "no navigator")?;
    let gpu = Reflect::get(&navigator, &JsValue::from_str("gpu")).map_err(|_| "no navigator.gpu")?;
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser has no WebGPU (navigator.gpu is missing)".into());
    }
    let request = Reflect::get(&gpu, &JsValue::from_str("requestAdapter")).map_err(|_| "no requestAdapter")?;
    let request: js_sys::Function = request.into();
    let promise: js_sys::Promise = request.call0(&gpu).map_err(|_| "requestAdapter failed")?.into();
    let adapter = JsFuture::from(promise).await.map_err(|_| "requestAdapter failed")?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("WebGPU has no adapter on this machine".into());
    }
    // `info.isFallbackAdapter` in current browsers, `isFallbackAdapter` on the adapter in older ones.
    let flag = |object: &JsValue| Reflect::get(object, &JsValue::from_str("isFallbackAdapter")).ok()?.as_bool();
    let info = Reflect::get(&adapter, &JsValue::from_str("info")).unwrap_or(JsValue::UNDEFINED);
    let software = flag(&info).or_else(|| flag(&adapter)).unwrap_or(false);
    Ok(if software { Adapter::Software } else { Adapter::Hardware })
}

impl Engine {
    /// Builds the model on the CPU and, when possible, on WebGPU; with `warm_up`, times one warm
    /// question on each (a worker restarted after a cancel skips it: the page already chose).
    pub async fn load(files: &ModelFiles, warm_up: bool) -> WebResult<Engine> {
        let cpu = ModelBundle::<Flex>::from_bytes(
            &files.config,
            files.weights.clone(),
            &files.tokenizer,
            &Default::default(),
        )
        .map_err(model)?;
        let strategy = cpu.config.sampling.parse().map_err(|e: shared_model::sampling::SamplingError| {
            WebError::Browser(format!("config.json names a bad sampling strategy: {e}"))
        })?;
        let adapter = webgpu_adapter().await;
        let gpu = match adapter {
            Ok(_) => {
                let device = WgpuDevice::default();
                init_setup_async::<graphics::WebGpu>(&device, RuntimeOptions::default()).await;
                let bundle =
                    ModelBundle::<WebGpu>::from_bytes(&files.config, files.weights.clone(), &files.tokenizer, &device)
                        .map_err(model)?;
                Some((bundle, device))
            }
            Err(_) => None,
        };
        let software = matches!(adapter, Ok(Adapter::Software));
        let webgpu_missing = adapter.err();
        let warmup = Warmup { cpu_ms: 0.0, webgpu_ms: None, webgpu_missing, webgpu_software: software };
        let mut engine = Engine { cpu, gpu, strategy, warmup };
        if !warm_up {
            return Ok(engine);
        }
        engine.warmup.cpu_ms = engine.warm(BackendKind::Cpu).await?;
        // A software adapter takes tens of seconds to compile the kernels and is never faster
        // than the CPU backend: it stays selectable but is not timed (or preferred) at start.
        if engine.gpu.is_some() && !software {
            engine.warmup.webgpu_ms = Some(engine.warm(BackendKind::WebGpu).await?);
        }
        Ok(engine)
    }

    /// Backends available here.
    pub fn has_webgpu(&self) -> bool {
        self.gpu.is_some()
    }

    /// The backend the warm-up found faster.
    pub fn fastest(&self) -> BackendKind {
        match self.warmup.webgpu_ms {
            Some(gpu) if gpu < self.warmup.cpu_ms => BackendKind::WebGpu,
            _ => BackendKind::Cpu,
        }
    }

    /// Times a question on a blank clip, after one untimed run (shader compilation, allocation).
    async fn warm(&self, kind: BackendKind) -> WebResult<f64> {
        let size = self.cpu.config.preprocess.image_size;
        let frames = self.strategy.frames_per_clip();
        let blank = PreparedClip {
            pixels: vec![128; frames * size * size * 3],
            times: (0..frames).map(|i| i as f32 / frames as f32).collect(),
            sources: (0..frames).map(Some).collect(),
        };
        let clips = [blank];
        let candidates: Vec<String> = ["a", "b"].map(String::from).to_vec();
        let mut elapsed = 0.0;
        for _ in 0..2 {
            let start = now_ms();
            let encoded = self.encode(kind, &clips).await?;
            self.answer(&encoded, &clips, self.strategy, "warm up ?", &candidates).await?;
            elapsed = now_ms() - start;
        }
        Ok(elapsed)
    }

    /// Decodes and samples a GIF with `strategy` (CPU work, the same on both backends).
    pub async fn prepare(&self, bytes: &[u8], strategy: SamplingStrategy) -> WebResult<PreparedGif> {
        let start = now_ms();
        let gif = decode_gif(bytes, &BROWSER_LIMITS).map_err(model)?;
        let decode_ms = now_ms() - start;
        let start = now_ms();
        let clips = prepare_gif(&gif, strategy, &self.cpu.config.preprocess, INFERENCE_SEED);
        let sample_ms = now_ms() - start;
        Ok(PreparedGif { strategy, clips, frame_count: gif.frames.len(), decode_ms, sample_ms })
    }

    /// Encodes clips on `kind` and waits for the device to finish.
    pub async fn encode(&self, kind: BackendKind, clips: &[PreparedClip]) -> WebResult<Encoded> {
        Ok(match (kind, &self.gpu) {
            (BackendKind::WebGpu, Some((bundle, device))) => {
                let video = encode_clips(bundle, clips, device);
                settle(&video).await.map_err(model)?;
                Encoded::Gpu(video)
            }
            _ => {
                let video = encode_clips(&self.cpu, clips, &Default::default());
                settle(&video).await.map_err(model)?;
                Encoded::Cpu(video)
            }
        })
    }

    /// Answers a question from an encoding (on the backend that made it) of `clips`, sampled by
    /// `strategy`.
    pub async fn answer(
        &self,
        encoded: &Encoded,
        clips: &[PreparedClip],
        strategy: SamplingStrategy,
        question: &str,
        candidates: &[String],
    ) -> WebResult<Prediction> {
        let aggregation = ClipAggregation::Mean;
        Ok(match (encoded, &self.gpu) {
            (Encoded::Gpu(video), Some((bundle, device))) => {
                answer_encoded(bundle, video, clips, strategy, question, candidates, aggregation, device)
                    .await
                    .map_err(model)?
            }
            (Encoded::Cpu(video), _) => {
                let device = Default::default();
                answer_encoded(&self.cpu, video, clips, strategy, question, candidates, aggregation, &device)
                    .await
                    .map_err(model)?
            }
            (Encoded::Gpu(_), None) => return Err(WebError::Browser("WebGPU is not available".into())),
        })
    }

    /// What the page says under an unsure answer of this model (its calibrated threshold).
    pub fn unsure_note(&self) -> String {
        shared_model::answer::pipeline::unsure_note_for(&self.cpu.config)
    }

    /// The Frames menu: the model's own strategy, uniform, keyframes and CLIP-Cut, as (value, label).
    pub fn sampling_choices(&self) -> Vec<(String, String)> {
        let default = self.strategy;
        let uniform = SamplingStrategy::Uniform { frames: default.frames_read() };
        vec![
            (String::new(), format!("model default ({default})")),
            (uniform.to_string(), uniform.to_string()),
            (SamplingStrategy::Keyframes.to_string(), "keyframes".to_string()),
            ("clipcut:8".to_string(), "clipcut:8 (question picks 8 frames)".to_string()),
        ]
    }

    /// The strategy a Frames menu value names (empty: the model's own).
    pub fn strategy_named(&self, value: &str) -> WebResult<SamplingStrategy> {
        if value.is_empty() {
            return Ok(self.strategy);
        }
        SamplingStrategy::parse(value, self.strategy.frames_read()).map_err(|e| WebError::Browser(e.to_string()))
    }

    /// The model's input size (for drawing the sampled frames).
    pub fn image_size(&self) -> usize {
        self.cpu.config.preprocess.image_size
    }
}
