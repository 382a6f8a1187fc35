//! The synthetic world (see `../shared/docs/synthetic-benchmark.md`, the benchmark's contract): colours, shapes, actions, and the
//! sampling of one GIF's scene with every object's per-frame state.
//!
//! Everything is drawn from one RNG in a fixed order, so a scene is a pure function of its seed.
//! Timelines are planned in frames: each segment of an object covers a contiguous frame range,
//! segments tile the whole GIF, and every repetition gets enough frames to stay countable.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

pub const MIN_FRAMES: usize = 16;
pub const MAX_FRAMES: usize = 48;
pub const MIN_CANVAS: usize = 96;
pub const MAX_CANVAS: usize = 160;
/// Object size in px across (its largest extent at rest), for the whole timeline.
pub const MIN_SIZE: f32 = 14.0;
pub const MAX_SIZE: f32 = 36.0;
pub const MAX_REPS: u32 = 6;
/// Frames of a non-repeatable segment: enough for a visible motion, not so many it crawls.
const SEG_MIN_FRAMES: usize = 4;
const SEG_SOFT_MAX_FRAMES: usize = 14;
/// Gap kept between an object's extent and the canvas border, in px.
const BORDER: f32 = 1.0;
/// Jitter of object shades around the CSS colour, per channel.
pub const COLOUR_JITTER: i32 = 24;
/// Least RGB distance between an object shade and any background colour, so objects never blend
/// into the background (a white object on a pale tint, a black one on dark grey).
const MIN_CONTRAST: f32 = 100.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Red,
    Green,
    Blue,
    Yellow,
    Purple,
    Orange,
    White,
    Black,
}

impl Colour {
    pub const ALL: [Colour; 8] = [
        Colour::Red,
        Colour::Green,
        Colour::Blue,
        Colour::Yellow,
        Colour::Purple,
        Colour::Orange,
        Colour::White,
        Colour::Black,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Green => "green",
            Colour::Blue => "blue",
            Colour::Yellow => "yellow",
            Colour::Purple => "purple",
            Colour::Orange => "orange",
            Colour::White => "white",
            Colour::Black => "black",
        }
    }

    /// The CSS named colour.
    pub fn css(self) -> [u8; 3] {
        match self {
            Colour::Red => [255, 0, 0],
            Colour::Green => [0, 128, 0],
            Colour::Blue => [0, 0, 255],
            Colour::Yellow => [255, 255, 0],
            Colour::Purple => [128, 0, 128],
            Colour::Orange => [255, 165, 0],
            Colour::White => [255, 255, 255],
            Colour::Black => [0, 0, 0],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Circle,
    Square,
    Triangle,
    Star,
    Cross,
    Diamond,
}

impl Shape {
    pub const ALL: [Shape; 6] =
        [Shape::Circle, Shape::Square, Shape::Triangle, Shape::Star, Shape::Cross, Shape::Diamond];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Circle => "circle",
            Shape::Square => "square",
            Shape::Triangle => "triangle",
            Shape::Star => "star",
            Shape::Cross => "cross",
            Shape::Diamond => "diamond",
        }
    }

    /// Half extents (x, y) in units of half the size, upright or at any rotation (the
    /// circumradius). Must agree with the geometry in `render.rs` (a test checks it).
    pub fn half_extent(self, rotated: bool) -> (f32, f32) {
        let r = match (self, rotated) {
            (Shape::Circle, _) => return (1.0, 1.0),
            (Shape::Diamond, false) => return (geometry::DIAMOND_HALF_WIDTH, 1.0),
            (Shape::Star, false) => return (1.0, geometry::STAR_OUTER),
            (_, false) => return (1.0, 1.0),
            (Shape::Square | Shape::Triangle, true) => std::f32::consts::SQRT_2,
            (Shape::Cross, true) => (1.0 + geometry::CROSS_HALF_THICKNESS.powi(2)).sqrt(),
            (Shape::Star, true) => geometry::STAR_OUTER,
            (Shape::Diamond, true) => 1.0,
        };
        (r, r)
    }

    /// Fewest frames per spin: one turn must advance less than half the shape's symmetry angle
    /// per frame, or the spin aliases (a square turning 72° per frame looks like it turns back
    /// 18°). Circles never spin.
    fn min_spin_frames(self) -> usize {
        match self {
            Shape::Circle => usize::MAX / 16,
            Shape::Diamond => 5,
            Shape::Triangle => 7,
            Shape::Square | Shape::Cross => 9,
            Shape::Star => 11,
        }
    }
}

