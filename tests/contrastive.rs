//! The contrastive losses of `trainer pretrain` and the alignment metrics, on hand-made similarity
//! matrices, against values computed by hand from the formulas in `trainer::contrastive`; and the
//! joint space pre-training trains being exactly the one frame relevance reads.

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::TensorData;
use trainer::pretrain::alignment::alignment_metrics;
use trainer::pretrain::contrastive::{ContrastiveLoss, HnacConfig, contrastive_loss, log_weights, same_caption_mask};

type B = Flex;

fn loss(sim: &[f32], captions: &[&str], kind: &ContrastiveLoss, temperature: f64) -> f64 {
    let n = captions.len();
    let tensor = Tensor::<B, 2>::from_data(TensorData::new(sim.to_vec(), [n, n]), &Default::default());
    let value = contrastive_loss(tensor, captions, kind, temperature).expect("loss");
    f64::from(value.into_scalar())
}

/// `−log(e^pos / (e^pos + Σ w·e^neg))` for one row.
fn row_loss(pos: f64, negatives: &[(f64, f64)]) -> f64 {
    let denominator = pos.exp() + negatives.iter().map(|(w, l)| w * l.exp()).sum::<f64>();
    denominator.ln() - pos
}

fn transpose(sim: &[f32], n: usize) -> Vec<f32> {
    (0..n * n).map(|k| sim[(k % n) * n + k / n]).collect()
}

const SIM3: [f32; 9] = [0.5, 0.1, -0.2, 0.3, 0.4, 0.0, 0.2, -0.1, 0.6];

#[test]
fn infonce_matches_a_hand_computation() {
    let tau = 0.5;
    let s = |i: usize, j: usize| f64::from(SIM3[i * 3 + j]) / tau;
    let t2v: f64 = (0..3)
        .map(|i| row_loss(s(i, i), &(0..3).filter(|&j| j != i).map(|j| (1.0, s(i, j))).collect::<Vec<_>>()))
        .sum::<f64>()
        / 3.0;
    let v2t: f64 = (0..3)
        .map(|j| row_loss(s(j, j), &(0..3).filter(|&i| i != j).map(|i| (1.0, s(i, j))).collect::<Vec<_>>()))
        .sum::<f64>()
        / 3.0;
    let got = loss(&SIM3, &["a", "b", "c"], &ContrastiveLoss::InfoNce, tau);
    assert!((got - (t2v + v2t) / 2.0).abs() < 1e-5, "{got} vs {}", (t2v + v2t) / 2.0);
}

#[test]
fn hnac_weights_match_a_hand_computation() {
    // Row 0: s00 = 0.5, negatives 0.1 and -0.2: no suspected false negative.
    let config = HnacConfig::new().with_beta(3.0).with_margin(0.1).with_decay(10.0);
    let kind = ContrastiveLoss::Hnac(config);
    let same = same_caption_mask(&["a", "b", "c"]);
    let w = log_weights(&SIM3, &same, 3, &kind);
    let (e1, e2) = ((3.0f64 * 0.1).exp(), (3.0f64 * -0.2).exp());
    assert!((f64::from(w[1]).exp() - 2.0 * e1 / (e1 + e2)).abs() < 1e-5);
    assert!((f64::from(w[2]).exp() - 2.0 * e2 / (e1 + e2)).abs() < 1e-5);
    assert_eq!(w[0], 0.0, "the positive keeps weight 1");
    // Row 1: s11 = 0.4, negatives 0.3 and 0.0; neither exceeds 0.4 + 0.1.
    // A suspected false negative: row of a matrix where s01 = 0.9 > s00 + m = 0.6.
    let sim = [0.5f32, 0.9, -0.2, 0.3, 0.4, 0.0, 0.2, -0.1, 0.6];
    let w = log_weights(&sim, &same, 3, &kind);
    let a1 = 3.0 * 0.9 - 10.0 * (0.9 - 0.5 - 0.1);
    let a2 = 3.0 * -0.2;
    let expected = 2.0 * f64::exp(a1) / (f64::exp(a1) + f64::exp(a2));
    assert!((f64::from(w[1]).exp() - expected).abs() < 1e-5, "{} vs {expected}", f64::from(w[1]).exp());
}

