//! The native side of GIF-QA as a library: benchmark generation, data loading, training glue
//! (batches, losses, the loop), evaluation and the command implementations. `main.rs` and `cli/`
//! are the command line.

pub mod alignment;
pub mod answer_checks;
pub mod attention_targets;
pub mod backend;
pub mod batch;
pub mod bench;
pub mod calibrate;
pub mod contrastive;
pub mod count_targets;
pub mod data;
pub mod demo;
pub mod eval;
pub mod files;
pub mod frame_cache;
pub mod frames;
pub mod generate;
pub mod in_world;
pub mod loader;
pub mod memory;
pub mod order_drills;
pub mod pca;
pub mod predict;
pub mod pretrain;
pub mod progress;
pub mod samples;
pub mod text_cache;
pub mod train;
pub mod vocab;
