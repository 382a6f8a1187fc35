//! The learning-rate schedule of `train` and `pretrain`: linear warm-up, then cosine decay to 5%
//! of the peak. With a `--minutes` budget the decay follows whichever is further along, the steps
//! or the budget, so a run its budget stops still ends at the low rate. Under the step count
//! alone a budget-stopped run kept a high rate (one stopped at step 730 of 1,000 ended at 29% of
//! the peak) and needed a second run to finish the decay.

use std::time::Duration;

/// The floor of the decay, as a share of the peak.
const FINAL_SHARE: f64 = 0.05;

/// Learning rate at `step` of `total`: linear warm-up to `peak` over `warmup` steps, then cosine
/// decay to 5% of the peak over the larger of the steps' progress and `budget_spent` (0 to 1, see
/// [`budget_spent`]; `None` without a budget).
pub fn warmup_cosine(peak: f64, warmup: usize, step: usize, total: usize, budget_spent: Option<f64>) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let by_steps = (step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
    let progress = by_steps.max(budget_spent.unwrap_or(0.0)).clamp(0.0, 1.0);
    peak * (FINAL_SHARE + (1.0 - FINAL_SHARE) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
}

/// The share of a `minutes` budget that `elapsed` has spent: 1 or more once it is over, which is
/// where `train` and `pretrain` stop. The same number paces the decay in [`warmup_cosine`].
pub fn budget_spent(minutes: Option<f64>, elapsed: Duration) -> Option<f64> {
    minutes.map(|m| if m > 0.0 { elapsed.as_secs_f64() / (m * 60.0) } else { 1.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn without_a_budget_the_steps_alone_set_the_rate() {
        assert!(close(warmup_cosine(1.0, 10, 0, 110, None), 0.1));
        assert!(close(warmup_cosine(1.0, 10, 9, 110, None), 1.0));
        assert!(close(warmup_cosine(1.0, 10, 10, 110, None), 1.0));
        assert!(close(warmup_cosine(1.0, 10, 60, 110, None), 0.525));
        assert!(close(warmup_cosine(1.0, 10, 110, 110, None), 0.05));
        assert!(close(warmup_cosine(1.0, 10, 500, 110, None), 0.05));
    }

    #[test]
    fn a_budget_further_along_than_the_steps_sets_the_rate() {
        // Half the budget spent at a quarter of the steps: the rate of the half-way point.
        assert!(close(warmup_cosine(1.0, 0, 25, 100, Some(0.5)), 0.525));
        // Budget spent: the floor, however few steps ran.
        assert!(close(warmup_cosine(1.0, 0, 5, 100, Some(1.0)), 0.05));
        assert!(close(warmup_cosine(1.0, 0, 5, 100, Some(3.0)), 0.05));
        // Steps further along than the budget: the steps decide.
        assert!(close(warmup_cosine(1.0, 0, 50, 100, Some(0.1)), 0.525));
        // Warm-up is by steps only.
        assert!(close(warmup_cosine(1.0, 10, 4, 100, Some(0.9)), 0.5));
    }

    #[test]
    fn budget_spent_is_a_share_of_the_minutes() {
        assert_eq!(budget_spent(None, Duration::from_secs(60)), None);
        assert_eq!(budget_spent(Some(2.0), Duration::from_secs(60)), Some(0.5));
        assert_eq!(budget_spent(Some(0.0), Duration::from_secs(1)), Some(1.0));
    }
}
