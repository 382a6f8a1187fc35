//! Questions, distractors and captions for one scene, and their TSV rows.
//!
//! Every question has exactly one right answer by construction: questions are only asked where
//! the world makes the answer unique, and every distractor is checked to be false (captions:
//! false of every object in the GIF).

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::wording::Topic;
use super::world::{Action, Colour, Object, Scene, Shape};

/// Question kinds in file order: (file infix, TSV header).
pub const KINDS: [(&str, &str); 5] = [
    ("action", "gif_name\tquestion\ta1\ta2\ta3\ta4\ta5\tanswer\tvid_id\tkey"),
    ("transition", "gif_name\tquestion\ta1\ta2\ta3\ta4\ta5\tanswer\tvid_id\tkey"),
    ("count", "gif_name\tquestion\tanswer\tvid_id\tkey"),
    ("frameqa", "gif_name\tquestion\tanswer\ttype\tvid_id\tkey\tdescription"),
    ("caption", "gif_name\ta1\ta2\ta3\ta4\ta5\tanswer"),
];

/// A multiple-choice question with five distinct choices.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub question: String,
    pub choices: [String; 5],
    pub answer: usize,
    /// What it asks, for rewording (not written to the files).
    pub topic: Topic,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FrameQa {
    pub question: String,
    pub answer: String,
    pub kind: u8,
    /// What it asks, for rewording (not written to the files).
    pub topic: Topic,
}

/// All questions of one GIF.
#[derive(Clone, Debug, Default)]
pub struct Questions {
    pub action: Vec<Choice>,
    pub transition: Vec<Choice>,
    /// (question, answer, what it asks).
    pub count: Vec<(String, u32, Topic)>,
    pub frameqa: Vec<FrameQa>,
    /// Caption choices; `question` is empty.
    pub caption: Option<Choice>,
    pub true_caption: String,
}

impl Questions {
    /// TSV rows (no line end) per kind, in `KINDS` order.
    pub fn rows(&self, gif_name: &str, key: usize) -> [Vec<String>; 5] {
        let mc = |prefix: &str, qs: &[Choice]| -> Vec<String> {
            qs.iter()
                .enumerate()
                .map(|(i, q)| {
                    format!(
                        "{gif_name}\t{}\t{}\t{}\t{prefix}{key}_{i}\t{key}",
                        q.question,
                        q.choices.join("\t"),
                        q.answer
                    )
                })
                .collect()
        };
        let count = self
            .count
            .iter()
            .enumerate()
            .map(|(i, (q, a, _))| format!("{gif_name}\t{q}\t{a}\tCOUNT{key}_{i}\t{key}"))
            .collect();
        let frameqa = self
            .frameqa
            .iter()
            .enumerate()
            .map(|(i, q)| {
                format!(
                    "{gif_name}\t{}\t{}\t{}\tFRAMEQA{key}_{i}\t{key}\t{}",
                    q.question, q.answer, q.kind, self.true_caption
                )
            })
            .collect();
        let caption =
            self.caption.iter().map(|c| format!("{gif_name}\t{}\t{}", c.choices.join("\t"), c.answer)).collect();
        [mc("ACTION", &self.action), mc("TRANS", &self.transition), count, frameqa, caption]
    }

    #[cfg(test)]
    pub fn counts(&self) -> [usize; 5] {
        [
            self.action.len(),
            self.transition.len(),
            self.count.len(),
            self.frameqa.len(),
            usize::from(self.caption.is_some()),
        ]
    }
}

fn name(o: &Object) -> String {
    format!("{} {}", o.colour.name(), o.shape.name())
}

