//! How far a GIF is from the world the model was trained on: a Mahalanobis distance in the frame
//! encoder's feature space, fitted on training GIFs only (`trainer calibrate`), with a threshold
//! chosen on held-out in-world GIFs. A GIF past the threshold (a photo, a cartoon, anything but
//! the synthetic world of coloured shapes) gets answers that mean little, and every answer says so.
//!
//! The feature of a GIF is, per frame encoder dimension, the mean over its sampled frames and grid
//! cells (what the frames are made of), and the spread over time of each cell, averaged over the
//! cells (how they change): nothing of what the question asks. Of the variants tried (adding the
//! spread over cells, or each frame's peak cell), this one separated held-out in-world GIFs from
//! real ones as well as any, at the smallest size.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Added to the covariance's diagonal, as a share of its mean variance, before it is inverted:
/// keeps directions the training GIFs never vary in from dividing by zero.
const SHRINKAGE: f64 = 0.01;

/// Fewest training GIFs [`InWorld::fit`] accepts. With fewer GIFs than features the covariance
/// is singular and only the shrinkage keeps it invertible: a usable but rough fit (tiny test
/// models); a shipped model fits on thousands.
pub const MIN_GIFS: usize = 8;

/// Statistics of the training GIFs' features and the distance past which a GIF is out of world
/// (`config.json`'s `in_world`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InWorld {
    /// Mean feature of the training GIFs, `[features]`.
    pub mean: Vec<f32>,
    /// Row-major `[features, features]` lower-triangular `W` with `W Σ Wᵀ = I` for the training
    /// features' (shrunk) covariance `Σ`: `|W (x − mean)|` is the Mahalanobis distance.
    pub whitening: Vec<f32>,
    /// Distances ([`InWorld::distance`]) above this are out of world.
    pub threshold: f32,
    /// Training GIFs the statistics were fitted on.
    pub fitted_on: usize,
    /// Held-out in-world GIFs the threshold was chosen on, and the share of them past it.
    pub chosen_on: usize,
    /// Share of [`Self::chosen_on`] GIFs past the threshold.
    pub flagged_held_out: f32,
}

/// A GIF's in-world score, carried by every answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InWorldScore {
    /// Root-mean-square whitened distance from the training GIFs (about 1 for a typical one).
    pub distance: f32,
    /// The model's threshold: above it the GIF is out of world.
    pub threshold: f32,
}

impl InWorldScore {
    /// Whether the GIF is unlike the GIFs the model was trained on.
    pub fn out_of_world(&self) -> bool {
        is_past(self.distance, self.threshold)
    }
}

/// Whether `distance` is past `threshold` (a distance that is not a number is).
pub fn is_past(distance: f32, threshold: f32) -> bool {
    distance.is_nan() || distance > threshold
}

/// What `trainer predict` and the page say about an out-of-world GIF (`None` when it is in world).
pub fn out_of_world_note(score: &InWorldScore) -> Option<String> {
    score.out_of_world().then(|| {
        format!(
            "This GIF is unlike anything the model was trained on (distance {:.1}; the model's limit is {:.1}). \
             It knows only a synthetic world of coloured shapes on plain backgrounds, so these answers are \
             probably meaningless.",
            score.distance, score.threshold
        )
    })
}

/// Errors of fitting or scoring.
#[derive(Debug, thiserror::Error)]
// Each variant's fields are named in its #[error] message and its doc line.
#[allow(missing_docs)]
pub enum InWorldError {
    /// A feature vector's length differs from the statistics'.
    #[error("a GIF feature has {found} values, the in-world statistics {expected}")]
    Width { expected: usize, found: usize },
    /// Too few GIFs to estimate a covariance.
    #[error("fitting the in-world statistics needs at least {needed} GIFs, got {found}")]
    TooFew { needed: usize, found: usize },
    /// The statistics in config.json are inconsistent or not finite.
    #[error("config.json's in_world is invalid: {0}")]
    Invalid(String),
}

/// The in-world feature of each clip: per dimension, the mean over frames and cells, and each
/// cell's standard deviation over frames averaged over the cells.
///
/// # Shapes
/// - `tokens`: `[clips, frames, cells, d_model]`, the frame encoder's output
/// - output: `[clips, 2 * d_model]`
pub fn clip_features<B: Backend>(tokens: Tensor<B, 4>) -> Tensor<B, 2> {
    let [clips, _, _, d_model] = tokens.dims();
    let (variance, mean) = tokens.var_mean_bias(1); // [clips, 1, cells, d_model]
    let spread = variance.add_scalar(1e-6).sqrt().mean_dim(2).reshape([clips, d_model]);
    let mean = mean.mean_dim(2).reshape([clips, d_model]);
    Tensor::cat(vec![mean, spread], 1)
}

