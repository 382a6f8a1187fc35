//! Fetching the page's own small files (samples.json and the sample GIFs) with relative URLs, so
//! the site works from any sub-path. The model is fetched by the worker.

use js_sys::ArrayBuffer;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestCache, RequestInit, Response};

use crate::error::{WebError, WebResult, wrong_type};

/// GETs `url`, revalidating with the server (files that must be current).
async fn fetch_fresh(url: &str) -> WebResult<Response> {
    let window = web_sys::window().ok_or_else(|| WebError::Browser("no window".into()))?;
    let init = RequestInit::new();
    init.set_cache(RequestCache::NoCache);
    let response: Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|e| WebError::Fetch { url: url.into(), reason: WebError::from(e).to_string() })?
        .dyn_into()?;
    if !response.ok() {
        return Err(WebError::Fetch { url: url.into(), reason: format!("HTTP {}", response.status()) });
    }
    Ok(response)
}

/// Fetches a text file.
pub async fn fetch_text(url: &str) -> WebResult<String> {
    let response = fetch_fresh(url).await?;
    let text = JsFuture::from(response.text()?).await?;
    text.as_string().ok_or_else(|| WebError::Fetch { url: url.into(), reason: "not text".into() })
}

/// Fetches a binary file whole, as a buffer that can be moved to the worker.
pub async fn fetch_buffer(url: &str) -> WebResult<ArrayBuffer> {
    let response = fetch_fresh(url).await?;
    JsFuture::from(response.array_buffer()?).await?.dyn_into().map_err(wrong_type)
}
