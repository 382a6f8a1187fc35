//! Where the repetitions a Count question asks about happen, from the synthetic benchmark's
//! annotations: per-frame targets for the event counter (`train --count-supervision`).
//!
//! A repetition seen in n sampled frames gives each of them 1/n, so a clip's targets sum to the
//! repetitions its frames show (density-map counting; RepNet's per-frame 1/period, here read off
//! the generator's segments instead of learned). Every frame's target needs only local evidence
//! ("this frame is inside a jump of the red star, which lasts about n frames"), where the count
//! itself needs the whole clip.

use shared_model::preprocess::PreparedClip;
use shared_model::sampling::Timeline;

use crate::data::attention_targets::ObjectAnnotations;

/// The action a Count question counts: its last word ("How many times does the red star jump ?"
/// → "jump").
pub fn counted_action(question: &str) -> Option<&str> {
    question.trim_end().trim_end_matches('?').split_whitespace().last()
}

/// Per-frame event targets of one Count question.
#[derive(Debug, Clone, PartialEq)]
pub struct EventShares {
    /// Each sampled frame's share of a repetition of the asked action, in [0, 1].
    pub shares: Vec<f32>,
    /// Repetitions of the asked action in the whole GIF (the question's answer), whether or not
    /// every one of them got a sampled frame.
    pub repetitions: u32,
}

impl ObjectAnnotations {
    /// The event targets of `question` ("How many times does the red star jump ?") on `clip`;
    /// `None` when the GIF is not annotated, the question does not name exactly one object, or
    /// that object never does the action.
    pub fn event_shares(&self, gif: &str, question: &str, clip: &PreparedClip) -> Option<EventShares> {
        let action = counted_action(question)?;
        let [object] = self.named(gif, question)[..] else { return None };
        let delays = self.delays.get(gif).filter(|d| !d.is_empty())?;
        let timeline = Timeline::from_delays(delays);
        // The rendered frame on screen at each sampled time: the sampler's own mapping.
        let rendered: Vec<usize> = clip.times.iter().map(|&t| timeline.frame_at(f64::from(t))).collect();
        // (first, end) rendered frames of every repetition of the action.
        let mut repetitions = Vec::new();
        for segment in self.objects[gif][object].segments.iter().filter(|s| s.action == action) {
            let reps = segment.repetitions.max(1) as usize;
            let len = segment.last_frame + 1 - segment.first_frame;
            // The generator splits a segment into repetitions as evenly as possible.
            let start = |r: usize| segment.first_frame + r * len / reps;
            repetitions.extend((0..reps).map(|r| (start(r), start(r + 1))));
        }
        if repetitions.is_empty() {
            return None;
        }
        let mut shares = vec![0f32; rendered.len()];
        for &(first, end) in &repetitions {
            let inside: Vec<usize> = (0..rendered.len()).filter(|&i| (first..end).contains(&rendered[i])).collect();
            for &i in &inside {
                shares[i] = 1.0 / inside.len() as f32;
            }
        }
        Some(EventShares { shares, repetitions: repetitions.len() as u32 })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A red star that stays still for frames 0-3 and then jumps 3 times over frames 4-15
    /// (4 frames each), 100 ms per frame; a blue cross that blinks twice.
    const ANNOTATIONS: &str = r#"{"gif_name":"g","delays_ms":[100,100,100,100,100,100,100,100,100,100,100,100,100,100,100,100],"objects":[{"colour":"red","shape":"star","rgb":[200,10,10],"segments":[{"action":"stay still","repetitions":1,"first_frame":0,"last_frame":3},{"action":"jump","repetitions":3,"first_frame":4,"last_frame":15}]},{"colour":"blue","shape":"cross","rgb":[10,10,200],"segments":[{"action":"blink","repetitions":2,"first_frame":0,"last_frame":15}]}]}"#;

    /// A clip of `frames` uniform samples (no pixels: the targets read only times).
    pub(crate) fn uniform(frames: usize) -> PreparedClip {
        PreparedClip {
            pixels: Vec::new(),
            times: (0..frames).map(|i| (i as f32 + 0.5) / frames as f32).collect(),
            sources: vec![None; frames],
        }
    }

    #[test]
    fn each_repetition_spreads_one_over_the_frames_that_show_it() {
        let annotations = ObjectAnnotations::parse(ANNOTATIONS).unwrap();
        let shares = annotations.event_shares("g", "How many times does the red star jump ?", &uniform(8)).unwrap();
        // 8 samples at rendered frames 1, 3, 5, ..., 15: two per jump, none in the still part.
        assert_eq!(shares.shares, vec![0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
        assert_eq!(shares.repetitions, 3);
        // 16 samples, one per rendered frame: four per jump.
        let shares = annotations.event_shares("g", "How many times does the red star jump ?", &uniform(16)).unwrap();
        assert_eq!(shares.shares.iter().sum::<f32>(), 3.0);
        assert_eq!(&shares.shares[..4], &[0.0; 4]);
        let shares = annotations.event_shares("g", "How many times does the blue cross blink ?", &uniform(16)).unwrap();
        assert_eq!(shares.shares, vec![0.125; 16]);
        assert_eq!(shares.repetitions, 2);
    }

    #[test]
    fn a_repetition_no_sample_shows_still_counts_in_the_answer() {
        let annotations = ObjectAnnotations::parse(ANNOTATIONS).unwrap();
        // 2 samples at rendered frames 4 and 12: the second jump (frames 8-11) is missed.
        let shares = annotations.event_shares("g", "How many times does the red star jump ?", &uniform(2)).unwrap();
        assert_eq!(shares.shares, vec![1.0, 1.0]);
        assert_eq!(shares.repetitions, 3);
    }

    #[test]
    fn questions_without_one_acting_object_have_no_targets() {
        let annotations = ObjectAnnotations::parse(ANNOTATIONS).unwrap();
        let clip = uniform(8);
        assert!(annotations.event_shares("g", "How many times does the red star spin ?", &clip).is_none());
        assert!(annotations.event_shares("g", "How many times does the blue star jump ?", &clip).is_none());
        assert!(annotations.event_shares("other", "How many times does the red star jump ?", &clip).is_none());
        assert!(annotations.event_shares("g", "How many objects are there ?", &clip).is_none());
    }
}
