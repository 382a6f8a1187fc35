//! `trainer eval`: a model on a split, per question type, with calibration and the in-world share.
use std::path::{Path, PathBuf};

use anyhow::Result;

use trainer::data::{Dataset, MissingGifs};
use trainer::eval::{Evaluation, Evaluator, table};
use trainer::runtime::backend;
use trainer::runtime::files::write_atomically;

/// Options of `trainer eval`.
#[derive(clap::Args)]
pub struct EvalOptions {
    /// Dataset folder. TGIF-QA layout: `{Split}_{type}_question.csv` flat in it or in `{Split}/`,
    /// GIFs at `gifs/NAME.gif` or `{Split}/gifs/NAME.gif`. MSRVTT-MC (--dataset msrvtt-mc):
    /// `MSR_MC_test.csv` in it, GIFs at `gifs/{vid_key}.gif`.
    #[arg(long)]
    pub data: PathBuf,
    /// Question files: `tgif-qa` (also the synthetic benchmark) or `msrvtt-mc` (`MSR_MC_test.csv`:
    /// tab separated `vid_key a1 a2 a3 a4 a5 answer`, optional header, `answer` the 0-based index
    /// of the right caption; scored like the caption type; --split is ignored).
    #[arg(long, value_enum, default_value_t = Dataset::TgifQa)]
    pub dataset: Dataset,
    /// Fail when question rows reference GIFs that are not in the folder (default: report them,
    /// list them all in REPORT's `.missing-gifs.txt` sibling when --report is given, and
    /// evaluate the rest).
    #[arg(long)]
    pub strict: bool,
    /// Model folder.
    #[arg(long)]
    pub model: PathBuf,
    /// Load the model folder without checking its files against its manifest.json (needed for a
    /// folder that has none; sizes are still bounded and weights still checked for NaN).
    #[arg(long)]
    pub no_verify: bool,
    /// Split: Train, Val or Test.
    #[arg(long, default_value = "Test")]
    pub split: String,
    /// Write the report as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write every question's answer here, one JSON object per line (gif, type, question,
    /// candidates, answer, predicted, right, probability): which questions the model gets wrong.
    #[arg(long)]
    pub answers: Option<PathBuf>,
    /// Sampling strategy (default: the model's), e.g. uniform:16, sparse:2x8, staggered:2x32, keyframes, clipcut:8.
    #[arg(long)]
    pub sample: Option<String>,
    /// Clip aggregation for multi-clip strategies: mean, max or lse.
    #[arg(long, default_value = "mean")]
    pub aggregation: String,
    /// Evaluate at most this many GIFs.
    #[arg(long)]
    pub max_gifs: Option<usize>,
    /// GIFs per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch_gifs: usize,
    /// Caption retrieval ranks each caption's GIF among the GIFs of the first N captions
    /// [default: all; 100 for a model with fused captions, which fuses every caption-GIF pair]
    #[arg(long)]
    pub retrieval_gallery: Option<usize>,
    /// Also report multiple-choice accuracy with the count check (the counts a caption or an
    /// action answer states, checked by the count head) at these weights, e.g. `0.5,1,2`; the
    /// answers keep the model's own weight (`count_check_weight` in config.json)
    #[arg(long, value_delimiter = ',')]
    pub count_check_sweep: Vec<f32>,
    /// The same for the order check (the order a caption states, checked by the transition
    /// head; `order_check_weight` in config.json)
    #[arg(long, value_delimiter = ',')]
    pub order_check_sweep: Vec<f32>,
    /// The same for the timeline check (the segments a caption states, or the one a Transition
    /// answer claims, aligned to the segment tagger's per-frame actions; `timeline_check_weight`)
    #[arg(long, value_delimiter = ',')]
    pub timeline_check_sweep: Vec<f32>,
    /// The same for the object check (the shape a caption gives its colour, and the answers to
    /// "What color is the {shape} ?" and, with a closer look, "What shape is the {colour}
    /// object ?", checked by the FrameQA head's answers to "What shape is the {colour} object
    /// ?"; `object_check_weight`, `object_zoom`)
    #[arg(long, value_delimiter = ',')]
    pub object_check_sweep: Vec<f32>,
}

