//! `trainer predict`: the same pipeline the web page runs.

use std::path::PathBuf;

use anyhow::{Context, Result};
use shared_model::answer::pipeline::{
    Prediction, answer_prepared, prepare_gif, unknown_words_note, unsure_note_for, validate,
};
use shared_model::gif::{DecodeLimits, decode_gif};
use shared_model::trust::in_world::out_of_world_note;

use crate::runtime::backend;
use crate::runtime::files::read_gif;

/// Options of `trainer predict`.
#[derive(clap::Args)]
pub struct PredictOptions {
    /// Model folder.
    #[arg(long)]
    pub model: PathBuf,
    /// Load the model folder without checking its files against its manifest.json (needed for a
    /// folder that has none; sizes are still bounded and weights still checked for NaN).
    #[arg(long)]
    pub no_verify: bool,
    /// The GIF.
    #[arg(long)]
    pub gif: PathBuf,
    /// The question.
    #[arg(long)]
    pub question: String,
    /// 2 to 10 candidate answers separated by '|'; without it the question is open-ended.
    #[arg(long)]
    pub candidates: Option<String>,
    /// Sampling strategy (default: the model's), e.g. uniform:16, keyframes, clipcut:8.
    #[arg(long)]
    pub sample: Option<String>,
    /// Clip aggregation for multi-clip strategies: mean, max or lse.
    #[arg(long, default_value = "mean")]
    pub aggregation: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `trainer predict`.
pub fn run(options: PredictOptions) -> Result<()> {
    let candidates: Vec<String> = match &options.candidates {
        Some(list) => list.split('|').map(str::to_string).collect(),
        None => Vec::new(),
    };
    // Check the cheap things before loading anything.
    validate(&options.question, &candidates)?;
    let aggregation = options.aggregation.parse()?;
    let device = backend::device();
    let bundle = backend::load_model(&options.model, options.no_verify)?;
    let strategy = backend::strategy_for(&bundle.config, options.sample.as_deref())?;
    let bytes = read_gif(&options.gif)?;
    let gif = decode_gif(&bytes, &DecodeLimits::default()).with_context(|| format!("{}", options.gif.display()))?;
    let clips = prepare_gif(&gif, strategy, &bundle.config.preprocess, shared_model::answer::pipeline::INFERENCE_SEED);
    let prediction = backend::block_on(answer_prepared(
        &bundle,
        &clips,
        strategy,
        &options.question,
        &candidates,
        aggregation,
        &device,
    ))?;
    if options.json {
        let output = PredictJson {
            unsure: prediction.unsure(),
            guess: prediction.guess(),
            out_of_world: prediction.out_of_world(),
            prediction: &prediction,
        };
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        for (rank, answer) in prediction.ranked.iter().enumerate() {
            let bar = "#".repeat((answer.probability * 30.0).round() as usize);
            println!("{:>2}. {:<40} {:>6.2}% {bar}", rank + 1, answer.answer, 100.0 * answer.probability);
        }
        if prediction.unsure() {
            println!("{}", unsure_note_for(&bundle.config));
        }
        if let Some(note) = unknown_words_note(&prediction.unknown_words) {
            println!("{note}");
        }
        if let Some(note) = prediction.in_world.as_ref().and_then(out_of_world_note) {
            println!("{note}");
        }
    }
    Ok(())
}

/// `predict --json`: the prediction and whether it is unsure.
#[derive(serde::Serialize)]
struct PredictJson<'a> {
    #[serde(flatten)]
    prediction: &'a Prediction,
    /// The top answer's probability is below [`UNSURE_BELOW`].
    unsure: bool,
    /// The question or a candidate holds words the model never saw (`unknown_words`).
    guess: bool,
    /// The GIF is unlike the model's training GIFs (its `in_world` score is past the threshold).
    out_of_world: bool,
}
