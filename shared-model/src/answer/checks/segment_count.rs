//! Checking the counts of an action a caption names in more than one segment, segment by segment.
//! "a purple star blinks 3 times then shrinks then blinks once" claims 3 blinks in the first
//! segment and 1 in the last; its total (4) is also the total of "blinks once ... blinks 3 times"
//! and, once both read as 6, of many changed counts. The segment tagger's alignment of the
//! caption's own segments to the frames (`timeline_check::best_segmentation`) says which frames
//! each segment holds; the event counter's per-frame evidence for "How many times does the
//! {object} blink ?", summed over those frames, is the segment's expected count. A claim scores
//! like the count head's (`count_check`): the log-probability of the claimed count under
//! `−SEGMENT_COUNT_SHARPNESS × (k − expected)²` over the counts k, minus the most probable
//! count's. It runs with the count check, at its weight, in place of the totals of such actions
//! (`CountCheck::with_repeated`), for models with both a segment tagger and an event counter.

use crate::answer::checks::caption_text::{CaptionText, common_object, index_or_push};
use crate::answer::checks::timeline::{MIN_SEGMENT_FRAMES, action_index, best_segmentation, tagger_question};

/// Sharpness of a segment's count distribution around its expected count. On 500 Val GIFs
/// (seed 7, the model shipped then, count check weight 0.5 / 1 / 2) sharpness 1 got 490 / 492 / 494 captions right
/// and 4 got 492 / 493 / 494 (489 with totals instead); the event counter's own is e^1.8 ≈ 6.
pub const SEGMENT_COUNT_SHARPNESS: f32 = 4.0;

/// The per-segment count claims of a caption question's candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentCountCheck {
    /// The object the captions are about ([`common_object`]); `None` when nothing is claimed.
    object: Option<String>,
    /// The actions named in more than one segment of some caption, each asked as a Count question.
    actions: Vec<String>,
    /// Per candidate, its claims if any.
    claims: Vec<Option<SegmentClaims>>,
}

/// What one caption claims segment by segment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SegmentClaims {
    /// Its segments' actions (indices into `TIMELINE_ACTIONS`), aligned to the frames.
    pattern: Vec<usize>,
    /// Per segment: (index into `actions`, claimed count) when the segment's count is checked.
    counts: Vec<Option<(usize, usize)>>,
}

impl SegmentCountCheck {
    /// Collects the claims of `candidates` read as captions when `captions` (the candidates of a
    /// fused caption question); nothing otherwise.
    pub fn new(candidates: &[String], captions: bool) -> Self {
        let object = common_object(candidates).filter(|_| captions);
        let mut actions: Vec<String> = Vec::new();
        let claims = candidates
            .iter()
            .map(|candidate| {
                let caption = CaptionText::parse(candidate).filter(|_| object.is_some())?;
                let pattern = caption.segments.iter().map(|s| action_index(&s.action)).collect::<Option<Vec<_>>>()?;
                let counts = caption
                    .segments
                    .iter()
                    .map(|segment| {
                        let count = segment.count.filter(|_| !caption.named_once(&segment.action))?;
                        Some((index_or_push(&mut actions, segment.action.clone()).0, count))
                    })
                    .collect::<Vec<_>>();
                counts.iter().any(Option::is_some).then_some(SegmentClaims { pattern, counts })
            })
            .collect();
        let object = object.filter(|_| !actions.is_empty());
        Self { object, actions, claims }
    }

    /// What to read: the tagger's question first, then one Count question per action; empty when
    /// nothing is claimed.
    pub fn questions(&self) -> Vec<String> {
        let Some(object) = &self.object else { return Vec::new() };
        std::iter::once(tagger_question(object))
            .chain(self.actions.iter().map(|action| format!("How many times does the {object} {action} ?")))
            .collect()
    }

    /// Whether no candidate claims a count of a repeated action.
    pub fn is_empty(&self) -> bool {
        self.object.is_none()
    }

    /// How many candidates were checked.
    pub fn candidates(&self) -> usize {
        self.claims.len()
    }