/// Puts the answer at a uniformly random position among exactly four distractors (`None` if
/// fewer were found: the question is then not asked).
fn shuffle_in(
    rng: &mut ChaCha8Rng,
    question: String,
    answer: String,
    distractors: Vec<String>,
    topic: Topic,
) -> Option<Choice> {
    let [d0, d1, d2, d3]: [String; 4] = distractors.try_into().ok()?;
    let mut choices = [d0, d1, d2, d3, String::new()];
    let pos = rng.random_range(0..5);
    choices[4] = answer;
    choices.swap(pos, 4);
    Some(Choice { question, choices, answer: pos, topic })
}

/// Picks a random element, preferring the first object's entries (index 0) with probability
/// one half when it has any: captions and most questions are about it.
fn pick<T: Copy>(rng: &mut ChaCha8Rng, options: &[(usize, T)]) -> Option<(usize, T)> {
    let first: Vec<_> = options.iter().filter(|o| o.0 == 0).copied().collect();
    if !first.is_empty() && rng.random_bool(0.5) {
        return Some(first[rng.random_range(0..first.len())]);
    }
    (!options.is_empty()).then(|| options[rng.random_range(0..options.len())])
}

/// How many times the object does `a` in total (repetitions, or segments for non-repeatable
/// actions), and whether one segment alone does it `n` times: either reading makes "does `a`
/// `n` times" true.
fn does_n_times(o: &Object, a: Action, n: u32) -> bool {
    let segs = o.segments.iter().filter(|s| s.action == a);
    let total: u32 = segs.clone().map(|s| s.reps).sum();
    total == n || segs.into_iter().any(|s| s.reps == n)
}

fn occurrences(o: &Object, a: Action) -> usize {
    o.segments.iter().filter(|s| s.action == a).count()
}

/// "What does the X do n times ?": a repeatable segment with n ≥ 2 whose action occurs once and
/// where no other action is done n times. Distractors include the other repeatable actions.
fn action_question(rng: &mut ChaCha8Rng, scene: &Scene) -> Option<Choice> {
    let mut options = Vec::new();
    for (oi, o) in scene.objects.iter().enumerate() {
        for s in &o.segments {
            let unique = Action::ALL.iter().all(|&b| b == s.action || !does_n_times(o, b, s.reps));
            if s.action.repeatable() && s.reps >= 2 && occurrences(o, s.action) == 1 && unique {
                options.push((oi, (s.action, s.reps)));
            }
        }
    }
    let (oi, (answer, n)) = pick(rng, &options)?;
    let o = &scene.objects[oi];
    let valid = |a: Action| a != answer && !does_n_times(o, a, n);
    let mut repeatable: Vec<Action> = Action::ALL.into_iter().filter(|&a| a.repeatable() && valid(a)).collect();
    let mut others: Vec<Action> = Action::ALL.into_iter().filter(|&a| !a.repeatable() && valid(a)).collect();
    others.shuffle(rng);
    repeatable.extend(others);
    repeatable.truncate(4);
    repeatable.shuffle(rng);
    let distractors = repeatable.iter().map(|a| a.name().to_string()).collect();
    let question = format!("What does the {} do {n} times ?", name(o));
    let topic = Topic::Action { colour: o.colour, shape: o.shape, n };
    shuffle_in(rng, question, answer.name().to_string(), distractors, topic)
}

/// "What does the X do after/before Ying ?": Y occurs once in X's timeline and has a neighbour
/// on that side. Distractors never include the anchor or anything done on that side of it.
fn transition_question(rng: &mut ChaCha8Rng, scene: &Scene) -> Option<Choice> {
    let mut options = Vec::new();
    for (oi, o) in scene.objects.iter().enumerate() {
        for (si, s) in o.segments.iter().enumerate() {
            if occurrences(o, s.action) != 1 {
                continue;
            }
            if si + 1 < o.segments.len() {
                options.push((oi, (si, true)));
            }
            if si > 0 {
                options.push((oi, (si, false)));
            }
        }
    }
    let (oi, (si, after)) = pick(rng, &options)?;
    let o = &scene.objects[oi];
    let anchor = o.segments[si].action;
    let (answer, side) = if after {
        (o.segments[si + 1].action, &o.segments[si + 1..])
    } else {
        (o.segments[si - 1].action, &o.segments[..si])
    };
    let mut pool: Vec<Action> =
        Action::ALL.into_iter().filter(|&a| a != anchor && side.iter().all(|s| s.action != a)).collect();
    pool.shuffle(rng);
    let distractors = pool.iter().take(4).map(|a| a.name().to_string()).collect();
    let word = if after { "after" } else { "before" };
    let question = format!("What does the {} do {word} {} ?", name(o), anchor.gerund());
    let topic = Topic::Transition { colour: o.colour, shape: o.shape, anchor, after };
    shuffle_in(rng, question, answer.name().to_string(), distractors, topic)
}

