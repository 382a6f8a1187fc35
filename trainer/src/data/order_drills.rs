//! Order drills: extra Train questions, made from each GIF's true caption, about what the
//! benchmark's own questions never make the model tell apart.
//!
//! - A Transition question's distractors are never done on the asked side of its anchor, so the
//!   transition head never learned that "after jumping" means the next action, not a later one.
//!   Yet that is what an order distractor of a three-segment caption asks of the order check
//!   ("jumps then spins then grows" against "jumps then grows then spins"). A transition drill asks
//!   the benchmark's question with the other actions on that side among the distractors.
//! - A caption question holds at most one or two order distractors. A caption drill is the same
//!   question with every other distractor replaced by a reordering of the true caption.
//!
//! Both are true by construction: a caption describes its object's whole timeline and objects have
//! distinct colours, so a reordering is false of every object, and the next segment is what the
//! object does right after the anchor.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use shared_model::answer::checks::caption_text::{CaptionText, caption_parts, gerund};
use shared_model::text::questions::{Answer, QaItem, QuestionType};

use crate::data::Split;

/// Candidates of a drill, as many as the benchmark's multiple-choice questions have.
const CHOICES: usize = 5;

/// Which drills to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Drills {
    /// Transition drills alone.
    Transitions,
    /// Caption drills alone.
    Captions,
    /// Both.
    Both,
}

/// How many drills were added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrillCounts {
    /// Transition drills (a later action among the distractors).
    pub transitions: usize,
    /// Caption drills (every distractor but the existing order ones a reordering).
    pub captions: usize,
}

/// Adds the drills of every caption question of `split` to its items and to their GIF's list.
/// The Transition candidates are drawn from the actions `split`'s Transition questions offer.
pub fn add_order_drills(split: &mut Split, drills: Drills, rng: &mut ChaCha8Rng) -> DrillCounts {
    let (want_transitions, want_captions) = (drills != Drills::Captions, drills != Drills::Transitions);
    let mut actions: Vec<String> = Vec::new();
    for item in split.items.iter().filter(|i| i.qtype == QuestionType::Transition) {
        for candidate in &item.candidates {
            if !actions.contains(candidate) {
                actions.push(candidate.clone());
            }
        }
    }
    let mut counts = DrillCounts::default();
    for gif in &mut split.gifs {
        let captions: Vec<usize> =
            gif.items.iter().copied().filter(|&i| split.items[i].qtype == QuestionType::Caption).collect();
        for i in captions {
            let item = &split.items[i];
            let mut made = if want_transitions { transition_drills(item, &actions, rng) } else { Vec::new() };
            counts.transitions += made.len();
            if let Some(drill) = if want_captions { caption_drill(item, rng) } else { None } {
                made.push(drill);
                counts.captions += 1;
            }
            for drill in made {
                gif.items.push(split.items.len());
                split.items.push(drill);
            }
        }
    }
    counts
}

/// The true caption of a caption question.
fn truth(item: &QaItem) -> Option<&str> {
    match item.answer {
        Answer::Choice(a) => item.candidates.get(a).map(String::as_str),
        _ => None,
    }
}

/// Transition questions about the caption's object whose distractors include the actions done on
/// the asked side of the anchor but not next to it; none when no such action exists.
fn transition_drills(item: &QaItem, actions: &[String], rng: &mut ChaCha8Rng) -> Vec<QaItem> {
    let Some(caption) = truth(item).and_then(CaptionText::parse) else { return Vec::new() };
    let steps: Vec<&str> = caption.segments.iter().map(|s| s.action.as_str()).collect();
    let mut drills = Vec::new();
    for (i, &anchor) in steps.iter().enumerate() {
        if !caption.named_once(anchor) {
            continue;
        }
        let sides = [("after", Some(i + 1), &steps[i + 1..]), ("before", i.checked_sub(1), &steps[..i])];
        for (word, next, side) in sides {
            let Some(&answer) = next.and_then(|n| steps.get(n)) else { continue };
            let mut distractors: Vec<String> = Vec::new();
            for &a in side.iter().filter(|&&a| a != answer) {
                if !distractors.iter().any(|d| d == a) {
                    distractors.push(a.to_string());
                }
            }
            if distractors.is_empty() {
                continue;
            }
            let mut others: Vec<&String> =
                actions.iter().filter(|a| **a != anchor && !side.contains(&a.as_str())).collect();
            others.shuffle(rng);
            distractors.extend(others.into_iter().cloned());
            distractors.truncate(CHOICES - 1);
            let question = format!("What does the {} do {word} {} ?", caption.object, gerund(anchor));
            drills.extend(multiple_choice(item, QuestionType::Transition, question, answer, distractors, rng));
        }
    }
    drills
}

