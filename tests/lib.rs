//! Helpers shared by the integration tests.

use std::path::PathBuf;

pub mod fuzz;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/data` beside the repository, or `None` (with a note) when it is absent.
pub fn shared_data() -> Option<PathBuf> {
    let dir = repo_root().join("../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: {} not found (the workplace's shared data sits beside the repository)", dir.display());
        None
    }
}

/// A fresh empty folder under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/gifqa-{name}-{pid}`.
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("gifqa-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("creating a temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reading the parity fixtures of `../shared/data/parity` (PyTorch/transformers reference outputs).
pub mod parity {
    use std::path::Path;

    use burn::prelude::*;
    use burn::tensor::TensorData;
    use serde_json::Value;

    /// A JSON file, parsed.
    pub fn read_json(path: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).expect("reading json")).expect("parsing json")
    }

    /// `{shape, data}` → (shape, values).
    pub fn float_tensor(v: &Value) -> (Vec<usize>, Vec<f32>) {
        let shape = v["shape"].as_array().expect("shape").iter().map(|x| x.as_u64().expect("dim") as usize).collect();
        let data = v["data"].as_array().expect("data").iter().map(|x| x.as_f64().expect("value") as f32).collect();
        (shape, data)
    }

    /// Nested integer lists `[[..], ..]` → `[batch, len]` Int tensor on the default device.
    pub fn int_batch<B: Backend>(v: &Value) -> Tensor<B, 2, Int> {
        let rows = v.as_array().expect("rows");
        let len = rows[0].as_array().expect("row").len();
        let data: Vec<i64> =
            rows.iter().flat_map(|r| r.as_array().expect("row").iter().map(|x| x.as_i64().expect("int"))).collect();
        Tensor::from_data(TensorData::new(data, [rows.len(), len]), &Default::default())
    }

    /// A float tensor's shape and values.
    pub fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> (Vec<usize>, Vec<f32>) {
        let shape = t.dims().to_vec();
        (shape, t.into_data().to_vec::<f32>().expect("f32 data"))
    }
}

/// A tiny random model and one fixed batch for it, for tests that check the model's plumbing.
pub mod tiny {
    use burn::prelude::*;
    use burn::tensor::TensorData;
    use shared_model::model::{QaModel, QaModelConfig};

    /// The shipped tokenizer and answer list (`www/model`) around a tiny freshly initialised model
    /// (16 px, d 16; weights from `seed`), for tests of the answering path.
    pub fn bundle(seed: u64) -> shared_model::bundle::ModelBundle<burn::backend::Flex> {
        bundle_with(seed, |_| {})
    }

    /// [`bundle`] with its model config adjusted by `adjust` before the weights are drawn.
    pub fn bundle_with(
        seed: u64,
        adjust: impl FnOnce(&mut QaModelConfig),
    ) -> shared_model::bundle::ModelBundle<burn::backend::Flex> {
        let device = Default::default();
        let mut bundle = shared_model::bundle::ModelBundle::load_dir(&crate::repo_root().join("www/model"), &device)
            .expect("www/model loads");
        let mut config = QaModelConfig::new(bundle.config.model.vocab_size, bundle.config.model.answer_classes)
            .with_d_model(16)
            .with_image_size(16)
            .with_frame_channels([8, 16]);
        adjust(&mut config);
        bundle.model = model(&config, seed);
        bundle.config.model = config;
        bundle.config.preprocess = shared_model::preprocess::PreprocessConfig::new(16);
        // The shipped model's calibration and in-world statistics belong to its weights, not to these.
        bundle.config.calibration = None;
        bundle.config.in_world = None;
        bundle
    }

