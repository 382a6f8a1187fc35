//! The browser front end's main thread: the page's controls and drawing. The model runs in a Web
//! Worker (`web-worker`, see [`worker`]): it downloads and checks the model (Cache API), builds it
//! on WebGPU and on the CPU in wasm, keeps the faster one (user-switchable), and decodes, samples
//! and answers with shared-model's pipeline, the code `trainer predict` runs, so that no step of
//! it can freeze the page.

mod app;
mod dom;
mod error;
mod fetch;
mod worker;

use std::rc::Rc;

use gloo::events::EventListener;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlElement, HtmlProgressElement};

use crate::app::{App, Sample, publish};
use crate::dom::{by_id, now_ms, set_text, show_error};
use crate::error::WebResult;
use crate::fetch::fetch_text;
use crate::worker::Client;

/// Where the samples are, relative to the page.
const SAMPLES_DIR: &str = "samples/";
/// The samples' list (shared_model::text::samples::SAMPLES_FILE).
const SAMPLES_FILE: &str = "samples.json";

thread_local! {
    /// The page's one model worker (restarted, never replaced, so handlers can hold it).
    static CLIENT: Rc<Client> = Client::new();
}

/// Starts the page once the wasm module loads.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    // A failed start (network down, a download that fails its hash twice) offers another try
    // without a reload. Nothing is attached to the page before the model loads, so running
    // `run` again is safe.
    if let Ok(retry) = by_id::<HtmlElement>("retry") {
        let button = retry.clone();
        EventListener::new(&retry, "click", move |_| {
            button.set_hidden(true);
            load();
        })
        .forget();
    }
    load();
}

/// Starts [`run`]; its error goes to the page, with the "Try again" button.
fn load() {
    show_error("");
    publish("state", &JsValue::from_str("loading"));
    publish("error", &JsValue::NULL);
    let client = CLIENT.with(Rc::clone);
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(error) = run(client).await {
            set_text("load-text", "The demo could not start.");
            show_error(&error.to_string());
            if let Ok(retry) = by_id::<HtmlElement>("retry") {
                retry.set_hidden(false);
            }
            publish("state", &JsValue::from_str("failed"));
            publish("error", &JsValue::from_str(&error.to_string()));
        }
    });
}

/// Has the worker load the model, then hands the page to [`App`].
async fn run(client: Rc<Client>) -> WebResult<()> {
    let started = now_ms();
    let progress: HtmlProgressElement = by_id("load-progress")?;
    progress.set_value(0.0);
    let loaded = client.load().await?;
    report_repairs(&loaded.repaired);
    let samples: Vec<Sample> = serde_json::from_str(&fetch_text(&format!("{SAMPLES_DIR}{SAMPLES_FILE}")).await?)?;
    let first = samples.first().map(|s| s.gif.clone());
    let (total, from_cache) = (loaded.total_bytes, loaded.from_cache);
    let app = App::new(client, loaded, samples);
    app.attach()?;
    let seconds = (now_ms() - started) / 1000.0;
    let origin = if from_cache { "from the browser cache" } else { "downloaded" };
    set_text("load-text", &format!("Model ready ({:.2} MB {origin}, {seconds:.1} s).", mb(total)));
    progress.set_hidden(true);
    publish("loadSeconds", &JsValue::from(seconds));
    publish("modelSource", &JsValue::from_str(if from_cache { "cache" } else { "network" }));
    // Show the first sample right away; the page reports "ready" when that is done.
    app.start_with(first);
    Ok(())
}

/// Shows the model download's progress (reported by the worker).
pub(crate) fn show_progress(loaded: u64, total: u64) {
    if let Ok(progress) = by_id::<HtmlProgressElement>("load-progress") {
        progress.set_max(total as f64);
        progress.set_value(loaded as f64);
    }
    set_text("load-text", &format!("Loading the model: {:.2} of {:.2} MB", mb(loaded), mb(total)));
}

/// Tells the user (`#notice`) and scripts (`window.gifqa.repaired`, always an array) which cached
/// model files failed their hash and were downloaded again.
fn report_repairs(repaired: &[String]) {
    let names = js_sys::Array::new();
    for name in repaired {
        names.push(&JsValue::from_str(name));
    }
    publish("repaired", &names);
    let note = match repaired {
        [] => String::new(),
        [one] => format!("The cached {one} was damaged; downloaded it again."),
        many => format!("The cached {} were damaged; downloaded them again.", many.join(", ")),
    };
    set_text("notice", &note);
    if let Ok(notice) = by_id::<HtmlElement>("notice") {
        notice.set_hidden(note.is_empty());
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}
