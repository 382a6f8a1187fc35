//! The page's state and its event handlers: choosing a GIF (sample or file), asking, switching
//! backends. Work runs in spawned futures that yield to the event loop between steps, and the
//! controls are disabled meanwhile, so the page stays responsive and requests never interleave.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo::events::EventListener;
use js_sys::Reflect;
use serde::Serialize;
use shared_model::pipeline::{Prediction, validate};
use shared_model::samples::Sample;
use shared_model::sampling::SamplingStrategy;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{
    DragEvent, Element, HtmlButtonElement, HtmlElement, HtmlImageElement, HtmlInputElement, HtmlOptionElement,
    HtmlSelectElement,
};

use crate::assets::fetch_bytes;
use crate::dom::{Timings, by_id, create, render_results, set_text, show_error};
use crate::engine::{BackendKind, Encoded, Engine, PreparedGif, now_ms};
use crate::error::{WebError, WebResult, wrong_type};
use crate::yield_now;

/// Number of candidate boxes on the page.
const CANDIDATE_BOXES: usize = 5;

/// The GIF being asked about.
struct Current {
    /// File name shown to the user.
    name: String,
    /// The GIF file, kept to sample it again when the sampling choice changes.
    bytes: Rc<Vec<u8>>,
    prepared: Rc<PreparedGif>,
    /// Encoding of the clips, reused for further questions on the same backend.
    encoded: Option<(BackendKind, Rc<Encoded>)>,
}

/// What the page reports to scripts (`window.gifqa.last`), e.g. the end-to-end test.
#[derive(Serialize)]
struct Report<'a> {
    gif: &'a str,
    question: &'a str,
    candidates: &'a [String],
    backend: BackendKind,
    prediction: &'a Prediction,
    /// Whether the answer is a guess: the question or a candidate holds words the model never
    /// saw (`prediction.unknown_words`, named in the page's `#unknown-words` note).
    guess: bool,
    timings: Timings,
}

/// The running page.
pub struct App {
    engine: Engine,
    samples: Vec<Sample>,
    current: RefCell<Option<Current>>,
    backend: Cell<BackendKind>,
    busy: Cell<bool>,
    answers: Cell<u32>,
}

/// Sets `window.gifqa[key] = value` for scripts and tests.
pub fn publish(key: &str, value: &JsValue) {
    let Some(window) = web_sys::window() else { return };
    let root = Reflect::get(&window, &JsValue::from_str("gifqa")).ok().filter(|v| v.is_object()).unwrap_or_else(|| {
        let object = js_sys::Object::new().into();
        let _ = Reflect::set(&window, &JsValue::from_str("gifqa"), &object);
        object
    });
    let _ = Reflect::set(&root, &JsValue::from_str(key), value);
}

impl App {
    pub fn new(engine: Engine, samples: Vec<Sample>) -> Rc<App> {
        let backend = engine.fastest();
        Rc::new(App {
            engine,
            samples,
            current: RefCell::new(None),
            backend: Cell::new(backend),
            busy: Cell::new(false),
            answers: Cell::new(0),
        })
    }

    /// Builds the gallery and wires every control.
    pub fn attach(self: &Rc<Self>) -> WebResult<()> {
        self.build_gallery()?;
        self.build_backend_choice()?;
        self.build_sampling_choice()?;

        let answer: HtmlButtonElement = by_id("answer")?;
        let app = self.clone();
        EventListener::new(&answer, "click", move |_| app.clone().spawn(|app| async move { app.ask().await })).forget();

        let questions: HtmlSelectElement = by_id("sample-questions")?;
        let app = self.clone();
        EventListener::new(&questions, "change", move |_| {
            if let Err(e) = app.fill_sample_question() {
                show_error(&e.to_string());
            }
        })
        .forget();

        let input: HtmlInputElement = by_id("file-input")?;
        let app = self.clone();
        EventListener::new(&input.clone(), "change", move |_| {
            if let Some(file) = input.files().and_then(|files| files.get(0)) {
                app.clone().spawn(|app| async move { app.choose_file(file).await });
            }
            input.set_value("");
        })
        .forget();

        let zone: HtmlElement = by_id("drop-zone")?;
        for kind in ["dragenter", "dragover"] {
            let target = zone.clone();
            EventListener::new_with_options(&zone, kind, prevent_default(), move |event| {
                event.prevent_default();
                let _ = target.class_list().add_1("dragging");
            })
            .forget();
        }
        let target = zone.clone();
        EventListener::new(&zone, "dragleave", move |_| {
            let _ = target.class_list().remove_1("dragging");
        })
        .forget();
        let app = self.clone();
        let target = zone.clone();
        EventListener::new_with_options(&zone, "drop", prevent_default(), move |event| {
            event.prevent_default();
            let _ = target.class_list().remove_1("dragging");
            let file = event
                .dyn_ref::<DragEvent>()
                .and_then(DragEvent::data_transfer)
                .and_then(|t| t.files())
                .and_then(|files| files.get(0));
            if let Some(file) = file {
                app.clone().spawn(|app| async move { app.choose_file(file).await });
            }
        })
        .forget();
        Ok(())
    }

