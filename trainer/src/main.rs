//! `trainer`: the native side of GIF-QA. Generates the synthetic benchmark, trains the shared model,
//! evaluates it, answers questions about GIFs, dumps the frames the model sees, and benchmarks.

use trainer::{backend, bench, calibrate, demo, frames, generate, predict, pretrain, progress, samples, train};

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Answer questions about animated GIFs with a small video-language model (Burn).
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
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
    Generate {
        /// Output folder (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
        /// Random seed: the same seed gives byte-identical output.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Number of GIFs (split 80/10/10 into Train/Val/Test).
        #[arg(long, default_value_t = 10_000)]
        gifs: usize,
        /// How questions and captions are worded (the GIFs and answers are the same in all).
        #[arg(long, value_enum, default_value_t = generate::Wording::Templates)]
        wording: generate::Wording,
        /// Which renderer draws the GIFs (same world and questions): `second` makes GIFs that no
        /// model trains on, for choosing models on a look they never saw.
        #[arg(long, value_enum, default_value_t = generate::Renderer::Primary)]
        renderer: generate::Renderer,
        /// How the primary renderer draws (same world and questions): `plain`, one look, or
        /// `varied`, many looks within the benchmark's contract (backgrounds, anti-aliasing and
        /// resampling filters, fills, palette quantisers, dithering, disposal methods).
        #[arg(long, value_enum, default_value_t = generate::Drawing::Plain)]
        drawing: generate::Drawing,
    },
    /// Train a model (checkpoint per epoch; --resume continues; --init starts from pre-trained weights).
    Train(train::TrainOptions),
    /// Contrastive video-text pre-training of the joint frame/text space (InfoNCE or H-NAC) on
    /// (GIF, caption) pairs; reports the cosine gap and text-to-GIF retrieval before and after.
    Pretrain(pretrain::PretrainOptions),
    /// Evaluate a model on a split (TGIF-QA layout or MSRVTT-MC); per-type accuracy, Count MAE,
    /// caption retrieval.
    Eval(eval_cmd::EvalOptions),
    /// Fit the model's temperature and unsure threshold on a held-out split (Val) and write them
    /// into its config.json, so shown probabilities match how often answers are right.
    Calibrate(calibrate::CalibrateOptions),
    /// Answer a question about a GIF (multiple choice with --candidates, else open-ended).
    Predict(predict::PredictOptions),
    /// Write a GIF's composited (or sampled) frames as PNG files, to see what the model sees.
    Frames(frames::FramesOptions),
    /// Answer the bundled sample questions with the bundled model (the demo on the embedded default).
    Demo(demo::DemoOptions),
    /// Export sample GIFs and their questions from a generated split (for the demo and the page).
    Samples(samples::SamplesOptions),
    /// Measure predict latency split into decode / sample / preprocess / model, or with --loader
    /// the questions/s the training loader feeds without a model (training throughput is in every
    /// epoch line of `train` and in training.json).
    Bench(bench::BenchOptions),
}

mod eval_cmd {
    //! `trainer eval`.
    use std::path::PathBuf;

    use anyhow::Result;

    use trainer::backend;
    use trainer::data::{Dataset, MissingGifs};
    use trainer::eval::{Evaluation, Evaluator, table};
    use trainer::files::write_atomically;

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
            Dataset::TgifQa => trainer::attention_targets::ObjectAnnotations::find(&options.data, &split_name)?,
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
        let Evaluation { report, answers, in_world } = evaluator.evaluate_with_answers(&split, true, true)?;
        println!(
            "{split_name} split of {} ({} GIFs), sampling {strategy}, {} in {:.1}s",
            options.data.display(),
            split.gifs.len(),
            backend::name(),
            started.elapsed().as_secs_f64()
        );
        print!("{}", table(&report));
        let all = trainer::eval::calibration_report(&answers.iter().collect::<Vec<_>>(), bundle.config.temperature());
        println!(
            "calibration: ECE {:.2}% at temperature {:.3}; {:.3} would fit this split (ECE {:.2}%)",
            100.0 * all.ece,
            bundle.config.temperature(),
            all.fitted_temperature,
            100.0 * all.ece_fitted
        );
        if let Some(world) = &in_world {
            println!(
                "in world: {} of {} GIFs out of world ({:.1}%; median distance {:.2}, threshold {:.2})",
                world.out_of_world,
                world.gifs,
                100.0 * world.share_out_of_world,
                world.median_distance,
                world.threshold
            );
        }
        if let Some(path) = options.report {
            // The types' metrics, and beside them the split's in-world share when the model has one.
            let mut json = serde_json::to_value(&report)?;
            if let (Some(world), Some(object)) = (&in_world, json.as_object_mut()) {
                object.insert("in_world".into(), serde_json::to_value(world)?);
            }
            write_atomically(&path, serde_json::to_string_pretty(&json)?)?;
        }
        if let Some(path) = options.answers {
            let mut lines = String::new();
            for answer in &answers {
                lines.push_str(&serde_json::to_string(answer)?);
                lines.push('\n');
            }
            write_atomically(&path, lines)?;
        }
        Ok(())
    }
}

fn main() {
    trainer::memory::keep_freed_memory();
    if let Err(error) = run(Cli::parse()) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    // A GPU build checks for its driver before any work, for a one-line error instead of a panic.
    if cli.command.runs_the_model() {
        backend::ensure_available()?;
    }
    trainer::data::set_frame_cache(!cli.no_frame_cache);
    match cli.command {
        Command::Generate { out, seed, gifs, wording, renderer, drawing } => {
            let bar = progress::progress(gifs as u64, "generating GIFs");
            let options = generate::GenerateOptions { out: out.clone(), seed, gifs, wording, renderer, drawing };
            let summary = generate::generate(&options, &|| bar.inc(1))?;
            bar.finish_and_clear();
            let splits: Vec<String> = summary.gifs_per_split.iter().map(|(s, n)| format!("{s} {n}")).collect();
            let types: Vec<String> = summary.questions_per_type.iter().map(|(t, n)| format!("{t} {n}")).collect();
            println!(
                "wrote {} in {:.1}s: GIFs {}; questions {}",
                out.display(),
                bar.elapsed().as_secs_f64(),
                splits.join(", "),
                types.join(", ")
            );
            Ok(())
        }
        Command::Train(options) => train::run(options),
        Command::Pretrain(options) => pretrain::run(options),
        Command::Eval(options) => eval_cmd::run(options),
        Command::Predict(options) => predict::run(options),
        Command::Calibrate(options) => calibrate::run(options),
        Command::Frames(options) => frames::run(options),
        Command::Bench(options) => bench::run(options),
        Command::Demo(options) => demo::run(options),
        Command::Samples(options) => samples::run(options),
    }
}

impl Command {
    /// Whether the command runs the model (on the compiled-in backend).
    fn runs_the_model(&self) -> bool {
        match self {
            Command::Generate { .. } | Command::Samples(_) => false,
            Command::Frames(options) => options.model.is_some(),
            Command::Bench(options) => !options.loader,
            _ => true,
        }
    }
}
