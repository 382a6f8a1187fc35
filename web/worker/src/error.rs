//! Everything that can go wrong in the worker, as one-line messages the page shows the user: the
//! page's kinds ([`web_common::WebError`]) and the model side's ([`ModelError`]).

/// An error shown in the page.
pub type WebError = web_common::WebError<ModelError>;

/// Result with [`WebError`].
pub type WebResult<T> = Result<T, WebError>;

pub use web_common::wrong_type;

/// What the model side refuses.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model folder is broken.
    #[error("the model could not be loaded: {0}")]
    Bundle(#[from] shared_model::bundle::BundleError),
    /// A downloaded model file is not the listed one.
    #[error("the model download is corrupt: {0}")]
    Manifest(#[from] shared_model::bundle::manifest::ManifestError),
    /// The file is not a GIF we can read.
    #[error("this GIF cannot be read: {0}")]
    Gif(#[from] shared_model::gif::GifError),
    /// Bad question or candidates.
    #[error("{0}")]
    Input(#[from] shared_model::answer::pipeline::InputError),
}

/// `error` as a [`WebError`], for `map_err` (the model's error types are not this crate's, so
/// `?` cannot convert them itself).
pub fn model(error: impl Into<ModelError>) -> WebError {
    WebError::Model(error.into())
}
