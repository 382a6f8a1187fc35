//! Probabilities that mean what they say: a temperature fitted on held-out answers (Val), the
//! expected calibration error (ECE) that measures how far shown probabilities are from how often
//! answers are right, and the unsure threshold chosen on the same answers.

use serde::{Deserialize, Serialize};

/// Top-answer probability below which an answer is reported as unsure. Measured with `trainer
/// eval --answers` on the benchmark's Test split (5,864 questions): answers below it were right
/// about two times in three (67-69% for two models), the others 98.5% of the time. A calibrated
/// model folder sets its own (`unsure_below`, chosen on Val by `trainer calibrate`).
pub const UNSURE_BELOW: f32 = 0.8;

/// Equal-width confidence bins of [`expected_calibration_error`].
pub const ECE_BINS: usize = 15;

/// Largest share of right answers below the unsure threshold on Val ([`choose_unsure_threshold`]):
/// an answer reported unsure is one that, on held-out questions, was right at most 4 times in 5.
pub const UNSURE_ACCURACY: f32 = 0.8;

/// A model's calibration, fitted on its Val split (`config.json`'s `calibration`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Logits are divided by this before the softmax (fitted by negative log-likelihood).
    pub temperature: f32,
    /// Top-answer probability (after the temperature) below which an answer is reported unsure.
    pub unsure_below: f32,
    /// Share of the Val answers below `unsure_below` that were right.
    pub right_below: f32,
    /// Share of the Val answers at or above it that were right.
    pub right_above: f32,
}

/// `softmax(logits / temperature)`.
pub fn softmax_with_temperature(logits: &[f32], temperature: f32) -> Vec<f32> {
    let scaled: Vec<f32> = logits.iter().map(|x| x / temperature).collect();
    let max = scaled.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = scaled.iter().map(|x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Expected calibration error of `(top probability, right)` answers over [`ECE_BINS`] equal-width
/// bins: the answer-weighted mean of |accuracy − mean probability| per bin (0 for no answers).
pub fn expected_calibration_error(answers: &[(f32, bool)]) -> f64 {
    let mut bins = [(0usize, 0usize, 0.0f64); ECE_BINS]; // answers, right, summed probability
    for &(probability, right) in answers {
        let bin = ((probability.clamp(0.0, 1.0) * ECE_BINS as f32) as usize).min(ECE_BINS - 1);
        bins[bin].0 += 1;
        bins[bin].1 += usize::from(right);
        bins[bin].2 += f64::from(probability);
    }
    let total = answers.len().max(1) as f64;
    bins.iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|&(n, right, sum)| (right as f64 / n as f64 - sum / n as f64).abs() * n as f64 / total)
        .sum()
}

/// Mean negative log-likelihood of the right answers of `rows` (logits, right index) at `temperature`.
fn mean_nll(rows: &[(Vec<f32>, usize)], temperature: f32) -> f64 {
    let total: f64 = rows
        .iter()
        .map(|(logits, truth)| {
            let p = softmax_with_temperature(logits, temperature).get(*truth).copied().unwrap_or(0.0);
            -f64::from(p.max(1e-12)).ln()
        })
        .sum();
    total / rows.len().max(1) as f64
}

/// The temperature in [0.05, 20] that minimises the mean negative log-likelihood of the right
/// answers (golden-section search over its logarithm; the likelihood is unimodal in it).
pub fn fit_temperature(rows: &[(Vec<f32>, usize)]) -> f32 {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut lo, mut hi) = (0.05f64.ln(), 20f64.ln());
    let nll = |log_t: f64| mean_nll(rows, log_t.exp() as f32);
    for _ in 0..60 {
        let a = hi - ratio * (hi - lo);
        let b = lo + ratio * (hi - lo);
        if nll(a) <= nll(b) { hi = b } else { lo = a }
    }
    ((lo + hi) / 2.0).exp() as f32
}

