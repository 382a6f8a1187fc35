//! Checking a whole timeline with the segment tagger. The tagger gives, for one object, per
//! sampled frame a log-probability over [`TIMELINE_ACTIONS`]; a caption ("a red star jumps 3 times
//! then moves left") claims the object's segments in order from the first frame to the last, and a
//! Transition answer ("What does the red star do after jumping ?" → "move left") claims that one
//! segment follows another. The best timeline (Viterbi over segments of at least
//! [`MIN_SEGMENT_FRAMES`] frames) that agrees with a candidate says how likely the claim is, and
//! judges order and actions jointly, which per-question heads tell apart less often.
//!
//! Counts, colours and shapes are not checked here: distractors that change only those gain what
//! the truth gains, and other checks (`count_check`) judge them.

use crate::answer::checks::caption_text::{CaptionText, common_object, gerund};

/// The actions the segment tagger tells apart, in its output order.
pub const TIMELINE_ACTIONS: [&str; 10] =
    ["move left", "move right", "move up", "move down", "grow", "shrink", "spin", "blink", "jump", "stay still"];

/// Fewest frames of a segment in a checked timeline.
pub const MIN_SEGMENT_FRAMES: usize = 2;

/// Log-probability a free timeline pays for each change of action (so a distractor cannot slip in
/// for one frame).
pub const SWITCH_PENALTY: f32 = 2.0;

/// What an impossible candidate gains per unit of weight, instead of minus infinity.
const IMPOSSIBLE_GAIN: f32 = -1e4;

/// The position of `action` in [`TIMELINE_ACTIONS`].
pub fn action_index(action: &str) -> Option<usize> {
    TIMELINE_ACTIONS.iter().position(|a| *a == action)
}

/// The question the segment tagger is asked about `object` ("red star").
pub fn tagger_question(object: &str) -> String {
    format!("Where is the {object} at the end ?")
}

/// The timelines a question's candidates claim, scored against the segment tagger's output.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineCheck {
    /// The object the candidates are about; `None` when the check is empty.
    object: Option<String>,
    /// Per candidate: the actions (indices into [`TIMELINE_ACTIONS`]) of its consecutive segments.
    patterns: Vec<Vec<usize>>,
    /// Whether other segments may come before and after a pattern (Transition answers).
    free_edges: bool,
    /// How many candidates were given.
    candidates: usize,
}

impl TimelineCheck {
    /// Reads the claims of `candidates`. `captions`: whether the candidates are captions read as
    /// questions (fused); then `question` is ignored. Otherwise only Transition questions are checked.
    pub fn new(question: &str, candidates: &[String], captions: bool) -> Self {
        let claims = if candidates.len() < 2 {
            None
        } else if captions {
            caption_claims(candidates)
        } else {
            transition_claims(question, candidates)
        };
        let (object, patterns) = claims.map_or((None, Vec::new()), |(o, p)| (Some(o), p));
        Self { object, patterns, free_edges: !captions, candidates: candidates.len() }
    }

    /// The question to ask the tagger ([`tagger_question`] of the object), `None` when the check is empty.
    pub fn question(&self) -> Option<String> {
        self.object.as_deref().map(tagger_question)
    }

    /// Whether the candidates make no claim this check can judge.
    pub fn is_empty(&self) -> bool {
        self.object.is_none() || self.patterns.is_empty()
    }

    /// How many candidates were given to [`TimelineCheck::new`].
    pub fn candidates(&self) -> usize {
        self.candidates
    }

    /// What each candidate's score gains: `weight` × (its best timeline's log-probability − the
    /// best candidate's), so the best gets 0 and the others less; an impossible candidate gets
    /// `-1e4 × weight`. All zeros when empty, when `log_probs` is too short, or when every
    /// candidate is impossible.
    ///
    /// # Shapes
    /// - `log_probs`: `[frames, TIMELINE_ACTIONS.len()]` row-major (one clip); returns one value per candidate
    pub fn adjustments(&self, log_probs: &[f32], frames: usize, weight: f32) -> Vec<f32> {
        let zeros = vec![0.0; self.candidates];
        if self.is_empty() || log_probs.len() < frames * TIMELINE_ACTIONS.len() {
            return zeros;
        }
        let scores: Vec<f32> = self
            .patterns
            .iter()
            .map(|p| best_timeline(log_probs, frames, p, self.free_edges, MIN_SEGMENT_FRAMES, SWITCH_PENALTY))
            .collect();
        let best = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if !best.is_finite() {
            return zeros;
        }
        scores.iter().map(|&s| if s.is_finite() { weight * (s - best) } else { IMPOSSIBLE_GAIN * weight }).collect()
    }
}