/// Shape proportions shared by the sampler (extents) and the rasteriser.
pub mod geometry {
    /// Diamond: a rhombus, narrower than tall so it never looks like a turned square.
    pub const DIAMOND_HALF_WIDTH: f32 = 0.7;
    /// Cross (plus sign): half thickness of each arm.
    pub const CROSS_HALF_THICKNESS: f32 = 0.34;
    /// Star: outer radius chosen so the star is 2 units wide (tips at ±18° reach x = ±1).
    pub const STAR_OUTER: f32 = 1.0515;
    /// Star: inner radius as a fraction of the outer one; fatter than the classic 0.38 so a
    /// 14 px star still reads as a star.
    pub const STAR_INNER_RATIO: f32 = 0.48;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    MoveLeft,
    MoveRight,
    MoveUp,
    MoveDown,
    Grow,
    Shrink,
    Spin,
    Blink,
    Jump,
    StayStill,
}

impl Action {
    pub const ALL: [Action; 10] = [
        Action::MoveLeft,
        Action::MoveRight,
        Action::MoveUp,
        Action::MoveDown,
        Action::Grow,
        Action::Shrink,
        Action::Spin,
        Action::Blink,
        Action::Jump,
        Action::StayStill,
    ];

    /// Base form, as used in answers and in count questions.
    pub fn name(self) -> &'static str {
        match self {
            Action::MoveLeft => "move left",
            Action::MoveRight => "move right",
            Action::MoveUp => "move up",
            Action::MoveDown => "move down",
            Action::Grow => "grow",
            Action::Shrink => "shrink",
            Action::Spin => "spin",
            Action::Blink => "blink",
            Action::Jump => "jump",
            Action::StayStill => "stay still",
        }
    }

    /// Gerund, for transition questions.
    pub fn gerund(self) -> &'static str {
        match self {
            Action::MoveLeft => "moving left",
            Action::MoveRight => "moving right",
            Action::MoveUp => "moving up",
            Action::MoveDown => "moving down",
            Action::Grow => "growing",
            Action::Shrink => "shrinking",
            Action::Spin => "spinning",
            Action::Blink => "blinking",
            Action::Jump => "jumping",
            Action::StayStill => "staying still",
        }
    }

    /// Third person singular, for captions.
    pub fn third_person(self) -> &'static str {
        match self {
            Action::MoveLeft => "moves left",
            Action::MoveRight => "moves right",
            Action::MoveUp => "moves up",
            Action::MoveDown => "moves down",
            Action::Grow => "grows",
            Action::Shrink => "shrinks",
            Action::Spin => "spins",
            Action::Blink => "blinks",
            Action::Jump => "jumps",
            Action::StayStill => "stays still",
        }
    }

    pub fn repeatable(self) -> bool {
        matches!(self, Action::Spin | Action::Blink | Action::Jump)
    }

    /// Sampling weight: the repeatable actions are favoured since three question types need them.
    fn weight(self) -> u32 {
        match self {
            Action::Spin | Action::Blink | Action::Jump => 6,
            Action::MoveLeft | Action::MoveRight | Action::MoveUp | Action::MoveDown => 2,
            Action::Grow | Action::Shrink | Action::StayStill => 3,
        }
    }

    fn allowed_for(self, shape: Shape) -> bool {
        !(self == Action::Spin && shape == Shape::Circle)
    }

    /// (fewest, comfortable most) frames per repetition, or per segment if not repeatable.
    fn frame_bounds(self, shape: Shape) -> (usize, usize) {
        match self {
            Action::Spin => (shape.min_spin_frames(), shape.min_spin_frames() + 3),
            Action::Blink | Action::Jump => (4, 8),
            _ => (SEG_MIN_FRAMES, SEG_SOFT_MAX_FRAMES),
        }
    }
}

