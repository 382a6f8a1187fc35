//! Questions and captions in people's words (`trainer generate --wording`).
//!
//! The contract's templates are the canonical wording; people ask the same questions with other
//! verbs, tenses, word orders, synonyms, spellings, numbers, casing and punctuation. Each kind has
//! a training pool (the template and its rewordings, for training data) and a held-out pool that
//! the training pool never uses, not even as a synonym, so that Val/Test written in it measure
//! phrasings a model never saw.
//!
//! Rewording runs after the questions are made, on its own RNG stream, so a seed gives the same
//! GIFs, questions, answers and candidates whatever the wording: only the text changes. Answers
//! and multiple-choice candidates stay canonical, except the captions of the caption type (which
//! are its candidates): all five are written in one style with one choice of verbs, so the wording
//! never tells the true caption apart.
//!
//! This module belongs to the generator, which may know the world's words; nothing that answers
//! questions may use these tables.

use clap::ValueEnum;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::questions::{Caption, Questions};
use super::world::{Action, Colour, Shape};

/// How questions and captions are worded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wording {
    /// The contract's templates, exactly (byte-identical to what generate always wrote).
    #[default]
    Templates,
    /// Phrasings of the training pool, the templates among them (about a quarter of the
    /// questions): for training data.
    Seen,
    /// Phrasings of the held-out pool only, none of which the training pool uses: for measuring
    /// Val/Test on unseen phrasings.
    Unseen,
}

/// What a question asks, enough to write it again in other words.
// Each variant's fields fill the slots its doc line's template names.
#[allow(missing_docs)]
#[derive(Clone, Debug, PartialEq)]
pub enum Topic {
    /// "What does the {colour} {shape} do {n} times ?"
    Action { colour: Colour, shape: Shape, n: u32 },
    /// "What does the {colour} {shape} do after/before {anchor}ing ?"
    Transition { colour: Colour, shape: Shape, anchor: Action, after: bool },
    /// "How many times does the {colour} {shape} {action} ?"
    Count { colour: Colour, shape: Shape, action: Action },
    /// FrameQA object: "What shape is the {colour} object ?"
    Shape { colour: Colour },
    /// FrameQA number: "How many objects are there ?"
    Number,
    /// FrameQA colour: "What color is the {shape} ?"
    Colour { shape: Shape },
    /// FrameQA location: "Where is the {colour} {shape} at the end ?"
    Location { colour: Colour, shape: Shape },
    /// The caption type: the content of each of the five choices, in choice order.
    Captions(Vec<Caption>),
}

/// The phrasings of one question kind. Patterns name their slots: `{obj}` (colour and shape),
/// `{colour}`, `{shape}`, `{n}` (digits or a word), `{when}`/`{When}` (after/before), and the
/// action in four forms: `{act}` (base), `{acts}` (third person), `{acting}` (gerund), `{acted}`
/// (past). A pattern has no final punctuation: that is drawn apart, as is the casing.
pub struct Phrasings {
    /// The contract's template, written exactly as the canonical files hold it.
    pub template: &'static str,
    /// Rewordings used for training data (with the template).
    pub train: &'static [&'static str],
    /// Rewordings only unseen data uses.
    pub held_out: &'static [&'static str],
}

/// Repetition-action questions.
pub const ACTION: Phrasings = Phrasings {
    template: "What does the {obj} do {n} times ?",
    train: &[
        "What does the {obj} do {n} times",
        "What is the {obj} doing {n} times",
        "What did the {obj} do {n} times",
        "Which action does the {obj} repeat {n} times",
        "What action does the {obj} perform {n} times",
        "The {obj} does what {n} times",
        "What does the {obj} do exactly {n} times",
        "What does the {obj} shape do {n} times",
        "{n} times, what does the {obj} do",
        "What does the {obj} do {n} times in a row",
    ],
    held_out: &[
        "What did the {obj} keep doing, {n} times in total",
        "Which move does the {obj} make {n} times",
        "Tell me what the {obj} does {n} times",
        "What is it that the {obj} does {n} times over",
    ],
};

