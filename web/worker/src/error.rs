//! Everything that can go wrong in the worker, as one-line messages the page shows the user.

use wasm_bindgen::JsValue;

/// An error shown in the page.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A browser API failed (fetch, Cache API, DOM).
    #[error("{0}")]
    Browser(String),
    /// A fetched file is missing or unreadable.
    #[error(transparent)]
    Fetch(#[from] web_common::FetchError),
    /// The model folder is broken.
    #[error("the model could not be loaded: {0}")]
    Bundle(#[from] shared_model::bundle::BundleError),
    /// A downloaded model file is not the listed one.
    #[error("the model download is corrupt: {0}")]
    Manifest(#[from] shared_model::manifest::ManifestError),
    /// The file is not a GIF we can read.
    #[error("this GIF cannot be read: {0}")]
    Gif(#[from] shared_model::gif_decode::GifError),
    /// Bad question or candidates.
    #[error("{0}")]
    Input(#[from] shared_model::pipeline::InputError),
    /// A JSON file is malformed.
    #[error("a JSON file is malformed: {0}")]
    Json(#[from] serde_json::Error),
    /// Nothing to answer about yet.
    #[error("choose a sample GIF or drop your own GIF first")]
    NoGif,
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
