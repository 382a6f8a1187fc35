//! Gives a trained model a temporal event counter trained on its frozen stage-1 output: the
//! counter reads each frame's tokens side by side through two convolutions over time (see
//! `shared-model/src/model/event_counter.rs`), its logits added to the model's pooled count head
//! as before. Every other tensor is kept, so only Count answers change. The output folder is a
//! model (`trainer eval`, `predict`, the page) and the start of a joint run
//! (`trainer train --init OUT_DIR --count-temporal-kernel KERNEL ...`).
//!
//! Usage: fit_event_counter MODEL_DIR DATA_DIR OUT_DIR [KERNEL] [STEPS] [TRAIN_GIFS] [SUPERVISION]
//! (defaults 5, 1500, every Train GIF, `0,1`). DATA_DIR may list folders joined by commas: the
//! counter trains on the Train questions of all (at most TRAIN_GIFS GIFs of each) and is chosen on
//! the first one's Val questions. SUPERVISION lists weights of the per-frame event loss
//! (`train --count-supervision`; needs the generator's annotations); a weight written with an `r`
//! (`1r`) also shows half of every batch backwards in time, since a count is the same backwards.
//! One counter is fitted per entry, and the best on Val Count questions is written. Reports the
//! model's own and each counter's Val Count accuracy.
use anyhow::{Context, Result};
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use shared_model::batch::index_tensor;
use shared_model::bundle::{ModelBundle, folder_files};
use shared_model::model::{CountHead, EventCounter, EventCounterConfig};
use shared_model::pipeline::read_floats;
use trainer::backend::{self, Compute, Training};
use trainer::batch::event_loss;
use trainer::count_features::{CountFeatures, extract, reversed_in_time, rows_of};
use trainer::files::write_folder_atomically;

/// Questions per step.
const BATCH: usize = 128;
/// Peak learning rate (decays linearly to zero).
const LEARNING_RATE: f64 = 3e-3;

/// Rows `rows` of the features: slot tokens `[rows, frames, tokens, d_model]` and the pooled
/// head's logits `[rows, classes]`. Rows at the positions `backwards` picks have their frames in
/// reverse order; their pooled logits stay the forward clip's (the count is the same).
fn batch<B: Backend>(
    f: &CountFeatures,
    rows: &[usize],
    backwards: impl Fn(usize) -> bool,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 2>) {
    let frame_len = f.tokens * f.d_model;
    let tokens: Vec<f32> = rows
        .iter()
        .enumerate()
        .flat_map(|(i, &r)| {
            let row = rows_of(&f.slot_tokens, &[r], f.frames * frame_len);
            if backwards(i) { reversed_in_time(&row, f.frames, frame_len) } else { row }
        })
        .collect();
    let pooled = rows_of(&f.pooled_logits, rows, f.classes);
    (
        Tensor::from_data(TensorData::new(tokens, [rows.len(), f.frames, f.tokens, f.d_model]), device),
        Tensor::from_data(TensorData::new(pooled, [rows.len(), f.classes]), device),
    )
}

/// Answers of `counter` beside the pooled head on every question of `f`.
fn answers(counter: &EventCounter<Compute>, f: &CountFeatures) -> Result<Vec<i64>> {
    let device = backend::device();
    let rows: Vec<usize> = (0..f.len()).collect();
    let mut out = Vec::with_capacity(f.len());
    for chunk in rows.chunks(256) {
        let (tokens, pooled) = batch::<Compute>(f, chunk, |_| false, &device);
        let best = (counter.forward(tokens).logits + pooled).argmax(1).float().reshape([chunk.len(), 1]);
        out.extend(backend::block_on(read_floats(best))?.into_iter().map(|b| b as i64));
    }
    Ok(out)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (model_dir, data_dir, out_dir, rest) = match args.as_slice() {
        [_, model, data, out, rest @ ..] if rest.len() <= 4 => (model, data, out, rest),
        _ => anyhow::bail!(
            "usage: fit_event_counter MODEL_DIR DATA_DIR OUT_DIR [KERNEL] [STEPS] [TRAIN_GIFS] [SUPERVISION]"
        ),
    };
    let kernel: usize = rest.first().map_or(Ok(5), |k| k.parse()).context("KERNEL")?;
    let steps: usize = rest.get(1).map_or(Ok(1500), |s| s.parse()).context("STEPS")?;
    let train_gifs: Option<usize> = rest.get(2).map(|g| g.parse()).transpose().context("TRAIN_GIFS")?;
    let fits: Vec<Fit> = rest
        .get(3)
        .map_or("0,1", |w| w.as_str())
        .split(',')
        .map(Fit::parse)
        .collect::<Result<_>>()
        .context("SUPERVISION")?;
    let out_dir = std::path::Path::new(out_dir);
    anyhow::ensure!(!out_dir.exists(), "{} exists already", out_dir.display());

    let device = backend::device();
    let bundle = ModelBundle::<Training>::load_dir(model_dir.as_ref(), &device)
        .with_context(|| format!("cannot load the model in {model_dir}"))?;
    anyhow::ensure!(
        bundle.config.model.count_head() != CountHead::Pooled,
        "{model_dir} has no event counter (add one with --example extend_model … evidence-count)"
    );
    let mut config = bundle.config.clone();
    config.model.count_temporal_kernel = Some(kernel);
    config.model.check().map_err(|why| anyhow::anyhow!("KERNEL: {why}"))?;

    let frozen = bundle.model.valid();
    let data_dirs: Vec<&std::path::Path> = data_dir.split(',').map(std::path::Path::new).collect();
    let mut train = extract(&frozen, &bundle.config, &bundle.tokenizer, data_dirs[0], "Train", train_gifs)?;
    for dir in &data_dirs[1..] {
        train.append(extract(&frozen, &bundle.config, &bundle.tokenizer, dir, "Train", train_gifs)?)?;
    }
    let val = extract(&frozen, &bundle.config, &bundle.tokenizer, data_dirs[0], "Val", None)?;
    anyhow::ensure!(train.len() >= BATCH, "only {} Train Count questions", train.len());
    println!(
        "{} Train and {} Val Count questions, {} frames of {} tokens",
        train.len(),
        val.len(),
        train.frames,
        train.tokens
    );
    println!("the model's own Val answers: {}", val.score(&val.model_answers));

    let mut best: Option<(f64, EventCounter<Training>)> = None;
    for &setting in &fits {
        let counter = fit(&config.model.event_counter_config(), &train, steps, setting)?;
        let fitted = counter.valid();
        let on_val = val.score(&answers(&fitted, &val)?);
        println!("{setting}: Train {}", train.score(&answers(&fitted, &train)?));
        println!("{setting}: Val   {on_val}");
        if best.as_ref().is_none_or(|(most, _)| on_val.accuracy > *most) {
            best = Some((on_val.accuracy, counter));
        }
    }
    let Some((_, counter)) = best else { anyhow::bail!("SUPERVISION lists no weight") };
    let model = bundle.model.with_event_counter(counter);
    write_folder_atomically(out_dir, &folder_files(&config, &model, &bundle.tokenizer)?)?;
    println!("wrote {}", out_dir.display());
    Ok(())
}