/// Whether `b` may directly follow `a` in one object's timeline: never the same action twice
/// (the segments would merge), and never up then down (that reads as one big jump).
fn may_follow(a: Action, b: Action) -> bool {
    let vertical_flip = matches!((a, b), (Action::MoveUp, Action::MoveDown) | (Action::MoveDown, Action::MoveUp));
    a != b && !vertical_flip
}

/// One action over a contiguous frame range (inclusive), with its repetitions (1 if the action is
/// not repeatable) and its amount: travel in px for moves, size factor for grow/shrink, arc
/// height in px for jumps, turn direction (±1) for spins.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub action: Action,
    pub reps: u32,
    pub first: usize,
    pub last: usize,
    pub amount: f32,
}

/// An object's state in one frame. `x`, `y` is the centre in px (pixel i spans [i, i+1)),
/// `size` the extent across in px, `angle` the clockwise rotation in radians.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct State {
    pub x: f32,
    pub y: f32,
    pub size: f32,
    pub angle: f32,
    pub visible: bool,
}

#[derive(Clone, Debug)]
pub struct Object {
    pub colour: Colour,
    pub shape: Shape,
    /// The jittered shade actually drawn.
    pub rgb: [u8; 3],
    pub segments: Vec<Segment>,
    /// One state per frame.
    pub track: Vec<State>,
}

