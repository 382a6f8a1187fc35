//! Everything the trainer and the browser share: GIF decoding, frame sampling, preprocessing,
//! tokenization, question files (TGIF-QA, MSRVTT-MC), the model, weight I/O and the answering pipeline.
//! No backend is chosen here; callers pick one.

pub mod batch;
pub mod bundle;
pub mod calibration;
pub mod caption_text;
pub mod clipcut;
pub mod count_check;
pub mod engine;
pub mod gif_decode;
pub mod in_world;
pub mod manifest;
pub mod model;
pub mod msrvtt;
pub mod object_check;
pub mod order_check;
pub mod pipeline;
pub mod preprocess;
pub mod pretrained;
pub mod questions;
pub mod samples;
pub mod sampling;
pub mod segment_count_check;
pub mod timeline_check;
pub mod tokenize;
pub mod zoom;