/// "How many times does the X Y ?": Y repeatable and occurring in one segment only.
fn count_question(rng: &mut ChaCha8Rng, scene: &Scene) -> Option<(String, u32, Topic)> {
    let mut options = Vec::new();
    for (oi, o) in scene.objects.iter().enumerate() {
        for s in &o.segments {
            if s.action.repeatable() && occurrences(o, s.action) == 1 {
                options.push((oi, (s.action, s.reps)));
            }
        }
    }
    let (oi, (action, n)) = pick(rng, &options)?;
    let o = &scene.objects[oi];
    let question = format!("How many times does the {} {} ?", name(o), action.name());
    Some((question, n, Topic::Count { colour: o.colour, shape: o.shape, action }))
}

/// The contract's 3x3 location rule for a centre `(x, y)` on a `w` px canvas.
pub fn location(x: f32, y: f32, w: f32) -> &'static str {
    let cell = |v: f32| {
        if v < w / 3.0 {
            0
        } else if v < 2.0 * w / 3.0 {
            1
        } else {
            2
        }
    };
    match (cell(x), cell(y)) {
        (1, 1) => "center",
        (0, 1) => "left",
        (2, 1) => "right",
        (1, 0) => "top",
        (1, 2) => "bottom",
        (cx, cy) => {
            if (x - w / 2.0).abs() > (y - w / 2.0).abs() {
                if cx == 0 { "left" } else { "right" }
            } else if cy == 0 {
                "top"
            } else {
                "bottom"
            }
        }
    }
}

/// Whether the rule's answer is stable under small disagreements about where the centre is
/// (another renderer's pixel convention, a shape's visual centre): no grid line or corner
/// diagonal within `MARGIN` px.
fn location_is_clear(x: f32, y: f32, w: f32) -> bool {
    const MARGIN: f32 = 3.0;
    let near_line = |v: f32| (v - w / 3.0).abs() < MARGIN || (v - 2.0 * w / 3.0).abs() < MARGIN;
    let corner = (x < w / 3.0 || x >= 2.0 * w / 3.0) && (y < w / 3.0 || y >= 2.0 * w / 3.0);
    let near_diagonal = corner && ((x - w / 2.0).abs() - (y - w / 2.0).abs()).abs() < MARGIN;
    !near_line(x) && !near_line(y) && !near_diagonal
}

fn number_word(n: usize) -> &'static str {
    ["zero", "one", "two", "three"].get(n).copied().unwrap_or("many")
}