impl Object {
    /// The timeline as (action, repetitions) pairs, the unit captions and questions talk about.
    pub fn steps(&self) -> Vec<(Action, u32)> {
        self.segments.iter().map(|s| (s.action, s.reps)).collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Background {
    Flat([u8; 3]),
    /// Linear gradient; `direction` 0 horizontal, 1 vertical, 2 diagonal, 3 anti-diagonal.
    Gradient {
        from: [u8; 3],
        to: [u8; 3],
        direction: u8,
    },
    /// Flat colour plus grey noise of up to ±`amplitude`, drawn from its own seed.
    Noise {
        base: [u8; 3],
        amplitude: u8,
        seed: u64,
    },
}

impl Background {
    /// The colours an object must contrast with.
    fn key_colours(&self) -> Vec<[u8; 3]> {
        match self {
            Background::Flat(c) => vec![*c],
            Background::Gradient { from, to, .. } => vec![*from, *to],
            Background::Noise { base, .. } => vec![*base],
        }
    }
}

#[derive(Clone, Debug)]
pub struct Scene {
    /// Canvas side in px (the canvas is square).
    pub canvas: usize,
    pub background: Background,
    pub antialias: bool,
    /// Per-frame delays in centiseconds (GIF units).
    pub delays_cs: Vec<u16>,
    /// The first object is the one captions describe; it is drawn on top.
    pub objects: Vec<Object>,
}

impl Scene {
    pub fn frames(&self) -> usize {
        self.delays_cs.len()
    }
}

/// Samples a full scene.
pub fn sample_scene(rng: &mut ChaCha8Rng) -> Scene {
    let canvas = rng.random_range(MIN_CANVAS..=MAX_CANVAS);
    let background = sample_background(rng);
    let antialias = rng.random_bool(0.5);
    // Placement sometimes fails for the third object, so ask for it a little more often.
    let wanted = [1, 1, 2, 2, 3, 3, 3][rng.random_range(0..7)];
    let palette = sample_colours(rng, &background, wanted);

    let first_shape = random_shape(rng);
    let (first, frames) = sample_first_object(rng, canvas, first_shape, palette[0]);
    let mut objects = vec![first];
    for &(colour, rgb) in &palette[1..] {
        let shape = random_shape(rng);
        if let Some(obj) = sample_other_object(rng, canvas, frames, shape, (colour, rgb), &objects) {
            objects.push(obj);
        }
    }
    let delays_cs = sample_delays(rng, frames);
    Scene { canvas, background, antialias, delays_cs, objects }
}

fn random_shape(rng: &mut ChaCha8Rng) -> Shape {
    Shape::ALL[rng.random_range(0..Shape::ALL.len())]
}

fn sample_background(rng: &mut ChaCha8Rng) -> Background {
    // Families: light grey, dark grey, beige, pale tint. Gradients stay within one lightness so
    // the contrast check against both ends covers the whole canvas.
    let dark = rng.random_bool(0.3);
    let colour = |rng: &mut ChaCha8Rng| -> [u8; 3] {
        if dark {
            let g = rng.random_range(25..=70);
            return [g, g, g];
        }
        match rng.random_range(0..3) {
            0 => {
                let g = rng.random_range(185..=235);
                [g, g, g]
            }
            1 => {
                let r: u8 = rng.random_range(222..=250);
                [r, r - rng.random_range(0..=10), r - rng.random_range(20..=40)]
            }
            _ => {
                let l: u8 = rng.random_range(215..=242);
                let mut c = [l, l, l];
                let keep = rng.random_range(0..3);
                for (i, ch) in c.iter_mut().enumerate() {
                    if i != keep {
                        *ch = l - rng.random_range(5..=30);
                    }
                }
                c
            }
        }
    };
    match rng.random_range(0..20) {
        0..8 => Background::Flat(colour(rng)),
        8..15 => {
            let from = colour(rng);
            let to = colour(rng);
            Background::Gradient { from, to, direction: rng.random_range(0..4) }
        }
        _ => Background::Noise { base: colour(rng), amplitude: rng.random_range(2..=4), seed: rng.random() },
    }
}

fn contrast(a: [u8; 3], b: [u8; 3]) -> f32 {
    let d: i32 = (0..3).map(|i| (i32::from(a[i]) - i32::from(b[i])).pow(2)).sum();
    (d as f32).sqrt()
}

/// Distinct colours with jittered shades that contrast with the background; at least one.
fn sample_colours(rng: &mut ChaCha8Rng, background: &Background, wanted: usize) -> Vec<(Colour, [u8; 3])> {
    let keys = background.key_colours();
    let mut order = Colour::ALL;
    order.shuffle(rng);
    let mut out = Vec::new();
    for colour in order {
        for _ in 0..4 {
            let css = colour.css();
            let rgb =
                css.map(|c| (i32::from(c) + rng.random_range(-COLOUR_JITTER..=COLOUR_JITTER)).clamp(0, 255) as u8);
            if keys.iter().all(|&k| contrast(rgb, k) >= MIN_CONTRAST) {
                out.push((colour, rgb));
                break;
            }
        }
        if out.len() == wanted {
            break;
        }
    }
    // Red contrasts with every background family (greys, beige and tints are all unsaturated).
    if out.is_empty() {
        out.push((Colour::Red, Colour::Red.css()));
    }
    out
}

fn weighted_action(rng: &mut ChaCha8Rng, ok: impl Fn(Action) -> bool) -> Option<Action> {
    let total: u32 = Action::ALL.iter().filter(|&&a| ok(a)).map(|a| a.weight()).sum();
    if total == 0 {
        return None;
    }
    let mut pick = rng.random_range(0..total);
    for a in Action::ALL.into_iter().filter(|&a| ok(a)) {
        if pick < a.weight() {
            return Some(a);
        }
        pick -= a.weight();
    }
    None
}

/// Samples `len` (action, reps) steps, optionally with a repeatable step of ≥ 2 repetitions at
/// `featured` (the one that makes action, count and transition questions possible).
fn sample_steps(rng: &mut ChaCha8Rng, shape: Shape, len: usize, featured: Option<usize>) -> Vec<(Action, u32)> {
    let mut actions: Vec<Option<Action>> = vec![None; len];
    if let Some(p) = featured {
        // Spins are favoured: they need the most frames, so the frame budget rejects more of
        // them, and circles never spin.
        let pick = [Action::Spin, Action::Spin, Action::Blink, Action::Jump][rng.random_range(0..4)];
        actions[p] =
            Some(if pick.allowed_for(shape) { pick } else { [Action::Blink, Action::Jump][rng.random_range(0..2)] });
    }
    for i in 0..len {
        if actions[i].is_some() {
            continue;
        }
        let prev = if i > 0 { actions[i - 1] } else { None };
        let next = actions.get(i + 1).copied().flatten();
        actions[i] = weighted_action(rng, |a| {
            a.allowed_for(shape) && prev.is_none_or(|p| may_follow(p, a)) && next.is_none_or(|n| may_follow(a, n))
        });
    }
    actions
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            // Every slot has a candidate: at most two neighbours exclude at most four actions.
            let a = a.unwrap_or(Action::StayStill);
            let reps = if !a.repeatable() {
                1
            } else if Some(i) == featured {
                rng.random_range(2..=MAX_REPS)
            } else {
                rng.random_range(1..=MAX_REPS)
            };
            (a, reps)
        })
        .collect()
}

