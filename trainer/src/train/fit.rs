//! A training run: start or resume, check and load what it reads, then the epochs, each validated
//! and saved as a checkpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use burn::module::{AutodiffModule, Module};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use shared_model::bundle::BundleConfig;
use shared_model::model::QaModel;
use shared_model::sampling::SamplingStrategy;
use shared_model::text::tokenize::TextTokenizer;

use super::checkpoint::{Start, resume, save_checkpoint};
use super::epoch::{Optimizers, Run};
use super::new_model::start;
use super::options::TrainOptions;
use super::parallel::{AttentionSupervision, CountSupervision, DataParallel, ObjectSupervision, StepContext};
use super::records::{describe, epoch_record};
use super::splits::{Splits, load_splits, supervision_annotations};
use crate::data::attention_targets::ObjectAnnotations;
use crate::data::loader::Prefetch;
use crate::data::text_cache::{Texts, TowerStateCache};
use crate::data::{self, Split};
use crate::eval::{Evaluator, Report};
use crate::runtime::backend::{self, Training};
use crate::runtime::files::clean_leftovers;

/// Trains a model from `options` (no recipe): a new one, or `--resume`d from its checkpoint.
pub fn fit(options: TrainOptions) -> Result<()> {
    let parallel = DataParallel::new(backend::devices(options.devices.as_deref())?)?;
    #[allow(clippy::clone_on_copy)] // Copy on the CPU backend, not on CUDA or wgpu.
    let device = parallel.main_device().clone();
    anyhow::ensure!(!options.data.as_os_str().is_empty(), "--data must name a dataset folder");
    data::ensure_generated(&options.data)?;
    for leftover in clean_leftovers(&options.out)? {
        eprintln!("note: removed {}, left by an interrupted run", leftover.display());
    }
    let verify = backend::verify(options.no_verify);
    let Start { model, config, tokenizer, state } =
        if options.resume { resume(&options, verify, &device)? } else { start(&options, verify, &device)? };
    let opts = state.options.clone();
    let strategy = SamplingStrategy::parse(&config.sampling, opts.shape.frames)?;
    // Checked and read before the GIFs are decoded, so a bad option fails in a second.
    let annotations = supervision_annotations(&opts, &config, strategy)?;
    let splits = load_splits(&opts, &config)?;
    data::note_truncated(&splits.train.items, &tokenizer, config.model.max_text_len, "Train");
    announce(&splits, options.devices.as_deref(), &parallel, model.num_params());
    let answer_index: HashMap<String, usize> = config.answers.iter().enumerate().map(|(i, a)| (a.clone(), i)).collect();
    let tower_cache = frozen_tower_cache(&config);
    let texts = Texts { tokenizer: &tokenizer, cache: tower_cache.as_ref() };
    let step_context = step_context(&opts, &config, texts, &answer_index, strategy, annotations.as_ref());
    let mut run = Run {
        opts: &opts,
        parallel: &parallel,
        context: &step_context,
        optimizers: Optimizers::new(),
        total_steps: splits.train.gifs.len().div_ceil(opts.schedule.batch_gifs) * opts.schedule.epochs,
        step: state.history.last().map_or(0, |h| h.step),
        started: Instant::now(),
    };
    let Splits { train, val, missing_lists } = splits;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ (state.history.len() as u64).wrapping_mul(0x9e37_79b9));
    let (mut model, mut state) = (model, state);
    // Shared with the batch producer thread.
    let train = Arc::new(train);
    for epoch in state.history.len() + 1..=opts.schedule.epochs {
        let epoch_start = Instant::now();
        let batches = Prefetch::epoch(
            train.clone(),
            opts.schedule.batch_gifs,
            strategy.frames_per_clip(),
            opts.inputs.augment,
            rng,
        );
        let trained = run.epoch(model, &train, batches, epoch)?;
        (model, rng) = (trained.model, trained.rng);
        let seconds = epoch_start.elapsed().as_secs_f64();
        let val_report = match &val {
            Some(val) => validate(&model, &config, &tokenizer, val, strategy, &device)?,
            None => Report::new(),
        };
        let record = epoch_record(epoch, run.step, &trained.figures, &val_report, seconds, trained.seen);
        eprintln!("{}", describe(&record));
        state.history.push(record);
        save_checkpoint(&opts.out, &model, &config, &tokenizer, &state, &missing_lists)?;
        if trained.out_of_time {
            eprintln!("stopping: the --minutes budget is spent");
            break;
        }
    }
    eprintln!("model written to {}", opts.out.display());
    Ok(())
}

/// The run's first line: what it trains and validates on, where, and how big the model is.
fn announce(splits: &Splits, devices: Option<&str>, parallel: &DataParallel, parameters: usize) {
    eprintln!(
        "training on {} GIFs / {} questions ({} backend, {}), validating on {} GIFs; {parameters} parameters",
        splits.train.gifs.len(),
        splits.train.items.len(),
        backend::name(),
        devices.map_or_else(
            || format!("default: {} device{}", parallel.len(), if parallel.len() == 1 { "" } else { "s" }),
            |list| format!("devices {list}")
        ),
        splits.val.as_ref().map_or(0, |v| v.gifs.len()),
    );
}

/// A frozen text tower gives each text the same states all run long: computed once per text.
fn frozen_tower_cache(config: &BundleConfig) -> Option<TowerStateCache> {
    let tower = config.model.text_tower.as_ref().filter(|tower| tower.frozen)?;
    Some(TowerStateCache::new(tower.bert.hidden_size))
}

/// What every step of the run reads besides the model: the auxiliary losses that `opts` turns
/// on read the Train `annotations`.
fn step_context<'a>(
    opts: &TrainOptions,
    config: &'a BundleConfig,
    texts: Texts<'a>,
    answer_index: &'a HashMap<String, usize>,
    strategy: SamplingStrategy,
    annotations: Option<&'a ObjectAnnotations>,
) -> StepContext<'a> {
    let supervised = |weight: f32| annotations.filter(|_| weight > 0.0);
    StepContext {
        config,
        texts,
        answer_index,
        top_k: strategy.top_k(),
        attention: supervised(opts.losses.attention_supervision)
            .map(|annotations| AttentionSupervision { annotations, weight: opts.losses.attention_supervision }),
        objects: supervised(opts.losses.object_supervision)
            .map(|annotations| ObjectSupervision { annotations, weight: opts.losses.object_supervision }),
        counts: supervised(opts.losses.count_supervision)
            .map(|annotations| CountSupervision { annotations, weight: opts.losses.count_supervision }),
    }
}

/// The Val report of `model` (in inference mode), its clips sampled by `strategy`.
fn validate(
    model: &QaModel<Training>,
    config: &BundleConfig,
    tokenizer: &TextTokenizer,
    val: &Split,
    strategy: SamplingStrategy,
    device: &backend::Device,
) -> Result<Report> {
    let inference = model.valid();
    #[allow(clippy::clone_on_copy)] // Copy on the CPU backend, not on CUDA or wgpu.
    let evaluator = Evaluator::plain(&inference, config, tokenizer, strategy, device.clone());
    evaluator.evaluate(val, false, true)
}
