//! Browser glue both of the page's threads use: the main thread (`web`) fetches the samples from
//! its window, the worker (`web-worker`) fetches the model from its global scope; both read
//! JavaScript errors the same way, and show the same kinds of error ([`WebError`]). Relative URLs resolve against the page (the worker's script
//! sits beside index.html), so the site works from any sub-path.

mod error;

pub use error::{WebError, WebResult, wrong_type};

use js_sys::{Array, ArrayBuffer, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestCache, RequestInit, Response, Window, WorkerGlobalScope};

/// A file of the site could not be fetched.
#[derive(Debug, thiserror::Error)]
#[error("could not load {url}: {reason}")]
pub struct FetchError {
    /// The URL asked for.
    pub url: String,
    /// Why: the browser's message or the HTTP status.
    pub reason: String,
}

/// The message of a JavaScript error (an `Error`'s message, a thrown string, or its debug form).
pub fn js_error_text(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}

/// Starts a fetch from whichever global this code runs in: a window or a worker's scope.
fn start_fetch(url: &str, init: &RequestInit) -> Result<Promise, String> {
    let global = js_sys::global();
    if let Some(window) = global.dyn_ref::<Window>() {
        Ok(window.fetch_with_str_and_init(url, init))
    } else if let Some(scope) = global.dyn_ref::<WorkerGlobalScope>() {
        Ok(scope.fetch_with_str_and_init(url, init))
    } else {
        Err("this context can not fetch (neither a window nor a worker)".into())
    }
}

/// GETs `url`, revalidating with the server (files that must be current); any status but 2xx
/// is an error.
pub async fn fetch_fresh(url: &str) -> Result<Response, FetchError> {
    let failed = |reason: String| FetchError { url: url.into(), reason };
    let init = RequestInit::new();
    init.set_cache(RequestCache::NoCache);
    let promise = start_fetch(url, &init).map_err(failed)?;
    let response: Response = JsFuture::from(promise)
        .await
        .map_err(|e| failed(js_error_text(&e)))?
        .dyn_into()
        .map_err(|_| failed("the browser returned something other than a response".into()))?;
    if !response.ok() {
        return Err(failed(format!("HTTP {}", response.status())));
    }
    Ok(response)
}

/// Fetches a text file.
pub async fn fetch_text(url: &str) -> Result<String, FetchError> {
    let failed = |reason: String| FetchError { url: url.into(), reason };
    let response = fetch_fresh(url).await?;
    let promise = response.text().map_err(|e| failed(js_error_text(&e)))?;
    let text = JsFuture::from(promise).await.map_err(|e| failed(js_error_text(&e)))?;
    text.as_string().ok_or_else(|| failed("not text".into()))
}

/// The message the page and its worker exchange: `[json, buffer]` (the buffer `undefined` when
/// there is none), and the transfer list that moves the buffer instead of copying it. Post both
/// with `post_message_with_transfer`.
pub fn message_with_transfer(json: &str, buffer: Option<ArrayBuffer>) -> (Array, Array) {
    let transfer = Array::new();
    let attached = match buffer {
        Some(buffer) => {
            transfer.push(&buffer);
            buffer.into()
        }
        None => JsValue::UNDEFINED,
    };
    (Array::of2(&JsValue::from_str(json), &attached), transfer)
}
