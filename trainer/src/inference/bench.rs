//! `trainer bench`: latency of `predict`'s stages on one GIF, or (`--loader`) how many questions
//! per second the training loader feeds with no model behind it, to compare with what training
//! consumes (issue 37: the loader must feed at least five times that).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use shared_model::answer::pipeline::{ClipAggregation, answer_prepared};
use shared_model::gif::{DecodeLimits, decode_gif};
use shared_model::preprocess::PreprocessConfig;
use shared_model::preprocess::prepare_clip;
use shared_model::sampling::Timeline;

use crate::runtime::backend;

/// Options of `trainer bench`.
#[derive(clap::Args)]
pub struct BenchOptions {
    /// Model folder.
    #[arg(long, required_unless_present = "loader")]
    pub model: Option<PathBuf>,
    /// Load the model folder without checking its files against its manifest.json (needed for a
    /// folder that has none; sizes are still bounded and weights still checked for NaN).
    #[arg(long)]
    pub no_verify: bool,
    /// The GIF to answer about.
    #[arg(long, required_unless_present = "loader")]
    pub gif: Option<PathBuf>,
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
    /// The training loader alone, no model: load --data's split (timed: decoded the first time,
    /// then mapped from the frame cache), then prepare --epochs epochs of training batches as
    /// `train` does (shuffled, jitter-sampled clips on the background thread) and print the
    /// questions/s it feeds.
    #[arg(long, requires = "data", conflicts_with_all = ["model", "gif"])]
    pub loader: bool,
    /// Dataset folder (with --loader).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Split to load (with --loader).
    #[arg(long, default_value = "Train")]
    pub split: String,
    /// Frames sampled per clip (with --loader; the demo recipe trains on 48).
    #[arg(long, default_value_t = 16)]
    pub frames: usize,
    /// Side of the frames in pixels (with --loader).
    #[arg(long, default_value_t = 64)]
    pub image_size: usize,
    /// GIFs per batch (with --loader).
    #[arg(long, default_value_t = 16)]
    pub batch_gifs: usize,
    /// Use at most this many GIFs (with --loader).
    #[arg(long)]
    pub max_gifs: Option<usize>,
    /// Epochs of batches to prepare (with --loader).
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Augment the clips as `train --augment` does (with --loader).
    #[arg(long)]
    pub augment: bool,
}

/// Runs `trainer bench`.
pub fn run(options: BenchOptions) -> Result<()> {
    if options.loader {
        return run_loader(&options);
    }
    let device = backend::device();
    let model = options.model.as_ref().context("--model is required")?;
    let gif_path = options.gif.as_ref().context("--gif is required")?;
    let bundle = backend::load_model(model, options.no_verify)?;
    let bytes = crate::runtime::files::read_gif(gif_path)?;
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
        gif_path.display(),
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

/// `trainer bench --loader`: the split's load time, then the questions/s of the batch producer
/// with nothing consuming the batches but this loop (which only counts them).
fn run_loader(options: &BenchOptions) -> Result<()> {
    let data = options.data.as_ref().context("--loader needs --data")?;
    anyhow::ensure!(options.frames > 0 && options.epochs > 0, "--frames and --epochs must be positive");
    let started = Instant::now();
    let split = crate::data::load(data, &options.split, &PreprocessConfig::new(options.image_size), options.max_gifs)?;
    let load_seconds = started.elapsed().as_secs_f64();
    println!(
        "loaded {} {} GIFs / {} questions of {} at {} px in {load_seconds:.2}s",
        split.gifs.len(),
        options.split,
        split.items.len(),
        data.display(),
        options.image_size
    );
    let split = Arc::new(split);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (mut questions, mut gifs, mut bytes) = (0usize, 0usize, 0usize);
    let started = Instant::now();
    for _ in 0..options.epochs {
        let mut batches = crate::data::loader::Prefetch::epoch(
            split.clone(),
            options.batch_gifs,
            options.frames,
            options.augment,
            rng,
        );
        for batch in batches.by_ref() {
            questions += batch.gifs.iter().map(|&g| split.gifs[g].items.len()).sum::<usize>();
            gifs += batch.gifs.len();
            bytes += batch.clips.iter().map(|c| c.pixels.len()).sum::<usize>();
        }
        rng = batches.finish()?;
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "loader alone ({} epochs, {} GIFs a batch, {} frames a clip{}, 1 producer thread): {:.0} questions/s, {:.0} GIFs/s, {:.0} MB/s of clips",
        options.epochs,
        options.batch_gifs,
        options.frames,
        if options.augment { ", augmented" } else { "" },
        questions as f64 / seconds,
        gifs as f64 / seconds,
        bytes as f64 / seconds / 1e6
    );
    Ok(())
}