/// Two FrameQA questions of distinct applicable types (object, number, colour, location).
fn frameqa_questions(rng: &mut ChaCha8Rng, scene: &Scene) -> Vec<FrameQa> {
    let objs = &scene.objects;
    let w = scene.canvas as f32;
    let unique_shape: Vec<usize> =
        (0..objs.len()).filter(|&i| objs.iter().filter(|o| o.shape == objs[i].shape).count() == 1).collect();
    let located: Vec<usize> = (0..objs.len())
        .filter(|&i| {
            let s = objs[i].track.last();
            s.is_some_and(|s| s.visible && location_is_clear(s.x, s.y, w))
        })
        .collect();
    let mut kinds: Vec<u8> = vec![0, 1];
    if !unique_shape.is_empty() {
        kinds.push(2);
    }
    if !located.is_empty() {
        kinds.push(3);
    }
    kinds.shuffle(rng);
    kinds.truncate(2);
    kinds.sort();
    kinds
        .into_iter()
        .map(|kind| match kind {
            0 => {
                let o = &objs[rng.random_range(0..objs.len())];
                let question = format!("What shape is the {} object ?", o.colour.name());
                FrameQa { question, answer: o.shape.name().into(), kind, topic: Topic::Shape { colour: o.colour } }
            }
            1 => FrameQa {
                question: "How many objects are there ?".into(),
                answer: number_word(objs.len()).into(),
                kind,
                topic: Topic::Number,
            },
            2 => {
                let o = &objs[unique_shape[rng.random_range(0..unique_shape.len())]];
                let question = format!("What color is the {} ?", o.shape.name());
                FrameQa { question, answer: o.colour.name().into(), kind, topic: Topic::Colour { shape: o.shape } }
            }
            _ => {
                let o = &objs[located[rng.random_range(0..located.len())]];
                let s = o.track[o.track.len() - 1];
                let question = format!("Where is the {} at the end ?", name(o));
                let topic = Topic::Location { colour: o.colour, shape: o.shape };
                FrameQa { question, answer: location(s.x, s.y, w).into(), kind, topic }
            }
        })
        .collect()
}

/// A caption's content: an object and a run of (action, repetitions) steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Caption {
    pub colour: Colour,
    pub shape: Shape,
    pub steps: Vec<(Action, u32)>,
}

impl Caption {
    pub fn of(o: &Object) -> Caption {
        Caption { colour: o.colour, shape: o.shape, steps: o.steps() }
    }

    pub fn text(&self) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|&(a, n)| match (a.repeatable(), n) {
                (false, _) => a.third_person().to_string(),
                (true, 1) => format!("{} once", a.third_person()),
                (true, n) => format!("{} {n} times", a.third_person()),
            })
            .collect();
        format!("a {} {} {}", self.colour.name(), self.shape.name(), steps.join(" then "))
    }

    /// True of an object if colour and shape match and the steps are a contiguous run of its
    /// timeline (a caption that leaves out a segment still describes the object).
    pub fn true_of(&self, o: &Object) -> bool {
        let steps = o.steps();
        self.colour == o.colour
            && self.shape == o.shape
            && steps.windows(self.steps.len()).any(|w| w == self.steps.as_slice())
    }
}

/// Distractor candidates grouped by the attribute they change.
fn caption_variants(rng: &mut ChaCha8Rng, truth: &Caption) -> Vec<Vec<Caption>> {
    let colour = Colour::ALL
        .into_iter()
        .filter(|&c| c != truth.colour)
        .map(|colour| Caption { colour, ..truth.clone() })
        .collect();
    let shape =
        Shape::ALL.into_iter().filter(|&s| s != truth.shape).map(|shape| Caption { shape, ..truth.clone() }).collect();
    let mut action = Vec::new();
    let mut count = Vec::new();
    for (i, &(a, n)) in truth.steps.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| truth.steps[j].0);
        let next = truth.steps.get(i + 1).map(|s| s.0);
        for b in Action::ALL {
            if b == a || prev == Some(b) || next == Some(b) {
                continue;
            }
            let reps = match (a.repeatable(), b.repeatable()) {
                (_, false) => 1,
                (true, true) => n,
                (false, true) => rng.random_range(1..=6),
            };
            let mut c = truth.clone();
            c.steps[i] = (b, reps);
            action.push(c);
        }
        if a.repeatable() {
            for m in (1..=6).filter(|&m| m != n) {
                let mut c = truth.clone();
                c.steps[i].1 = m;
                count.push(c);
            }
        }
    }
    let mut order = Vec::new();
    let k = truth.steps.len();
    let perms: &[&[usize]] = match k {
        2 => &[&[1, 0]],
        3 => &[&[0, 2, 1], &[1, 0, 2], &[1, 2, 0], &[2, 0, 1], &[2, 1, 0]],
        _ => &[],
    };
    for p in perms {
        let steps: Vec<_> = p.iter().map(|&i| truth.steps[i]).collect();
        order.push(Caption { steps, ..truth.clone() });
    }
    vec![colour, shape, action, count, order]
}

