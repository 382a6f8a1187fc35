//! The native side of GIF-QA as a library, in folders by role: benchmark generation
//! ([`generate`]), the datasets training reads and the targets derived from their annotations
//! ([`data`]), the vocabulary ([`vocab`]), contrastive pre-training ([`pretrain`]), QA training
//! ([`train`]), evaluation and calibration ([`eval`]), the commands that answer with a trained
//! model ([`inference`]), a model folder rewritten with its weights in f16 ([`export`]), over what
//! every command shares ([`runtime`]). `main.rs` and `cli/` are the command line.

pub mod data;
pub mod eval;
pub mod generate;
pub mod inference;
pub mod pretrain;
pub mod runtime;
pub mod train;
pub mod vocab;
