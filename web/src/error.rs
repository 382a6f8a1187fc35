//! Everything that can go wrong in the page, as one-line messages for the user. The model's own
//! errors (a bad GIF, a bad question, a corrupt download) come from the worker as text.

use wasm_bindgen::JsValue;

/// An error shown in the page.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A browser API failed (fetch, DOM), or the worker reported an error.
    #[error("{0}")]
    Browser(String),
    /// A fetched file is missing or unreadable.
    #[error(transparent)]
    Fetch(#[from] web_common::FetchError),
    /// A JSON file or message is malformed.
    #[error("a JSON file is malformed: {0}")]
    Json(#[from] serde_json::Error),
    /// The request was cancelled (another GIF was chosen); nothing to report.
    #[error("cancelled")]
    Cancelled,
}

impl From<JsValue> for WebError {
    fn from(value: JsValue) -> Self {
        WebError::Browser(web_common::js_error_text(&value))
    }
}

/// Result with [`WebError`].
pub type WebResult<T> = Result<T, WebError>;

/// For `dyn_into` failures: the browser handed back an object of another type.
pub fn wrong_type<T>(_: T) -> WebError {
    WebError::Browser("the browser returned an unexpected object type".into())
}