    /// Enables the page, first showing the sample GIF `first` when there is one.
    pub fn start_with(self: &Rc<Self>, first: Option<String>) {
        match first {
            Some(name) => self.clone().spawn(|app| async move { app.choose_sample(&name).await }),
            None => set_busy(false),
        }
    }

    /// Runs one piece of work with the controls disabled; its error goes to the error line.
    fn spawn<F, Fut>(self: Rc<Self>, work: F)
    where
        F: FnOnce(Rc<Self>) -> Fut + 'static,
        Fut: std::future::Future<Output = WebResult<()>> + 'static,
    {
        if self.busy.replace(true) {
            show_error("still working on the last request; try again in a moment");
            return;
        }
        set_busy(true);
        show_error("");
        spawn_local(async move {
            let result = work(self.clone()).await;
            self.busy.set(false);
            set_busy(false);
            if let Err(error) = result {
                show_error(&error.to_string());
                publish("error", &JsValue::from_str(&error.to_string()));
            }
        });
    }

    fn build_gallery(self: &Rc<Self>) -> WebResult<()> {
        let gallery: Element = by_id("gallery")?;
        let mut names: Vec<&str> = self.samples.iter().map(|s| s.gif.as_str()).collect();
        names.dedup();
        for name in names {
            let button = create("button", "sample")?;
            button.set_attribute("type", "button")?;
            button.set_attribute("data-gif", name)?;
            button.set_attribute("aria-label", &format!("sample {name}"))?;
            let image: HtmlImageElement = create("img", "")?.dyn_into().map_err(wrong_type)?;
            image.set_src(&format!("samples/{name}"));
            image.set_alt(name);
            button.append_child(&image)?;
            gallery.append_child(&button)?;
            let app = self.clone();
            let name = name.to_string();
            EventListener::new(&button, "click", move |_| {
                let name = name.clone();
                app.clone().spawn(|app| async move { app.choose_sample(&name).await });
            })
            .forget();
        }
        Ok(())
    }

    fn build_backend_choice(self: &Rc<Self>) -> WebResult<()> {
        let select: HtmlSelectElement = by_id("backend")?;
        select.set_value(match self.backend.get() {
            BackendKind::Cpu => "cpu",
            BackendKind::WebGpu => "webgpu",
        });
        if !self.engine.has_webgpu() {
            let option: HtmlOptionElement = by_id("backend-webgpu")?;
            option.set_disabled(true);
        }
        let warmup = &self.engine.warmup;
        let summary = match (warmup.webgpu_ms, &warmup.webgpu_missing) {
            (None, None) if warmup.webgpu_software => format!(
                "WebGPU runs on a software adapter here (slow; selectable); using the CPU ({:.0} ms per question)",
                warmup.cpu_ms
            ),
            (Some(gpu), _) => format!(
                "warm-up: WebGPU {gpu:.0} ms, CPU {:.0} ms per question → {}",
                warmup.cpu_ms,
                self.backend.get().label()
            ),
            (None, Some(why)) => format!("{why}; using the CPU ({:.0} ms per question)", warmup.cpu_ms),
            (None, None) => format!("CPU {:.0} ms per question", warmup.cpu_ms),
        };
        set_text("backend-info", &summary);
        publish("warmup", &serde_wasm_bindgen::to_value(warmup).unwrap_or(JsValue::NULL));
        publish("backend", &JsValue::from_str(backend_name(self.backend.get())));
        let app = self.clone();
        let target = select.clone();
        EventListener::new(&select, "change", move |_| {
            let kind = if target.value() == "webgpu" { BackendKind::WebGpu } else { BackendKind::Cpu };
            app.backend.set(kind);
            publish("backend", &JsValue::from_str(backend_name(kind)));
        })
        .forget();
        Ok(())
    }

