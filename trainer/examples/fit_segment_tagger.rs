//! Gives a trained model a segment tagger (what the asked object does in each frame; see
//! `shared-model/src/model/segment_tagger.rs`) fitted on its frozen stage-1 output, and turns on
//! the timeline check at WEIGHT (see `shared-model/src/timeline_check.rs`). Every other tensor is
//! kept, so only fused caption and Transition answers change. The targets are the generator's
//! annotations (what each object does in which frames).
//!
//! Usage: fit_segment_tagger MODEL_DIR DATA_DIR OUT_DIR [STEPS] [TRAIN_GIFS] [VAL_GIFS] [WEIGHT]
//! (defaults 2000, every Train GIF, 300, 1). DATA_DIR may list folders joined by commas: the
//! tagger trains on the Train objects of all (at most TRAIN_GIFS GIFs of each) and is scored on
//! the first one's Val objects (per-frame accuracy, printed per action).
use std::collections::BTreeMap;

use anyhow::{Context, Result};
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use shared_model::bundle::{ModelBundle, folder_files};
use shared_model::model::SegmentTagger;
use shared_model::pipeline::read_floats;
use shared_model::timeline_check::TIMELINE_ACTIONS;
use trainer::backend::{self, Compute, Training};
use trainer::count_features::rows_of;
use trainer::files::write_folder_atomically;
use trainer::timeline_features::{NO_LABEL, TimelineFeatures, extract};

/// Objects per step.
const BATCH: usize = 128;
/// Peak learning rate (decays linearly to zero).
const LEARNING_RATE: f64 = 3e-3;

/// Slot tokens `[rows, frames, tokens, d_model]` and labels `[rows * frames]` of rows `rows`.
fn batch<B: Backend>(f: &TimelineFeatures, rows: &[usize], device: &B::Device) -> (Tensor<B, 4>, Vec<i64>) {
    let tokens = rows_of(&f.slot_tokens, rows, f.frames * f.tokens * f.d_model);
    let labels = rows.iter().flat_map(|&r| f.labels[r * f.frames..(r + 1) * f.frames].iter().copied()).collect();
    (Tensor::from_data(TensorData::new(tokens, [rows.len(), f.frames, f.tokens, f.d_model]), device), labels)
}

/// Per-frame accuracy of `tagger` on `f`: overall and per true action (labelled frames only).
fn score(tagger: &SegmentTagger<Compute>, f: &TimelineFeatures) -> Result<(f64, BTreeMap<&'static str, f64>)> {
    let device = backend::device();
    let rows: Vec<usize> = (0..f.len()).collect();
    let mut tally: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    for chunk in rows.chunks(256) {
        let (tokens, labels) = batch::<Compute>(f, chunk, &device);
        let best = tagger.forward(tokens).argmax(2).float().reshape([chunk.len() * f.frames, 1]);
        let best = backend::block_on(read_floats(best))?;
        for (p, &l) in best.iter().zip(&labels).filter(|(_, l)| **l != NO_LABEL) {
            let entry = tally.entry(TIMELINE_ACTIONS[l as usize]).or_default();
            entry.0 += usize::from(*p as i64 == l);
            entry.1 += 1;
        }
    }
    let (right, n) = tally.values().fold((0, 0), |(r, n), (a, b)| (r + a, n + b));
    let per_action = tally.into_iter().map(|(k, (r, n))| (k, r as f64 / n.max(1) as f64)).collect();
    Ok((right as f64 / n.max(1) as f64, per_action))
}

