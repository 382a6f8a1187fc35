//! Text: tokenization ([`tokenize`]) and the question files read as text: TGIF-QA's layout
//! ([`questions`]), MSRVTT-MC ([`msrvtt`]) and the demo's sample questions ([`samples`]).

pub mod msrvtt;
pub mod questions;
pub mod samples;
pub mod tokenize;
