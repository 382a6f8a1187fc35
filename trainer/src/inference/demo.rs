//! `trainer demo`: answers every bundled sample question with the bundled model, through the same
//! pipeline as `predict` and the page, and shows the ranked answers next to the truth.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use shared_model::answer::pipeline::{ClipAggregation, answer_prepared, prepare_gif};
use shared_model::gif::{DecodeLimits, decode_gif};

use crate::runtime::backend;

/// Options of `trainer demo`.
#[derive(clap::Args)]
pub struct DemoOptions {
    /// Model folder.
    #[arg(long, default_value = "www/model")]
    pub model: PathBuf,
    /// Load the model folder without checking its files against its manifest.json (needed for a
    /// folder that has none; sizes are still bounded and weights still checked for NaN).
    #[arg(long)]
    pub no_verify: bool,
    /// Samples folder (GIFs + samples.json).
    #[arg(long, default_value = "www/samples")]
    pub samples: PathBuf,
}

/// Runs `trainer demo`.
pub fn run(options: DemoOptions) -> Result<()> {
    let device = backend::device();
    let bundle = backend::load_model(&options.model, options.no_verify)?;
    let strategy = backend::strategy_for(&bundle.config, None)?;
    let samples = crate::generate::samples::read(&options.samples)?;
    let mut right = 0;
    let started = Instant::now();
    let mut current: Option<(String, Vec<shared_model::preprocess::PreparedClip>)> = None;
    for sample in &samples {
        if current.as_ref().is_none_or(|(name, _)| *name != sample.gif) {
            let path = options.samples.join(&sample.gif);
            let bytes = crate::runtime::files::read_gif(&path)?;
            let gif = decode_gif(&bytes, &DecodeLimits::default()).with_context(|| path.display().to_string())?;
            println!("\n{} ({} frames, {}x{})", sample.gif, gif.frames.len(), gif.width, gif.height);
            current = Some((
                sample.gif.clone(),
                prepare_gif(&gif, strategy, &bundle.config.preprocess, shared_model::answer::pipeline::INFERENCE_SEED),
            ));
        }
        let Some((_, clips)) = &current else { continue };
        let prediction = backend::block_on(answer_prepared(
            &bundle,
            clips,
            strategy,
            &sample.question,
            &sample.candidates,
            ClipAggregation::Mean,
            &device,
        ))?;
        let top = &prediction.ranked[0];
        let ok = top.answer.eq_ignore_ascii_case(&sample.answer);
        right += usize::from(ok);
        println!(
            "  [{}] {:<10} {}\n      model: {} ({:.0}%)   truth: {}",
            if ok { "ok" } else { "  " },
            sample.qtype,
            sample.question,
            top.answer,
            100.0 * top.probability,
            sample.answer
        );
    }
    println!(
        "\n{right}/{} sample questions answered right ({} backend, {:.2}s)",
        samples.len(),
        backend::name(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
