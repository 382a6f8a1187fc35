//! The page's state and its event handlers: choosing a GIF (sample or file), asking, switching
//! backends. The work itself runs in the model worker ([`Client`]); the controls are disabled
//! meanwhile so requests never interleave, except that choosing another GIF cancels whatever is
//! running (a big GIF still decoding, or an answer), and the new GIF goes ahead at once.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo::events::EventListener;
use js_sys::{ArrayBuffer, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_protocol::{Answer, BackendKind, Loaded, Prepared, Reply, Request, Timings};
use web_sys::{
    DragEvent, Element, HtmlButtonElement, HtmlElement, HtmlImageElement, HtmlInputElement, HtmlOptionElement,
    HtmlSelectElement,
};

use crate::dom::{by_id, create, render_results, set_text, show_error};
use crate::error::{WebError, WebResult, wrong_type};
use crate::fetch::fetch_buffer;
use crate::worker::Client;

/// Number of candidate boxes on the page.
const CANDIDATE_BOXES: usize = 5;

/// A sample question (`samples/samples.json`, shared_model::text::samples::Sample; the fields the page
/// uses).
#[derive(Debug, Clone, Deserialize)]
pub struct Sample {
    /// GIF file name inside the samples folder.
    pub gif: String,
    /// Question type tag.
    pub qtype: String,
    pub question: String,
    /// Candidates (empty for open-ended questions).
    pub candidates: Vec<String>,
}

/// What the page reports to scripts (`window.gifqa.last`), e.g. the end-to-end test.
#[derive(Serialize)]
struct Report<'a> {
    gif: &'a str,
    question: &'a str,
    candidates: &'a [String],
    backend: BackendKind,
    /// shared_model::answer::pipeline::Prediction, whole, as the worker sent it.
    prediction: &'a serde_json::Value,
    /// Whether the answer is a guess: the question or a candidate holds words the model never
    /// saw (`prediction.unknown_words`, named in the page's `#unknown-words` note).
    guess: bool,
    timings: Timings,
}

