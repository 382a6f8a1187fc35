//! The native side of GIF-QA as a library: benchmark generation, data loading, training glue
//! (batches, losses, the loop), evaluation and the command implementations. `main.rs` is the CLI.

pub mod alignment;
pub mod attention_targets;
pub mod augment;
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
pub mod parallel;
pub mod pca;
pub mod predict;
pub mod pretrain;
pub mod progress;
pub mod recipe;
pub mod samples;
pub mod schedule;
pub mod step_metrics;
pub mod text_cache;
pub mod train;
pub mod vocab;
