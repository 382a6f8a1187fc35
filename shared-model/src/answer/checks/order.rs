//! Checking the order a caption states with the transition head. "a red star jumps 3 times then
//! moves left" claims that the red star moves left right after jumping, and jumps right before
//! moving left; the model's answers to "What does the red star do after jumping ?" and "... before
//! moving left ?" say how likely that is. Fused caption scores can add this check
//! (`QaModelConfig::order_check_weight`): the fused caption score reads a caption's segments as
//! one question and tells a changed order apart less often than the transition head does.
//!
//! The transition questions are scored over the actions the question's captions name (without
//! the question's own action), so every question of one caption question has as many candidates.
//! Captions outside the benchmark's grammar (`caption_text`) make no claim.

use crate::answer::checks::caption_text::{CaptionText, common_object, gerund, index_or_push};

/// One order a caption states, as the Transition question and answer that check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderClaim {
    /// "What does the red star do after jumping ?"
    pub question: String,
    /// The action the caption names at that place: "move left".
    pub answer: String,
    /// The action the question is about ("jump"), never among its candidates.
    pub anchor: String,
}

/// The orders a caption states, asked about `object` (see [`common_object`]): for each two
/// consecutive segments, what comes after the first and before the second, when that action is
/// named in one segment only (the benchmark asks Transition questions only about such actions).
pub fn caption_order_claims(caption: &str, object: &str) -> Vec<OrderClaim> {
    CaptionText::parse(caption).map_or_else(Vec::new, |c| order_claims(&c, object))
}

fn order_claims(caption: &CaptionText, object: &str) -> Vec<OrderClaim> {
    let mut claims = Vec::new();
    for pair in caption.segments.windows(2) {
        let [first, second] = pair else { continue };
        for (word, anchor, answer) in [("after", first, second), ("before", second, first)] {
            if caption.named_once(&anchor.action) {
                claims.push(OrderClaim {
                    question: format!("What does the {object} do {word} {} ?", gerund(&anchor.action)),
                    answer: answer.action.clone(),
                    anchor: anchor.action.clone(),
                });
            }
        }
    }
    claims
}

/// The order claims of a caption question's candidates, with each distinct question once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderCheck {
    /// The distinct Transition questions to ask.
    pub questions: Vec<String>,
    /// Each question's candidates, as many for every question: the captions' actions but its anchor.
    pub candidates: Vec<Vec<String>>,
    /// Per caption: (index into `questions`, index into that question's candidates) of each claim.
    claims: Vec<Vec<(usize, usize)>>,
}

impl OrderCheck {
    /// Collects the claims of every caption; none when the captions name fewer than three actions
    /// (a Transition question needs two candidates).
    pub fn new(captions: &[String]) -> Self {
        // Every caption's order is asked about the object most captions name: the check judges
        // the order alone, and a caption naming an absent object would get answers about none.
        let object = common_object(captions).unwrap_or_default();
        let parsed: Vec<Vec<OrderClaim>> = captions.iter().map(|c| caption_order_claims(c, &object)).collect();
        let mut actions: Vec<String> = Vec::new();
        for caption in captions.iter().filter_map(|c| CaptionText::parse(c)) {
            for segment in caption.segments {
                index_or_push(&mut actions, segment.action);
            }
        }
        let mut check = Self { questions: Vec::new(), candidates: Vec::new(), claims: Vec::new() };
        if actions.len() < 3 {
            check.claims = vec![Vec::new(); captions.len()];
            return check;
        }
        for claims in parsed {
            let mut indices = Vec::new();
            for claim in claims {
                let (q, asked_first) = index_or_push(&mut check.questions, claim.question);
                if asked_first {
                    check.candidates.push(actions.iter().filter(|a| **a != claim.anchor).cloned().collect());
                }
                // Invariant: the answer is an action of these captions and differs from the anchor
                // (the anchor is named in one segment only).
                if let Some(c) = check.candidates[q].iter().position(|a| *a == claim.answer) {
                    indices.push((q, c));
                }
            }
            check.claims.push(indices);
        }
        check
    }