fn step_bounds(step: (Action, u32), shape: Shape) -> (usize, usize) {
    let (lo, hi) = step.0.frame_bounds(shape);
    (lo * step.1 as usize, hi * step.1 as usize)
}

fn min_frames(steps: &[(Action, u32)], shape: Shape) -> usize {
    steps.iter().map(|&s| step_bounds(s, shape).0).sum()
}

/// Splits `frames` among the steps: each gets its minimum, the rest is handed out one frame at
/// a time to steps below their comfortable maximum (then to any step).
fn assign_frames(rng: &mut ChaCha8Rng, steps: &[(Action, u32)], shape: Shape, frames: usize) -> Option<Vec<usize>> {
    let bounds: Vec<(usize, usize)> = steps.iter().map(|&s| step_bounds(s, shape)).collect();
    let mut lens: Vec<usize> = bounds.iter().map(|b| b.0).collect();
    let mut extra = frames.checked_sub(lens.iter().sum())?;
    while extra > 0 {
        let open: Vec<usize> = (0..lens.len()).filter(|&i| lens[i] < bounds[i].1).collect();
        let i = if open.is_empty() { rng.random_range(0..lens.len()) } else { open[rng.random_range(0..open.len())] };
        lens[i] += 1;
        extra -= 1;
    }
    Some(lens)
}

/// Gives every step its frame range and amount, and picks the starting size so that the size
/// stays within [MIN_SIZE, MAX_SIZE] through every grow and shrink.
fn build_segments(
    rng: &mut ChaCha8Rng,
    steps: &[(Action, u32)],
    lens: &[usize],
    canvas: usize,
) -> Option<(Vec<Segment>, f32)> {
    let w = canvas as f32;
    let mut first = 0;
    let mut segments = Vec::with_capacity(steps.len());
    let (mut path, mut lo, mut hi) = (1.0f32, 1.0f32, 1.0f32);
    for (&(action, reps), &len) in steps.iter().zip(lens) {
        let amount = match action {
            Action::MoveLeft | Action::MoveRight | Action::MoveUp | Action::MoveDown => {
                rng.random_range(0.26..0.45) * w
            }
            Action::Grow => rng.random_range(1.6..2.0),
            Action::Shrink => 1.0 / rng.random_range(1.6..2.0),
            Action::Jump => rng.random_range(0.17..0.26) * w,
            Action::Spin => {
                if rng.random_bool(0.5) {
                    1.0
                } else {
                    -1.0
                }
            }
            Action::Blink | Action::StayStill => 0.0,
        };
        if matches!(action, Action::Grow | Action::Shrink) {
            path *= amount;
            lo = lo.min(path);
            hi = hi.max(path);
        }
        segments.push(Segment { action, reps, first, last: first + len - 1, amount });
        first += len;
    }
    let (smin, smax) = (MIN_SIZE / lo, MAX_SIZE / hi);
    if smin > smax {
        return None;
    }
    Some((segments, rng.random_range(smin..=smax)))
}

/// The frame's position inside its repetition: (index within the repetition, repetition length).
/// Repetitions split the segment as evenly as possible.
fn rep_phase(j: usize, len: usize, reps: u32) -> (usize, usize) {
    let reps = reps.max(1) as usize;
    let start = |r: usize| r * len / reps;
    let r = (0..reps).rev().find(|&r| start(r) <= j).unwrap_or(0);
    (j - start(r), start(r + 1) - start(r))
}

/// Blink pattern of one repetition of `l` ≥ 4 frames: visible, hidden for ≥ 2 frames, visible
/// again by its last frame, so consecutive blinks are always separated by a visible frame.
fn blink_visible(k: usize, l: usize) -> bool {
    let hidden = (l / 2).max(2).min(l.saturating_sub(2));
    let after = (l - hidden).div_ceil(2);
    let before = l - hidden - after;
    k < before || k >= before + hidden
}