/// The largest threshold on a 0.05 grid (0.3 to 0.95) below which at most [`UNSURE_ACCURACY`] of
/// `answers` are right (0.8 when no answer falls below any), with the shares right below and at or
/// above it.
pub fn choose_unsure_threshold(answers: &[(f32, bool)]) -> (f32, f32, f32) {
    let share = |pick: &dyn Fn(f32) -> bool| {
        let chosen: Vec<bool> = answers.iter().filter(|(p, _)| pick(*p)).map(|(_, right)| *right).collect();
        (!chosen.is_empty()).then(|| chosen.iter().filter(|&&right| right).count() as f32 / chosen.len() as f32)
    };
    let threshold = (6..=19)
        .rev()
        .map(|k| k as f32 * 0.05)
        .find(|&t| share(&|p| p < t).is_some_and(|right| right <= UNSURE_ACCURACY))
        .unwrap_or(0.8);
    (threshold, share(&|p| p < threshold).unwrap_or(0.0), share(&|p| p >= threshold).unwrap_or(0.0))
}

/// Fits a [`Calibration`] on held-out rows (logits, right index).
pub fn calibrate(rows: &[(Vec<f32>, usize)]) -> Calibration {
    let temperature = fit_temperature(rows);
    let answers = top_answers(rows, temperature);
    let (unsure_below, right_below, right_above) = choose_unsure_threshold(&answers);
    Calibration { temperature, unsure_below, right_below, right_above }
}

/// `(top probability, right)` of each row at `temperature`.
pub fn top_answers(rows: &[(Vec<f32>, usize)], temperature: f32) -> Vec<(f32, bool)> {
    rows.iter()
        .map(|(logits, truth)| {
            let probabilities = softmax_with_temperature(logits, temperature);
            let (best, p) = probabilities
                .iter()
                .copied()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((usize::MAX, 0.0));
            (p, best == *truth)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ece_of_perfect_and_overconfident_answers() {
        assert_eq!(expected_calibration_error(&[]), 0.0);
        // 70% sure and right 7 times in 10: calibrated.
        let calibrated: Vec<(f32, bool)> = (0..10).map(|i| (0.7, i < 7)).collect();
        assert!(expected_calibration_error(&calibrated) < 1e-6);
        // 99% sure and right half the time: off by 0.49.
        let overconfident: Vec<(f32, bool)> = (0..10).map(|i| (0.99, i % 2 == 0)).collect();
        assert!((expected_calibration_error(&overconfident) - 0.49).abs() < 1e-6);
    }

    #[test]
    fn the_fitted_temperature_undoes_overconfidence() {
        // Logits three times too sharp: the right class wins 3 of 4, always by the same margin.
        let rows: Vec<(Vec<f32>, usize)> =
            (0..400).map(|i| (vec![3.0 * 1.0986, 0.0], if i % 4 == 0 { 1 } else { 0 })).collect();
        let temperature = fit_temperature(&rows);
        assert!((temperature - 3.0).abs() < 0.01, "{temperature}");
        let answers = top_answers(&rows, temperature);
        assert!(expected_calibration_error(&answers) < 0.01);
        assert!(expected_calibration_error(&top_answers(&rows, 1.0)) > 0.2);
    }

    #[test]
    fn the_unsure_threshold_is_the_highest_below_which_answers_are_unreliable() {
        // 100 sure and right, 20 at 60% right half the time, 10 at 90% right 9 times in 10.
        let mut answers: Vec<(f32, bool)> = (0..100).map(|_| (0.99, true)).collect();
        answers.extend((0..20).map(|i| (0.6, i % 2 == 0)));
        answers.extend((0..10).map(|i| (0.9, i > 0)));
        // Below 0.95: 19 right of 30 (63%), the highest threshold that qualifies.
        let (threshold, below, above) = choose_unsure_threshold(&answers);
        assert!((threshold - 0.95).abs() < 1e-6, "{threshold}");
        assert!((below - 19.0 / 30.0).abs() < 1e-6 && above == 1.0, "{below} {above}");
        // Nothing below any threshold: the default.
        assert_eq!(choose_unsure_threshold(&[(0.99, true)]).0, 0.8);
    }
}
