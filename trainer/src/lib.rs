//! The native side of GIF-QA as a library, in folders by role: benchmark generation
//! ([`generate`]), the datasets training reads and the targets derived from their annotations
//! ([`data`]), the vocabulary ([`vocab`]), contrastive pre-training ([`pretrain`]), QA training
//! ([`train`]), evaluation, calibration and the command implementations, over what every command
//! shares ([`runtime`]). `main.rs` and `cli/` are the command line.

pub mod batch;
pub mod bench;
pub mod calibrate;
pub mod data;
pub mod demo;
pub mod eval;
pub mod frames;
pub mod generate;
pub mod in_world;
pub mod predict;
pub mod pretrain;
pub mod runtime;
pub mod samples;
pub mod train;
pub mod vocab;

// ---- Old paths, removed once the answering engine's branch lands. ----
pub use data::{attention_targets, count_targets, frame_cache, loader, order_drills, text_cache};
pub use pretrain::{alignment, contrastive};
pub use runtime::{backend, files, memory, progress};
pub use vocab::pca;
// ---- End of old paths. ----