    /// A model of `config` whose weights are a function of `seed` alone. Flex seeds one
    /// process-wide generator, and tests run in parallel threads: seeding, drawing and
    /// materialising the lazily initialised weights happen under one lock, which every test
    /// drawing weights must go through.
    pub fn model(config: &QaModelConfig, seed: u64) -> QaModel<burn::backend::Flex> {
        static DRAWING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _drawing = DRAWING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let device = Default::default();
        <burn::backend::Flex as Backend>::seed(&device, seed);
        let model = config.init(&device);
        // Serialising reads every parameter, which draws the lazy ones now, under the lock.
        shared_model::bundle::weights_to_bytes(&model).expect("serialises");
        model
    }

    /// Which video each of the batch's three texts reads.
    pub const VIDEO_INDEX: [usize; 3] = [1, 0, 1];

    /// A 16-wide model on 16-px frames, 50-token vocabulary, 7 answer classes.
    pub fn config() -> QaModelConfig {
        QaModelConfig::new(50, 7).with_d_model(16).with_image_size(16).with_frame_channels([8, 16])
    }

    /// Deterministic inputs: 2 videos × 3 frames (odd times) and 3 five-token texts.
    pub struct Batch<B: Backend> {
        /// `[2, 3, 3, 16, 16]`
        pub frames: Tensor<B, 5>,
        /// `[2, 3]`
        pub times: Tensor<B, 2, Int>,
        /// `[3, 5]`
        pub ids: Tensor<B, 2, Int>,
        /// `[3, 5]`, true at padded positions
        pub padding: Tensor<B, 2, Bool>,
    }

    /// The batch on `device`.
    pub fn batch<B: Backend>(device: &B::Device) -> Batch<B> {
        let pixels: Vec<f32> = (0..2 * 3 * 3 * 16 * 16).map(|i| (i as f32 * 0.37).sin()).collect();
        let frames = Tensor::<B, 5>::from_data(TensorData::new(pixels, [2, 3, 3, 16, 16]), device);
        let times = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![0i64, 5, 9, 1, 2, 3], [2, 3]), device);
        let tokens: Vec<i64> = (0..15).map(|i| i % 50).collect();
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(tokens, [3, 5]), device);
        let padding = ids.clone().greater_elem(12);
        Batch { frames, times, ids, padding }
    }
}

/// Generated benchmark GIFs, and a tiny model's answers about them through the page's path.
pub mod generated {
    use shared_model::answer::pipeline::{ClipAggregation, Prediction, answer_prepared};
    use shared_model::bundle::ModelBundle;
    use shared_model::preprocess::PreparedClip;
    use shared_model::sampling::{SamplingStrategy, seed_of};
    use shared_model::text::questions::{Answer, QaItem};
    use trainer::data::Split;

    use crate::TempDir;

    /// What the tiny models sample: 8 frames, evenly spaced.
    pub const SAMPLING: SamplingStrategy = SamplingStrategy::Uniform { frames: 8 };

    /// The first 8 Train GIFs of a benchmark of `gifs` GIFs generated from `seed` into `dir`, at
    /// `bundle`'s input size.
    pub fn split(bundle: &ModelBundle<burn::backend::Flex>, dir: &TempDir, seed: u64, gifs: usize) -> Split {
        let options = trainer::generate::GenerateOptions {
            out: dir.0.clone(),
            seed,
            gifs,
            wording: Default::default(),
            renderer: Default::default(),
            drawing: Default::default(),
        };
        trainer::generate::generate(&options, &|| {}).expect("generates");
        trainer::data::load(&dir.0, "Train", &bundle.config.preprocess, Some(8)).expect("loads")
    }

    /// Every question of `split` with the index of its GIF.
    pub fn questions_by_gif(split: &Split) -> Vec<(usize, &QaItem)> {
        let items = &split.items;
        split.gifs.iter().enumerate().flat_map(|(g, gif)| gif.items.iter().map(move |&i| (g, &items[i]))).collect()
    }

