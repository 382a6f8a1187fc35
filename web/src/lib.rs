//! The browser front end: fetches the model folder and samples from `www/` (cached with the Cache
//! API), builds the model on WebGPU and on the CPU in wasm, keeps the faster one (user-switchable),
//! and answers questions about GIFs through shared-model's pipeline, the code `trainer predict` runs.

mod app;
mod assets;
mod dom;
mod engine;
mod error;

use gloo::events::EventListener;
use shared_model::bundle::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use shared_model::manifest::{MANIFEST_FILE, Manifest};
use shared_model::samples::{SAMPLES_FILE, Sample};
use wasm_bindgen::prelude::*;
use web_sys::{HtmlElement, HtmlProgressElement};

use crate::app::{App, publish};
use crate::assets::{Source, fetch_text, model_file};
use crate::dom::{by_id, set_text, show_error};
use crate::engine::{Engine, ModelFiles};
use crate::error::WebResult;

/// Where the model folder and the samples are, relative to the page.
const MODEL_DIR: &str = "model/";
const SAMPLES_DIR: &str = "samples/";

/// Lets the browser render, and other events run, between long steps.
pub(crate) async fn yield_now() {
    gloo::timers::future::TimeoutFuture::new(0).await;
}

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
    wasm_bindgen_futures::spawn_local(async {
        if let Err(error) = run().await {
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

/// Loads everything, then hands the page to [`App`].
async fn run() -> WebResult<()> {
    let started = engine::now_ms();
    let manifest: Manifest = serde_json::from_str(&fetch_text(&format!("{MODEL_DIR}{MANIFEST_FILE}")).await?)?;
    let progress: HtmlProgressElement = by_id("load-progress")?;
    let total = manifest.total_bytes();
    progress.set_max(total as f64);
    progress.set_value(0.0);
    let mut done = 0u64;
    let mut sources = Vec::new();
    let mut files = Vec::new();
    let mut repaired = Vec::new();
    for name in [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE] {
        let (bytes, source) = model_file(MODEL_DIR, &manifest, name, &mut |loaded| {
            progress.set_value((done + loaded) as f64);
            set_text("load-text", &format!("Loading the model: {:.2} of {:.2} MB", mb(done + loaded), mb(total)));
        })
        .await?;
        done += bytes.len() as u64;
        if source == Source::Repaired {
            repaired.push(name);
        }
        sources.push(source);
        files.push(bytes);
    }
    report_repairs(&repaired);
    let from_cache = sources.iter().all(|s| *s == Source::Cache);
    let [config, weights, tokenizer] = <[Vec<u8>; 3]>::try_from(files).map_err(|_| {
        // Invariant: the loop above pushes exactly three files.
        error::WebError::Browser("model files missing".into())
    })?;
    let samples: Vec<Sample> = serde_json::from_str(&fetch_text(&format!("{SAMPLES_DIR}{SAMPLES_FILE}")).await?)?;
    set_text("load-text", "Preparing the model and measuring WebGPU against the CPU…");
    yield_now().await;
    let engine = Engine::load(&ModelFiles { config, weights, tokenizer }).await?;
    let first = samples.first().map(|s| s.gif.clone());
    let app = App::new(engine, samples);
    app.attach()?;
    let seconds = (engine::now_ms() - started) / 1000.0;
    let origin = if from_cache { "from the browser cache" } else { "downloaded" };
    set_text("load-text", &format!("Model ready ({:.2} MB {origin}, {seconds:.1} s).", mb(total)));
    progress.set_hidden(true);
    publish("loadSeconds", &JsValue::from(seconds));
    publish("modelSource", &JsValue::from_str(if from_cache { "cache" } else { "network" }));
    // Show the first sample right away; the page reports "ready" when that is done.
    app.start_with(first);
    Ok(())
}

/// Tells the user (`#notice`) and scripts (`window.gifqa.repaired`, always an array) which cached
/// model files failed their hash and were downloaded again.
fn report_repairs(repaired: &[&str]) {
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
