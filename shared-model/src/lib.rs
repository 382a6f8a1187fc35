//! Everything the trainer and the browser share, in folders by role: GIF decoding ([`gif`]),
//! frame sampling ([`sampling`]), preprocessing ([`preprocess`]), text and question files
//! ([`text`]), the model with its pretrained families ([`model`]), the model folder ([`bundle`]),
//! how far answers can be trusted ([`trust`]), and answering ([`answer`], the engine that eval and
//! predict share; [`pipeline`], one question about one GIF) with its answer checks.
//! No backend is chosen here; callers pick one.

pub mod bundle;
pub mod gif;
pub mod model;
pub mod preprocess;
pub mod sampling;
pub mod text;
pub mod trust;

pub mod answer;

// The answering pipeline and its answer checks; these move into `answer/` once its branch lands.
pub mod caption_text;
pub mod count_check;
pub mod object_check;
pub mod order_check;
pub mod pipeline;
pub mod segment_count_check;
pub mod timeline_check;

// ---- Old paths, removed once the other branches land (`pub use NEW as OLD`; the crate's own
// answer checks and pipeline, the trainer, the web worker and the tests still use them). ----
pub use bundle::manifest;
pub use gif as gif_decode;
pub use preprocess::zoom;
pub use sampling::clipcut;
pub use text::{msrvtt, questions, samples, tokenize};
pub use trust::{calibration, in_world};

/// Old path of [`model::input`] and [`model::encode`], removed once the other branches land.
pub mod batch {
    pub use crate::model::{encode_prepared, encode_tokens, index_tensor, token_tensors, video_tensors};
}

/// Old path of [`model::pretrained`] and the families' loaders, removed once the other branches land.
pub mod pretrained {
    pub use crate::model::bert::{self, *};
    pub use crate::model::clip::{self, *};
    pub use crate::model::pretrained::*;
}
// ---- End of old paths. ----
