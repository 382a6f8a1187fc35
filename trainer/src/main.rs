//! `trainer`: the native side of GIF-QA. Generates the synthetic benchmark, trains the shared model,
//! evaluates it, answers questions about GIFs, dumps the frames the model sees, and benchmarks.
//! This file parses the command line and hands it to its command (`cli/`).

mod cli;

use clap::Parser;

fn main() {
    trainer::runtime::memory::keep_freed_memory();
    if let Err(error) = cli::Cli::parse().run() {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