/// Five captions: the truth and four distractors, each differing in one attribute, false of
/// every object, all distinct; attributes are taken round-robin in random order.
fn caption_question(rng: &mut ChaCha8Rng, scene: &Scene) -> Option<(Choice, String)> {
    let first = scene.objects.first()?;
    let truth = Caption::of(first);
    let text = truth.text();
    // Each candidate's content by its text, so the choices can be written again in other words.
    let mut contents: Vec<(String, Caption)> = vec![(text.clone(), truth.clone())];
    let mut groups: Vec<Vec<String>> = caption_variants(rng, &truth)
        .into_iter()
        .map(|g| {
            let mut texts: Vec<String> = g
                .into_iter()
                .filter(|c| !scene.objects.iter().any(|o| c.true_of(o)))
                .map(|c| {
                    let t = c.text();
                    contents.push((t.clone(), c));
                    t
                })
                .filter(|t| *t != text)
                .collect();
            texts.shuffle(rng);
            texts
        })
        .filter(|g| !g.is_empty())
        .collect();
    groups.shuffle(rng);
    let mut picked: Vec<String> = Vec::with_capacity(4);
    'outer: loop {
        let mut progressed = false;
        for g in &mut groups {
            while let Some(t) = g.pop() {
                if !picked.contains(&t) {
                    picked.push(t);
                    progressed = true;
                    break;
                }
            }
            if picked.len() == 4 {
                break 'outer;
            }
        }
        if !progressed {
            return None;
        }
    }
    picked.shuffle(rng);
    let mut choice = shuffle_in(rng, String::new(), text.clone(), picked, Topic::Captions(Vec::new()))?;
    let captions = choice
        .choices
        .iter()
        .map(|t| contents.iter().find(|(u, _)| u == t).map(|(_, c)| c.clone()))
        .collect::<Option<Vec<Caption>>>()?;
    choice.topic = Topic::Captions(captions);
    Some((choice, text))
}

/// All questions of a scene.
pub fn make(rng: &mut ChaCha8Rng, scene: &Scene) -> Questions {
    let mut q = Questions {
        true_caption: scene.objects.first().map(|o| Caption::of(o).text()).unwrap_or_default(),
        ..Questions::default()
    };
    q.action.extend(action_question(rng, scene));
    q.transition.extend(transition_question(rng, scene));
    q.count.extend(count_question(rng, scene));
    q.frameqa = frameqa_questions(rng, scene);
    q.caption = caption_question(rng, scene).map(|(c, _)| c);
    q
}

#[cfg(test)]
mod tests {
    use super::super::world::sample_scene;
    use super::*;
    use rand::SeedableRng;

