//! The worker's message loop and its state (the model, the current GIF and its encoding). The
//! page sends one request at a time, but messages are still queued and handled in order, so a
//! request never runs beside another.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use js_sys::{Array, ArrayBuffer, Uint8Array};
use shared_model::answer::pipeline::validate;
use shared_model::bundle::manifest::{MANIFEST_FILE, Manifest};
use shared_model::bundle::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use wasm_bindgen::prelude::*;
use web_protocol::{Answer, BackendKind, Loaded, Prepared, Reply, Request, Timings};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::assets::{Source, fetch_text, model_file};
use crate::engine::{Encoded, Engine, ModelFiles, PreparedGif, now_ms};
use crate::error::{WebError, WebResult, model};
use crate::view::answer_view;

/// Where the model folder is, relative to the worker's script (beside index.html).
const MODEL_DIR: &str = "model/";

/// A request and the buffer that came with it.
struct Message {
    request: Request,
    buffer: Option<ArrayBuffer>,
}

/// The GIF being asked about.
struct Current {
    name: String,
    /// The GIF file, kept to sample it again when the sampling choice changes.
    bytes: Vec<u8>,
    prepared: PreparedGif,
    /// Encoding of the clips, reused for further questions on the same backend.
    encoded: Option<(BackendKind, Encoded)>,
}

#[derive(Default)]
struct State {
    engine: Option<Engine>,
    current: Option<Current>,
}

#[derive(Default)]
struct Worker {
    queue: RefCell<VecDeque<Message>>,
    running: Cell<bool>,
    state: RefCell<State>,
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// Starts handling the page's messages.
pub fn listen() {
    let worker = Rc::new(Worker::default());
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| worker.clone().receive(&event));
    scope().set_onmessage(Some(handler.as_ref().unchecked_ref()));
    // The worker lives as long as its handler: until the page terminates it.
    handler.forget();
    post(&Reply::Started, None);
}

