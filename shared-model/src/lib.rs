//! Everything the trainer and the browser share, in folders by role: GIF decoding ([`gif`]),
//! frame sampling ([`sampling`]), preprocessing ([`preprocess`]), text and question files
//! ([`text`]), the model with its pretrained families ([`model`]), the model folder ([`bundle`]),
//! how far answers can be trusted ([`trust`]), and answering ([`answer`]: the engine that eval and
//! predict share, the single-GIF pipeline that predict and the page follow, the legacy answer
//! checks). No backend is chosen here; callers pick one.

pub mod answer;
pub mod bundle;
pub mod gif;
pub mod model;
pub mod preprocess;
pub mod sampling;
pub mod text;
pub mod trust;