/// Per-frame states relative to a start at (0, 0). Each segment's frames all show its action:
/// the motion is complete on the segment's last frame, and a repetition ends back at rest
/// (upright, on the ground, visible).
fn track(segments: &[Segment], size0: f32) -> Vec<State> {
    use std::f32::consts::{PI, TAU};
    let mut out = Vec::new();
    let (mut x, mut y, mut size) = (0.0f32, 0.0f32, size0);
    for seg in segments {
        let len = seg.last - seg.first + 1;
        for j in 0..len {
            let t = (j + 1) as f32 / len as f32;
            let (k, l) = rep_phase(j, len, seg.reps);
            let phase = (k + 1) as f32 / l as f32;
            let mut s = State { x, y, size, angle: 0.0, visible: true };
            match seg.action {
                Action::MoveLeft => s.x = x - seg.amount * t,
                Action::MoveRight => s.x = x + seg.amount * t,
                Action::MoveUp => s.y = y - seg.amount * t,
                Action::MoveDown => s.y = y + seg.amount * t,
                Action::Grow | Action::Shrink => s.size = size * seg.amount.powf(t),
                Action::Spin => s.angle = (seg.amount * TAU * phase) % TAU,
                Action::Jump => s.y = y - seg.amount * (PI * phase).sin(),
                Action::Blink => s.visible = blink_visible(k, l),
                Action::StayStill => {}
            }
            out.push(s);
        }
        if let Some(end) = out.last() {
            (x, y, size) = (end.x, end.y, end.size);
        }
    }
    out
}

/// The range of start centres keeping the whole track inside the canvas, if any.
fn start_range(track: &[State], shape: Shape, canvas: usize) -> Option<[(f32, f32); 2]> {
    let w = canvas as f32;
    let (mut lo, mut hi) = ([f32::MIN; 2], [f32::MAX; 2]);
    for s in track {
        let (hx, hy) = shape.half_extent(s.angle != 0.0);
        let half = [hx * s.size / 2.0, hy * s.size / 2.0];
        let pos = [s.x, s.y];
        for a in 0..2 {
            lo[a] = lo[a].max(BORDER + half[a] - pos[a]);
            hi[a] = hi[a].min(w - BORDER - half[a] - pos[a]);
        }
    }
    (lo[0] <= hi[0] && lo[1] <= hi[1]).then_some([(lo[0], hi[0]), (lo[1], hi[1])])
}

fn shifted(track: &[State], dx: f32, dy: f32) -> Vec<State> {
    track.iter().map(|s| State { x: s.x + dx, y: s.y + dy, ..*s }).collect()
}

/// Whether two objects keep apart in every frame where both are visible (their circumscribed
/// circles stay 2 px apart), so no object hides, touches or blends into another.
fn apart(a: &[State], a_shape: Shape, b: &[State], b_shape: Shape) -> bool {
    let (ra, rb) = (a_shape.half_extent(true).0 / 2.0, b_shape.half_extent(true).0 / 2.0);
    a.iter()
        .zip(b)
        .all(|(p, q)| !(p.visible && q.visible) || (p.x - q.x).hypot(p.y - q.y) >= ra * p.size + rb * q.size + 2.0)
}

/// A timeline that fits the canvas from some start: its track relative to the start, and the
/// start centres that keep it inside.
struct Fitted {
    segments: Vec<Segment>,
    relative: Vec<State>,
    starts: [(f32, f32); 2],
}

/// Tries to turn steps into a timeline over `frames` frames that fits the canvas.
fn try_object(
    rng: &mut ChaCha8Rng,
    steps: &[(Action, u32)],
    shape: Shape,
    canvas: usize,
    frames: usize,
) -> Option<Fitted> {
    let lens = assign_frames(rng, steps, shape, frames)?;
    let (segments, size0) = build_segments(rng, steps, &lens, canvas)?;
    let relative = track(&segments, size0);
    let starts = start_range(&relative, shape, canvas)?;
    Some(Fitted { segments, relative, starts })
}

fn uniform(rng: &mut ChaCha8Rng, (lo, hi): (f32, f32)) -> f32 {
    if hi > lo { rng.random_range(lo..=hi) } else { lo }
}

