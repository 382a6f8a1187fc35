//! Fetching the page's own small files (samples.json and the sample GIFs) with relative URLs, so
//! the site works from any sub-path. The model is fetched by the worker.

use js_sys::ArrayBuffer;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_common::fetch_fresh;

use crate::error::{WebResult, wrong_type};

pub use web_common::fetch_text;

/// Fetches a binary file whole, as a buffer that can be moved to the worker.
pub async fn fetch_buffer(url: &str) -> WebResult<ArrayBuffer> {
    let response = fetch_fresh(url).await?;
    JsFuture::from(response.array_buffer()?).await?.dyn_into().map_err(wrong_type)
}