#[test]
fn hnac_loss_matches_a_hand_computation() {
    let tau = 0.25;
    let config = HnacConfig::new().with_beta(2.0).with_margin(0.05).with_decay(5.0);
    let kind = ContrastiveLoss::Hnac(config.clone());
    let direction = |sim: &[f32]| -> f64 {
        (0..3)
            .map(|i| {
                let s = |j: usize| f64::from(sim[i * 3 + j]);
                let negatives: Vec<usize> = (0..3).filter(|&j| j != i).collect();
                let a: Vec<f64> = negatives
                    .iter()
                    .map(|&j| config.beta * s(j) - config.decay * (s(j) - s(i) - config.margin).max(0.0))
                    .collect();
                let sum: f64 = a.iter().map(|x| x.exp()).sum();
                let weighted: Vec<(f64, f64)> =
                    negatives.iter().zip(&a).map(|(&j, a_j)| (2.0 * a_j.exp() / sum, s(j) / tau)).collect();
                row_loss(s(i) / tau, &weighted)
            })
            .sum::<f64>()
            / 3.0
    };
    // Row 1 of this matrix has a suspected false negative (0.7 > 0.4 + 0.05).
    let sim = [0.5f32, 0.1, -0.2, 0.7, 0.4, 0.0, 0.2, -0.1, 0.6];
    let expected = (direction(&sim) + direction(&transpose(&sim, 3))) / 2.0;
    let got = loss(&sim, &["a", "b", "c"], &kind, tau);
    assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
}

#[test]
fn hnac_without_weighting_is_infonce() {
    let sim: Vec<f32> = (0..25).map(|k| ((k * 37 % 11) as f32 - 5.0) / 6.0).collect();
    let captions = ["a", "b", "c", "d", "e"];
    let infonce = loss(&sim, &captions, &ContrastiveLoss::InfoNce, 0.1);
    let flat = ContrastiveLoss::Hnac(HnacConfig::new().with_beta(0.0).with_decay(0.0));
    assert!((loss(&sim, &captions, &flat, 0.1) - infonce).abs() < 1e-5);
    // β = 0 with the decay on, but no negative above its positive + margin: still InfoNCE.
    let mut calm = sim.clone();
    (0..5).for_each(|i| calm[i * 5 + i] = 1.0);
    let decaying = ContrastiveLoss::Hnac(HnacConfig::new().with_beta(0.0));
    let reference = loss(&calm, &captions, &ContrastiveLoss::InfoNce, 0.1);
    assert!((loss(&calm, &captions, &decaying, 0.1) - reference).abs() < 1e-5);
    // β > 0 changes it.
    let hard = ContrastiveLoss::Hnac(HnacConfig::new().with_beta(4.0));
    assert!((loss(&sim, &captions, &hard, 0.1) - infonce).abs() > 1e-3);
}

#[test]
fn identical_captions_are_masked_out_in_both_losses() {
    // GIFs 0 and 1 share a caption: pairs (0,1) and (1,0) are neither positives nor negatives.
    let captions = ["a red star grows", "a red star grows", "a blue cross spins once"];
    let same = same_caption_mask(&captions);
    assert_eq!(same, vec![false, true, false, true, false, false, false, false, false]);
    let tau = 0.5;
    let s = |i: usize, j: usize| f64::from(SIM3[i * 3 + j]) / tau;
    let negatives = |i: usize| -> Vec<usize> { (0..3).filter(|&j| j != i && !same[i * 3 + j]).collect() };
    let t2v: f64 = (0..3)
        .map(|i| row_loss(s(i, i), &negatives(i).iter().map(|&j| (1.0, s(i, j))).collect::<Vec<_>>()))
        .sum::<f64>()
        / 3.0;
    let v2t: f64 = (0..3)
        .map(|j| row_loss(s(j, j), &negatives(j).iter().map(|&i| (1.0, s(i, j))).collect::<Vec<_>>()))
        .sum::<f64>()
        / 3.0;
    let got = loss(&SIM3, &captions, &ContrastiveLoss::InfoNce, tau);
    assert!((got - (t2v + v2t) / 2.0).abs() < 1e-5, "{got} vs {}", (t2v + v2t) / 2.0);
    // H-NAC: a masked pair weighs 0, and the remaining negative of rows 0 and 1 weighs exactly 1.
    let kind = ContrastiveLoss::Hnac(HnacConfig::new());
    let w = log_weights(&SIM3, &same, 3, &kind);
    assert!(f64::from(w[1]).exp() == 0.0 && f64::from(w[3]).exp() == 0.0);
    assert!(w[2].abs() < 1e-6 && w[5].abs() < 1e-6);
    let hnac = loss(&SIM3, &captions, &kind, tau);
    assert!(hnac.is_finite());
}