/// One GIF's feature from its clips' (row-major `[clips, features]`, read from
/// [`clip_features`]): their mean.
pub fn gif_feature(clip_features: &[f32], clips: usize) -> Vec<f32> {
    let width = clip_features.len() / clips.max(1);
    let mut sum = vec![0.0f32; width];
    for clip in clip_features.chunks(width.max(1)) {
        for (s, x) in sum.iter_mut().zip(clip) {
            *s += x;
        }
    }
    sum.iter().map(|s| s / clips.max(1) as f32).collect()
}

impl InWorld {
    /// Fits the mean and whitening of `features` (one per training GIF); the threshold is left
    /// infinite for [`Self::choose_threshold`].
    pub fn fit(features: &[Vec<f32>]) -> Result<InWorld, InWorldError> {
        let width = features.first().map_or(0, Vec::len);
        if features.len() < MIN_GIFS {
            return Err(InWorldError::TooFew { needed: MIN_GIFS, found: features.len() });
        }
        if let Some(bad) = features.iter().find(|f| f.len() != width) {
            return Err(InWorldError::Width { expected: width, found: bad.len() });
        }
        let n = features.len() as f64;
        let mut mean = vec![0.0f64; width];
        for f in features {
            for (m, &x) in mean.iter_mut().zip(f) {
                *m += f64::from(x) / n;
            }
        }
        let mut covariance = vec![0.0f64; width * width];
        for f in features {
            let centred: Vec<f64> = f.iter().zip(&mean).map(|(&x, m)| f64::from(x) - m).collect();
            for i in 0..width {
                for j in 0..=i {
                    covariance[i * width + j] += centred[i] * centred[j] / (n - 1.0);
                }
            }
        }
        let mean_variance = (0..width).map(|i| covariance[i * width + i]).sum::<f64>() / width as f64;
        for i in 0..width {
            covariance[i * width + i] += SHRINKAGE * mean_variance.max(1e-12);
        }
        let lower = cholesky(&covariance, width)
            .ok_or_else(|| InWorldError::Invalid("the features' covariance is not positive definite".into()))?;
        let whitening = invert_lower(&lower, width);
        Ok(InWorld {
            mean: mean.iter().map(|&m| m as f32).collect(),
            whitening: whitening.iter().map(|&w| w as f32).collect(),
            threshold: f32::INFINITY,
            fitted_on: features.len(),
            chosen_on: 0,
            flagged_held_out: 0.0,
        })
    }

    /// Sets the threshold from held-out in-world GIFs' distances: `margin` times their
    /// `quantile` (e.g. 0.99), so that a renderer drawing the same world a little differently
    /// stays inside.
    pub fn choose_threshold(&mut self, held_out: &[f32], quantile: f64, margin: f32) {
        let mut sorted: Vec<f32> = held_out.iter().copied().filter(|d| d.is_finite()).collect();
        sorted.sort_by(f32::total_cmp);
        let at = ((sorted.len() as f64 - 1.0) * quantile.clamp(0.0, 1.0)).round() as usize;
        self.threshold = sorted.get(at).map_or(f32::INFINITY, |d| d * margin);
        self.chosen_on = held_out.len();
        let past = held_out.iter().filter(|&&d| is_past(d, self.threshold)).count();
        self.flagged_held_out = past as f32 / held_out.len().max(1) as f32;
    }

    /// Root-mean-square whitened distance of a GIF's feature from the training GIFs' mean.
    pub fn distance(&self, feature: &[f32]) -> Result<f32, InWorldError> {
        let width = self.mean.len();
        if feature.len() != width {
            return Err(InWorldError::Width { expected: width, found: feature.len() });
        }
        if self.whitening.len() != width * width {
            return Err(InWorldError::Invalid(format!(
                "whitening has {} values for {width} features",
                self.whitening.len()
            )));
        }
        let centred: Vec<f64> = feature.iter().zip(&self.mean).map(|(&x, &m)| f64::from(x) - f64::from(m)).collect();
        let mut sum = 0.0f64;
        for (row, weights) in self.whitening.chunks(width).enumerate() {
            let z: f64 = weights[..=row].iter().zip(&centred).map(|(&w, c)| f64::from(w) * c).sum();
            sum += z * z;
        }
        Ok((sum / width.max(1) as f64).sqrt() as f32)
    }