/// The running page.
pub struct App {
    client: Rc<Client>,
    loaded: Loaded,
    samples: Vec<Sample>,
    /// The GIF the worker has prepared, if any.
    gif: RefCell<Option<String>>,
    backend: Cell<BackendKind>,
    busy: Cell<bool>,
    /// Numbers each piece of work; one that was cancelled finds a newer number when it ends and
    /// leaves the page to the newer one.
    work: Cell<u32>,
    cancelled: Cell<u32>,
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
    pub fn new(client: Rc<Client>, loaded: Loaded, samples: Vec<Sample>) -> Rc<App> {
        let backend = loaded.fastest;
        Rc::new(App {
            client,
            loaded,
            samples,
            gif: RefCell::new(None),
            backend: Cell::new(backend),
            busy: Cell::new(false),
            work: Cell::new(0),
            cancelled: Cell::new(0),
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
        EventListener::new(&answer, "click", move |_| app.clone().spawn(false, |app| async move { app.ask().await }))
            .forget();

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
                app.clone().spawn(true, |app| async move { app.choose_file(file).await });
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
                app.clone().spawn(true, |app| async move { app.choose_file(file).await });
            }
        })
        .forget();
        Ok(())
    }

    /// Enables the page, first showing the sample GIF `first` when there is one.
    pub fn start_with(self: &Rc<Self>, first: Option<String>) {
        match first {
            Some(name) => self.clone().spawn(true, |app| async move { app.choose_sample(&name).await }),
            None => set_busy(false),
        }
    }

    /// Runs one piece of work with the controls disabled; its error goes to the error line. Work
    /// that `cancels` (choosing a GIF) ends the work in flight, if any, by restarting the worker;
    /// other work waits its turn.
    fn spawn<F, Fut>(self: Rc<Self>, cancels: bool, work: F)
    where
        F: FnOnce(Rc<Self>) -> Fut + 'static,
        Fut: std::future::Future<Output = WebResult<()>> + 'static,
    {
        if self.busy.replace(true) {
            if !cancels {
                show_error("still working on the last request; try again in a moment");
                return;
            }
            self.cancel();
        }
        let ticket = self.work.get().wrapping_add(1);
        self.work.set(ticket);
        set_busy(true);
        show_error("");
        spawn_local(async move {
            let result = work(self.clone()).await;
            if self.work.get() != ticket {
                return; // cancelled: the newer work owns the page
            }
            self.busy.set(false);
            set_busy(false);
            match result {
                Ok(()) | Err(WebError::Cancelled) => {}
                Err(error) => {
                    show_error(&error.to_string());
                    publish("error", &JsValue::from_str(&error.to_string()));
                }
            }
        });
    }

    /// Ends the work in flight (the worker is restarted; `window.gifqa.cancelled` counts it).
    fn cancel(&self) {
        self.client.restart();
        self.gif.replace(None);
        self.cancelled.set(self.cancelled.get() + 1);
        publish("cancelled", &JsValue::from(self.cancelled.get()));
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
                app.clone().spawn(true, |app| async move { app.choose_sample(&name).await });
            })
            .forget();
        }
        Ok(())
    }

    fn build_backend_choice(self: &Rc<Self>) -> WebResult<()> {
        let select: HtmlSelectElement = by_id("backend")?;
        select.set_value(self.backend.get().name());
        if !self.loaded.has_webgpu {
            let option: HtmlOptionElement = by_id("backend-webgpu")?;
            option.set_disabled(true);
        }
        let warmup = &self.loaded.warmup;
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
        publish_json("warmup", warmup);
        publish("backend", &JsValue::from_str(self.backend.get().name()));
        let app = self.clone();
        let target = select.clone();
        EventListener::new(&select, "change", move |_| {
            let kind = if target.value() == "webgpu" { BackendKind::WebGpu } else { BackendKind::Cpu };
            app.backend.set(kind);
            publish("backend", &JsValue::from_str(kind.name()));
        })
        .forget();
        Ok(())
    }

    /// Fills the sampling select with the worker's list: the model's own strategy, uniform,
    /// keyframes and CLIP-Cut.
    fn build_sampling_choice(self: &Rc<Self>) -> WebResult<()> {
        let select: HtmlSelectElement = by_id("sampling")?;
        select.set_inner_html("");
        for (value, label) in &self.loaded.sampling {
            let option: HtmlOptionElement = create("option", "")?.dyn_into().map_err(wrong_type)?;
            option.set_value(value);
            option.set_text(label);
            select.append_child(&option)?;
        }
        select.set_value("");
        Ok(())
    }

    /// The strategy chosen in the sampling select (empty: the model's own; the worker parses it).
    fn chosen_sampling() -> WebResult<String> {
        Ok(by_id::<HtmlSelectElement>("sampling")?.value())
    }

    /// Shows a sample GIF and its questions.
    async fn choose_sample(self: Rc<Self>, name: &str) -> WebResult<()> {
        let url = format!("samples/{name}");
        set_preview(&url)?;
        let bytes = fetch_buffer(&url).await?;
        self.fill_question_list(name)?;
        self.prepare(name, bytes).await
    }

    /// Takes the user's own GIF. Its preview shows only once our decoder has accepted it, so the
    /// browser never renders a file that is not a GIF or is a decompression bomb. The bytes go to
    /// the worker as they are (moved, never copied into this thread's wasm).
    async fn choose_file(self: Rc<Self>, file: web_sys::File) -> WebResult<()> {
        let name = file.name();
        let blob: &web_sys::Blob = file.as_ref();
        let bytes: ArrayBuffer = JsFuture::from(blob.array_buffer())
            .await
            .map_err(|e| WebError::Browser(format!("cannot read {name}: {}", WebError::from(e))))?
            .dyn_into()
            .map_err(wrong_type)?;
        self.fill_question_list("")?;
        self.prepare(&name, bytes).await?;
        set_preview(&web_sys::Url::create_object_url_with_blob(blob)?)
    }

    /// Has the worker decode and sample the chosen GIF with the chosen strategy; a bad file leaves
    /// no GIF chosen.
    async fn prepare(&self, name: &str, bytes: ArrayBuffer) -> WebResult<()> {
        self.gif.replace(None);
        set_text("gif-info", &format!("{name}: decoding…"));
        let request = Request::Prepare { name: name.to_string(), sampling: Self::chosen_sampling()? };
        let prepared = match self.client.request(&request, Some(bytes)).await {
            Ok(response) => match response.reply {
                Reply::Prepared(prepared) => prepared,
                other => return Err(WebError::Browser(format!("the model worker answered {other:?}"))),
            },
            Err(WebError::Cancelled) => return Err(WebError::Cancelled),
            Err(error) => {
                // The preview would otherwise show the previous GIF above this one's message.
                if let Ok(image) = by_id::<Element>("preview") {
                    let _ = image.class_list().add_1("hidden");
                }
                set_text("gif-info", &format!("{name}: not usable"));
                return Err(error);
            }
        };
        describe(&prepared);
        self.gif.replace(Some(name.to_string()));
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

    /// Answers the question in the boxes about the current GIF (the worker checks the question,
    /// samples again when the Frames choice changed, and reuses the GIF's encoding when it can).
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
        if self.gif.borrow().is_none() {
            return Err(WebError::Browser("choose a sample GIF or drop your own GIF first".into()));
        }
        let request =
            Request::Ask { question, candidates, sampling: Self::chosen_sampling()?, backend: self.backend.get() };
        let response = self.client.request(&request, None).await?;
        let Reply::Answered(answer) = response.reply else {
            return Err(WebError::Browser("the model worker answered out of turn".into()));
        };
        if let Some(prepared) = &answer.resampled {
            describe(prepared);
        }
        let pixels = response.buffer.map(|b| Uint8Array::new(&b).to_vec()).unwrap_or_default();
        render_results(&answer, &pixels)?;
        self.report(&answer);
        Ok(())
    }

    /// Publishes an answer for scripts (`window.gifqa.last`, `answers`, `restartMs`).
    fn report(&self, answer: &Answer) {
        let report = Report {
            gif: &answer.gif,
            question: &answer.question,
            candidates: &answer.candidates,
            backend: answer.backend,
            prediction: &answer.prediction,
            guess: answer.view.unknown_words_note.is_some(),
            timings: answer.timings,
        };
        publish_json("last", &report);
        self.answers.set(self.answers.get() + 1);
        publish("answers", &JsValue::from(self.answers.get()));
        if let Some(ms) = self.client.restart_ms() {
            publish("restartMs", &JsValue::from(ms));
        }
    }
}

/// Shows what the worker made of a GIF.
fn describe(prepared: &Prepared) {
    set_text(
        "gif-info",
        &format!(
            "{}: {} frames, {} sampled by {} (decode {:.0} ms, sample {:.0} ms)",
            prepared.name,
            prepared.frame_count,
            prepared.sampled,
            prepared.strategy,
            prepared.decode_ms,
            prepared.sample_ms
        ),
    );
}

/// Sets `window.gifqa[key]` to `value` as a plain object (through JSON: small values only).
pub fn publish_json<T: Serialize>(key: &str, value: &T) {
    let parsed = serde_json::to_string(value).ok().and_then(|json| js_sys::JSON::parse(&json).ok());
    publish(key, &parsed.unwrap_or(JsValue::NULL));
}

/// Listener options that allow `prevent_default` (drag and drop).
fn prevent_default() -> gloo::events::EventListenerOptions {
    gloo::events::EventListenerOptions::enable_prevent_default()
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
