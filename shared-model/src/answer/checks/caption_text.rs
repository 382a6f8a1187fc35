//! The benchmark's caption grammar, read back: `a {colour} {shape} {segment} then {segment} ...`,
//! each segment an action in the third person (`moves left`, `grows`, `stays still`) with, for
//! repeatable actions, a count (`jumps once`, `spins 3 times`). The answer checks (`count_check`,
//! `order_check`) turn what a caption states into the questions that check it.

/// A caption in the benchmark's grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptionText {
    /// "red star": colour and shape, as the questions name the object.
    pub object: String,
    /// The segments in order.
    pub segments: Vec<Segment>,
}

/// One segment of a caption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The action as questions and answers name it: "jump", "move left", "stay still".
    pub action: String,
    /// The count the segment states, if any.
    pub count: Option<usize>,
}

impl CaptionText {
    /// Reads `caption`; `None` outside the grammar.
    pub fn parse(caption: &str) -> Option<Self> {
        let words: Vec<&str> = caption.split_whitespace().collect();
        let [article, colour, shape, rest @ ..] = words.as_slice() else { return None };
        if !matches!(*article, "a" | "an") || rest.is_empty() {
            return None;
        }
        let segments = rest.split(|w| *w == "then").map(Segment::parse).collect::<Option<Vec<_>>>()?;
        Some(Self { object: format!("{colour} {shape}"), segments })
    }

    /// Whether `action` is named in exactly one segment (the benchmark asks Count and Transition
    /// questions only about such actions).
    pub fn named_once(&self, action: &str) -> bool {
        self.segments.iter().filter(|s| s.action == action).count() == 1
    }
}

/// A caption in the grammar split into its object phrase ("a red star") and its segments as
/// written ("jumps 3 times", "moves left"); `None` outside the grammar. Joining them back with
/// " then " after the phrase gives the caption, in any order of the segments.
pub fn caption_parts(caption: &str) -> Option<(String, Vec<String>)> {
    CaptionText::parse(caption)?;
    let words: Vec<&str> = caption.split_whitespace().collect();
    // Invariant: `parse` accepted the caption, so it has an article, a colour, a shape and more.
    let (head, rest) = words.split_at(3);
    let segments = rest.split(|w| *w == "then").map(|s| s.join(" ")).collect();
    Some((head.join(" "), segments))
}

/// The object most of `captions` name (the first of equals); `None` when none is in the grammar.
/// The answer checks ask about it alone, so that they judge counts and order, not the object: a
/// caption naming an object the GIF lacks would otherwise be checked against answers about
/// nothing. Each distractor of a benchmark caption question changes one attribute, and only two
/// kinds (colour, shape) change the object, so this is always the true caption's object there.
pub fn common_object(captions: &[String]) -> Option<String> {
    let objects: Vec<String> = captions.iter().filter_map(|c| CaptionText::parse(c)).map(|c| c.object).collect();
    let named = |object: &String| objects.iter().filter(|o| *o == object).count();
    let most = objects.iter().map(named).max()?;
    objects.iter().find(|o| named(o) == most).cloned()
}

/// The index of `item` in `list`, pushed first if absent, and whether it was pushed: the checks
/// ask each distinct question once.
pub(crate) fn index_or_push(list: &mut Vec<String>, item: String) -> (usize, bool) {
    match list.iter().position(|x| *x == item) {
        Some(i) => (i, false),
        None => {
            list.push(item);
            (list.len() - 1, true)
        }
    }
}

impl Segment {
    fn parse(words: &[&str]) -> Option<Self> {
        let (verb, count) = match words {
            [verb @ .., "once"] => (verb, Some(1)),
            [verb @ .., n, "times"] => (verb, Some(n.parse().ok()?)),
            verb => (verb, None),
        };
        let [third_person, rest @ ..] = verb else { return None };
        let base = third_person.strip_suffix('s')?;
        let action = std::iter::once(base).chain(rest.iter().copied()).collect::<Vec<_>>().join(" ");
        Some(Self { action, count })
    }
}

/// The gerund of an action as Transition questions name it: "jump" → "jumping", "spin" →
/// "spinning", "move left" → "moving left", "stay still" → "staying still".
pub fn gerund(action: &str) -> String {
    let (verb, rest) = action.split_once(' ').map_or((action, ""), |(v, r)| (v, r));
    let chars: Vec<char> = verb.chars().collect();
    let vowel = |c: char| "aeiou".contains(c);
    let stem = match chars.as_slice() {
        [.., a, b] if *b == 'e' && *a != 'e' => verb[..verb.len() - 1].to_string(),
        // One short syllable ending consonant-vowel-consonant doubles its last letter.
        [.., a, b, c] if !vowel(*a) && vowel(*b) && !vowel(*c) && !"wxy".contains(*c) => {
            let syllables = chars.iter().filter(|&&c| vowel(c)).count();
            if syllables == 1 { format!("{verb}{c}") } else { verb.to_string() }
        }
        _ => verb.to_string(),
    };
    if rest.is_empty() { format!("{stem}ing") } else { format!("{stem}ing {rest}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_benchmark_captions() {
        let caption = CaptionText::parse("a red star jumps 3 times then moves left then spins once").unwrap();
        assert_eq!(caption.object, "red star");
        let segments: Vec<(&str, Option<usize>)> =
            caption.segments.iter().map(|s| (s.action.as_str(), s.count)).collect();
        assert_eq!(segments, vec![("jump", Some(3)), ("move left", None), ("spin", Some(1))]);
        assert!(caption.named_once("spin"));
        assert_eq!(CaptionText::parse("a blue circle stays still").unwrap().segments[0].action, "stay still");
        assert_eq!(CaptionText::parse("the man is running"), None);
        assert_eq!(CaptionText::parse("a man jumps"), None);
        assert_eq!(CaptionText::parse("a red star jumps many times"), None);
    }

    #[test]
    fn caption_parts_are_the_phrase_and_the_segments_as_written() {
        let (head, segments) = caption_parts("a red star jumps 3 times then  moves left").unwrap();
        assert_eq!(head, "a red star");
        assert_eq!(segments, vec!["jumps 3 times", "moves left"]);
        assert_eq!(caption_parts("the man is running"), None);
    }

    #[test]
    fn the_common_object_is_the_one_most_captions_name() {
        let captions: Vec<String> =
            ["a blue star grows", "a red star jumps once", "a red circle grows", "a red star grows", "a man runs"]
                .map(String::from)
                .to_vec();
        assert_eq!(common_object(&captions).as_deref(), Some("red star"));
        // Equals: the first.
        assert_eq!(common_object(&captions[..3]).as_deref(), Some("blue star"));
        assert_eq!(common_object(&["the man is running".to_string()]), None);
    }

    #[test]
    fn gerunds_of_the_benchmark_actions() {
        let actions = ["move left", "grow", "shrink", "spin", "blink", "jump", "stay still", "move up"];
        let gerunds = actions.map(gerund);
        assert_eq!(
            gerunds,
            ["moving left", "growing", "shrinking", "spinning", "blinking", "jumping", "staying still", "moving up"]
        );
    }
}