#[test]
fn alignment_metrics_count_a_shared_caption_as_a_hit() {
    // Captions: GIFs 0 and 1 share "x". Rows = captions, columns = GIFs.
    let captions = ["x", "x", "y", "z"];
    #[rustfmt::skip]
    let sim = [
        0.2, 0.9, 0.5, 0.1, // best hit GIF 1 (0.9): rank 1; hardest negative 0.5
        0.3, 0.1, 0.6, 0.0, // best hit 0.3 < 0.6: rank 2; hardest negative 0.6
        0.7, 0.8, 0.4, 0.2, // hit 0.4 below two negatives: rank 3; hardest 0.8
        0.0, 0.1, 0.2, 0.9, // rank 1; hardest 0.2
    ];
    let m = alignment_metrics(&sim, &captions);
    assert_eq!(m.queries, 4);
    assert!((m.r1 - 0.5).abs() < 1e-9 && (m.r5 - 1.0).abs() < 1e-9);
    assert!((m.median_rank - 1.5).abs() < 1e-9);
    let gap = ((0.2 - 0.5) + (0.1 - 0.6) + (0.4 - 0.8) + (0.9 - 0.2)) / 4.0;
    assert!((m.cosine_gap - gap).abs() < 1e-6, "{} vs {gap}", m.cosine_gap);
    assert!((m.positive - (0.2 + 0.1 + 0.4 + 0.9) / 4.0).abs() < 1e-6);
}

#[test]
fn frame_relevance_is_the_cosine_of_the_joint_embeddings() {
    let device = Default::default();
    let model = gifqa_tests::tiny::config().init::<B>(&device);
    // 2 videos × 3 frames, odd sizes; 3 texts reading videos 1, 0, 1.
    let batch = gifqa_tests::tiny::batch::<B>(&device);
    let video = model.encode_video(batch.frames, batch.times);
    let text = model.encode_text(batch.ids, batch.padding);
    let relevance =
        model.fuse(&video, &gifqa_tests::tiny::VIDEO_INDEX, &text).frame_relevance.into_data().to_vec::<f32>().unwrap();

    let embedded = model.frame_embeddings(&video);
    assert_eq!(embedded.frames.dims(), [2, 3, 16]);
    assert_eq!(embedded.video.dims(), [2, 16]);
    let frames = embedded.frames.into_data().to_vec::<f32>().unwrap();
    let texts = model.text_embeddings(&text).into_data().to_vec::<f32>().unwrap();
    for (q, v) in [1usize, 0, 1].into_iter().enumerate() {
        for f in 0..3 {
            let dot: f32 = (0..16).map(|k| texts[q * 16 + k] * frames[(v * 3 + f) * 16 + k]).sum();
            assert!((dot - relevance[q * 3 + f]).abs() < 1e-5, "text {q} frame {f}: {dot} vs {}", relevance[q * 3 + f]);
        }
    }
    // Unit vectors, and the video vector is the normalised mean of its frames.
    let norm = |x: &[f32]| x.iter().map(|a| a * a).sum::<f32>().sqrt();
    assert!((norm(&texts[..16]) - 1.0).abs() < 1e-5 && (norm(&frames[..16]) - 1.0).abs() < 1e-5);
    let videos = embedded.video.into_data().to_vec::<f32>().unwrap();
    let mean: Vec<f32> = (0..16).map(|k| (0..3).map(|f| frames[f * 16 + k]).sum::<f32>() / 3.0).collect();
    let scale = norm(&mean);
    assert!((0..16).all(|k| (videos[k] - mean[k] / scale).abs() < 1e-5));
}
