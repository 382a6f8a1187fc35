//! Everything that can go wrong in the page or its worker, as one-line messages for the user.

use std::convert::Infallible;

use wasm_bindgen::JsValue;

use crate::{FetchError, js_error_text};

/// An error shown in the page. `M` is what only the worker's model side can report (a broken
/// model folder, a GIF it cannot read, ...); the page's own errors have none.
#[derive(Debug, thiserror::Error)]
pub enum WebError<M = Infallible> {
    /// A browser API failed (fetch, Cache API, DOM), or the worker reported an error.
    #[error("{0}")]
    Browser(String),
    /// A fetched file is missing or unreadable.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A JSON file or message is malformed.
    #[error("a JSON file is malformed: {0}")]
    Json(#[from] serde_json::Error),
    /// The request was cancelled (another GIF was chosen); nothing to report.
    #[error("cancelled")]
    Cancelled,
    /// Nothing to answer about yet.
    #[error("choose a sample GIF or drop your own GIF first")]
    NoGif,
    /// The worker's model side refused.
    #[error(transparent)]
    Model(M),
}

impl<M> From<JsValue> for WebError<M> {
    fn from(value: JsValue) -> Self {
        WebError::Browser(js_error_text(&value))
    }
}

/// Result with [`WebError`].
pub type WebResult<T, M = Infallible> = Result<T, WebError<M>>;

/// For `dyn_into` failures: the browser handed back an object of another type.
pub fn wrong_type<T, M>(_: T) -> WebError<M> {
    WebError::Browser("the browser returned an unexpected object type".into())
}