/// How one counter is fitted: the weight of the per-frame event loss, and whether half of every
/// batch is shown backwards in time.
#[derive(Clone, Copy)]
struct Fit {
    supervision: f32,
    backwards: bool,
}

impl Fit {
    /// `1` or `1r` (with clips backwards).
    fn parse(text: &str) -> Result<Self> {
        let (weight, backwards) = text.strip_suffix('r').map_or((text, false), |w| (w, true));
        let supervision = weight.parse().with_context(|| format!("{text:?} is not a weight"))?;
        Ok(Self { supervision, backwards })
    }
}

impl std::fmt::Display for Fit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "supervision {}{}", self.supervision, if self.backwards { " (half backwards)" } else { "" })
    }
}

/// Trains a fresh counter of `config` beside the frozen pooled logits: cross-entropy on the
/// answers plus the supervision weight × the per-frame event loss on the questions with
/// annotations.
fn fit(
    config: &EventCounterConfig,
    train: &CountFeatures,
    steps: usize,
    setting: Fit,
) -> Result<EventCounter<Training>> {
    let Fit { supervision, backwards } = setting;
    // Every other row of a batch: the rows are shuffled each pass, so each question is seen
    // backwards about half the time.
    let reversed = |i: usize| backwards && i % 2 == 1;
    let device = backend::device();
    <Training as Backend>::seed(&device, 7);
    let mut counter: EventCounter<Training> = config.init(&device);
    let mut optimizer = AdamConfig::new().init::<Training, EventCounter<Training>>();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let per_epoch = train.len() / BATCH;
    let bar = trainer::progress::progress(steps as u64, &format!("fitting ({setting})"));
    for step in 0..steps {
        // Clean epochs: every question once per shuffled pass (the ragged tail waits a pass).
        if step % per_epoch == 0 {
            order.shuffle(&mut rng);
        }
        let rows = &order[(step % per_epoch) * BATCH..(step % per_epoch + 1) * BATCH];
        let (tokens, pooled) = batch::<Training>(train, rows, reversed, &device);
        let targets: Vec<i64> = rows.iter().map(|&r| train.answers[r]).collect();
        let targets = Tensor::<Training, 1, Int>::from_data(TensorData::new(targets, [rows.len()]), &device);
        let count = counter.forward(tokens);
        let mut loss = loss_fn.forward(count.logits + pooled, targets);
        let (annotated, shares): (Vec<usize>, Vec<Vec<f32>>) =
            rows.iter().enumerate().filter_map(|(i, &r)| Some((i, train.shares[r].clone()?))).unzip();
        let shares: Vec<Vec<f32>> = annotated
            .iter()
            .zip(shares)
            .map(|(&i, s)| if reversed(i) { s.into_iter().rev().collect() } else { s })
            .collect();
        if supervision > 0.0 && !annotated.is_empty() {
            let shares = Tensor::from_data(TensorData::new(shares.concat(), [annotated.len(), train.frames]), &device);
            let events = event_loss(count.evidence.select(0, index_tensor(&annotated, &device)), shares);
            loss = loss + events.div_scalar((annotated.len() * train.frames) as f32).mul_scalar(supervision);
        }
        let grads = GradientsParams::from_grads(loss.backward(), &counter);
        counter = optimizer.step(LEARNING_RATE * (1.0 - step as f64 / steps as f64), counter, grads);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(counter)
}
