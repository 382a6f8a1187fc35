//! Contrastive video-text losses for pre-training the joint frame/text space: symmetric InfoNCE
//! (CLIP, Radford et al. 2021) and H-NAC, a hard-negative-aware variant that re-weights the
//! negatives in the softmax denominator.
//!
//! Both losses read a similarity matrix `sim[i][j]` = cosine(text i, video j) of a batch whose
//! pairs `(i, i)` are true. In the synthetic data several GIFs of a batch can share the same
//! caption text; such off-diagonal pairs are *masked out* (neither positive nor negative) in both
//! losses and both directions.
//!
//! One row `i` (an anchor text, or an anchor video for the video→text direction) with logits
//! `l_ij = s_ij / τ` and negatives `N_i` (every `j ≠ i` whose caption differs) costs
//!
//! ```text
//! L_i = −log( exp(l_ii) / (exp(l_ii) + Σ_{j∈N_i} w_ij · exp(l_ij)) )
//! ```
//!
//! - InfoNCE: `w_ij = 1`.
//! - H-NAC: `a_ij = β·s_ij − γ·max(0, s_ij − s_ii − m)`, `w_ij = |N_i| · exp(a_ij) / Σ_{k∈N_i} exp(a_ik)`:
//!   weights grow with similarity (hard negatives count more), are normalised to mean 1 over the
//!   row's negatives, and decay for suspected false negatives (a negative more similar than the
//!   positive by more than the margin `m`). The weights are constants (no gradient flows through
//!   them). With `β = 0` and `γ = 0` H-NAC is InfoNCE.
//!
//! The loss is the mean of `L_i` over the text→video rows and the video→text rows, averaged.

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;
use burn::tensor::TensorData;
use serde::{Deserialize, Serialize};

/// Log-weight standing for "not in the denominator" (exp underflows to exactly 0 in f32).
const MASKED: f32 = -1.0e4;

/// Hyper-parameters of H-NAC's negative weights.
#[derive(Config, Debug, PartialEq)]
pub struct HnacConfig {
    /// `β`: how fast a negative's weight grows with its cosine similarity.
    #[config(default = 4.0)]
    pub beta: f64,
    /// `m`: a negative more similar than the positive by more than this is a suspected false negative.
    #[config(default = 0.1)]
    pub margin: f64,
    /// `γ`: how fast a suspected false negative's weight decays with its excess similarity.
    #[config(default = 10.0)]
    pub decay: f64,
}

/// Which contrastive loss to train with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContrastiveLoss {
    /// Symmetric InfoNCE: every negative weighs 1.
    InfoNce,
    /// Hard-negative-aware InfoNCE with similarity-decayed weights on negatives.
    Hnac(HnacConfig),
}

/// The loss's name without hyper-parameters, as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// `infonce`
    InfoNce,
    /// `hnac`
    Hnac,
}

impl FromStr for LossKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "infonce" => Ok(LossKind::InfoNce),
            "hnac" => Ok(LossKind::Hnac),
            other => Err(format!("unknown loss '{other}' (expected infonce or hnac)")),
        }
    }
}

impl fmt::Display for LossKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LossKind::InfoNce => "infonce",
            LossKind::Hnac => "hnac",
        })
    }
}

/// `same[i * n + j]`: pair `(i, j)`, `i ≠ j`, has identical caption texts (masked out of the losses).
pub fn same_caption_mask(captions: &[&str]) -> Vec<bool> {
    let n = captions.len();
    (0..n * n).map(|k| k / n != k % n && captions[k / n] == captions[k % n]).collect()
}

/// Row-major log-weights of one direction's denominators: 0 on the diagonal, [`MASKED`] on
/// masked pairs, `log w_ij` on negatives (see the module docs). `sim` is `n × n`, row = anchor.
pub fn log_weights(sim: &[f32], same: &[bool], n: usize, loss: &ContrastiveLoss) -> Vec<f32> {
    let mut out = vec![0.0f32; n * n];
    for i in 0..n {
        let negatives: Vec<usize> = (0..n).filter(|&j| j != i && !same[i * n + j]).collect();
        for j in (0..n).filter(|&j| j != i) {
            out[i * n + j] = MASKED;
        }
        match loss {
            ContrastiveLoss::InfoNce => negatives.iter().for_each(|&j| out[i * n + j] = 0.0),
            ContrastiveLoss::Hnac(c) => {
                let positive = f64::from(sim[i * n + i]);
                let a: Vec<f64> = negatives
                    .iter()
                    .map(|&j| {
                        let s = f64::from(sim[i * n + j]);
                        c.beta * s - c.decay * (s - positive - c.margin).max(0.0)
                    })
                    .collect();
                let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let log_sum = max + a.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
                let log_count = (negatives.len() as f64).ln();
                for (&j, a_j) in negatives.iter().zip(&a) {
                    out[i * n + j] = (log_count + a_j - log_sum) as f32;
                }
            }
        }
    }
    out
}

/// Symmetric contrastive loss of a batch (see the module docs).
///
/// # Shapes
/// - `sim`: `[n, n]` cosine similarities, row = text, column = video, true pairs on the diagonal
/// - `captions`: `n` caption texts (identical texts are masked out as negatives)
/// - output: `[1]`
pub fn contrastive_loss<B: Backend>(
    sim: Tensor<B, 2>,
    captions: &[&str],
    loss: &ContrastiveLoss,
    temperature: f64,
) -> anyhow::Result<Tensor<B, 1>> {
    let [n, columns] = sim.dims();
    anyhow::ensure!(
        n == columns && n == captions.len(),
        "similarity matrix {n}x{columns} for {} captions",
        captions.len()
    );
    let device = sim.device();
    let same = same_caption_mask(captions);
    let host: Vec<f32> = match loss {
        // InfoNCE's weights do not depend on the similarities: skip the read-back.
        ContrastiveLoss::InfoNce => vec![0.0; n * n],
        ContrastiveLoss::Hnac(_) => sim
            .clone()
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading similarities: {e:?}"))?,
    };
    let transposed: Vec<f32> = (0..n * n).map(|k| host[(k % n) * n + k / n]).collect();
    let weights =
        |sim: &[f32]| Tensor::<B, 2>::from_data(TensorData::new(log_weights(sim, &same, n, loss), [n, n]), &device);
    let text_to_video = weighted_nce(sim.clone().div_scalar(temperature), weights(&host));
    let video_to_text = weighted_nce(sim.transpose().div_scalar(temperature), weights(&transposed));
    Ok((text_to_video + video_to_text).div_scalar(2.0))
}

/// Mean over rows of `log Σ_j exp(logits_ij + log_weights_ij) − logits_ii`.
///
/// # Shapes
/// - `logits`, `log_weights`: `[n, n]` → `[1]`
fn weighted_nce<B: Backend>(logits: Tensor<B, 2>, log_weights: Tensor<B, 2>) -> Tensor<B, 1> {
    let [n, _] = logits.dims();
    let device = logits.device();
    let diagonal: Vec<i64> = (0..n as i64).collect();
    let diagonal = Tensor::<B, 2, Int>::from_data(TensorData::new(diagonal, [n, 1]), &device);
    let positive = logits.clone().gather(1, diagonal); // [n, 1]
    let shifted = logits + log_weights;
    let max = shifted.clone().max_dim(1).detach(); // [n, 1]
    let log_sum = (shifted - max.clone()).exp().sum_dim(1).log() + max; // [n, 1]
    (log_sum - positive).mean()
}
