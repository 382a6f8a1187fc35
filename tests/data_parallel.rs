//! Data-parallel training equals single-device training: on a tiny generated benchmark, the
//! trainer's own step (`trainer::train::parallel::DataParallel`) on 1, 2 and 3 CPU replicas gives the
//! same gradients, losses and, after three AdamW steps, the same weights, up to float rounding.
//! The loss includes the slot-attention, object-probe and event-counter supervisions
//! (`--attention-supervision`, `--object-supervision`, `--count-supervision`), whose sums are also
//! divided by the whole batch's counts.
//! (The CPU backend has one device value; each replica runs its share on its own thread, which
//! is the code path that `--devices cuda:0,cuda:1` takes on GPUs.)

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use gifqa_tests::TempDir;
use shared_model::bundle::{BundleConfig, FORMAT_VERSION};
use shared_model::model::{CountHead, QaModel, QaModelConfig};
use shared_model::preprocess::{PreparedClip, PreprocessConfig};
use shared_model::sampling::{FrameSource, SampledFrame};
use shared_model::text::tokenize::TextTokenizer;
use trainer::data::BatchQuestion;
use trainer::data::attention_targets::ObjectAnnotations;
use trainer::data::text_cache::Texts;
use trainer::data::{Split, load};
use trainer::generate::{GenerateOptions, generate};
use trainer::runtime::backend::{Compute, Training, device};
use trainer::train::optimizer_config;
use trainer::train::parallel::{
    AttentionSupervision, CountSupervision, DataParallel, ObjectSupervision, StepContext, StepGradients,
};
use trainer::vocab::{answer_vocabulary, build_tokenizer};

const IMAGE_SIZE: usize = 16;
const FRAMES: usize = 4;
/// Odd, so that two replicas get uneven shares (2 + 1) and three get an empty one on the last step.
const BATCH_GIFS: usize = 3;
const STEPS: usize = 3;
const LR: f64 = 1e-3;

struct Setup {
    _dir: TempDir,
    train: Split,
    config: BundleConfig,
    tokenizer: TextTokenizer,
    answer_index: HashMap<String, usize>,
    annotations: ObjectAnnotations,
}

fn setup() -> Setup {
    let dir = TempDir::new("data-parallel");
    let data = dir.0.join("data");
    generate(
        &GenerateOptions {
            out: data.clone(),
            seed: 11,
            gifs: 20,
            wording: Default::default(),
            renderer: Default::default(),
            drawing: Default::default(),
        },
        &|| {},
    )
    .unwrap();
    let preprocess = PreprocessConfig::new(IMAGE_SIZE);
    let train = load(&data, "Train", &preprocess, Some(BATCH_GIFS * STEPS - 1)).unwrap();
    let tokenizer = build_tokenizer(&train.items).unwrap();
    let answers = answer_vocabulary(&train.items);
    // Dropout off: its random masks are the one thing that differs between runs.
    let model = QaModelConfig::new(tokenizer.vocab_size(), answers.len())
        .with_d_model(16)
        .with_image_size(IMAGE_SIZE)
        .with_dropout(Some(0.0))
        .with_object_probe(Some(true))
        .with_count_head(Some(CountHead::PooledAndEvidence));
    let config = BundleConfig {
        format: FORMAT_VERSION,
        model,
        preprocess,
        sampling: format!("uniform:{FRAMES}"),
        answers,
        calibration: None,
        in_world: None,
    };
    let answer_index = config.answers.iter().enumerate().map(|(i, a)| (a.clone(), i)).collect();
    let annotations = ObjectAnnotations::load(&data, "Train").unwrap();
    Setup { _dir: dir, train, config, tokenizer, answer_index, annotations }
}

/// The clips (frames at the segment middles) and questions of GIFs `gifs` of the split.
fn batch(split: &Split, gifs: std::ops::Range<usize>) -> (Vec<PreparedClip>, Vec<BatchQuestion<'_>>) {
    let clips = split.gifs[gifs.clone()]
        .iter()
        .map(|gif| {
            let frames: Vec<SampledFrame> = (0..FRAMES)
                .map(|i| {
                    let t = (i as f64 + 0.5) / FRAMES as f64;
                    SampledFrame { source: FrameSource::Index(gif.timeline.frame_at(t)), time: t as f32 }
                })
                .collect();
            gif.clip(&frames, split.size)
        })
        .collect();
    let questions = split.gifs[gifs]
        .iter()
        .enumerate()
        .flat_map(|(video, gif)| gif.items.iter().map(move |&i| BatchQuestion { video, item: &split.items[i] }))
        .collect();
    (clips, questions)
}

/// Every float parameter of a module, flattened in visiting order (with its gradient when asked).
struct Flatten<'a> {
    grads: Option<&'a GradientsParams>,
    values: Vec<f32>,
}

impl ModuleVisitor<Training> for Flatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Training, D>>) {
        let tensor = match self.grads {
            Some(grads) => match grads.get::<Compute, D>(param.id) {
                Some(grad) => grad,
                None => param.val().inner().zeros_like(),
            },
            None => param.val().inner(),
        };
        self.values.extend(tensor.into_data().iter::<f32>());
    }
}