    /// The score of a GIF's feature.
    pub fn score(&self, feature: &[f32]) -> Result<InWorldScore, InWorldError> {
        Ok(InWorldScore { distance: self.distance(feature)?, threshold: self.threshold })
    }
}

/// Lower-triangular `L` with `L Lᵀ = a` (row-major `[n, n]`, only the lower triangle read), or
/// `None` when `a` is not positive definite.
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - dot;
                if d.is_nan() || d <= 0.0 {
                    return None;
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - dot) / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Inverse of a lower-triangular matrix with a positive diagonal (row-major `[n, n]`), by
/// forward substitution; the inverse is lower-triangular too.
fn invert_lower(l: &[f64], n: usize) -> Vec<f64> {
    let mut inverse = vec![0.0f64; n * n];
    for column in 0..n {
        for i in column..n {
            let known: f64 = (column..i).map(|k| l[i * n + k] * inverse[k * n + column]).sum();
            let identity = if i == column { 1.0 } else { 0.0 };
            inverse[i * n + column] = (identity - known) / l[i * n + i];
        }
    }
    inverse
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random points of a tilted cloud: three independent variables of
    /// similar scale (the shrinkage is relative to the mean variance), two of them mixed into
    /// correlated features.
    fn cloud(n: usize) -> Vec<Vec<f32>> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        (0..n)
            .map(|_| {
                let (a, b, c) = (uniform(), uniform(), uniform());
                vec![2.0 * a + 3.0, 2.0 * a + b, c - 2.0]
            })
            .collect()
    }

    #[test]
    fn whitening_makes_training_features_unit_distance_on_average() {
        let features = cloud(500);
        let model = InWorld::fit(&features).unwrap();
        let mean_square: f64 =
            features.iter().map(|f| f64::from(model.distance(f).unwrap()).powi(2)).sum::<f64>() / features.len() as f64;
        // Each whitened coordinate has variance ~1 (slightly less after shrinkage).
        assert!((0.9..=1.01).contains(&mean_square), "{mean_square}");
    }

    #[test]
    fn a_point_off_the_training_directions_is_far_even_when_close_in_plain_distance() {
        let model = InWorld::fit(&cloud(500)).unwrap();
        // Along the long axis (x and y move together) vs across it (y alone): same Euclidean step.
        let along = model.distance(&[3.0 + 1.0, 1.0, -2.0]).unwrap();
        let across = model.distance(&[3.0, 1.0, -2.0]).unwrap();
        assert!(across > 1.5 * along, "across {across}, along {along}");
    }

    #[test]
    fn the_threshold_is_a_margin_over_a_held_out_quantile() {
        let mut model = InWorld::fit(&cloud(100)).unwrap();
        let held_out: Vec<f32> = (1..=100).map(|i| i as f32 / 100.0).collect();
        model.choose_threshold(&held_out, 0.99, 1.5);
        assert!((model.threshold - 1.5 * 0.99).abs() < 1e-6);
        assert_eq!(model.flagged_held_out, 0.0);
        assert!(model.score(&[3.0, 0.0, -2.0]).unwrap().distance > 0.0);
    }

    #[test]
    fn too_few_gifs_and_wrong_widths_are_errors() {
        assert!(matches!(InWorld::fit(&cloud(5)), Err(InWorldError::TooFew { .. })));
        let model = InWorld::fit(&cloud(50)).unwrap();
        assert!(matches!(model.distance(&[1.0]), Err(InWorldError::Width { expected: 3, found: 1 })));
    }

    #[test]
    fn not_a_number_is_out_of_world() {
        assert!(InWorldScore { distance: f32::NAN, threshold: 2.0 }.out_of_world());
        assert!(!InWorldScore { distance: 1.0, threshold: 2.0 }.out_of_world());
    }

    #[test]
    fn clip_features_are_the_mean_and_the_cells_spread_over_time() {
        use burn::backend::Flex;
        let device = Default::default();
        // One clip, two frames, two cells, one dimension: frame 1 cells {0, 2}, frame 2 cells {4, 2}.
        let tokens = Tensor::<Flex, 4>::from_floats([[[[0.0], [2.0]], [[4.0], [2.0]]]], &device);
        let values = clip_features(tokens).into_data().to_vec::<f32>().unwrap();
        assert!((values[0] - 2.0).abs() < 1e-5, "{values:?}");
        assert!((values[1] - 1.0).abs() < 1e-3, "{values:?}"); // cell 1 spreads 2 over time, cell 2 none
    }
}
