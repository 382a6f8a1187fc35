//! The commands that answer with a trained model or show what it sees: `predict` (one question
//! about one GIF), `demo` (the page's sample questions in the terminal), `bench` (where the time of
//! an answer goes) and `frames` (a GIF's frames as the model samples them).

pub mod bench;
pub mod demo;
pub mod frames;
pub mod predict;
