//! Fitting and reporting the in-world score (`shared_model::in_world`): the frame encoder's
//! features of whole splits, the statistics `trainer calibrate` fits on Train and thresholds on
//! held-out GIFs, and the share of a split's GIFs that `trainer eval` finds out of world.

use anyhow::Result;
use burn::prelude::*;
use serde::Serialize;
use shared_model::answer::pipeline::read_floats;
use shared_model::bundle::BundleConfig;
use shared_model::model::encode_prepared;
use shared_model::model::{QaModel, VideoEncoding};
use shared_model::preprocess::PreparedClip;
use shared_model::sampling::{SamplingStrategy, seed_of};
use shared_model::trust::in_world::{InWorld, clip_features, gif_feature};

use crate::data::Split;
use crate::runtime::progress::progress;

/// GIFs encoded per forward pass.
const BATCH_GIFS: usize = 16;
/// The held-out quantile the threshold starts from, and the margin it is multiplied by. The
/// threshold is chosen on in-world GIFs alone (no out-of-world example shapes it), and the margin
/// leaves room for renderers that draw the same world differently: they sit a little further
/// from the training GIFs than held-out GIFs of the training renderer do.
pub const THRESHOLD_QUANTILE: f64 = 0.99;
/// See [`THRESHOLD_QUANTILE`].
pub const THRESHOLD_MARGIN: f32 = 1.5;

/// The in-world feature of every GIF of `split`, sampled as `trainer eval` samples them.
pub fn split_features<B: Backend>(
    model: &QaModel<B>,
    config: &BundleConfig,
    strategy: SamplingStrategy,
    split: &Split,
    device: &B::Device,
    what: &str,
) -> Result<Vec<Vec<f32>>> {
    let bar = progress(split.gifs.len() as u64, what);
    let mut features = Vec::with_capacity(split.gifs.len());
    for chunk in split.gifs.chunks(BATCH_GIFS) {
        let mut clips: Vec<PreparedClip> = Vec::new();
        let mut clips_per_gif = 1;
        for gif in chunk {
            let sampled = strategy.sample(&gif.timeline, seed_of(&gif.name));
            clips_per_gif = sampled.len();
            clips.extend(sampled.iter().map(|c| gif.clip(c, split.size)));
        }
        let refs: Vec<&PreparedClip> = clips.iter().collect();
        let video = encode_prepared(model, &config.preprocess, config.model.time_positions, &refs, device);
        features.extend(gif_features(&video, clips_per_gif)?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(features)
}

/// The in-world feature of each GIF of an encoded batch holding `clips_per_gif` clips per GIF.
pub fn gif_features<B: Backend>(video: &VideoEncoding<B>, clips_per_gif: usize) -> Result<Vec<Vec<f32>>> {
    let values = crate::runtime::backend::block_on(read_floats(clip_features(video.tokens.clone())))?;
    let clips = video.tokens.dims()[0];
    let per_gif = values.len() / clips.max(1) * clips_per_gif;
    Ok(values.chunks(per_gif.max(1)).map(|gif| gif_feature(gif, clips_per_gif)).collect())
}

/// Fits the statistics on `train` features and chooses the threshold on `held_out` features.
pub fn fit(train: &[Vec<f32>], held_out: &[Vec<f32>]) -> Result<InWorld> {
    let mut statistics = InWorld::fit(train)?;
    let distances = held_out.iter().map(|f| statistics.distance(f)).collect::<Result<Vec<f32>, _>>()?;
    statistics.choose_threshold(&distances, THRESHOLD_QUANTILE, THRESHOLD_MARGIN);
    Ok(statistics)
}

/// How many of a split's GIFs are out of world (`trainer eval`'s `in_world` report field).
#[derive(Debug, Clone, Default, Serialize)]
pub struct InWorldReport {
    /// GIFs scored.
    pub gifs: usize,
    /// GIFs past the model's threshold.
    pub out_of_world: usize,
    /// `out_of_world / gifs`.
    pub share_out_of_world: f64,
    /// Median distance of the split's GIFs.
    pub median_distance: f64,
    /// The model's threshold.
    pub threshold: f64,
}

impl InWorldReport {
    /// The report of `distances` against `threshold`.
    pub fn of(distances: &[f32], threshold: f32) -> InWorldReport {
        let mut sorted = distances.to_vec();
        sorted.sort_by(f32::total_cmp);
        let out = distances.iter().filter(|&&d| shared_model::trust::in_world::is_past(d, threshold)).count();
        InWorldReport {
            gifs: distances.len(),
            out_of_world: out,
            share_out_of_world: out as f64 / distances.len().max(1) as f64,
            median_distance: sorted.get(sorted.len() / 2).map_or(0.0, |&d| f64::from(d)),
            threshold: f64::from(threshold),
        }
    }
}

/// In-world scores of every GIF in a folder of GIFs the model never trained on, as `trainer
/// predict` computes them (`trainer calibrate --out-of-world`: how many it flags).
pub struct FolderScores {
    /// Each readable GIF's file name and distance.
    pub distances: Vec<(String, f32)>,
    /// Files that could not be read or decoded (they get no answer at all), with the reason.
    pub unreadable: Vec<(String, String)>,
}

/// Scores every `.gif` in `dir` (sorted by name) through the answering path's own decoding,
/// sampling and encoding.
pub fn folder_scores(
    bundle: &shared_model::bundle::ModelBundle<crate::runtime::backend::Compute>,
    strategy: SamplingStrategy,
    dir: &std::path::Path,
) -> Result<FolderScores> {
    use anyhow::Context;
    use shared_model::answer::pipeline::{INFERENCE_SEED, encode_clips, in_world_score, prepare_gif};
    use shared_model::gif::{DecodeLimits, decode_gif};

    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gif")))
        .collect();
    paths.sort();
    anyhow::ensure!(!paths.is_empty(), "{} holds no .gif files", dir.display());
    let device = crate::runtime::backend::device();
    let mut scores = FolderScores { distances: Vec::new(), unreadable: Vec::new() };
    for path in paths {
        let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let decoded =
            crate::runtime::files::read_gif(&path).and_then(|bytes| Ok(decode_gif(&bytes, &DecodeLimits::default())?));
        let gif = match decoded {
            Ok(gif) => gif,
            Err(e) => {
                scores.unreadable.push((name, format!("{e:#}")));
                continue;
            }
        };
        let clips = prepare_gif(&gif, strategy, &bundle.config.preprocess, INFERENCE_SEED);
        let video = encode_clips(bundle, &clips, &device);
        let score = crate::runtime::backend::block_on(in_world_score(bundle, &video))?
            .context("the model has no in-world statistics")?;
        scores.distances.push((name, score.distance));
    }
    Ok(scores)
}