    /// Fills the sampling select: the model's own strategy, uniform, keyframes and CLIP-Cut.
    fn build_sampling_choice(self: &Rc<Self>) -> WebResult<()> {
        let select: HtmlSelectElement = by_id("sampling")?;
        select.set_inner_html("");
        let default = self.engine.default_strategy();
        let uniform = SamplingStrategy::Uniform { frames: default.frames_read() };
        let choices = [
            (String::new(), format!("model default ({default})")),
            (uniform.to_string(), uniform.to_string()),
            (SamplingStrategy::Keyframes.to_string(), "keyframes".to_string()),
            ("clipcut:8".to_string(), "clipcut:8 (question picks 8 frames)".to_string()),
        ];
        for (value, label) in choices {
            let option: HtmlOptionElement = create("option", "")?.dyn_into().map_err(wrong_type)?;
            option.set_value(&value);
            option.set_text(&label);
            select.append_child(&option)?;
        }
        select.set_value("");
        Ok(())
    }

    /// The strategy chosen in the sampling select.
    fn chosen_strategy(&self) -> WebResult<SamplingStrategy> {
        let value = by_id::<HtmlSelectElement>("sampling")?.value();
        if value.is_empty() {
            return Ok(self.engine.default_strategy());
        }
        SamplingStrategy::parse(&value, self.engine.default_strategy().frames_read())
            .map_err(|e| WebError::Browser(e.to_string()))
    }

    /// Shows a sample GIF and its questions.
    async fn choose_sample(self: Rc<Self>, name: &str) -> WebResult<()> {
        let url = format!("samples/{name}");
        set_preview(&url)?;
        let bytes = fetch_bytes(&url).await?;
        self.fill_question_list(name)?;
        self.prepare(name, Rc::new(bytes)).await
    }

    /// Takes the user's own GIF. Its preview shows only once our decoder has accepted it, so the
    /// browser never renders a file that is not a GIF or is a decompression bomb.
    async fn choose_file(self: Rc<Self>, file: web_sys::File) -> WebResult<()> {
        let name = file.name();
        let blob: &web_sys::Blob = file.as_ref();
        let bytes = gloo::file::futures::read_as_bytes(&gloo::file::Blob::from(blob.clone()))
            .await
            .map_err(|e| WebError::Browser(format!("cannot read {name}: {e}")))?;
        self.fill_question_list("")?;
        self.prepare(&name, Rc::new(bytes)).await?;
        set_preview(&web_sys::Url::create_object_url_with_blob(blob)?)
    }

    /// Decodes and samples the chosen GIF with the chosen strategy; a bad file leaves no GIF chosen.
    async fn prepare(&self, name: &str, bytes: Rc<Vec<u8>>) -> WebResult<()> {
        self.current.replace(None);
        set_text("gif-info", &format!("{name}: decoding…"));
        yield_now().await;
        let strategy = self.chosen_strategy()?;
        let prepared = match self.engine.prepare(&bytes, strategy).await {
            Ok(prepared) => prepared,
            Err(error) => {
                // The preview would otherwise show the previous GIF above this one's message.
                if let Ok(image) = by_id::<Element>("preview") {
                    let _ = image.class_list().add_1("hidden");
                }
                set_text("gif-info", &format!("{name}: not usable"));
                return Err(error);
            }
        };
        set_text(
            "gif-info",
            &format!(
                "{name}: {} frames, {} sampled by {} (decode {:.0} ms, sample {:.0} ms)",
                prepared.frame_count,
                prepared.clips.iter().map(|c| c.times.len()).sum::<usize>(),
                prepared.strategy,
                prepared.decode_ms,
                prepared.sample_ms
            ),
        );
        let prepared = Rc::new(prepared);
        self.current.replace(Some(Current { name: name.to_string(), bytes, prepared, encoded: None }));
        publish("gif", &JsValue::from_str(name));
        Ok(())
    }

    /// Lists the sample questions of `gif` (none for the user's own GIF) and fills the first.
    fn fill_question_list(&self, gif: &str) -> WebResult<()> {
        let select: HtmlSelectElement = by_id("sample-questions")?;
        select.set_inner_html("");
        let custom: HtmlOptionElement = create("option", "")?.dyn_into().map_err(wrong_type)?;
        custom.set_value("");
        custom.set_text("your own question");
        select.append_child(&custom)?;
        for (index, sample) in self.samples.iter().enumerate().filter(|(_, s)| s.gif == gif) {
            let option: HtmlOptionElement = create("option", "")?.dyn_into().map_err(wrong_type)?;
            option.set_value(&index.to_string());
            option.set_text(&format!("{}: {}", sample.qtype, sample.question));
            select.append_child(&option)?;
        }
        let first = self.samples.iter().position(|s| s.gif == gif);
        select.set_value(&first.map(|i| i.to_string()).unwrap_or_default());
        self.fill_sample_question()
    }