/// The common object and each caption's actions; `None` when a caption is outside the grammar or
/// names an action the tagger does not know.
fn caption_claims(captions: &[String]) -> Option<(String, Vec<Vec<usize>>)> {
    let patterns = captions
        .iter()
        .map(|c| CaptionText::parse(c)?.segments.iter().map(|s| action_index(&s.action)).collect())
        .collect::<Option<Vec<Vec<usize>>>>()?;
    Some((common_object(captions)?, patterns))
}

/// The object of a Transition question and each answer's pattern: `[anchor, answer]` after the
/// anchor, `[answer, anchor]` before it; `None` for any other question or an unknown answer.
fn transition_claims(question: &str, candidates: &[String]) -> Option<(String, Vec<Vec<usize>>)> {
    let words: Vec<&str> = question.trim().strip_suffix('?')?.split_whitespace().collect();
    let ["What", "does", "the", colour, shape, "do", word, action @ ..] = words.as_slice() else { return None };
    let action = action.join(" ");
    let anchor = TIMELINE_ACTIONS.iter().position(|a| gerund(a) == action)?;
    let after = match *word {
        "after" => true,
        "before" => false,
        _ => return None,
    };
    let patterns = candidates
        .iter()
        .map(|c| action_index(c.trim()).map(|b| if after { vec![anchor, b] } else { vec![b, anchor] }))
        .collect::<Option<Vec<_>>>()?;
    Some((format!("{colour} {shape}"), patterns))
}

/// The log-probability of the best timeline that contains `pattern` (action indices) as
/// consecutive segments, each at least `min_len` frames; with `free_edges`, any segments of any
/// actions (each also ≥ `min_len` frames) may come before and after the pattern, and every change
/// of action in the whole timeline costs `switch_penalty`; without, the pattern covers all frames
/// exactly (changes still cost the penalty, which is then the same for every pattern of equal
/// length). `NEG_INFINITY` when impossible (e.g. too few frames, an empty pattern, an action out of range).
///
/// # Shapes
/// - `log_probs`: `[frames, TIMELINE_ACTIONS.len()]` row-major
pub fn best_timeline(
    log_probs: &[f32],
    frames: usize,
    pattern: &[usize],
    free_edges: bool,
    min_len: usize,
    switch_penalty: f32,
) -> f32 {
    let width = TIMELINE_ACTIONS.len();
    if pattern.is_empty() || frames == 0 || log_probs.len() < frames * width || pattern.iter().any(|&a| a >= width) {
        return f32::NEG_INFINITY;
    }
    // States: (action, next states, may start, may end). Free-before states come first, then the
    // pattern positions, then the free-after states.
    let n = pattern.len();
    let (before, after) = if free_edges { (width, width) } else { (0, 0) };
    let position = |i: usize| before + i;
    let free_after = |y: usize| before + n + y;
    let mut states: Vec<(usize, Vec<usize>, bool, bool)> = Vec::with_capacity(before + n + after);
    for x in 0..before {
        let mut next: Vec<usize> = (0..width).filter(|&y| y != x).collect();
        next.push(position(0));
        states.push((x, next, true, false));
    }
    for (i, &a) in pattern.iter().enumerate() {
        let next = if i + 1 < n { vec![position(i + 1)] } else { (0..after).map(free_after).collect() };
        states.push((a, next, i == 0, i + 1 == n));
    }
    for x in 0..after {
        states.push((x, (0..width).filter(|&y| y != x).map(free_after).collect(), false, true));
    }
    // score[s * cap + d]: best log-probability ending this frame in state s with d + 1 frames in
    // the segment so far (capped at `cap`).
    let cap = min_len.max(1);
    let mut score = vec![f32::NEG_INFINITY; states.len() * cap];
    for (s, state) in states.iter().enumerate() {
        if state.2 {
            score[s * cap] = log_probs[state.0];
        }
    }
    for t in 1..frames {
        let row = &log_probs[t * width..(t + 1) * width];
        let mut next = vec![f32::NEG_INFINITY; score.len()];
        for (s, state) in states.iter().enumerate() {
            for d in 0..cap {
                let here = score[s * cap + d];
                if here == f32::NEG_INFINITY {
                    continue;
                }
                let stay = s * cap + (d + 1).min(cap - 1);
                next[stay] = next[stay].max(here + row[state.0]);
                if d + 1 == cap {
                    for &to in &state.1 {
                        let moved = &mut next[to * cap];
                        *moved = moved.max(here - switch_penalty + row[states[to].0]);
                    }
                }
            }
        }
        score = next;
    }
    states
        .iter()
        .enumerate()
        .filter(|(_, state)| state.3)
        .map(|(s, _)| score[s * cap + cap - 1])
        .fold(f32::NEG_INFINITY, f32::max)
}

