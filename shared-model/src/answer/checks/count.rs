//! Checking the counts an answer states with the count head. The caption "a red star jumps 3
//! times then moves left" claims that the red star jumps 3 times, and so does the answer "jump"
//! to "What does the red star do 3 times ?"; the model's answer to "How many times does the red
//! star jump ?" says how likely that is. Multiple-choice scores can add this check
//! (`QaModelConfig::count_check_weight`): the choice heads tell a changed count apart far less
//! often than the count head does.
//!
//! Text outside the benchmark's grammar makes no claim and is scored as before: captions as
//! `caption_text` reads them; action questions `What does the {colour} {shape} do {n} times ?`
//! with a one-word candidate.

use crate::answer::checks::caption_text::{CaptionText, common_object, index_or_push};

/// One count an answer states, as the Count question that checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountClaim {
    /// "How many times does the red star jump ?"
    pub question: String,
    /// The count the caption states.
    pub count: usize,
}

/// The largest count a benchmark Count question asks about (the generator's `MAX_REPS`): the count
/// head has never been taught a larger one.
pub const MAX_ASKED_COUNT: usize = 6;

/// What the count check claims for an action a caption names in more than one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeated {
    /// The sum of its counts, read as [`MAX_ASKED_COUNT`] when larger ("that many or more").
    Totals,
    /// Nothing: `segment_count_check` checks each segment's count instead.
    BySegment,
}

/// The counts a caption states, asked about `object` (see [`common_object`]), one claim per action
/// in the order first named; an action named in more than one segment as `repeated` says. The
/// benchmark's Count questions ask only about actions done in one segment, so the count head has
/// never been asked for a total, but its answer still tells a changed count apart: on 500 Val
/// GIFs (with the object check) totals took caption accuracy from 484 to 489 right (488 without
/// reading large totals as 6).
pub fn caption_claims(caption: &str, object: &str, repeated: Repeated) -> Vec<CountClaim> {
    let Some(caption) = CaptionText::parse(caption) else { return Vec::new() };
    let mut actions: Vec<&str> = Vec::new();
    for segment in &caption.segments {
        if !actions.contains(&segment.action.as_str()) {
            actions.push(&segment.action);
        }
    }
    actions
        .into_iter()
        .filter(|action| repeated == Repeated::Totals || caption.named_once(action))
        .filter_map(|action| {
            // Every segment of the action must state a count (repeatable actions always do).
            let counts: Option<Vec<usize>> =
                caption.segments.iter().filter(|s| s.action == action).map(|s| s.count).collect();
            let question = format!("How many times does the {object} {action} ?");
            counts.map(|counts| CountClaim { question, count: counts.iter().sum::<usize>().min(MAX_ASKED_COUNT) })
        })
        .collect()
}

/// The count that `candidate` claims as the answer to an action question ("What does the red star
/// do 3 times ?" answered "jump": the red star jumps 3 times).
pub fn action_claims(question: &str, candidate: &str) -> Vec<CountClaim> {
    let words: Vec<&str> = question.split_whitespace().collect();
    let ["What", "does", "the", colour, shape, "do", n, "times", "?"] = words.as_slice() else { return Vec::new() };
    let verb: Vec<&str> = candidate.split_whitespace().collect();
    let (Ok(count), [verb]) = (n.parse(), verb.as_slice()) else { return Vec::new() };
    vec![CountClaim { question: format!("How many times does the {colour} {shape} {verb} ?"), count }]
}

/// The count claims of a question's candidates, with each distinct checking question once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountCheck {
    /// The distinct Count questions to ask.
    pub questions: Vec<String>,
    /// Per candidate: (index into `questions`, claimed count) of each of its claims.
    claims: Vec<Vec<(usize, usize)>>,
}

impl CountCheck {
    /// Collects the claims of every candidate of `question`: candidates read as captions when
    /// `captions` (the candidates of a fused caption question), each asked about the object most
    /// of them name ([`common_object`]), as answers to it otherwise. Actions a caption names more
    /// than once claim their totals.
    pub fn new(question: &str, candidates: &[String], captions: bool) -> Self {
        Self::with_repeated(question, candidates, captions, Repeated::Totals)
    }

    /// [`CountCheck::new`] with actions a caption names more than once claimed as `repeated` says.
    pub fn with_repeated(question: &str, candidates: &[String], captions: bool, repeated: Repeated) -> Self {
        let object = if captions { common_object(candidates).unwrap_or_default() } else { String::new() };
        let mut questions: Vec<String> = Vec::new();
        let claims = candidates
            .iter()
            .map(|candidate| {
                let claims = if captions {
                    caption_claims(candidate, &object, repeated)
                } else {
                    action_claims(question, candidate)
                };
                claims.into_iter().map(|claim| (index_or_push(&mut questions, claim.question).0, claim.count)).collect()
            })
            .collect();
        Self { questions, claims }
    }

    /// How many candidates were checked.
    pub fn candidates(&self) -> usize {
        self.claims.len()
    }

    /// Whether no candidate states a count.
    pub fn is_empty(&self) -> bool {
        self.questions.is_empty()
    }