/// The first object: usually 2-3 segments with a repeatable action done at least twice. Also
/// fixes the GIF's frame count. Falls back to a single "stay still" if sampling keeps failing
/// (it never does in practice; the fallback only bounds the loop).
fn sample_first_object(
    rng: &mut ChaCha8Rng,
    canvas: usize,
    shape: Shape,
    (colour, rgb): (Colour, [u8; 3]),
) -> (Object, usize) {
    for _ in 0..200 {
        let len = [1, 2, 2, 2, 3, 3, 3, 3, 3, 3][rng.random_range(0..10)];
        let featured = rng.random_bool(0.9).then(|| rng.random_range(0..len));
        let steps = sample_steps(rng, shape, len, featured);
        let least = min_frames(&steps, shape).max(MIN_FRAMES);
        if least > MAX_FRAMES {
            continue;
        }
        let frames = rng.random_range(least..=MAX_FRAMES.min(least + 24));
        if let Some(fit) = try_object(rng, &steps, shape, canvas, frames) {
            let (x0, y0) = (uniform(rng, fit.starts[0]), uniform(rng, fit.starts[1]));
            let track = shifted(&fit.relative, x0, y0);
            return (Object { colour, shape, rgb, segments: fit.segments, track }, frames);
        }
    }
    let frames = MIN_FRAMES;
    let c = canvas as f32 / 2.0;
    let seg = Segment { action: Action::StayStill, reps: 1, first: 0, last: frames - 1, amount: 0.0 };
    let track = shifted(&track(std::slice::from_ref(&seg), 24.0), c, c);
    (Object { colour, shape, rgb, segments: vec![seg], track }, frames)
}

/// Another object acting over the same frames, placed apart from the ones already there; `None`
/// if no such placement is found (the GIF then has fewer objects).
fn sample_other_object(
    rng: &mut ChaCha8Rng,
    canvas: usize,
    frames: usize,
    shape: Shape,
    (colour, rgb): (Colour, [u8; 3]),
    placed: &[Object],
) -> Option<Object> {
    for _ in 0..20 {
        let len = [1, 1, 2, 2, 2, 3, 3][rng.random_range(0..7)];
        let featured = rng.random_bool(0.5).then(|| rng.random_range(0..len));
        let steps = sample_steps(rng, shape, len, featured);
        if min_frames(&steps, shape) > frames {
            continue;
        }
        let Some(fit) = try_object(rng, &steps, shape, canvas, frames) else {
            continue;
        };
        for _ in 0..30 {
            let (x0, y0) = (uniform(rng, fit.starts[0]), uniform(rng, fit.starts[1]));
            let track = shifted(&fit.relative, x0, y0);
            if placed.iter().all(|o| apart(&o.track, o.shape, &track, shape)) {
                return Some(Object { colour, shape, rgb, segments: fit.segments, track });
            }
        }
    }
    None
}