/// Runs `trainer eval`.
pub fn run(options: EvalOptions) -> Result<()> {
    let device = backend::device();
    let bundle = backend::load_model(&options.model, options.no_verify)?;
    let strategy = backend::strategy_for(&bundle.config, options.sample.as_deref())?;
    let aggregation = options.aggregation.parse()?;
    let missing = MissingGifs {
        strict: options.strict,
        list_file: options.report.as_ref().map(|report| report.with_extension("missing-gifs.txt")),
    };
    // MSRVTT-MC has one test set; its name stands in for the split in messages.
    let split_name = match options.dataset {
        Dataset::TgifQa => options.split.clone(),
        Dataset::MsrvttMc => "MSRVTT-MC".to_string(),
    };
    let split = trainer::data::load_with(
        &options.data,
        &split_name,
        options.dataset,
        &bundle.config.preprocess,
        options.max_gifs,
        &missing,
    )?;
    trainer::data::note_truncated(&split.items, &bundle.tokenizer, bundle.config.model.max_text_len, &split_name);
    // The generator's object annotations, when the data has them: the attention's pointing accuracy.
    let annotations = match options.dataset {
        Dataset::TgifQa => trainer::data::attention_targets::ObjectAnnotations::find(&options.data, &split_name)?,
        Dataset::MsrvttMc => None,
    };
    let started = std::time::Instant::now();
    let evaluator = Evaluator {
        model: &bundle.model,
        config: &bundle.config,
        tokenizer: &bundle.tokenizer,
        strategy,
        aggregation,
        batch_gifs: options.batch_gifs,
        device,
        annotations: annotations.as_ref(),
        retrieval_gallery: options.retrieval_gallery,
        count_check_sweep: options.count_check_sweep,
        order_check_sweep: options.order_check_sweep,
        timeline_check_sweep: options.timeline_check_sweep,
        object_check_sweep: options.object_check_sweep,
    };
    let evaluation = evaluator.evaluate_with_answers(&split, true, true)?;
    println!(
        "{split_name} split of {} ({} GIFs), sampling {strategy}, {} in {:.1}s",
        options.data.display(),
        split.gifs.len(),
        backend::name(),
        started.elapsed().as_secs_f64()
    );
    print!("{}", table(&evaluation.report));
    print_calibration(&evaluation, bundle.config.temperature());
    write_outputs(&evaluation, options.report.as_deref(), options.answers.as_deref())?;
    Ok(())
}

/// How well the shown probabilities match (at the model's `temperature`), and the split's
/// in-world share when the model has the statistics.
fn print_calibration(evaluation: &Evaluation, temperature: f32) {
    let all = trainer::eval::calibration_report(&evaluation.answers.iter().collect::<Vec<_>>(), temperature);
    println!(
        "calibration: ECE {:.2}% at temperature {temperature:.3}; {:.3} would fit this split (ECE {:.2}%)",
        100.0 * all.ece,
        all.fitted_temperature,
        100.0 * all.ece_fitted
    );
    if let Some(world) = &evaluation.in_world {
        println!(
            "in world: {} of {} GIFs out of world ({:.1}%; median distance {:.2}, threshold {:.2})",
            world.out_of_world,
            world.gifs,
            100.0 * world.share_out_of_world,
            world.median_distance,
            world.threshold
        );
    }
}

/// `--report` (the types' metrics, and beside them the in-world share when the model has one)
/// and `--answers` (one JSON line per question).
fn write_outputs(evaluation: &Evaluation, report: Option<&Path>, answers: Option<&Path>) -> Result<()> {
    if let Some(path) = report {
        let mut json = serde_json::to_value(&evaluation.report)?;
        if let (Some(world), Some(object)) = (&evaluation.in_world, json.as_object_mut()) {
            object.insert("in_world".into(), serde_json::to_value(world)?);
        }
        write_atomically(path, serde_json::to_string_pretty(&json)?)?;
    }
    if let Some(path) = answers {
        let mut lines = String::new();
        for answer in &evaluation.answers {
            lines.push_str(&serde_json::to_string(answer)?);
            lines.push('\n');
        }
        write_atomically(path, lines)?;
    }
    Ok(())
}