    /// Copies the selected sample question into the question and candidate boxes.
    fn fill_sample_question(&self) -> WebResult<()> {
        let select: HtmlSelectElement = by_id("sample-questions")?;
        let Some(sample) = select.value().parse::<usize>().ok().and_then(|i| self.samples.get(i)) else {
            return Ok(());
        };
        by_id::<HtmlInputElement>("question")?.set_value(&sample.question);
        for i in 0..CANDIDATE_BOXES {
            let text = sample.candidates.get(i).map(String::as_str).unwrap_or("");
            by_id::<HtmlInputElement>(&format!("candidate-{i}"))?.set_value(text);
        }
        Ok(())
    }

    /// Answers the question in the boxes about the current GIF.
    async fn ask(self: Rc<Self>) -> WebResult<()> {
        let question = by_id::<HtmlInputElement>("question")?.value();
        let mut candidates = Vec::new();
        for i in 0..CANDIDATE_BOXES {
            let text = by_id::<HtmlInputElement>(&format!("candidate-{i}"))?.value();
            // Untouched boxes are skipped; a box of only spaces is reported as an empty candidate.
            if !text.is_empty() {
                candidates.push(text);
            }
        }
        let candidates = validate(&question, &candidates)?;
        // A new sampling choice samples the GIF again (and encodes it again below).
        let strategy = self.chosen_strategy()?;
        let stale = {
            let current = self.current.borrow();
            let current = current.as_ref().ok_or(WebError::NoGif)?;
            (current.prepared.strategy != strategy).then(|| (current.name.clone(), current.bytes.clone()))
        };
        if let Some((name, bytes)) = stale {
            self.prepare(&name, bytes).await?;
        }
        let (name, prepared, reusable) = {
            let current = self.current.borrow();
            let current = current.as_ref().ok_or(WebError::NoGif)?;
            let reusable = current.encoded.clone().filter(|(kind, _)| *kind == self.backend.get());
            (current.name.clone(), current.prepared.clone(), reusable)
        };
        let kind = self.backend.get();
        set_text("busy", &format!("encoding the GIF on {}…", kind.label()));
        yield_now().await;
        let (encoded, encode_ms) = match reusable {
            Some((_, encoded)) => (encoded, 0.0),
            None => {
                let start = now_ms();
                let encoded = Rc::new(self.engine.encode(kind, &prepared.clips).await?);
                let elapsed = now_ms() - start;
                if let Some(current) = self.current.borrow_mut().as_mut() {
                    current.encoded = Some((kind, encoded.clone()));
                }
                (encoded, elapsed)
            }
        };
        set_text("busy", "answering…");
        yield_now().await;
        let start = now_ms();
        let prediction =
            self.engine.answer(&encoded, &prepared.clips, prepared.strategy, &question, &candidates).await?;
        let timings = Timings {
            decode_ms: prepared.decode_ms,
            sample_ms: prepared.sample_ms,
            encode_ms,
            answer_ms: now_ms() - start,
            encode_reused: encode_ms == 0.0,
        };
        let note = self.engine.unsure_note();
        render_results(&prediction, &prepared.clips, self.engine.image_size(), kind, &timings, &note)?;
        let report = Report {
            gif: &name,
            question: &question,
            candidates: &candidates,
            backend: kind,
            prediction: &prediction,
            guess: prediction.guess(),
            timings,
        };
        let serializer = serde_wasm_bindgen::Serializer::json_compatible();
        publish("last", &report.serialize(&serializer).unwrap_or(JsValue::NULL));
        self.answers.set(self.answers.get() + 1);
        publish("answers", &JsValue::from(self.answers.get()));
        Ok(())
    }
}

/// Listener options that allow `prevent_default` (drag and drop).
fn prevent_default() -> gloo::events::EventListenerOptions {
    gloo::events::EventListenerOptions::enable_prevent_default()
}

fn backend_name(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Cpu => "cpu",
        BackendKind::WebGpu => "webgpu",
    }
}

fn set_preview(url: &str) -> WebResult<()> {
    let image: HtmlImageElement = by_id("preview")?;
    image.set_src(url);
    image.class_list().remove_1("hidden")?;
    Ok(())
}

/// Disables the controls while work runs and shows a spinner line.
fn set_busy(busy: bool) {
    if let Ok(controls) = by_id::<Element>("controls") {
        let _ = if busy { controls.set_attribute("disabled", "") } else { controls.remove_attribute("disabled") };
    }
    if let Ok(zone) = by_id::<Element>("drop-zone") {
        let _ = zone.class_list().toggle_with_force("busy", busy);
    }
    if !busy {
        set_text("busy", "");
    }
    publish("state", &JsValue::from_str(if busy { "busy" } else { "ready" }));
}