/// Transition questions.
pub const TRANSITION: Phrasings = Phrasings {
    template: "What does the {obj} do {when} {acting} ?",
    train: &[
        "What does the {obj} do {when} {acting}",
        "What did the {obj} do {when} {acting}",
        "{When} {acting}, what does the {obj} do",
        "What does the {obj} do {when} it {acts}",
        "What did the {obj} do {when} it {acted}",
        "What is the {obj} doing {when} {acting}",
        "Which action does the {obj} do {when} {acting}",
        "What does the {obj} shape do {when} {acting}",
        "{When} the {obj} {acts}, what does it do",
        "What action comes {when} the {obj} {acts}",
    ],
    held_out: &[
        "What happens with the {obj} {when} {acting}",
        "Right {when} it {acted}, what did the {obj} do",
        "What was the {obj} up to just {when} it {acted}",
        "Tell me what the {obj} does {when} {acting}",
    ],
};

/// Count questions.
pub const COUNT: Phrasings = Phrasings {
    template: "How many times does the {obj} {act} ?",
    train: &[
        "How many times does the {obj} {act}",
        "How many times did the {obj} {act}",
        "How often does the {obj} {act}",
        "Count how many times the {obj} {acts}",
        "How many times can you see the {obj} {act}",
        "The {obj} {acts} how many times",
        "How many times does the {obj} shape {act}",
        "What is the number of times the {obj} {acts}",
        "How many times in total does the {obj} {act}",
        "How many times do you see the {obj} {act}",
    ],
    held_out: &[
        "Number of times the {obj} {acts}",
        "How frequently does the {obj} {act}",
        "Tell me how many times the {obj} {acts}",
        "In all, how many times did the {obj} {act}",
    ],
};

/// FrameQA type 0.
pub const SHAPE: Phrasings = Phrasings {
    template: "What shape is the {colour} object ?",
    train: &[
        "What shape is the {colour} object",
        "What shape is the {colour} thing",
        "What is the shape of the {colour} object",
        "Which shape is {colour}",
        "What kind of shape is the {colour} one",
        "The {colour} object is what shape",
        "What shape does the {colour} object have",
        "What is the {colour} thing",
        "Name the shape of the {colour} object",
        "Which shape is the {colour} one",
    ],
    held_out: &[
        "What form does the {colour} thing take",
        "Describe the shape of the {colour} item",
        "What sort of figure is the {colour} one",
        "What does the {colour} object look like",
    ],
};

/// FrameQA type 1.
pub const NUMBER: Phrasings = Phrasings {
    template: "How many objects are there ?",
    train: &[
        "How many objects are there",
        "How many shapes are there",
        "How many things are there",
        "How many objects can you see",
        "How many shapes are in the picture",
        "Count the objects",
        "What is the number of objects",
        "How many objects are in the gif",
        "How many shapes do you see",
        "How many objects appear",
    ],
    held_out: &[
        "How many things can you see",
        "Count the items in the animation",
        "How many figures are shown",
        "What number of shapes is visible",
    ],
};

/// FrameQA type 2.
pub const COLOUR: Phrasings = Phrasings {
    template: "What color is the {shape} ?",
    train: &[
        "What color is the {shape}",
        "What colour is the {shape}",
        "What is the color of the {shape}",
        "Which color is the {shape}",
        "The {shape} is what colour",
        "What colour does the {shape} have",
        "What color is the {shape} shape",
        "Name the colour of the {shape}",
        "What is the {shape}'s colour",
        "In what color is the {shape} drawn",
    ],
    held_out: &[
        "The {shape} is painted in which colour",
        "Which colour has the {shape}",
        "Tell me the colour of the {shape}",
        "What shade is the {shape}",
    ],
};

/// FrameQA type 3.
pub const LOCATION: Phrasings = Phrasings {
    template: "Where is the {obj} at the end ?",
    train: &[
        "Where is the {obj} at the end",
        "Where does the {obj} end up",
        "Where is the {obj} in the last frame",
        "Where is the {obj} when the gif ends",
        "At the end, where is the {obj}",
        "In which part of the picture is the {obj} at the end",
        "Where did the {obj} end up",
        "Where is the {obj} shape at the end",
        "Where can the {obj} be found at the end",
        "Where does the {obj} finish",
    ],
    held_out: &[
        "Where does the {obj} stop",
        "In the final frame, where is the {obj}",
        "Where is the {obj} located at the very end",
        "Where is the {obj} once the animation is over",
    ],
};

/// Every question kind's phrasings, with a name for reports and tests.
pub const KINDS: [(&str, &Phrasings); 7] = [
    ("action", &ACTION),
    ("transition", &TRANSITION),
    ("count", &COUNT),
    ("frameqa-shape", &SHAPE),
    ("frameqa-number", &NUMBER),
    ("frameqa-colour", &COLOUR),
    ("frameqa-location", &LOCATION),
];