fn show(name: &str, (accuracy, per_action): &(f64, BTreeMap<&'static str, f64>)) {
    let actions: Vec<String> = per_action.iter().map(|(k, v)| format!("{k} {:.1}", v * 100.0)).collect();
    println!("{name}: frames tagged right {:.1}% ({})", accuracy * 100.0, actions.join(", "));
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (model_dir, data_dir, out_dir, rest) = match args.as_slice() {
        [_, model, data, out, rest @ ..] if rest.len() <= 4 => (model, data, out, rest),
        _ => anyhow::bail!(
            "usage: fit_segment_tagger MODEL_DIR DATA_DIR OUT_DIR [STEPS] [TRAIN_GIFS] [VAL_GIFS] [WEIGHT]"
        ),
    };
    let steps: usize = rest.first().map_or(Ok(2000), |s| s.parse()).context("STEPS")?;
    let train_gifs: Option<usize> = rest.get(1).map(|g| g.parse()).transpose().context("TRAIN_GIFS")?;
    let val_gifs: usize = rest.get(2).map_or(Ok(300), |g| g.parse()).context("VAL_GIFS")?;
    let weight: f64 = rest.get(3).map_or(Ok(1.0), |w| w.parse()).context("WEIGHT")?;
    let out_dir = std::path::Path::new(out_dir);
    anyhow::ensure!(!out_dir.exists(), "{} exists already", out_dir.display());

    let device = backend::device();
    let bundle = ModelBundle::<Training>::load_dir(model_dir.as_ref(), &device)
        .with_context(|| format!("cannot load the model in {model_dir}"))?;
    let mut config = bundle.config.clone();
    config.model.segment_tagger = Some(true);
    config.model.timeline_check_weight = Some(weight);
    config.model.check().map_err(|why| anyhow::anyhow!("WEIGHT: {why}"))?;

    let frozen = bundle.model.valid();
    let data_dirs: Vec<&std::path::Path> = data_dir.split(',').map(std::path::Path::new).collect();
    let mut train = extract(&frozen, &bundle.config, &bundle.tokenizer, data_dirs[0], "Train", train_gifs)?;
    for dir in &data_dirs[1..] {
        let more = extract(&frozen, &bundle.config, &bundle.tokenizer, dir, "Train", train_gifs)?;
        anyhow::ensure!(more.frames == train.frames, "two data folders read at different frame counts");
        train.slot_tokens.extend(more.slot_tokens);
        train.labels.extend(more.labels);
    }
    let val = extract(&frozen, &bundle.config, &bundle.tokenizer, data_dirs[0], "Val", Some(val_gifs))?;
    anyhow::ensure!(train.len() >= BATCH, "only {} annotated Train objects", train.len());
    println!("{} Train and {} Val objects, {} frames of {} tokens", train.len(), val.len(), train.frames, train.tokens);

    <Training as Backend>::seed(&device, 7);
    let mut tagger: SegmentTagger<Training> = config.model.segment_tagger_config().init(&device);
    let mut optimizer = AdamConfig::new().init::<Training, SegmentTagger<Training>>();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let per_epoch = train.len() / BATCH;
    let bar = trainer::progress::progress(steps as u64, "fitting the segment tagger");
    for step in 0..steps {
        // Clean epochs: every object once per shuffled pass (the ragged tail waits a pass).
        if step % per_epoch == 0 {
            order.shuffle(&mut rng);
        }
        let rows = &order[(step % per_epoch) * BATCH..(step % per_epoch + 1) * BATCH];
        let (tokens, labels) = batch::<Training>(&train, rows, &device);
        let n = labels.len();
        let mask: Vec<f32> = labels.iter().map(|&l| f32::from(u8::from(l != NO_LABEL))).collect();
        let labelled = mask.iter().sum::<f32>().max(1.0);
        let targets: Vec<i64> = labels.iter().map(|&l| l.max(0)).collect();
        let targets = Tensor::<Training, 2, Int>::from_data(TensorData::new(targets, [n, 1]), &device);
        let mask = Tensor::<Training, 2>::from_data(TensorData::new(mask, [n, 1]), &device);
        let log_probs = tagger.forward(tokens).reshape([n, TIMELINE_ACTIONS.len()]);
        let loss = (log_probs.gather(1, targets) * mask).sum().neg().div_scalar(labelled);
        let grads = GradientsParams::from_grads(loss.backward(), &tagger);
        tagger = optimizer.step(LEARNING_RATE * (1.0 - step as f64 / steps as f64), tagger, grads);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let fitted = tagger.valid();
    show("Train", &score(&fitted, &train)?);
    show("Val", &score(&fitted, &val)?);
    let model = bundle.model.with_segment_tagger(tagger);
    write_folder_atomically(out_dir, &folder_files(&config, &model, &bundle.tokenizer)?)?;
    println!("wrote {}", out_dir.display());
    Ok(())
}
