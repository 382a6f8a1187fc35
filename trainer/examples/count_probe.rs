//! Can a trained model's stage-1 output count? Freezes a model folder, reads its per-frame
//! outputs for the Count questions of a generated dataset, and trains small temporal probes on
//! them alone (Train GIFs), then scores them on Test GIFs. A probe that counts well where the
//! model's own head does not means the head or its training is the limit; one that does not means
//! the frame features lack what counting needs.
//!
//! Usage: count_probe MODEL_DIR DATA_DIR TRAIN_GIFS TEST_GIFS
//!
//! Feature sets, per sampled frame (read by [`trainer::count_features`]): `frame` (the
//! frame-at-a-time event counter's input: the mean of the frame's slot tokens after the temporal
//! layers), `slots` (those slot tokens side by side, what a temporal counter reads), `attention`
//! (where the question looked: the slot attention over the frame's grid cells). Heads: `sum`
//! (per-frame evidence through two temporal convolutions, summed into an expected count, the event
//! counter's parabola over the counts; the figures in docs/results come from this copy, kept so
//! they reproduce; `--example fit_event_counter` trains the model's own temporal counter) and
//! `pool` (the same convolutions, mean over time, a classifier).
use std::collections::BTreeMap;

use anyhow::Result;
use burn::module::{AutodiffModule, Module, Param};
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig1d};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::{gelu, sigmoid};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use shared_model::bundle::ModelBundle;
use shared_model::pipeline::read_floats;
use trainer::backend::{self, Compute, Training};
use trainer::count_features::{CountFeatures, extract, rows_of};

/// Count classes of the probes: answers 0 ..= 10, like the model's.
const CLASSES: usize = 11;

/// The feature sets of one split's Count questions: per set `[questions, frames, width]`
/// row-major, and the width.
fn feature_sets(f: &CountFeatures) -> BTreeMap<&'static str, (Vec<f32>, usize)> {
    let (tokens, d) = (f.tokens, f.d_model);
    let frame: Vec<f32> = f
        .slot_tokens
        .chunks(tokens * d)
        .flat_map(|slots| (0..d).map(move |c| (0..tokens).map(|t| slots[t * d + c]).sum::<f32>() / tokens as f32))
        .collect();
    BTreeMap::from([
        ("frame", (frame, d)),
        // Row-major `[questions, frames, tokens, d]` is already `[questions, frames, tokens * d]`.
        ("slots", (f.slot_tokens.clone(), tokens * d)),
        ("attention", (f.attention.clone(), f.cells)),
    ])
}

/// Two temporal convolutions over per-frame features, then a count head.
#[derive(Module, Debug)]
struct Probe<B: Backend> {
    input: Linear<B>,
    conv1: Conv1d<B>,
    conv2: Conv1d<B>,
    evidence: Linear<B>,
    classifier: Linear<B>,
    log_sharpness: Param<Tensor<B, 1>>,
    summed: bool,
}

impl<B: Backend> Probe<B> {
    fn new(width: usize, summed: bool, device: &B::Device) -> Self {
        let hidden = 64;
        let conv = || Conv1dConfig::new(hidden, hidden, 5).with_padding(PaddingConfig1d::Explicit(2, 2)).init(device);
        Probe {
            input: LinearConfig::new(width, hidden).init(device),
            conv1: conv(),
            conv2: conv(),
            evidence: LinearConfig::new(hidden, 1).init(device),
            classifier: LinearConfig::new(hidden, CLASSES).init(device),
            log_sharpness: Initializer::Constant { value: 0.0 }.init([1], device),
            summed,
        }
    }

    /// `x`: `[batch, frames, width]` → logits `[batch, CLASSES]`.
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 2> {
        let [batch, frames, _] = x.dims();
        let h = gelu(self.input.forward(x)).swap_dims(1, 2); // [batch, hidden, frames]
        let h = gelu(self.conv1.forward(h));
        let h = gelu(self.conv2.forward(h)).swap_dims(1, 2); // [batch, frames, hidden]
        if self.summed {
            let evidence = sigmoid(self.evidence.forward(h) - 2.0).reshape([batch, frames]);
            let expected = evidence.sum_dim(1); // [batch, 1]
            let counts =
                Tensor::<B, 1, Int>::arange(0..CLASSES as i64, &expected.device()).float().unsqueeze_dim::<2>(0);
            let sharpness = self.log_sharpness.val().exp().unsqueeze_dim::<2>(1);
            (counts - expected).powi_scalar(2).neg() * sharpness
        } else {
            let [_, _, hidden] = h.dims();
            self.classifier.forward(h.mean_dim(1).reshape([batch, hidden]))
        }
    }
}