    fn samples(n: u64) -> impl Iterator<Item = (Scene, Questions)> {
        (0..n).map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(1000 + i);
            let scene = sample_scene(&mut rng);
            let q = make(&mut rng, &scene);
            (scene, q)
        })
    }

    fn object_named<'a>(scene: &'a Scene, words: &str) -> &'a Object {
        scene.objects.iter().find(|o| words.contains(&name(o))).unwrap()
    }

    fn action_named(s: &str) -> Action {
        *Action::ALL.iter().find(|a| a.name() == s).unwrap()
    }

    fn distinct(c: &Choice) {
        for i in 0..5 {
            assert!(!c.choices[i].is_empty());
            for j in 0..i {
                assert_ne!(c.choices[i], c.choices[j]);
            }
        }
    }

    #[test]
    fn location_rule() {
        let w = 120.0;
        assert_eq!(location(60.0, 60.0, w), "center");
        assert_eq!(location(10.0, 60.0, w), "left");
        assert_eq!(location(110.0, 60.0, w), "right");
        assert_eq!(location(60.0, 10.0, w), "top");
        assert_eq!(location(60.0, 110.0, w), "bottom");
        // Corners go to the axis on which the centre is farther from the canvas centre.
        assert_eq!(location(5.0, 30.0, w), "left");
        assert_eq!(location(30.0, 5.0, w), "top");
        assert_eq!(location(115.0, 100.0, w), "right");
        assert_eq!(location(100.0, 115.0, w), "bottom");
        assert_eq!(location(20.0, 110.0, w), "bottom");
        assert_eq!(location(110.0, 30.0, w), "right");
        // Cell edges: [0, 40) is the first third.
        assert_eq!(location(39.9, 60.0, w), "left");
        assert_eq!(location(40.0, 60.0, w), "center");
        assert!(!location_is_clear(41.0, 60.0, w));
        assert!(!location_is_clear(20.0, 21.0, w));
        assert!(location_is_clear(60.0, 60.0, w));
    }

    #[test]
    fn templates_match_the_contract() {
        let colours: Vec<&str> = Colour::ALL.iter().map(|c| c.name()).collect();
        let shapes: Vec<&str> = Shape::ALL.iter().map(|s| s.name()).collect();
        let is_object = |s: &str| {
            let mut it = s.split(' ');
            let (c, sh) = (it.next().unwrap(), it.next().unwrap());
            colours.contains(&c) && shapes.contains(&sh) && it.next().is_none()
        };
        for (_, q) in samples(300) {
            for a in &q.action {
                let rest = a.question.strip_prefix("What does the ").unwrap();
                let (obj, n) = rest.strip_suffix(" times ?").unwrap().rsplit_once(" do ").unwrap();
                assert!(is_object(obj));
                assert!((2..=6).contains(&n.parse::<u32>().unwrap()));
                assert!(action_named(&a.choices[a.answer]).repeatable());
            }
            for t in &q.transition {
                let rest = t.question.strip_prefix("What does the ").unwrap().strip_suffix(" ?").unwrap();
                let (obj, tail) = rest.split_once(" do ").unwrap();
                assert!(is_object(obj));
                let gerund = tail.strip_prefix("after ").or(tail.strip_prefix("before ")).unwrap();
                assert!(Action::ALL.iter().any(|a| a.gerund() == gerund));
                assert!(gerund.split(' ').next().unwrap().ends_with("ing"));
            }
            for (c, n, _) in &q.count {
                let rest = c.strip_prefix("How many times does the ").unwrap().strip_suffix(" ?").unwrap();
                let mut words: Vec<&str> = rest.splitn(3, ' ').collect();
                let action = words.pop().unwrap();
                assert!(is_object(&words.join(" ")));
                assert!(action_named(action).repeatable());
                assert!((1..=6).contains(n));
            }
            for f in &q.frameqa {
                let ok = match f.kind {
                    0 => f.question.starts_with("What shape is the ") && f.question.ends_with(" object ?"),
                    1 => f.question == "How many objects are there ?",
                    2 => f.question.starts_with("What color is the ") && f.question.ends_with(" ?"),
                    _ => {
                        let obj =
                            f.question.strip_prefix("Where is the ").unwrap().strip_suffix(" at the end ?").unwrap();
                        is_object(obj)
                    }
                };
                assert!(ok, "{f:?}");
                let answers: &[&str] = match f.kind {
                    0 => &shapes,
                    1 => &["one", "two", "three"],
                    2 => &colours,
                    _ => &["left", "right", "top", "bottom", "center"],
                };
                assert!(answers.contains(&f.answer.as_str()), "{f:?}");
            }
            let cap = q.caption.as_ref().unwrap();
            assert_eq!(cap.choices[cap.answer], q.true_caption);
            for c in &cap.choices {
                let rest = c.strip_prefix("a ").unwrap();
                let mut words = rest.splitn(3, ' ');
                assert!(colours.contains(&words.next().unwrap()));
                assert!(shapes.contains(&words.next().unwrap()));
                for step in words.next().unwrap().split(" then ") {
                    let ok = Action::ALL.iter().any(|a| {
                        step == a.third_person()
                            || (a.repeatable()
                                && (step == format!("{} once", a.third_person())
                                    || (2..=6).any(|n| step == format!("{} {n} times", a.third_person()))))
                    });
                    assert!(ok, "{step}");
                }
            }
        }
    }

    #[test]
    fn exactly_one_answer_is_right() {
        let mut seen = [0usize; 5];
        for (scene, q) in samples(500) {
            for (k, n) in q.counts().iter().enumerate() {
                seen[k] += n;
            }
            for a in &q.action {
                distinct(a);
                let o = object_named(&scene, &a.question);
                let n: u32 = a.question.split(' ').rev().nth(2).unwrap().parse().unwrap();
                for (i, c) in a.choices.iter().enumerate() {
                    assert_eq!(does_n_times(o, action_named(c), n), i == a.answer, "{a:?}");
                }
            }
            for t in &q.transition {
                distinct(t);
                let o = object_named(&scene, &t.question);
                let after = t.question.contains(" after ");
                let anchor = Action::ALL.iter().find(|a| t.question.ends_with(&format!(" {} ?", a.gerund()))).unwrap();
                let si = o.segments.iter().position(|s| s.action == *anchor).unwrap();
                let right = if after { o.segments[si + 1].action } else { o.segments[si - 1].action };
                for (i, c) in t.choices.iter().enumerate() {
                    assert_eq!(action_named(c) == right, i == t.answer);
                }
            }
            for (c, n, _) in &q.count {
                let o = object_named(&scene, c);
                let action = Action::ALL.iter().find(|a| c.ends_with(&format!(" {} ?", a.name()))).unwrap();
                let segs: Vec<_> = o.segments.iter().filter(|s| s.action == *action).collect();
                assert_eq!(segs.len(), 1);
                assert_eq!(segs[0].reps, *n);
            }
            let cap = q.caption.as_ref().unwrap();
            distinct(cap);
            assert_eq!(cap.choices[cap.answer], Caption::of(&scene.objects[0]).text());
            // Every distractor caption is false of every object: none equals a caption of any
            // contiguous run of any object's timeline.
            let mut true_texts = Vec::new();
            for o in &scene.objects {
                let steps = o.steps();
                for len in 1..=steps.len() {
                    for w in steps.windows(len) {
                        true_texts.push(Caption { colour: o.colour, shape: o.shape, steps: w.to_vec() }.text());
                    }
                }
            }
            for (i, c) in cap.choices.iter().enumerate() {
                if i != cap.answer {
                    assert!(!true_texts.contains(c), "{c}");
                }
            }
        }
        // Most GIFs support every type.
        assert!(seen[0] > 300 && seen[1] > 350 && seen[2] > 400, "{seen:?}");
        assert_eq!(seen[3], 1000);
        assert_eq!(seen[4], 500);
    }

    #[test]
    fn answers_are_spread_over_positions() {
        let mut pos = [0usize; 5];
        for (_, q) in samples(300) {
            for c in q.action.iter().chain(&q.transition).chain(&q.caption) {
                pos[c.answer] += 1;
            }
        }
        assert!(pos.iter().all(|&p| p > 80), "{pos:?}");
    }

    #[test]
    fn caption_text() {
        let c = Caption {
            colour: Colour::Red,
            shape: Shape::Star,
            steps: vec![(Action::Jump, 3), (Action::MoveLeft, 1), (Action::Blink, 1)],
        };
        assert_eq!(c.text(), "a red star jumps 3 times then moves left then blinks once");
    }
}