/// 40-120 ms per frame: mostly one delay per GIF, sometimes jittered per frame (samplers must
/// follow the time line, not frame indices).
fn sample_delays(rng: &mut ChaCha8Rng, frames: usize) -> Vec<u16> {
    let base: i32 = rng.random_range(4..=12);
    if rng.random_bool(0.75) {
        return vec![base as u16; frames];
    }
    (0..frames).map(|_| (base + rng.random_range(-2..=2)).clamp(4, 12) as u16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn scenes(n: u64) -> impl Iterator<Item = Scene> {
        (0..n).map(|i| sample_scene(&mut ChaCha8Rng::seed_from_u64(i)))
    }

    #[test]
    fn scenes_follow_the_contract() {
        for scene in scenes(400) {
            let w = scene.canvas as f32;
            assert!((MIN_CANVAS..=MAX_CANVAS).contains(&scene.canvas));
            assert!((MIN_FRAMES..=MAX_FRAMES).contains(&scene.frames()));
            assert!(scene.delays_cs.iter().all(|d| (4..=12).contains(d)));
            assert!((1..=3).contains(&scene.objects.len()));
            let mut colours: Vec<_> = scene.objects.iter().map(|o| o.colour.name()).collect();
            colours.dedup();
            colours.sort();
            colours.dedup();
            assert_eq!(colours.len(), scene.objects.len());
            for (oi, obj) in scene.objects.iter().enumerate() {
                assert_eq!(obj.track.len(), scene.frames());
                assert!((1..=3).contains(&obj.segments.len()));
                assert_eq!(obj.segments[0].first, 0);
                assert_eq!(obj.segments.last().map(|s| s.last), Some(scene.frames() - 1));
                for pair in obj.segments.windows(2) {
                    assert_eq!(pair[0].last + 1, pair[1].first);
                    assert!(may_follow(pair[0].action, pair[1].action));
                }
                for seg in &obj.segments {
                    assert!((1..=MAX_REPS).contains(&seg.reps));
                    assert!(seg.action.repeatable() || seg.reps == 1);
                    assert!(seg.action.allowed_for(obj.shape));
                    let len = seg.last - seg.first + 1;
                    assert!(len / seg.reps as usize >= 4, "{seg:?}");
                }
                for s in &obj.track {
                    assert!(s.size >= MIN_SIZE - 1e-3 && s.size <= MAX_SIZE + 1e-3);
                    let (hx, hy) = obj.shape.half_extent(s.angle != 0.0);
                    assert!(s.x - hx * s.size / 2.0 >= 0.0 && s.x + hx * s.size / 2.0 <= w);
                    assert!(s.y - hy * s.size / 2.0 >= 0.0 && s.y + hy * s.size / 2.0 <= w);
                }
                if oi == 0 {
                    assert!(obj.track.iter().any(|s| s.visible));
                }
            }
        }
    }

    #[test]
    fn the_colour_check_knows_every_colour() {
        let names: Vec<&str> = Colour::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names, shared_model::answer::checks::object::BENCHMARK_COLOURS);
    }

    #[test]
    fn the_count_check_knows_the_largest_count() {
        // The count check reads a caption's larger totals as this count (`MAX_ASKED_COUNT`).
        assert_eq!(MAX_REPS as usize, shared_model::answer::checks::count::MAX_ASKED_COUNT);
        let most = scenes(300).flat_map(|s| s.objects).flat_map(|o| o.segments).map(|s| s.reps).max();
        assert_eq!(most, Some(MAX_REPS));
    }

    #[test]
    fn repetitions_are_countable() {
        for scene in scenes(300) {
            let w = scene.canvas as f32;
            for obj in &scene.objects {
                for seg in &obj.segments {
                    let states = &obj.track[seg.first..=seg.last];
                    match seg.action {
                        Action::Blink => {
                            // Count hidden runs of at least 2 frames, each followed by a visible frame.
                            let mut runs = 0;
                            let mut run = 0;
                            for s in states {
                                if s.visible {
                                    if run > 0 {
                                        assert!(run >= 2);
                                        runs += 1;
                                    }
                                    run = 0;
                                } else {
                                    run += 1;
                                }
                            }
                            assert_eq!(run, 0, "blink segment ends hidden");
                            assert_eq!(runs, seg.reps);
                        }
                        Action::Jump => {
                            let ground = states.last().map(|s| s.y).unwrap_or(0.0);
                            let landings = states.iter().filter(|s| (s.y - ground).abs() < 1e-3).count();
                            assert_eq!(landings as u32, seg.reps);
                            let peak = states.iter().map(|s| ground - s.y).fold(0.0, f32::max);
                            assert!(peak >= 0.15 * w);
                        }
                        Action::Spin => {
                            let upright = states.iter().filter(|s| s.angle.abs() < 1e-4).count();
                            assert_eq!(upright as u32, seg.reps);
                        }
                        Action::MoveLeft | Action::MoveRight | Action::MoveUp | Action::MoveDown => {
                            assert!(seg.amount >= 0.25 * w);
                        }
                        Action::Grow => assert!(seg.amount >= 1.6),
                        Action::Shrink => assert!(seg.amount <= 1.0 / 1.6),
                        Action::StayStill => {}
                    }
                }
            }
        }
    }

    #[test]
    fn objects_keep_apart() {
        for scene in scenes(300) {
            for (i, a) in scene.objects.iter().enumerate() {
                for b in &scene.objects[i + 1..] {
                    assert!(apart(&a.track, a.shape, &b.track, b.shape));
                }
            }
        }
    }

    #[test]
    fn blink_pattern() {
        let pattern = |l| (0..l).map(|k| if blink_visible(k, l) { 'V' } else { 'H' }).collect::<String>();
        assert_eq!(pattern(4), "VHHV");
        assert_eq!(pattern(5), "VHHVV");
        assert_eq!(pattern(8), "VVHHHHVV");
    }
}
