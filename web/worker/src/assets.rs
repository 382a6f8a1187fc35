//! Fetching the model from the worker: relative URLs (resolved against the worker's script, which
//! sits beside index.html, so the site works from any sub-path), download progress, and the Cache
//! API keyed by each file's SHA-256 from `manifest.json`. Hashing happens here, off the page's
//! main thread, however big the files are.

use js_sys::{Reflect, Uint8Array};
use shared_model::manifest::{Manifest, ManifestEntry};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, ReadableStreamDefaultReader, Response};

use crate::error::{WebResult, model, wrong_type};

use web_common::fetch_fresh;
pub use web_common::fetch_text;

/// Cache API bucket for model files.
const CACHE_NAME: &str = "gifqa-model";

/// The worker's global scope (fetch and the Cache API live there).
fn scope() -> web_sys::WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// Reads a response body chunk by chunk, reporting the bytes read so far.
async fn read_with_progress(response: Response, on_progress: &mut dyn FnMut(u64)) -> WebResult<Vec<u8>> {
    let Some(body) = response.body() else {
        let buffer = JsFuture::from(response.array_buffer()?).await?;
        return Ok(Uint8Array::new(&buffer).to_vec());
    };
    let reader: ReadableStreamDefaultReader = body.get_reader().dyn_into().map_err(wrong_type)?;
    let mut bytes = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await?;
        if Reflect::get(&chunk, &JsValue::from_str("done"))?.as_bool().unwrap_or(true) {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &JsValue::from_str("value"))?.dyn_into()?;
        bytes.extend(value.to_vec());
        on_progress(bytes.len() as u64);
    }
    Ok(bytes)
}

/// The Cache API bucket, when the page may use one (secure contexts only).
async fn open_cache() -> Option<Cache> {
    let caches = scope().caches().ok()?;
    JsFuture::from(caches.open(CACHE_NAME)).await.ok()?.dyn_into().ok()
}

/// Cache key of one version of a file.
fn cache_key(url: &str, entry: &ManifestEntry) -> String {
    format!("{url}?sha256={}", entry.sha256)
}

/// How a model file was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// From the Cache API.
    Cache,
    /// Downloaded (nothing usable was cached).
    Network,
    /// Downloaded again because the cached copy failed its hash (the damaged entry is deleted).
    Repaired,
}

/// Fetches one model file listed in `manifest`, from the cache when it holds this version;
/// `on_progress` gets the bytes obtained so far. The contents are checked against the manifest:
/// a cached copy that fails the check is deleted and downloaded again ([`Source::Repaired`]), and
/// a download that fails it is an error naming the file (and is not cached).
pub async fn model_file(
    base: &str,
    manifest: &Manifest,
    name: &str,
    on_progress: &mut dyn FnMut(u64),
) -> WebResult<(Vec<u8>, Source)> {
    let entry = manifest.entry(name).map_err(model)?;
    let url = format!("{base}{name}");
    let key = cache_key(&url, entry);
    let cache = open_cache().await;
    let mut source = Source::Network;
    if let Some(cache) = &cache
        && let Some(bytes) = cached(cache, &key).await
    {
        if manifest.verify(name, &bytes).is_ok() {
            on_progress(entry.bytes);
            return Ok((bytes, Source::Cache));
        }
        // Damaged on disk (or by a script): drop it so that it is never read again, even when
        // the download below fails; a failed delete is overwritten by `store` anyway.
        web_sys::console::warn_1(&JsValue::from_str(&format!(
            "gifqa: the cached {name} does not match manifest.json; downloading it again"
        )));
        let _ = JsFuture::from(cache.delete_with_str(&key)).await;
        source = Source::Repaired;
    }
    let response = fetch_fresh(&url).await?;
    let bytes = read_with_progress(response, on_progress).await?;
    manifest.verify(name, &bytes).map_err(model)?;
    if let Some(cache) = &cache {
        store(cache, &url, entry, &bytes).await;
    }
    Ok((bytes, source))
}

/// The cached contents under `key`; an entry that cannot be read counts as absent (the file is
/// then downloaded), so a broken cache never stops the page.
async fn cached(cache: &Cache, key: &str) -> Option<Vec<u8>> {
    let response: Response = JsFuture::from(cache.match_with_str(key)).await.ok()?.dyn_into().ok()?;
    let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

/// Caches `bytes` as this version of `url` and drops older versions of the same file; a full or
/// unavailable cache only costs the next load a download, so failures are ignored.
async fn store(cache: &Cache, url: &str, entry: &ManifestEntry, bytes: &[u8]) {
    let key = cache_key(url, entry);
    let array = Uint8Array::from(bytes);
    let Ok(response) = Response::new_with_opt_buffer_source(Some(&array)) else { return };
    let _ = JsFuture::from(cache.put_with_str(&key, &response)).await;
    let Ok(keys) = JsFuture::from(cache.keys()).await else { return };
    // Cached keys are absolute URLs, ours are relative: compare the ends.
    let this_file = format!("{url}?sha256=");
    let this_version = format!("?sha256={}", entry.sha256);
    for request in js_sys::Array::from(&keys).iter() {
        let Ok(request) = request.dyn_into::<web_sys::Request>() else { continue };
        let cached = request.url();
        if cached.contains(&this_file) && !cached.ends_with(&this_version) {
            let _ = JsFuture::from(cache.delete_with_request(&request)).await;
        }
    }
}