    /// What each candidate's score gains: `weight` times the sum, over its claims, of the claimed
    /// count's log-probability minus the most probable count's. A claim the count head agrees with
    /// costs nothing, so a candidate without claims is not favoured over a true one with claims.
    ///
    /// # Shapes
    /// - `count_logits`: `[questions, classes]` row-major (one clip); returns one value per candidate
    pub fn adjustments(&self, count_logits: &[f32], classes: usize, weight: f32) -> Vec<f32> {
        // Counts past the last class are read as it, as training's targets are.
        let last = classes.saturating_sub(1);
        let claims: Vec<Vec<(usize, usize)>> =
            self.claims.iter().map(|claims| claims.iter().map(|&(q, count)| (q, count.min(last))).collect()).collect();
        relative_log_likelihoods(&claims, count_logits, classes, weight)
    }
}

/// For each answer, `weight` times the sum over its claims `(row, class)` of `log p(class) − log
/// p(most probable class)`, `p` being the softmax of that row of `logits`. A claim the head agrees
/// with costs nothing, so an answer that states nothing is not favoured over a true one that does.
///
/// # Shapes
/// - `logits`: `[rows, width]` row-major; returns one value per answer
pub(crate) fn relative_log_likelihoods(
    claims: &[Vec<(usize, usize)>],
    logits: &[f32],
    width: usize,
    weight: f32,
) -> Vec<f32> {
    let log_probs: Vec<Vec<f32>> = logits.chunks(width.max(1)).map(log_softmax).collect();
    claims
        .iter()
        .map(|claims| {
            let penalty: f32 = claims
                .iter()
                .filter_map(|&(row, class)| {
                    let row = log_probs.get(row)?;
                    let best = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    Some(row.get(class)? - best)
                })
                .sum();
            weight * penalty
        })
        .collect()
}

/// Log-softmax of one row of logits.
pub(crate) fn log_softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_sum = row.iter().map(|x| (x - max).exp()).sum::<f32>().ln() + max;
    row.iter().map(|x| x - log_sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::text::questions::CAPTION_PROMPT;

    fn caption_claims_totals(caption: &str, object: &str) -> Vec<CountClaim> {
        caption_claims(caption, object, Repeated::Totals)
    }

    fn claim(question: &str, count: usize) -> CountClaim {
        CountClaim { question: question.to_string(), count }
    }

    #[test]
    fn claims_of_benchmark_captions() {
        assert_eq!(
            caption_claims_totals("a red star jumps 3 times then moves left then spins once", "red star"),
            vec![
                claim("How many times does the red star jump ?", 3),
                claim("How many times does the red star spin ?", 1)
            ]
        );
        assert_eq!(caption_claims_totals("a blue circle grows then stays still", "blue circle"), vec![]);
        // Asked about another object, the same counts.
        assert_eq!(
            caption_claims_totals("a blue star jumps once", "red star"),
            vec![claim("How many times does the red star jump ?", 1)]
        );
        // An action named twice claims its total.
        assert_eq!(
            caption_claims_totals(
                "a red star jumps 2 times then grows then jumps once then blinks 4 times",
                "red star"
            ),
            vec![
                claim("How many times does the red star jump ?", 3),
                claim("How many times does the red star blink ?", 4)
            ]
        );
        // A total past the largest asked count is read as it.
        assert_eq!(
            caption_claims_totals("a red star jumps 5 times then grows then jumps 3 times", "red star"),
            vec![claim("How many times does the red star jump ?", MAX_ASKED_COUNT)]
        );
        // Or nothing, when each segment's count is checked on its own.
        assert_eq!(
            caption_claims(
                "a red star jumps 5 times then grows then jumps 3 times then spins once",
                "red star",
                Repeated::BySegment
            ),
            vec![claim("How many times does the red star spin ?", 1)]
        );
        assert_eq!(caption_claims_totals("the man is running", "red star"), vec![]);
        assert_eq!(caption_claims_totals("a man jumps", "red star"), vec![]);
        assert_eq!(caption_claims_totals("a red star jumps many times", "red star"), vec![]);
    }

    #[test]
    fn claims_of_action_answers() {
        let question = "What does the green cross do 4 times ?";
        assert_eq!(action_claims(question, "blink"), vec![claim("How many times does the green cross blink ?", 4)]);
        assert_eq!(action_claims(question, "move left"), vec![]);
        assert_eq!(action_claims("What does the green cross do after jumping ?", "blink"), vec![]);
        assert_eq!(action_claims("what does the man do 4 times ?", "wave"), vec![]);
        let candidates = ["blink", "spin", "move up"].map(String::from);
        let check = CountCheck::new(question, &candidates, false);
        assert_eq!(check.questions.len(), 2);
        assert!(CountCheck::new(question, &candidates, true).is_empty());
    }

    #[test]
    fn adjustments_penalise_counts_the_head_finds_unlikely() {
        let candidates: Vec<String> =
            ["a red star jumps 3 times", "a red star jumps 2 times", "a blue star jumps 3 times", "a red star grows"]
                .map(String::from)
                .to_vec();
        let check = CountCheck::new(CAPTION_PROMPT, &candidates, true);
        // Every caption is asked about the object most of them name: the colour distractor is
        // judged by its count alone.
        assert_eq!(check.questions, vec!["How many times does the red star jump ?"]);
        // 3 is most likely, 2 is e^-2 as likely.
        let logits = [0.0, 0.0, 1.0, 3.0, 0.0];
        let gains = check.adjustments(&logits, 5, 0.5);
        assert!(gains[0].abs() < 1e-6);
        assert!((gains[1] + 1.0).abs() < 1e-5, "{gains:?}");
        assert!(gains[2].abs() < 1e-6);
        assert_eq!(gains[3], 0.0);
        assert!(CountCheck::new(CAPTION_PROMPT, &candidates[3..], true).is_empty());
    }
}