/// The frame each segment starts at in the best alignment of `pattern` (action indices) that
/// covers all frames in order, each segment at least `min_len` frames: the split of the caption's
/// segments that [`best_timeline`] scores without free edges (every such split has as many
/// changes of action, so the penalty does not move it). `None` when impossible (too few frames,
/// an empty pattern, an action out of range).
///
/// # Shapes
/// - `log_probs`: `[frames, TIMELINE_ACTIONS.len()]` row-major; returns `pattern.len()` starts
pub fn best_segmentation(log_probs: &[f32], frames: usize, pattern: &[usize], min_len: usize) -> Option<Vec<usize>> {
    let width = TIMELINE_ACTIONS.len();
    let n = pattern.len();
    let min_len = min_len.max(1);
    if n == 0 || frames < n * min_len || log_probs.len() < frames * width || pattern.iter().any(|&a| a >= width) {
        return None;
    }
    // sums[k][t]: the log-probabilities of pattern[k]'s action over frames 0..t.
    let sums: Vec<Vec<f32>> = pattern
        .iter()
        .map(|&a| {
            std::iter::once(0.0)
                .chain((0..frames).scan(0.0, |sum, t| {
                    *sum += log_probs[t * width + a];
                    Some(*sum)
                }))
                .collect()
        })
        .collect();
    // best[k][t]: segments 0..=k covering frames 0..t exactly; from[k][t]: where segment k starts.
    let mut best = vec![vec![f32::NEG_INFINITY; frames + 1]; n];
    let mut from = vec![vec![0; frames + 1]; n];
    for t in min_len..=frames {
        best[0][t] = sums[0][t];
    }
    for k in 1..n {
        for t in (k + 1) * min_len..=frames {
            for start in k * min_len..=t - min_len {
                let score = best[k - 1][start] + sums[k][t] - sums[k][start];
                if score > best[k][t] {
                    best[k][t] = score;
                    from[k][t] = start;
                }
            }
        }
    }
    let mut starts = vec![0; n];
    let mut end = frames;
    for k in (1..n).rev() {
        starts[k] = from[k][end];
        end = starts[k];
    }
    Some(starts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log-probabilities where each `(action, frames)` segment's action has 0 and the others −5.
    fn timeline(segments: &[(usize, usize)]) -> (Vec<f32>, usize) {
        let mut lp = Vec::new();
        for &(action, frames) in segments {
            for _ in 0..frames {
                lp.extend((0..TIMELINE_ACTIONS.len()).map(|a| if a == action { 0.0 } else { -5.0 }));
            }
        }
        let frames = lp.len() / TIMELINE_ACTIONS.len();
        (lp, frames)
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn best_segmentation_finds_the_tagged_boundaries() {
        let (lp, frames) = timeline(&[(8, 5), (4, 3), (8, 4)]);
        assert_eq!(best_segmentation(&lp, frames, &[8, 4, 8], 2), Some(vec![0, 5, 8]));
        // A pattern the tags disagree with still covers every frame, each segment long enough.
        let starts = best_segmentation(&lp, frames, &[4, 8], 2).unwrap();
        assert_eq!(starts[0], 0);
        assert!(starts[1] >= 2 && starts[1] <= frames - 2);
        assert_eq!(best_segmentation(&lp, frames, &[8; 7], 2), None);
        assert_eq!(best_segmentation(&lp, frames, &[], 2), None);
        assert_eq!(best_segmentation(&lp, frames, &[10], 2), None);
    }

    #[test]
    fn names_and_questions() {
        assert_eq!(tagger_question("red star"), "Where is the red star at the end ?");
        for (i, a) in TIMELINE_ACTIONS.iter().enumerate() {
            assert_eq!(action_index(a), Some(i));
        }
        assert_eq!(action_index("fly"), None);
    }

    #[test]
    fn best_timeline_by_hand() {
        let (lp, frames) = timeline(&[(8, 3), (0, 3)]);
        let fits = best_timeline(&lp, frames, &[8, 0], false, 2, SWITCH_PENALTY);
        assert!((fits + SWITCH_PENALTY).abs() < 1e-6, "{fits}");
        assert!(best_timeline(&lp, frames, &[0, 8], false, 2, SWITCH_PENALTY) < fits - 10.0);
        assert!((best_timeline(&lp, frames, &[8], false, 2, SWITCH_PENALTY) + 15.0).abs() < 1e-6);
        assert_eq!(best_timeline(&lp, frames, &[8, 0, 8, 0], false, 2, SWITCH_PENALTY), f32::NEG_INFINITY);
        assert_eq!(best_timeline(&lp, frames, &[], true, 2, SWITCH_PENALTY), f32::NEG_INFINITY);
        // With free edges, [8] fits the first segment and pays one change.
        assert!((best_timeline(&lp, frames, &[8], true, 2, SWITCH_PENALTY) + SWITCH_PENALTY).abs() < 1e-6);
    }

    #[test]
    fn captions_are_checked_on_order_and_actions() {
        let (lp, frames) = timeline(&[(8, 10), (0, 10), (6, 10)]);
        let captions = strings(&[
            "a red star jumps 2 times then moves left then spins once",
            "a red star jumps 2 times then spins once then moves left",
            "a red star jumps 2 times then moves right then spins once",
            "a blue star jumps 2 times then moves left then spins once",
            "a red star jumps 3 times then moves left then spins once",
        ]);
        let check = TimelineCheck::new("ignored", &captions, true);
        assert_eq!(check.question().as_deref(), Some("Where is the red star at the end ?"));
        assert_eq!(check.candidates(), 5);
        let gains = check.adjustments(&lp, frames, 1.0);
        assert_eq!(gains.len(), 5);
        assert!(gains[0] == 0.0 && gains[3] == 0.0 && gains[4] == 0.0, "{gains:?}");
        assert!(gains[1] < -5.0 && gains[2] < -5.0, "{gains:?}");
        // Too short a slice: no gain.
        assert_eq!(check.adjustments(&lp[..10], frames, 1.0), vec![0.0; 5]);
    }

    #[test]
    fn transitions_are_checked_on_the_neighbouring_segment() {
        let (lp, frames) = timeline(&[(8, 10), (0, 10), (6, 10)]);
        let candidates = strings(&["spin", "move left", "grow", "blink", "stay still"]);
        let check = TimelineCheck::new("What does the red star do after jumping ?", &candidates, false);
        assert_eq!(check.question().as_deref(), Some("Where is the red star at the end ?"));
        let gains = check.adjustments(&lp, frames, 1.0);
        assert_eq!(gains[1], 0.0, "{gains:?}");
        assert!(gains.iter().enumerate().all(|(i, &g)| i == 1 || g < -3.0), "{gains:?}");
        let check = TimelineCheck::new("What does the red star do before  spinning?", &candidates, false);
        let gains = check.adjustments(&lp, frames, 1.0);
        assert!(gains.iter().enumerate().all(|(i, &g)| i == 1 || g < gains[1]), "{gains:?}");
        // Nothing comes before the first segment; the anchor among the candidates is allowed.
        let candidates = strings(&["jump", "move left", "grow", "blink", "stay still"]);
        let check = TimelineCheck::new("What does the red star do before jumping ?", &candidates, false);
        let gains = check.adjustments(&lp, frames, 1.0);
        assert_eq!(gains.len(), 5);
        assert!(gains.iter().all(|g| !g.is_nan()), "{gains:?}");
    }

    #[test]
    fn questions_outside_the_checks_are_empty() {
        let mut captions = strings(&["a red star jumps once then grows", "a red star grows then jumps once"]);
        assert!(!TimelineCheck::new("", &captions, true).is_empty());
        captions.push("the man is running".into());
        let check = TimelineCheck::new("", &captions, true);
        assert!(check.is_empty() && check.question().is_none());
        assert_eq!(check.adjustments(&[0.0; 100], 10, 1.0), vec![0.0; 3]);
        let actions = strings(&["jump", "grow"]);
        assert!(TimelineCheck::new("How many times does the red star jump ?", &actions, false).is_empty());
        let with_fly = strings(&["jump", "fly"]);
        assert!(TimelineCheck::new("What does the red star do after growing ?", &with_fly, false).is_empty());
        assert!(TimelineCheck::new("What does the red star do after growing ?", &actions[..1], false).is_empty());
        assert!(!TimelineCheck::new("What does the red star do after growing ?", &actions, false).is_empty());
    }
}
