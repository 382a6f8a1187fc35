//! A seeded mutation fuzzer for everything that reads outside input (issue 40): GIF decoding and
//! compositing, time-line sampling, the TGIF-QA and MSRVTT-MC readers, question and candidate
//! checks with the tokenizer, config.json and training.json, and tokenizer.json.
//!
//! Stable Rust has no coverage-guided fuzzer (cargo-fuzz needs nightly), so this one mutates a
//! corpus at random (bit flips, interesting bytes, truncation, splicing, chunk copies and cuts,
//! huge little-endian u16/u32 sizes, and for text: repeated and very long lines, split fields,
//! control characters, invalid UTF-8, dictionary tokens), with one piece of feedback: mutants the
//! target accepts become parents. Everything follows one seed, so a run replays.
//!
//! - `tests/fuzz/corpus/<target>/`: seeds kept in the repository (hand-written text files, and the
//!   files [`seeds::write_all`] makes); targets add seeds read at run time ([`targets::Target::external_seeds`]).
//! - `tests/fuzz/regressions/<target>/`: every input that ever made a target panic or take over
//!   [`runner::SLOW`]; `tests/fuzz_regressions.rs` replays them and the corpus on every test run.
//! - `cargo run --release -p gifqa-tests --bin fuzz -- --target all --seconds 60`: the fuzzer.

pub mod mutate;
pub mod runner;
pub mod seeds;
pub mod targets;

use std::path::PathBuf;

use targets::Target;

/// A target's seeds as `(path, bytes)`, in [`targets::seed_files`] order; unreadable files are
/// reported and skipped.
pub fn load_seeds(target: &dyn Target) -> Vec<(PathBuf, Vec<u8>)> {
    targets::seed_files(target)
        .into_iter()
        .filter_map(|path| match std::fs::read(&path) {
            Ok(bytes) => Some((path, bytes)),
            Err(err) => {
                eprintln!("[{}] skipping seed {}: {err}", target.name(), path.display());
                None
            }
        })
        .collect()
}

/// The mutation seed for `target` in a run seeded `seed` (each target gets its own stream).
pub fn target_seed(seed: u64, target: &str) -> u64 {
    seed ^ shared_model::sampling::seed_of(target)
}