fn flatten(model: &QaModel<Training>, grads: Option<&GradientsParams>) -> Vec<f32> {
    let mut visitor = Flatten { grads, values: Vec::new() };
    model.visit(&mut visitor);
    visitor.values
}

/// Largest absolute difference, and the largest absolute value of `reference`.
fn max_diff(reference: &[f32], other: &[f32]) -> (f32, f32) {
    assert_eq!(reference.len(), other.len());
    let diff = reference.iter().zip(other).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    (diff, reference.iter().map(|a| a.abs()).fold(0.0, f32::max))
}

/// What a run of `STEPS` training steps on `replicas` CPU devices leaves behind.
struct Run {
    first_grads: Vec<f32>,
    losses: Vec<f64>,
    questions: usize,
    weights: Vec<f32>,
}

/// The trainer's gradients of batch `step` on `replicas` CPU devices.
fn gradients(setup: &Setup, model: &QaModel<Training>, replicas: usize, step: usize) -> StepGradients {
    let parallel = DataParallel::new(vec![device(); replicas]).unwrap();
    let context = StepContext {
        config: &setup.config,
        texts: Texts::uncached(&setup.tokenizer),
        answer_index: &setup.answer_index,
        top_k: None,
        attention: Some(AttentionSupervision { annotations: &setup.annotations, weight: 0.5 }),
        objects: Some(ObjectSupervision { annotations: &setup.annotations, weight: 0.5 }),
        counts: Some(CountSupervision { annotations: &setup.annotations, weight: 0.5 }),
    };
    let gifs = step * BATCH_GIFS..((step + 1) * BATCH_GIFS).min(setup.train.gifs.len());
    let (clips, questions) = batch(&setup.train, gifs);
    let clip_refs: Vec<&PreparedClip> = clips.iter().collect();
    parallel.gradients(model, &context, &clip_refs, &questions).unwrap().expect("a loss")
}

fn train(setup: &Setup, initial: &QaModel<Training>, replicas: usize) -> Run {
    let mut optimizer = optimizer_config().init::<Training, QaModel<Training>>();
    let mut model = initial.clone();
    let (mut first_grads, mut losses, mut questions) = (Vec::new(), Vec::new(), 0);
    for step in 0..STEPS {
        let StepGradients { grads, metrics, .. } = gradients(setup, &model, replicas, step);
        let figures = metrics.read(&device()).unwrap();
        questions += figures.tally.values().map(|(_, n)| n).sum::<usize>();
        if step == 0 {
            first_grads = flatten(&model, Some(&grads));
        }
        losses.push(figures.loss_sum);
        model = optimizer.step(LR, model, grads);
    }
    Run { first_grads, losses, questions, weights: flatten(&model, None) }
}

#[test]
fn replicas_train_exactly_like_one_device() {
    let setup = setup();
    assert_eq!(setup.train.gifs.len(), BATCH_GIFS * STEPS - 1, "the last batch is short");

    // A fresh model's parameters are drawn on first use; the replicas must start from the weights
    // that the main model gets, not from draws of their own.
    let fresh = setup.config.model.init::<Training>(&device());
    let loss = |replicas| gradients(&setup, &fresh, replicas, 0).metrics.read(&device()).unwrap().loss_sum;
    let (replicated, reference) = (loss(2), loss(1));
    assert!((replicated - reference).abs() <= 1e-5 * reference, "replicas of a fresh model differ");

    let initial = setup.config.model.init::<Training>(&device());
    // Reading the weights draws them, before `train` clones the model for each run.
    let before = flatten(&initial, None);
    let single = train(&setup, &initial, 1);
    assert_eq!(max_diff(&before, &flatten(&initial, None)).0, 0.0, "training leaves the initial model alone");
    assert_eq!(single.questions, setup.train.items.len(), "every question was answered once");
    for replicas in [2, 3] {
        let parallel = train(&setup, &initial, replicas);
        assert_eq!(parallel.questions, single.questions);
        eprintln!("losses: 1 device {:?}, {replicas} replicas {:?}", single.losses, parallel.losses);
        for (a, b) in single.losses.iter().zip(&parallel.losses) {
            assert!((a - b).abs() <= 1e-5 * a.abs(), "{replicas} replicas: loss {b} vs {a}");
        }
        let (grad_diff, grad_max) = max_diff(&single.first_grads, &parallel.first_grads);
        let (weight_diff, weight_max) = max_diff(&single.weights, &parallel.weights);
        let moved = max_diff(&flatten(&initial, None), &single.weights).0;
        eprintln!(
            "{replicas} replicas vs 1: gradients max abs diff {grad_diff:.3e} (max |g| {grad_max:.3e}); weights after \
             {STEPS} steps max abs diff {weight_diff:.3e} (max |w| {weight_max:.3e}, largest change {moved:.3e})"
        );
        assert!(grad_max > 0.0 && moved > 0.0, "the model trained");
        assert!(grad_diff <= 1e-5 * grad_max, "{replicas} replicas: gradients differ by {grad_diff}");
        assert!(weight_diff <= 1e-5 * weight_max + 1e-6, "{replicas} replicas: weights differ by {weight_diff}");
    }
}