/// The caption question with each distractor that is not already a reordering replaced by an unused
/// reordering of the true caption; `None` when the caption has no reordering to add.
fn caption_drill(item: &QaItem, rng: &mut ChaCha8Rng) -> Option<QaItem> {
    let truth = truth(item)?;
    let (head, segments) = caption_parts(truth)?;
    let text = |order: &[usize]| {
        let steps: Vec<&str> = order.iter().map(|&k| segments[k].as_str()).collect();
        format!("{head} {}", steps.join(" then "))
    };
    let mut reorderings: Vec<String> = permutations(segments.len())
        .iter()
        .map(|p| text(p))
        .filter(|t| t != truth && !item.candidates.contains(t))
        .collect();
    reorderings.sort();
    reorderings.dedup();
    reorderings.shuffle(rng);
    let sorted = |mut segments: Vec<String>| {
        segments.sort_unstable();
        segments
    };
    let ours = sorted(segments.clone());
    // Same object, same segments, another order.
    let is_reordering =
        |c: &String| c != truth && caption_parts(c).is_some_and(|(h, s)| h == head && sorted(s) == ours);
    let mut distractors: Vec<String> = item.candidates.iter().filter(|c| *c != truth).cloned().collect();
    let mut replaced = 0;
    for d in distractors.iter_mut().filter(|d| !is_reordering(d)) {
        let Some(r) = reorderings.pop() else { break };
        *d = r;
        replaced += 1;
    }
    if replaced == 0 {
        return None;
    }
    multiple_choice(item, QuestionType::Caption, item.question.clone(), truth, distractors, rng)
}

/// Every order of `n` items (n ≤ 3 in the benchmark; larger n grows as n!).
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut all = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            all.push(q);
        }
    }
    all.sort();
    all
}

/// A multiple-choice drill of `item`'s GIF with the answer at a random place; `None` unless there
/// are exactly `CHOICES - 1` distractors.
fn multiple_choice(
    item: &QaItem,
    qtype: QuestionType,
    question: String,
    answer: &str,
    distractors: Vec<String>,
    rng: &mut ChaCha8Rng,
) -> Option<QaItem> {
    if distractors.len() != CHOICES - 1 {
        return None;
    }
    let at = rng.random_range(0..CHOICES);
    let mut candidates = distractors;
    candidates.insert(at, answer.to_string());
    Some(QaItem {
        qtype,
        gif_name: item.gif_name.clone(),
        question,
        candidates,
        answer: Answer::Choice(at),
        vid_id: format!("{}-drill", item.vid_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn caption_item(candidates: [&str; 5], answer: usize) -> QaItem {
        QaItem {
            qtype: QuestionType::Caption,
            gif_name: "g".into(),
            question: shared_model::text::questions::CAPTION_PROMPT.into(),
            candidates: candidates.map(String::from).to_vec(),
            answer: Answer::Choice(answer),
            vid_id: "7".into(),
        }
    }

    fn answer_of(item: &QaItem) -> &str {
        truth(item).unwrap()
    }

    const ACTIONS: [&str; 10] =
        ["move left", "move right", "move up", "move down", "grow", "shrink", "spin", "blink", "jump", "stay still"];

    #[test]
    fn transition_drills_put_later_actions_among_the_distractors() {
        let item = caption_item(
            [
                "a blue star grows",
                "a red star jumps 3 times then moves left then spins once",
                "a red circle grows",
                "a red star grows",
                "a red star spins once",
            ],
            1,
        );
        let actions: Vec<String> = ACTIONS.map(String::from).to_vec();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let drills = transition_drills(&item, &actions, &mut rng);
        let asked: Vec<(&str, &str)> = drills.iter().map(|d| (d.question.as_str(), answer_of(d))).collect();
        // Only the ends have an action beyond the next one on their side.
        assert_eq!(
            asked,
            vec![
                ("What does the red star do after jumping ?", "move left"),
                ("What does the red star do before spinning ?", "move left"),
            ]
        );
        assert!(drills[0].candidates.contains(&"spin".to_string()));
        assert!(drills[1].candidates.contains(&"jump".to_string()));
        for d in &drills {
            assert_eq!(d.qtype, QuestionType::Transition);
            assert_eq!(d.candidates.len(), CHOICES);
            let mut unique = d.candidates.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), CHOICES, "{:?}", d.candidates);
        }
        assert!(!drills[0].candidates.contains(&"jump".to_string()), "the anchor is no candidate");
        // Two segments: the only action on either side is the next one.
        let two = caption_item(["a red star jumps once then grows", "b", "c", "d", "e"], 0);
        assert!(transition_drills(&two, &actions, &mut rng).is_empty());
    }

    #[test]
    fn caption_drills_replace_distractors_by_reorderings() {
        let truth = "a red star jumps 3 times then moves left then spins once";
        let item = caption_item(
            [
                "a blue star jumps 3 times then moves left then spins once",
                truth,
                "a red star moves left then jumps 3 times then spins once",
                "a red star jumps 2 times then moves left then spins once",
                "a red circle jumps 3 times then moves left then spins once",
            ],
            1,
        );
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let drill = caption_drill(&item, &mut rng).unwrap();
        assert_eq!(answer_of(&drill), truth);
        assert!(drill.candidates.contains(&"a red star moves left then jumps 3 times then spins once".to_string()));
        let mut sorted = drill.candidates.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), CHOICES);
        for c in drill.candidates.iter().filter(|c| *c != truth) {
            let mut segments: Vec<&str> = c.strip_prefix("a red star ").unwrap().split(" then ").collect();
            segments.sort_unstable();
            assert_eq!(segments, vec!["jumps 3 times", "moves left", "spins once"], "{c}");
        }
        // One segment: nothing to reorder.
        let one = caption_item(["a red star grows", "a blue star grows", "x", "y", "z"], 0);
        assert!(caption_drill(&one, &mut rng).is_none());
    }

    #[test]
    fn permutations_are_all_orders() {
        assert_eq!(permutations(3).len(), 6);
        assert_eq!(permutations(2), vec![vec![0, 1], vec![1, 0]]);
    }
}
