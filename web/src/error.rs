//! Everything that can go wrong in the page, as one-line messages for the user. The model's own
//! errors (a bad GIF, a bad question, a corrupt download) come from the worker as text.

/// An error shown in the page.
pub type WebError = web_common::WebError;

pub use web_common::{WebResult, wrong_type};