    /// Whether no caption states an order that can be checked.
    pub fn is_empty(&self) -> bool {
        self.questions.is_empty()
    }

    /// How many captions were checked.
    pub fn captions(&self) -> usize {
        self.claims.len()
    }

    /// Candidates per question (the same for every question).
    pub fn width(&self) -> usize {
        self.candidates.first().map_or(0, Vec::len)
    }

    /// What each caption's score gains: `weight` times the sum, over its claims, of the claimed
    /// answer's log-probability minus the most probable answer's (see `count_check`).
    ///
    /// # Shapes
    /// - `logits`: `[questions, width]` row-major (one clip); returns one value per caption
    pub fn adjustments(&self, logits: &[f32], weight: f32) -> Vec<f32> {
        crate::answer::checks::count::relative_log_likelihoods(&self.claims, logits, self.width(), weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_of_benchmark_captions() {
        let claims = caption_order_claims("a red star jumps 3 times then moves left then spins once", "red star");
        let pairs: Vec<(&str, &str)> = claims.iter().map(|c| (c.question.as_str(), c.answer.as_str())).collect();
        assert_eq!(
            pairs,
            vec![
                ("What does the red star do after jumping ?", "move left"),
                ("What does the red star do before moving left ?", "jump"),
                ("What does the red star do after moving left ?", "spin"),
                ("What does the red star do before spinning ?", "move left"),
            ]
        );
        // An action named twice is no anchor.
        let claims = caption_order_claims("a red star grows then jumps once then grows", "red star");
        let questions: Vec<&str> = claims.iter().map(|c| c.question.as_str()).collect();
        assert_eq!(
            questions,
            vec!["What does the red star do before jumping ?", "What does the red star do after jumping ?"]
        );
        assert_eq!(caption_order_claims("a red star grows", "red star"), vec![]);
        // Asked about another object, the same orders.
        let claims = caption_order_claims("a blue star jumps once then grows", "red star");
        assert_eq!(claims[0].question, "What does the red star do after jumping ?");
    }

    #[test]
    fn a_swapped_order_is_checked_against_the_same_questions() {
        let captions: Vec<String> = [
            "a red star jumps 3 times then moves left",
            "a red star moves left then jumps 3 times",
            "a red star jumps 3 times then grows",
        ]
        .map(String::from)
        .to_vec();
        let check = OrderCheck::new(&captions);
        assert_eq!(check.width(), 2);
        assert_eq!(check.questions.len(), 5);
        assert_eq!(check.candidates[0], vec!["move left", "grow"]); // after jumping
        // After jumping (the first question): "move left" twice as likely as "grow"; the other
        // four questions (before moving left, after moving left, before jumping, before growing)
        // undecided.
        let logits = [2f32.ln(), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let gains = check.adjustments(&logits, 1.0);
        assert!(gains[0].abs() < 1e-6 && gains[1].abs() < 1e-6, "{gains:?}");
        assert!((gains[2] + 2f32.ln()).abs() < 1e-5, "{gains:?}");
        assert!(OrderCheck::new(&captions[..1]).is_empty());
    }

    #[test]
    fn a_changed_object_is_checked_on_the_common_object() {
        let captions: Vec<String> = [
            "a red star jumps 3 times then moves left",
            "a blue star jumps 3 times then moves left",
            "a red star moves left then jumps 3 times",
            "a red circle jumps 3 times then grows",
        ]
        .map(String::from)
        .to_vec();
        let check = OrderCheck::new(&captions);
        assert!(check.questions.iter().all(|q| q.starts_with("What does the red star do ")), "{:?}", check.questions);
        // The colour distractor states the true order: it gains what the truth gains.
        let logits: Vec<f32> = (0..check.questions.len() * check.width()).map(|i| (i % 3) as f32).collect();
        let gains = check.adjustments(&logits, 1.0);
        assert_eq!(gains[0], gains[1]);
    }
}
