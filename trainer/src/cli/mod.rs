//! The command line: the global options and one file per command, each with its options (or
//! the library's, where a run records them) and its wiring to the library.

mod bench;
mod calibrate;
mod demo;
mod eval;
mod export;
mod frames;
mod generate;
mod predict;
mod pretrain;
mod samples;
mod train;

use anyhow::Result;
use clap::{Parser, Subcommand};
use trainer::runtime::backend;

/// Answer questions about animated GIFs with a small video-language model (Burn).
#[derive(Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Decode every GIF of a split in memory instead of using (and writing) the split's frame
    /// cache in DATA/.frame-cache/ (train, eval, calibrate, pretrain, bench --loader).
    #[arg(long, global = true)]
    no_frame_cache: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the synthetic GIF-QA benchmark (GIFs + TGIF-QA-style question files).
    Generate(generate::GenerateArgs),
    /// Train a model (checkpoint per epoch; --resume continues; --init starts from pre-trained weights).
    Train(train::Options),
    /// Contrastive video-text pre-training of the joint frame/text space (InfoNCE or H-NAC) on
    /// (GIF, caption) pairs; reports the cosine gap and text-to-GIF retrieval before and after.
    Pretrain(pretrain::Options),
    /// Evaluate a model on a split (TGIF-QA layout or MSRVTT-MC); per-type accuracy, Count MAE,
    /// caption retrieval.
    Eval(eval::EvalOptions),
    /// Fit the model's temperature and unsure threshold on a held-out split (Val) and write them
    /// into its config.json, so shown probabilities match how often answers are right.
    Calibrate(calibrate::Options),
    /// Write a model folder again with its weights in f16 (half the page's largest download) or
    /// f32; every other file is kept and manifest.json lists the new ones.
    Export(export::Options),
    /// Answer a question about a GIF (multiple choice with --candidates, else open-ended).
    Predict(predict::Options),
    /// Write a GIF's composited (or sampled) frames as PNG files, to see what the model sees.
    Frames(frames::Options),
    /// Answer the bundled sample questions with the bundled model (the demo on the embedded default).
    Demo(demo::Options),
    /// Export sample GIFs and their questions from a generated split (for the demo and the page).
    Samples(samples::Options),
    /// Measure predict latency split into decode / sample / preprocess / model, or with --loader
    /// the questions/s the training loader feeds without a model (training throughput is in every
    /// epoch line of `train` and in training.json).
    Bench(bench::Options),
}

impl Cli {
    /// Runs the command line's command.
    pub fn run(self) -> Result<()> {
        // A GPU build checks for its driver before any work, for a one-line error instead of a panic.
        if self.command.runs_the_model() {
            backend::ensure_available()?;
        }
        trainer::data::set_frame_cache(!self.no_frame_cache);
        match self.command {
            Command::Generate(args) => generate::run(args),
            Command::Train(options) => train::run(options),
            Command::Pretrain(options) => pretrain::run(options),
            Command::Eval(options) => eval::run(options),
            Command::Predict(options) => predict::run(options),
            Command::Calibrate(options) => calibrate::run(options),
            Command::Export(options) => export::run(options),
            Command::Frames(options) => frames::run(options),
            Command::Bench(options) => bench::run(options),
            Command::Demo(options) => demo::run(options),
            Command::Samples(options) => samples::run(options),
        }
    }
}

impl Command {
    /// Whether the command runs the model (on the compiled-in backend).
    fn runs_the_model(&self) -> bool {
        match self {
            Command::Generate(_) | Command::Samples(_) => false,
            Command::Frames(options) => options.model.is_some(),
            Command::Bench(options) => !options.loader,
            _ => true,
        }
    }
}
