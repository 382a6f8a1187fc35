//! `trainer bench`: latency of `predict`'s stages on one GIF.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use shared_model::gif_decode::{DecodeLimits, decode_gif};
use shared_model::pipeline::{ClipAggregation, answer_prepared};
use shared_model::preprocess::prepare_clip;
use shared_model::sampling::Timeline;

use crate::backend;

/// Options of `trainer bench`.
#[derive(clap::Args)]
pub struct BenchOptions {
    /// Model folder.
    #[arg(long)]
    pub model: PathBuf,
    /// Load the model folder without checking its files against its manifest.json (needed for a
    /// folder that has none; sizes are still bounded and weights still checked for NaN).
    #[arg(long)]
    pub no_verify: bool,
    /// The GIF to answer about.
    #[arg(long)]
    pub gif: PathBuf,
    /// Question to ask.
    #[arg(long, default_value = "What does the red star do 3 times ?")]
    pub question: String,
    /// Candidates separated by '|'.
    #[arg(long, default_value = "jump|spin|blink|grow|move left")]
    pub candidates: String,
    /// Sampling strategy (default: the model's), e.g. uniform:8, clipcut:8.
    #[arg(long)]
    pub sample: Option<String>,
    /// Timed repetitions (after one warm-up).
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
}

pub fn run(options: BenchOptions) -> Result<()> {
    let device = backend::device();
    let bundle = backend::load_model(&options.model, options.no_verify)?;
    let bytes = crate::predict::read_gif(&options.gif)?;
    let candidates: Vec<String> = options.candidates.split('|').map(str::to_string).collect();
    let strategy = backend::strategy_for(&bundle.config, options.sample.as_deref())?;
    let mut stages: [Vec<f64>; 4] = Default::default();
    for run in 0..=options.runs {
        let t0 = Instant::now();
        let gif = decode_gif(&bytes, &DecodeLimits::default())?;
        let t1 = Instant::now();
        let timeline = Timeline::from_delays(&gif.frames.iter().map(|f| f.delay_ms).collect::<Vec<_>>());
        let sampled = strategy.sample(&timeline, 0);
        let t2 = Instant::now();
        let clips: Vec<_> = sampled.iter().map(|c| prepare_clip(&gif, c, &bundle.config.preprocess)).collect();
        let t3 = Instant::now();
        backend::block_on(answer_prepared(
            &bundle,
            &clips,
            strategy,
            &options.question,
            &candidates,
            ClipAggregation::Mean,
            &device,
        ))?;
        let t4 = Instant::now();
        if run > 0 {
            for (stage, (a, b)) in stages.iter_mut().zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4)]) {
                stage.push((b - a).as_secs_f64() * 1000.0);
            }
        }
    }
    println!(
        "predict latency on {} ({} backend, sampling {strategy}), median of {} runs:",
        options.gif.display(),
        backend::name(),
        options.runs
    );
    let mut total = 0.0;
    for (name, times) in ["decode", "sample", "preprocess", "model"].iter().zip(stages.iter_mut()) {
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        total += median;
        println!("  {name:<11} {median:>9.2} ms");
    }
    println!("  {:<11} {total:>9.2} ms", "total");
    Ok(())
}