/// Sends `reply` to the page, moving `buffer` (not copying it).
fn post(reply: &Reply, buffer: Option<ArrayBuffer>) {
    let json = serde_json::to_string(reply)
        .unwrap_or_else(|e| format!(r#"{{"Failed":{{"error":"the worker could not encode its reply: {e}"}}}}"#));
    let (message, transfer) = web_common::message_with_transfer(&json, buffer);
    if let Err(error) = scope().post_message_with_transfer(&message, &transfer) {
        web_sys::console::error_2(&JsValue::from_str("gifqa worker: postMessage failed"), &error);
    }
}

/// Reads `[json, buffer?]` as the page sends it.
fn parse(data: &JsValue) -> WebResult<Message> {
    let parts: Array =
        data.clone().dyn_into().map_err(|_| WebError::Browser("a message is not [json, buffer]".into()))?;
    let json = parts.get(0).as_string().ok_or_else(|| WebError::Browser("a message has no JSON".into()))?;
    let request = serde_json::from_str(&json)?;
    let buffer = parts.get(1).dyn_into::<ArrayBuffer>().ok();
    Ok(Message { request, buffer })
}

impl Worker {
    fn receive(self: Rc<Self>, event: &MessageEvent) {
        match parse(&event.data()) {
            Ok(message) => self.queue.borrow_mut().push_back(message),
            Err(error) => return post(&Reply::Failed { error: error.to_string() }, None),
        }
        if !self.running.replace(true) {
            wasm_bindgen_futures::spawn_local(async move { self.drain().await });
        }
    }

    /// Handles queued messages in order until none is left.
    async fn drain(&self) {
        loop {
            let Some(message) = self.queue.borrow_mut().pop_front() else { break };
            // Only this loop touches the state, and it handles one message at a time.
            let mut state = self.state.take();
            let (reply, buffer) = match state.handle(message).await {
                Ok(done) => done,
                Err(error) => (Reply::Failed { error: error.to_string() }, None),
            };
            self.state.replace(state);
            post(&reply, buffer);
        }
        self.running.set(false);
    }
}

impl State {
    async fn handle(&mut self, message: Message) -> WebResult<(Reply, Option<ArrayBuffer>)> {
        match message.request {
            Request::Load { warm_up } => Ok((Reply::Loaded(Box::new(self.load(warm_up).await?)), None)),
            Request::Prepare { name, sampling } => {
                let buffer = message.buffer.ok_or_else(|| WebError::Browser("the GIF's bytes are missing".into()))?;
                let bytes = Uint8Array::new(&buffer).to_vec();
                Ok((Reply::Prepared(self.prepare(name, bytes, &sampling).await?), None))
            }
            Request::Ask { question, candidates, sampling, backend } => {
                let (answer, pixels) = self.ask(question, &candidates, &sampling, backend).await?;
                Ok((Reply::Answered(Box::new(answer)), Some(Uint8Array::from(pixels.as_slice()).buffer())))
            }
        }
    }

    fn engine(&self) -> WebResult<&Engine> {
        self.engine.as_ref().ok_or_else(|| WebError::Browser("the model is not loaded yet".into()))
    }

    /// Gets the three model files (reporting progress), then builds the model.
    async fn load(&mut self, warm_up: bool) -> WebResult<Loaded> {
        let started = now_ms();
        self.engine = None;
        self.current = None;
        let manifest: Manifest = serde_json::from_str(&fetch_text(&format!("{MODEL_DIR}{MANIFEST_FILE}")).await?)?;
        let total = manifest.total_bytes();
        let mut done = 0u64;
        let (mut files, mut sources, mut repaired) = (Vec::new(), Vec::new(), Vec::new());
        for name in [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE] {
            let (bytes, source) = model_file(MODEL_DIR, &manifest, name, &mut |loaded| {
                post(&Reply::Progress { loaded: done + loaded, total }, None);
            })
            .await?;
            done += bytes.len() as u64;
            if source == Source::Repaired {
                repaired.push(name.to_string());
            }
            sources.push(source);
            files.push(bytes);
        }
        let [config, weights, tokenizer] = <[Vec<u8>; 3]>::try_from(files).map_err(|_| {
            // Invariant: the loop above pushes exactly three files.
            WebError::Browser("model files missing".into())
        })?;
        post(&Reply::Status { text: "Preparing the model and measuring WebGPU against the CPU…".into() }, None);
        let engine = Engine::load(&ModelFiles { config, weights, tokenizer }, warm_up).await?;
        let loaded = Loaded {
            warmup: engine.warmup.clone(),
            has_webgpu: engine.has_webgpu(),
            fastest: engine.fastest(),
            sampling: engine.sampling_choices(),
            total_bytes: total,
            from_cache: sources.iter().all(|s| *s == Source::Cache),
            repaired,
            load_ms: now_ms() - started,
        };
        self.engine = Some(engine);
        Ok(loaded)
    }

    /// Decodes and samples a GIF; a bad file leaves no GIF chosen.
    async fn prepare(&mut self, name: String, bytes: Vec<u8>, sampling: &str) -> WebResult<Prepared> {
        self.current = None;
        let engine = self.engine()?;
        let prepared = engine.prepare(&bytes, engine.strategy_named(sampling)?).await?;
        let info = describe(&name, &prepared);
        self.current = Some(Current { name, bytes, prepared, encoded: None });
        Ok(info)
    }

    /// Answers a question about the current GIF: samples it again when the sampling changed,
    /// encodes it unless this backend already did, then answers.
    async fn ask(
        &mut self,
        question: String,
        candidates: &[String],
        sampling: &str,
        backend: BackendKind,
    ) -> WebResult<(Answer, Vec<u8>)> {
        let candidates = validate(&question, candidates).map_err(model)?;
        let strategy = self.engine()?.strategy_named(sampling)?;
        let current = self.current.as_ref().ok_or(WebError::NoGif)?;
        let mut resampled = None;
        if current.prepared.strategy != strategy {
            let (name, bytes) = (current.name.clone(), current.bytes.clone());
            resampled = Some(self.prepare(name, bytes, sampling).await?);
        }
        let engine = self.engine.as_ref().ok_or(WebError::NoGif)?;
        let current = self.current.as_mut().ok_or(WebError::NoGif)?;
        let mut encode_ms = 0.0;
        if current.encoded.as_ref().is_none_or(|(kind, _)| *kind != backend) {
            post(&Reply::Status { text: format!("encoding the GIF on {}…", backend.label()) }, None);
            let start = now_ms();
            current.encoded = Some((backend, engine.encode(backend, &current.prepared.clips).await?));
            encode_ms = now_ms() - start;
        }
        let Some((_, encoded)) = &current.encoded else { return Err(WebError::NoGif) };
        post(&Reply::Status { text: "answering…".into() }, None);
        let prepared = &current.prepared;
        let start = now_ms();
        let prediction = engine.answer(encoded, &prepared.clips, prepared.strategy, &question, &candidates).await?;
        let timings = Timings {
            decode_ms: prepared.decode_ms,
            sample_ms: prepared.sample_ms,
            encode_ms,
            answer_ms: now_ms() - start,
            encode_reused: encode_ms == 0.0,
        };
        let (view, pixels) = answer_view(&prediction, &prepared.clips, engine.image_size(), &engine.unsure_note());
        let answer = Answer {
            gif: current.name.clone(),
            question,
            candidates,
            backend,
            prediction: serde_json::to_value(&prediction)?,
            view,
            timings,
            resampled,
        };
        Ok((answer, pixels))
    }
}

/// What the page says about a prepared GIF.
fn describe(name: &str, prepared: &PreparedGif) -> Prepared {
    Prepared {
        name: name.to_string(),
        frame_count: prepared.frame_count,
        sampled: prepared.clips.iter().map(|c| c.times.len()).sum(),
        strategy: prepared.strategy.to_string(),
        decode_ms: prepared.decode_ms,
        sample_ms: prepared.sample_ms,
    }
}