/// One way to say an action, in the four forms the patterns use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verb {
    /// "jump"
    pub base: &'static str,
    /// "jumps"
    pub third: &'static str,
    /// "jumping"
    pub gerund: &'static str,
    /// "jumped"
    pub past: &'static str,
}

const fn v(base: &'static str, third: &'static str, gerund: &'static str, past: &'static str) -> Verb {
    Verb { base, third, gerund, past }
}

/// Ways to say each action, in `Action::ALL` order: (training, held out). The training list starts
/// with the canonical words.
pub const VERBS: [(&[Verb], &[Verb]); 10] = [
    (
        &[
            v("move left", "moves left", "moving left", "moved left"),
            v("go left", "goes left", "going left", "went left"),
        ],
        &[v("slide left", "slides left", "sliding left", "slid left")],
    ),
    (
        &[
            v("move right", "moves right", "moving right", "moved right"),
            v("go right", "goes right", "going right", "went right"),
        ],
        &[v("slide right", "slides right", "sliding right", "slid right")],
    ),
    (
        &[v("move up", "moves up", "moving up", "moved up"), v("go up", "goes up", "going up", "went up")],
        &[v("rise", "rises", "rising", "rose")],
    ),
    (
        &[
            v("move down", "moves down", "moving down", "moved down"),
            v("go down", "goes down", "going down", "went down"),
        ],
        &[v("sink", "sinks", "sinking", "sank")],
    ),
    (
        &[v("grow", "grows", "growing", "grew"), v("get bigger", "gets bigger", "getting bigger", "got bigger")],
        &[v("expand", "expands", "expanding", "expanded")],
    ),
    (
        &[
            v("shrink", "shrinks", "shrinking", "shrank"),
            v("get smaller", "gets smaller", "getting smaller", "got smaller"),
        ],
        &[v("contract", "contracts", "contracting", "contracted")],
    ),
    (
        &[v("spin", "spins", "spinning", "spun"), v("rotate", "rotates", "rotating", "rotated")],
        &[
            v("turn around", "turns around", "turning around", "turned around"),
            v("twirl", "twirls", "twirling", "twirled"),
        ],
    ),
    (
        &[v("blink", "blinks", "blinking", "blinked"), v("flash", "flashes", "flashing", "flashed")],
        &[v("flicker", "flickers", "flickering", "flickered")],
    ),
    (
        &[v("jump", "jumps", "jumping", "jumped"), v("hop", "hops", "hopping", "hopped")],
        &[v("bounce", "bounces", "bouncing", "bounced"), v("leap", "leaps", "leaping", "leapt")],
    ),
    (
        &[
            v("stay still", "stays still", "staying still", "stayed still"),
            v("stand still", "stands still", "standing still", "stood still"),
        ],
        &[
            v("not move", "does not move", "not moving", "did not move"),
            v("keep still", "keeps still", "keeping still", "kept still"),
        ],
    ),
];

/// The (training, held-out) ways to say `a`.
pub fn verbs(a: Action) -> (&'static [Verb], &'static [Verb]) {
    let i = Action::ALL.iter().position(|&b| b == a).unwrap_or(0);
    VERBS[i]
}

/// How a caption is written (the canonical one: `a red star jumps 3 times then moves left`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptionStyle {
    /// Before the object: "a ", "the ", "".
    pub lead: &'static str,
    /// Between the object and its first step.
    pub link: &'static str,
    /// Between steps.
    pub joiner: &'static str,
    /// Steps as gerunds ("jumping") rather than in the third person ("jumps").
    pub gerund: bool,
    /// Counts as words ("three times", "twice") rather than digits ("3 times").
    pub words: bool,
    /// Written as a sentence: capital first letter and a full stop.
    pub sentence: bool,
}

const fn style(
    lead: &'static str,
    link: &'static str,
    joiner: &'static str,
    gerund: bool,
    words: bool,
    sentence: bool,
) -> CaptionStyle {
    CaptionStyle { lead, link, joiner, gerund, words, sentence }
}

/// The canonical caption.
pub const CAPTION_TEMPLATE: CaptionStyle = style("a ", " ", " then ", false, false, false);