    /// How many of the multiple-choice and word-answer `items` (each with its GIF's index)
    /// `bundle` answers right when asked one by one as `predict` asks: what an evaluation of them
    /// must count.
    pub fn right_when_asked(
        bundle: &ModelBundle<burn::backend::Flex>,
        split: &Split,
        items: &[(usize, &QaItem)],
    ) -> usize {
        items
            .iter()
            .filter(|(g, item)| {
                let answered = ask(bundle, &first_clip(split, *g), &item.question, &item.candidates);
                let top = &answered.ranked[0].answer;
                match &item.answer {
                    Answer::Choice(c) => *top == item.candidates[*c],
                    Answer::Word(truth) => *top == trainer::vocab::normalise_answer(truth),
                    Answer::Count(_) => false,
                }
            })
            .count()
    }

    /// An evaluator of `bundle` as the tiny models' tests run one: [`SAMPLING`], clips averaged,
    /// 5 GIFs a batch, no annotations, retrieval among all GIFs, no weight sweeps. Tests change
    /// what they need with struct update syntax.
    pub fn evaluator(bundle: &ModelBundle<burn::backend::Flex>) -> trainer::eval::Evaluator<'_, burn::backend::Flex> {
        trainer::eval::Evaluator {
            batch_gifs: 5,
            ..trainer::eval::Evaluator::plain(
                &bundle.model,
                &bundle.config,
                &bundle.tokenizer,
                SAMPLING,
                Default::default(),
            )
        }
    }

    /// The first clip [`SAMPLING`] draws from GIF `g` of `split`, as evaluation reads it.
    pub fn first_clip(split: &Split, g: usize) -> PreparedClip {
        let gif = &split.gifs[g];
        let sampled = SAMPLING.sample(&gif.timeline, seed_of(&gif.name));
        gif.clip(&sampled[0], split.size)
    }

    /// `bundle`'s answer about `clip`, as `predict` and the page give it.
    pub fn ask(
        bundle: &ModelBundle<burn::backend::Flex>,
        clip: &PreparedClip,
        question: &str,
        candidates: &[String],
    ) -> Prediction {
        futures_lite::future::block_on(answer_prepared(
            bundle,
            std::slice::from_ref(clip),
            SAMPLING,
            question,
            candidates,
            ClipAggregation::Mean,
            &Default::default(),
        ))
        .expect("answers")
    }
}

/// Safetensors checkpoints as owned tensors, so that tests can drop, reshape, add or change some
/// and write the result back.
pub mod checkpoint {
    use safetensors::Dtype;
    use safetensors::tensor::TensorView;

    /// One tensor of a checkpoint.
    pub struct Owned {
        /// Key in the safetensors file.
        pub name: String,
        /// Element type.
        pub dtype: Dtype,
        /// Dimensions.
        pub shape: Vec<usize>,
        /// Little-endian bytes.
        pub data: Vec<u8>,
    }

    impl Owned {
        /// An f32 tensor.
        pub fn f32(name: &str, shape: Vec<usize>, values: &[f32]) -> Self {
            Owned {
                name: name.to_string(),
                dtype: Dtype::F32,
                shape,
                data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            }
        }

        /// The values of an f32 tensor.
        pub fn f32_values(&self) -> Vec<f32> {
            assert_eq!(self.dtype, Dtype::F32, "{}", self.name);
            self.data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        }
    }

    /// Every tensor of a safetensors file's `bytes`, its name prefixed with `prefix`.
    pub fn read(bytes: &[u8], prefix: &str) -> Vec<Owned> {
        let file = safetensors::SafeTensors::deserialize(bytes).expect("parsing checkpoint");
        file.tensors()
            .into_iter()
            .map(|(name, view)| Owned {
                name: format!("{prefix}{name}"),
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                data: view.data().to_vec(),
            })
            .collect()
    }

    /// The safetensors bytes of `tensors`.
    pub fn to_bytes(tensors: &[Owned]) -> Vec<u8> {
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|t| (t.name.clone(), TensorView::new(t.dtype, t.shape.clone(), &t.data).expect("view")))
            .collect();
        safetensors::serialize(views, None).expect("serializing checkpoint")
    }
}