    /// What each candidate's score gains: `weight` times the sum, over its checked segments, of
    /// the claimed count's log-probability minus the most probable count's; 0 for a candidate
    /// without such claims or whose segments cannot be aligned.
    ///
    /// # Shapes
    /// - `tags`: `[frames, TIMELINE_ACTIONS.len()]` row-major, the tagger's log-probabilities for
    ///   the first of [`Self::questions`]
    /// - `evidence`: `[questions, frames]` row-major, the event counter's per-frame evidence for
    ///   each of [`Self::questions`] (the first row is not read)
    /// - returns one value per candidate
    pub fn adjustments(&self, tags: &[f32], evidence: &[f32], frames: usize, classes: usize, weight: f32) -> Vec<f32> {
        self.claims
            .iter()
            .map(|claim| {
                let Some(SegmentClaims { pattern, counts }) = claim else { return 0.0 };
                let Some(starts) = best_segmentation(tags, frames, pattern, MIN_SEGMENT_FRAMES) else { return 0.0 };
                let ends = starts.iter().skip(1).copied().chain(std::iter::once(frames));
                let gain: f32 = counts
                    .iter()
                    .zip(starts.iter().zip(ends))
                    .filter_map(|(claim, (start, end))| {
                        let (action, count) = (*claim)?;
                        let row = evidence.get((1 + action) * frames..(2 + action) * frames)?;
                        let expected: f32 = row[*start..end].iter().sum();
                        Some(relative_log_likelihood(expected, count.min(classes.saturating_sub(1)), classes))
                    })
                    .sum();
                weight * gain
            })
            .collect()
    }
}

/// `log p(count) − log p(most probable count)` for `p ∝ exp(−SEGMENT_COUNT_SHARPNESS × (k −
/// expected)²)` over the counts `0..classes`.
fn relative_log_likelihood(expected: f32, count: usize, classes: usize) -> f32 {
    let logit = |k: usize| -SEGMENT_COUNT_SHARPNESS * (k as f32 - expected).powi(2);
    let best = (0..classes).map(logit).fold(f32::NEG_INFINITY, f32::max);
    logit(count) - best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::checks::timeline::TIMELINE_ACTIONS;

    fn captions(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn only_actions_named_twice_are_claimed_segment_by_segment() {
        let candidates = captions(&[
            "a red star blinks 3 times then shrinks then blinks once",
            "a red star blinks once then shrinks then blinks 3 times",
            "a red star jumps 2 times then shrinks",
            "a blue star blinks 3 times then shrinks then blinks once",
        ]);
        let check = SegmentCountCheck::new(&candidates, true);
        assert_eq!(
            check.questions(),
            vec!["Where is the red star at the end ?", "How many times does the red star blink ?"]
        );
        let (blink, shrink) = (action_index("blink").unwrap(), action_index("shrink").unwrap());
        let first =
            SegmentClaims { pattern: vec![blink, shrink, blink], counts: vec![Some((0, 3)), None, Some((0, 1))] };
        assert_eq!(check.claims[0], Some(first));
        assert_eq!(check.claims[2], None);
        assert_eq!(check.claims[3], check.claims[0]);
        assert!(SegmentCountCheck::new(&candidates, false).is_empty());
        assert!(SegmentCountCheck::new(&candidates[2..3], true).is_empty());
        assert!(SegmentCountCheck::new(&[], true).questions().is_empty());
    }

    #[test]
    fn adjustments_sum_the_evidence_over_each_aligned_segment() {
        let candidates = captions(&[
            "a red star blinks 3 times then shrinks then blinks once",
            "a red star blinks once then shrinks then blinks 3 times",
            "a red star jumps 2 times then shrinks",
        ]);
        let check = SegmentCountCheck::new(&candidates, true);
        // 12 frames tagged blink (0-4), shrink (5-7), blink (8-11); three blink events in the first
        // segment, one in the last.
        let (blink, shrink) = (action_index("blink").unwrap(), action_index("shrink").unwrap());
        let frames = 12;
        let tags: Vec<f32> = (0..frames)
            .flat_map(|t| {
                let action = if (5..8).contains(&t) { shrink } else { blink };
                (0..TIMELINE_ACTIONS.len()).map(move |a| if a == action { 0.0 } else { -5.0 })
            })
            .collect();
        let mut evidence = vec![0.0; 2 * frames];
        for t in [1, 2, 4, 9] {
            evidence[frames + t] = 1.0;
        }
        let gains = check.adjustments(&tags, &evidence, frames, 11, 0.5);
        assert!(gains[0].abs() < 1e-6, "{gains:?}");
        // Expected 3 and 1 against claimed 1 and 3: −sharpness × (2² + 2²) × 0.5.
        assert!((gains[1] + SEGMENT_COUNT_SHARPNESS * 4.0).abs() < 1e-4, "{gains:?}");
        assert_eq!(gains[2], 0.0);
    }
}