/// Caption styles for training data (with the canonical one).
pub const CAPTION_TRAIN: &[CaptionStyle] = &[
    style("the ", " ", ", then ", false, true, false),
    style("a ", " ", " and then ", false, false, true),
    style("the ", " ", ", after that it ", false, false, false),
    style("there is a ", " that ", ", then ", false, true, false),
];

/// Caption styles only unseen data uses.
pub const CAPTION_HELD_OUT: &[CaptionStyle] = &[
    style("a ", " ", " and then ", true, false, false),
    style("", " ", ", then it ", false, false, false),
    style("here a ", " ", "; next it ", false, true, true),
];

/// Share of the training pool's questions and captions written exactly as the templates.
const TEMPLATE_SHARE: f64 = 0.25;

/// Added to the GIF's key to make the wording's RNG stream: GIF streams are the keys themselves,
/// which stay far below it.
const STREAM_OFFSET: u64 = 1 << 63;

const NUMBER_WORDS: [&str; 7] = ["zero", "one", "two", "three", "four", "five", "six"];

fn number_word(n: u32) -> &'static str {
    NUMBER_WORDS.get(n as usize).copied().unwrap_or("many")
}

/// Rewrites the questions (and the caption choices) of GIF `key` in `wording`; the templates
/// leave them untouched.
pub fn apply(questions: &mut Questions, wording: Wording, seed: u64, key: usize) {
    if wording == Wording::Templates {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(STREAM_OFFSET.wrapping_add(key as u64));
    for c in questions.action.iter_mut().chain(questions.transition.iter_mut()) {
        reword(&mut rng, wording, &c.topic, &mut c.question);
    }
    for (question, _, topic) in &mut questions.count {
        reword(&mut rng, wording, topic, question);
    }
    for f in &mut questions.frameqa {
        reword(&mut rng, wording, &f.topic, &mut f.question);
    }
    if let Some(c) = questions.caption.as_mut()
        && let Topic::Captions(captions) = &c.topic
        && let Some(texts) = captions_in(&mut rng, wording, captions)
    {
        c.choices = texts;
    }
}

/// Draws a phrasing for `topic` and writes it over `question` (kept as it is when the template
/// is drawn).
fn reword(rng: &mut ChaCha8Rng, wording: Wording, topic: &Topic, question: &mut String) {
    let (phrasings, obj) = match topic {
        Topic::Action { colour, shape, .. }
        | Topic::Count { colour, shape, .. }
        | Topic::Transition { colour, shape, .. } => {
            let p = match topic {
                Topic::Action { .. } => &ACTION,
                Topic::Count { .. } => &COUNT,
                _ => &TRANSITION,
            };
            (p, Some((*colour, *shape)))
        }
        Topic::Location { colour, shape } => (&LOCATION, Some((*colour, *shape))),
        Topic::Shape { .. } => (&SHAPE, None),
        Topic::Number => (&NUMBER, None),
        Topic::Colour { .. } => (&COLOUR, None),
        Topic::Captions(_) => return,
    };
    let pattern = match wording {
        Wording::Templates => return,
        Wording::Seen if rng.random_bool(TEMPLATE_SHARE) => return,
        Wording::Seen => phrasings.train.choose(rng),
        Wording::Unseen => phrasings.held_out.choose(rng),
    };
    let Some(pattern) = pattern else { return };
    let mut slots: Vec<(&str, String)> = Vec::new();
    if let Some((colour, shape)) = obj {
        slots.push(("obj", format!("{} {}", colour.name(), shape.name())));
    }
    match topic {
        Topic::Action { n, .. } => {
            let n = if rng.random_bool(0.5) { n.to_string() } else { number_word(*n).to_string() };
            slots.push(("n", n));
        }
        Topic::Transition { anchor, after, .. } => {
            let when = if *after { "after" } else { "before" };
            slots.push(("when", when.into()));
            slots.push(("When", capitalised(when)));
            push_verb(&mut slots, pick_verb(rng, wording, *anchor));
        }
        Topic::Count { action, .. } => push_verb(&mut slots, pick_verb(rng, wording, *action)),
        Topic::Shape { colour } => slots.push(("colour", colour.name().into())),
        Topic::Colour { shape } => slots.push(("shape", shape.name().into())),
        _ => {}
    }
    let text = fill(pattern, &slots);
    let text = if rng.random_bool(0.5) { capitalised(&text) } else { text.to_lowercase() };
    let end = ["?", " ?", ""][rng.random_range(0..3)];
    *question = format!("{text}{end}");
}

fn push_verb(slots: &mut Vec<(&str, String)>, verb: Verb) {
    slots.push(("act", verb.base.into()));
    slots.push(("acts", verb.third.into()));
    slots.push(("acting", verb.gerund.into()));
    slots.push(("acted", verb.past.into()));
}

/// A way to say `a`: the training words for seen data; any, held-out ones included, for unseen
/// data (its phrasings are held out already; its verbs may be too).
fn pick_verb(rng: &mut ChaCha8Rng, wording: Wording, a: Action) -> Verb {
    let (train, held_out) = verbs(a);
    let n = match wording {
        Wording::Unseen => train.len() + held_out.len(),
        _ => train.len(),
    };
    let i = rng.random_range(0..n);
    train.get(i).or_else(|| held_out.get(i - train.len())).copied().unwrap_or(train[0])
}

/// Replaces every `{name}` of `pattern` by its value (unknown names are left as they are).
pub fn fill(pattern: &str, slots: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match slots.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(value),
                    None => out.push_str(&rest[open..open + close + 2]),
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The five captions in one drawn style and one drawn choice of verbs (`None`: the templates).
fn captions_in(rng: &mut ChaCha8Rng, wording: Wording, captions: &[Caption]) -> Option<[String; 5]> {
    let style = match wording {
        Wording::Templates => return None,
        Wording::Seen if rng.random_bool(TEMPLATE_SHARE) => return None,
        Wording::Seen => *CAPTION_TRAIN.choose(rng)?,
        Wording::Unseen => *CAPTION_HELD_OUT.choose(rng)?,
    };
    // One verb per action for all five, in `Action::ALL` order so the draw does not depend on
    // which actions the captions hold.
    let chosen: Vec<Verb> = Action::ALL.iter().map(|&a| pick_verb(rng, wording, a)).collect();
    let verb_of = |a: Action| chosen[Action::ALL.iter().position(|&b| b == a).unwrap_or(0)];
    let texts: Vec<String> = captions.iter().map(|c| caption_text(c, style, &verb_of)).collect();
    texts.try_into().ok()
}

/// `c` written in `style`, saying each action with `verb_of`.
pub fn caption_text(c: &Caption, style: CaptionStyle, verb_of: &dyn Fn(Action) -> Verb) -> String {
    let steps: Vec<String> = c
        .steps
        .iter()
        .map(|&(a, n)| {
            let verb = verb_of(a);
            let said = if style.gerund { verb.gerund } else { verb.third };
            match (a.repeatable(), n, style.words) {
                (false, _, _) => said.to_string(),
                (true, 1, _) => format!("{said} once"),
                (true, 2, true) => format!("{said} twice"),
                (true, n, true) => format!("{said} {} times", number_word(n)),
                (true, n, false) => format!("{said} {n} times"),
            }
        })
        .collect();
    let text =
        format!("{}{} {}{}{}", style.lead, c.colour.name(), c.shape.name(), style.link, steps.join(style.joiner));
    if style.sentence { format!("{}.", capitalised(&text)) } else { text }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::questions::{self, Choice};
    use super::super::world::sample_scene;
    use super::*;

    /// Every value a slot can take, in any wording.
    fn slot_values(name: &str) -> Vec<String> {
        let forms = |f: fn(&Verb) -> &'static str| -> Vec<String> {
            VERBS.iter().flat_map(|(t, h)| t.iter().chain(h.iter())).map(|v| f(v).to_string()).collect()
        };
        match name {
            "obj" => Colour::ALL
                .iter()
                .flat_map(|c| Shape::ALL.iter().map(move |s| format!("{} {}", c.name(), s.name())))
                .collect(),
            "colour" => Colour::ALL.iter().map(|c| c.name().to_string()).collect(),
            "shape" => Shape::ALL.iter().map(|s| s.name().to_string()).collect(),
            "n" => (1..=6).flat_map(|n| [n.to_string(), number_word(n).to_string()]).collect(),
            "when" => vec!["after".into(), "before".into()],
            "act" => forms(|v| v.base),
            "acts" => forms(|v| v.third),
            "acting" => forms(|v| v.gerund),
            "acted" => forms(|v| v.past),
            _ => panic!("unknown slot {name}"),
        }
    }

    /// Lower case, without the final question mark.
    fn normalised(s: &str) -> String {
        let s = s.to_lowercase();
        let s = s.strip_suffix('?').unwrap_or(&s);
        s.strip_suffix(' ').unwrap_or(s).to_string()
    }

    /// Whether `text` (normalised) is `pattern` (normalised) with some value in every slot.
    fn matches(pattern: &str, text: &str) -> bool {
        let Some(open) = pattern.find('{') else { return pattern == text };
        let Some(text) = text.strip_prefix(&pattern[..open]) else { return false };
        let close = open + pattern[open..].find('}').unwrap();
        let rest = &pattern[close + 1..];
        slot_values(&pattern[open + 1..close])
            .iter()
            .any(|v| text.strip_prefix(v.as_str()).is_some_and(|t| matches(rest, t)))
    }

    /// Which pool a question's text is written in: (matches a training phrasing or the
    /// template, matches a held-out phrasing).
    pub(crate) fn pools_of(phrasings: &Phrasings, text: &str) -> (bool, bool) {
        let t = normalised(text);
        let train = std::iter::once(&phrasings.template).chain(phrasings.train).any(|p| matches(&normalised(p), &t));
        let held_out = phrasings.held_out.iter().any(|p| matches(&normalised(p), &t));
        (train, held_out)
    }

    fn phrasings_of(topic: &Topic) -> &'static Phrasings {
        match topic {
            Topic::Action { .. } => &ACTION,
            Topic::Transition { .. } => &TRANSITION,
            Topic::Count { .. } => &COUNT,
            Topic::Shape { .. } => &SHAPE,
            Topic::Number => &NUMBER,
            Topic::Colour { .. } => &COLOUR,
            Topic::Location { .. } => &LOCATION,
            Topic::Captions(_) => panic!("captions have no phrasings"),
        }
    }

    /// Every question of a scene with its topic.
    fn all_questions(q: &Questions) -> Vec<(String, Topic)> {
        let mut out: Vec<(String, Topic)> = Vec::new();
        for c in q.action.iter().chain(&q.transition) {
            out.push((c.question.clone(), c.topic.clone()));
        }
        for (question, _, topic) in &q.count {
            out.push((question.clone(), topic.clone()));
        }
        for f in &q.frameqa {
            out.push((f.question.clone(), f.topic.clone()));
        }
        out
    }

    /// (canonical, seen, unseen) questions of `n` scenes.
    fn worded(n: u64) -> Vec<[Questions; 3]> {
        (0..n)
            .map(|i| {
                let mut rng = ChaCha8Rng::seed_from_u64(5000 + i);
                let scene = sample_scene(&mut rng);
                let q = questions::make(&mut rng, &scene);
                let mut seen = q.clone();
                apply(&mut seen, Wording::Seen, 77, i as usize);
                let mut unseen = q.clone();
                apply(&mut unseen, Wording::Unseen, 77, i as usize);
                [q, seen, unseen]
            })
            .collect()
    }

    /// Every rendering of `c` in one of `styles` with any choice of verbs from `verbs`.
    fn renderings(c: &Caption, styles: &[CaptionStyle], verbs: &dyn Fn(Action) -> Vec<Verb>) -> Vec<String> {
        let mut actions: Vec<Action> = Vec::new();
        for &(a, _) in &c.steps {
            if !actions.contains(&a) {
                actions.push(a);
            }
        }
        let mut out = Vec::new();
        let mut choice = vec![0usize; actions.len()];
        loop {
            let pick = |a: Action| verbs(a)[choice[actions.iter().position(|&b| b == a).unwrap()]];
            for &s in styles {
                out.push(caption_text(c, s, &pick));
            }
            // Next choice of verbs (odometer order).
            let mut i = 0;
            loop {
                if i == actions.len() {
                    return out;
                }
                choice[i] += 1;
                if choice[i] < verbs(actions[i]).len() {
                    break;
                }
                choice[i] = 0;
                i += 1;
            }
        }
    }

    fn train_verbs(a: Action) -> Vec<Verb> {
        verbs(a).0.to_vec()
    }

    fn any_verbs(a: Action) -> Vec<Verb> {
        let (t, h) = verbs(a);
        t.iter().chain(h).copied().collect()
    }

    fn train_styles() -> Vec<CaptionStyle> {
        std::iter::once(CAPTION_TEMPLATE).chain(CAPTION_TRAIN.iter().copied()).collect()
    }

    /// Whether `text` holds `phrase` as whole words.
    fn has_phrase(text: &str, phrase: &str) -> bool {
        let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        let p: Vec<&str> = phrase.split(' ').collect();
        words.windows(p.len()).any(|w| w == p.as_slice())
    }

    #[test]
    fn every_kind_has_ten_phrasings_and_disjoint_pools() {
        let allowed = ["obj", "colour", "shape", "n", "when", "When", "act", "acts", "acting", "acted"];
        for (kind, p) in KINDS {
            assert!(p.held_out.len() >= 3, "{kind}");
            let train: Vec<String> =
                std::iter::once(p.template).chain(p.train.iter().copied()).map(normalised).collect();
            for h in p.held_out {
                assert!(!train.contains(&normalised(h)), "{kind}: {h}");
            }
            // The template's sentence may come back among the rewordings (with other
            // punctuation, casing, numbers and verbs); nothing else is listed twice.
            let mut all: Vec<String> = p.train.iter().chain(p.held_out).map(|h| normalised(h)).collect();
            let n = all.len();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), n, "{kind}: a phrasing is listed twice");
            let template = normalised(p.template);
            if !all.contains(&template) {
                all.push(template);
            }
            assert!(all.len() >= 10, "{kind}");
            for pattern in std::iter::once(&p.template).chain(p.train).chain(p.held_out) {
                let mut rest = *pattern;
                while let Some(open) = rest.find('{') {
                    let close = rest.find('}').unwrap();
                    assert!(allowed.contains(&&rest[open + 1..close]), "{pattern}");
                    rest = &rest[close + 1..];
                }
                // Each names what its question is about.
                let needs: &[&str] = match kind {
                    "action" => &["{obj}", "{n}"],
                    "transition" => &["{obj}", "{when", "{act"],
                    "count" => &["{obj}", "{act"],
                    "frameqa-shape" => &["{colour}"],
                    "frameqa-colour" => &["{shape}"],
                    "frameqa-location" => &["{obj}"],
                    _ => &[],
                };
                for need in needs {
                    assert!(pattern.to_lowercase().contains(need), "{pattern} lacks {need}");
                }
            }
        }
        // Verbs: no word is used for two actions, and the pools are disjoint.
        let mut seen: Vec<&str> = Vec::new();
        for (train, held_out) in VERBS {
            assert!(!held_out.is_empty());
            for verb in train.iter().chain(held_out) {
                assert!(!seen.contains(&verb.base), "{verb:?}");
                seen.push(verb.base);
            }
        }
        for (a, (train, _)) in Action::ALL.iter().zip(VERBS) {
            assert_eq!(train[0], v(a.name(), a.third_person(), a.gerund(), train[0].past));
        }
        assert!(train_styles().len() >= 4 && CAPTION_HELD_OUT.len() >= 2);
        for s in CAPTION_HELD_OUT {
            assert!(!train_styles().contains(s));
        }
    }

    #[test]
    fn fill_replaces_named_slots() {
        let slots = [("obj", "red star".to_string()), ("n", "three".to_string())];
        assert_eq!(fill("What does the {obj} do {n} times ?", &slots), "What does the red star do three times ?");
        assert_eq!(fill("{n}, {x} {", &slots), "three, {x} {");
        let c =
            Caption { colour: Colour::Red, shape: Shape::Star, steps: vec![(Action::Jump, 3), (Action::MoveLeft, 1)] };
        let canonical = |a: Action| verbs(a).0[0];
        assert_eq!(caption_text(&c, CAPTION_TEMPLATE, &canonical), c.text());
        assert_eq!(caption_text(&c, CAPTION_TRAIN[0], &canonical), "the red star jumps three times, then moves left");
        assert_eq!(
            caption_text(&c, CAPTION_HELD_OUT[0], &canonical),
            "a red star jumping 3 times and then moving left"
        );
    }

    #[test]
    fn templates_wording_changes_nothing() {
        for [q, ..] in worded(20) {
            let mut again = q.clone();
            apply(&mut again, Wording::Templates, 77, 3);
            assert_eq!(format!("{again:?}"), format!("{q:?}"));
        }
    }

    #[test]
    fn seen_never_uses_held_out_phrasings_and_unseen_never_training_ones() {
        let held_out_verbs: Vec<&str> =
            VERBS.iter().flat_map(|(_, h)| h.iter()).flat_map(|v| [v.base, v.third, v.gerund, v.past]).collect();
        for [_, seen, unseen] in worded(300) {
            for (text, topic) in all_questions(&seen) {
                let (train, held_out) = pools_of(phrasings_of(&topic), &text);
                assert!(train && !held_out, "seen: {text}");
                for v in &held_out_verbs {
                    assert!(!has_phrase(&text.to_lowercase(), v), "seen: {text} says {v}");
                }
            }
            for (text, topic) in all_questions(&unseen) {
                let (train, held_out) = pools_of(phrasings_of(&topic), &text);
                assert!(held_out && !train, "unseen: {text}");
            }
            let (Some(s), Some(u)) = (&seen.caption, &unseen.caption) else { panic!("no caption") };
            let Topic::Captions(captions) = &s.topic else { panic!("caption without its captions") };
            for (i, c) in captions.iter().enumerate() {
                assert!(renderings(c, &train_styles(), &train_verbs).contains(&s.choices[i]), "{}", s.choices[i]);
                let trained = renderings(c, &train_styles(), &any_verbs);
                assert!(!trained.contains(&u.choices[i]), "unseen caption in a training style: {}", u.choices[i]);
                assert!(renderings(c, CAPTION_HELD_OUT, &any_verbs).contains(&u.choices[i]));
            }
        }
    }

    #[test]
    fn reworded_questions_stay_answerable() {
        let mut changed = 0;
        let (mut seen_as_template, mut seen_total) = (0, 0);
        for [canonical, seen, unseen] in worded(300) {
            for (before, after) in all_questions(&canonical).into_iter().zip(all_questions(&seen)) {
                seen_as_template += usize::from(before.0 == after.0);
                seen_total += 1;
            }
            for q in [&seen, &unseen] {
                let pairs = all_questions(&canonical).into_iter().zip(all_questions(q));
                for ((before, topic), (text, same_topic)) in pairs {
                    assert_eq!(topic, same_topic);
                    changed += usize::from(before != text);
                    let t = text.to_lowercase();
                    let names = |c: &Colour, s: &Shape| t.contains(&format!("{} {}", c.name(), s.name()));
                    let ok = match &topic {
                        Topic::Action { colour, shape, n } => {
                            names(colour, shape) && (has_phrase(&t, &n.to_string()) || has_phrase(&t, number_word(*n)))
                        }
                        Topic::Transition { colour, shape, anchor, after } => {
                            let when = if *after { "after" } else { "before" };
                            names(colour, shape)
                                && has_phrase(&t, when)
                                && any_verbs(*anchor).iter().any(|v| {
                                    has_phrase(&t, v.gerund) || has_phrase(&t, v.third) || has_phrase(&t, v.past)
                                })
                        }
                        Topic::Count { colour, shape, action } => {
                            names(colour, shape)
                                && any_verbs(*action).iter().any(|v| has_phrase(&t, v.base) || has_phrase(&t, v.third))
                        }
                        Topic::Location { colour, shape } => names(colour, shape),
                        Topic::Shape { colour } => has_phrase(&t, colour.name()),
                        Topic::Colour { shape } => has_phrase(&t, shape.name()),
                        Topic::Number => true,
                        Topic::Captions(_) => false,
                    };
                    assert!(ok, "{text} for {topic:?}");
                }
                // Multiple-choice candidates and answers stay canonical; captions stay five
                // distinct ones, the true one where it was.
                let same = |a: &[Choice], b: &[Choice]| {
                    a.iter().zip(b).all(|(x, y)| x.choices == y.choices && x.answer == y.answer)
                };
                assert!(same(&canonical.action, &q.action) && same(&canonical.transition, &q.transition));
                assert_eq!(
                    canonical.frameqa.iter().map(|f| &f.answer).collect::<Vec<_>>(),
                    q.frameqa.iter().map(|f| &f.answer).collect::<Vec<_>>()
                );
                let (c, r) = (canonical.caption.as_ref().unwrap(), q.caption.as_ref().unwrap());
                assert_eq!(c.answer, r.answer);
                for i in 0..5 {
                    for j in 0..i {
                        assert_ne!(r.choices[i], r.choices[j]);
                    }
                }
                assert_eq!(q.true_caption, canonical.true_caption);
            }
        }
        assert!(changed > 1000, "{changed}");
        // The templates are part of the training pool (a quarter, plus rewordings that happen to
        // fall on them), and not most of it.
        assert!(
            seen_as_template * 5 > seen_total && seen_as_template * 5 < seen_total * 2,
            "{seen_as_template} of {seen_total}"
        );
    }
}