/// Rows `rows` of a `[_, frames, width]` table as a tensor.
fn batch_of<B: Backend>(
    values: &[f32],
    rows: &[usize],
    frames: usize,
    width: usize,
    device: &B::Device,
) -> Tensor<B, 3> {
    Tensor::from_data(TensorData::new(rows_of(values, rows, frames * width), [rows.len(), frames, width]), device)
}

/// Standardises every feature column with the training rows' mean and spread.
fn standardise(train: &mut [f32], test: &mut [f32], width: usize) {
    let rows = train.len() / width;
    for c in 0..width {
        let mean = (0..rows).map(|r| train[r * width + c]).sum::<f32>() / rows as f32;
        let var = (0..rows).map(|r| (train[r * width + c] - mean).powi(2)).sum::<f32>() / rows as f32;
        let scale = 1.0 / (var.sqrt() + 1e-5);
        for v in train.iter_mut().skip(c).step_by(width).chain(test.iter_mut().skip(c).step_by(width)) {
            *v = (*v - mean) * scale;
        }
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, model_dir, data_dir, train_gifs, test_gifs] = args.as_slice() else {
        anyhow::bail!("usage: count_probe MODEL_DIR DATA_DIR TRAIN_GIFS TEST_GIFS");
    };
    let device = backend::device();
    let bundle = ModelBundle::<Compute>::load_dir(model_dir.as_ref(), &device)?;
    let data_dir = std::path::Path::new(data_dir);
    let train =
        extract(&bundle.model, &bundle.config, &bundle.tokenizer, data_dir, "Train", Some(train_gifs.parse()?))?;
    let test = extract(&bundle.model, &bundle.config, &bundle.tokenizer, data_dir, "Test", Some(test_gifs.parse()?))?;
    let (train_sets, test_sets) = (feature_sets(&train), feature_sets(&test));
    println!(
        "{} training and {} test Count questions, {} frames",
        train.answers.len(),
        test.answers.len(),
        train.frames
    );
    let frames = train.frames;
    for (name, (train_values, width)) in &train_sets {
        let mut train_values = train_values.clone();
        let mut test_values = test_sets[name].0.clone();
        standardise(&mut train_values, &mut test_values, *width);
        for summed in [true, false] {
            <Training as Backend>::seed(&device, 7);
            let mut probe = Probe::<Training>::new(*width, summed, &device);
            let mut optimizer = AdamConfig::new().init::<Training, Probe<Training>>();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
            let mut order: Vec<usize> = (0..train.answers.len()).collect();
            let loss_fn = CrossEntropyLossConfig::new().init(&device);
            let steps = 600;
            for step in 0..steps {
                if step % (order.len() / 128).max(1) == 0 {
                    order.shuffle(&mut rng);
                }
                let start = (step * 128) % (order.len().saturating_sub(128).max(1));
                let rows = &order[start..(start + 128).min(order.len())];
                let x = batch_of::<Training>(&train_values, rows, frames, *width, &device);
                let targets: Vec<i64> = rows.iter().map(|&r| train.answers[r]).collect();
                let targets = Tensor::<Training, 1, Int>::from_data(TensorData::new(targets, [rows.len()]), &device);
                let loss = loss_fn.forward(probe.forward(x), targets);
                let grads = GradientsParams::from_grads(loss.backward(), &probe);
                let lr = 3e-3 * (1.0 - step as f64 / steps as f64);
                probe = optimizer.step(lr, probe, grads);
            }
            let probe = probe.valid();
            let predict = |values: &[f32], questions: usize| -> Result<Vec<i64>> {
                let rows: Vec<usize> = (0..questions).collect();
                let mut predicted = Vec::new();
                for chunk in rows.chunks(256) {
                    let x = batch_of::<Compute>(values, chunk, frames, *width, &device);
                    let best = probe.forward(x).argmax(1).float().reshape([chunk.len()]);
                    predicted.extend(backend::block_on(read_floats(best))?.into_iter().map(|b| b as i64));
                }
                Ok(predicted)
            };
            let on_train = train.score(&predict(&train_values, train.len())?);
            let on_test = test.score(&predict(&test_values, test.len())?);
            let head = if summed { "sum" } else { "pool" };
            println!("{name:9} {head:4}  train {:.1}%  test {on_test}", on_train.accuracy * 100.0);
        }
    }
    Ok(())
}
