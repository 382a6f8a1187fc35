//! Where a question's object is in every sampled frame, from the synthetic benchmark's
//! annotations: targets for the slot attention (`train --attention-supervision`).
//!
//! The annotations give every object's name (colour, shape) and exact shade; a question names its
//! object by colour and/or shape ("What does the red star do …", "What color is the cross ?").
//! The target of a frame is the share of the object's pixels in each grid cell, found by colour
//! in the very pixels the model sees, so it follows moves, jumps and blinks with no geometry.
//! Object shades stay at least 100 RGB units from the background, so a small tolerance is safe.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use shared_model::preprocess::PreparedClip;

/// Largest RGB distance between a pixel and an object's shade that still counts as the object
/// (palette quantisation and resizing move interior pixels by a few units).
const TOLERANCE: f32 = 28.0;
/// Fewest object pixels in a frame for the frame to get a target (a hidden or tiny object has none).
const MIN_PIXELS: f32 = 3.0;

#[derive(Deserialize)]
struct AnnotationRow {
    gif_name: String,
    /// One delay per rendered frame (absent in hand-written test rows).
    #[serde(default)]
    delays_ms: Vec<u32>,
    objects: Vec<ObjectRow>,
}

#[derive(Deserialize)]
pub(crate) struct ObjectRow {
    pub(crate) colour: String,
    pub(crate) shape: String,
    rgb: [u8; 3],
    /// What the object does when (absent in hand-written test rows).
    #[serde(default)]
    pub(crate) segments: Vec<SegmentRow>,
}

/// One action of an object over a range of rendered frames.
#[derive(Deserialize)]
pub(crate) struct SegmentRow {
    /// The action's name as questions say it (`jump`, `move left`).
    pub(crate) action: String,
    pub(crate) repetitions: u32,
    /// First and last rendered frame, inclusive.
    pub(crate) first_frame: usize,
    pub(crate) last_frame: usize,
}

/// The objects of every GIF of a split, and the colour and shape words they are named by.
pub struct ObjectAnnotations {
    pub(crate) objects: HashMap<String, Vec<ObjectRow>>,
    /// Each GIF's rendered frame delays: its time line, which the annotations' frames index.
    pub(crate) delays: HashMap<String, Vec<u32>>,
    colours: HashSet<String>,
    shapes: HashSet<String>,
}

/// Targets for a batch: for every question, `None` or `frames * cells` values (each frame's row
/// sums to 1, or is all zero where the object is not visible).
pub struct AttentionTargets {
    /// Per question of the batch, in order.
    pub rows: Vec<Option<Vec<f32>>>,
    /// Frames (over all questions) whose row is not zero: the loss's divisor.
    pub frames: usize,
}

impl ObjectAnnotations {
    /// Reads `{split}_annotations.jsonl` from `dir/{split}/` or `dir/`.
    pub fn load(dir: &Path, split: &str) -> Result<Self> {
        Self::find(dir, split)?.with_context(|| {
            format!(
                "--attention-supervision needs the generator's object annotations, but {} has no \
                 {split}_annotations.jsonl (only `trainer generate` datasets have them)",
                dir.display()
            )
        })
    }

    /// Like [`Self::load`], but `None` when the data has no annotations (real TGIF-QA).
    pub fn find(dir: &Path, split: &str) -> Result<Option<Self>> {
        let name = format!("{split}_annotations.jsonl");
        let Some(path) = [dir.join(split).join(&name), dir.join(&name)].into_iter().find(|p| p.is_file()) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).map(Some).with_context(|| format!("in {}", path.display()))
    }

    /// Parses annotation lines (one JSON object per line).
    pub fn parse(text: &str) -> Result<Self> {
        let (mut objects, mut delays) = (HashMap::new(), HashMap::new());
        let (mut colours, mut shapes) = (HashSet::new(), HashSet::new());
        for (line_no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let row: AnnotationRow =
                serde_json::from_str(line).with_context(|| format!("line {}: not an annotation", line_no + 1))?;
            for object in &row.objects {
                colours.insert(object.colour.clone());
                shapes.insert(object.shape.clone());
            }
            delays.insert(row.gif_name.clone(), row.delays_ms);
            objects.insert(row.gif_name, row.objects);
        }
        Ok(Self { objects, delays, colours, shapes })
    }

    /// Number of annotated GIFs.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when no GIF is annotated.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Indices (into the GIF's objects) of the objects `question` names by its colour and shape
    /// words; empty when it names none ("How many objects are there ?", captions) or the GIF is
    /// not annotated.
    pub(crate) fn named(&self, gif: &str, question: &str) -> Vec<usize> {
        let Some(objects) = self.objects.get(gif) else { return Vec::new() };
        let words: Vec<&str> = question.split_whitespace().collect();
        let colour = words.iter().find(|w| self.colours.contains(**w));
        let shape = words.iter().find(|w| self.shapes.contains(**w));
        if colour.is_none() && shape.is_none() {
            return Vec::new();
        }
        (0..objects.len())
            .filter(|&i| colour.is_none_or(|c| objects[i].colour == *c) && shape.is_none_or(|s| objects[i].shape == *s))
            .collect()
    }

    /// The attention target of one question: per frame of `clip` (side `size`, `grid`×`grid`
    /// cells, row-major), the share of the named objects' pixels in each cell; which frames have
    /// a target does not depend on `grid`. A pixel belongs to the object whose shade is nearest,
    /// within [`TOLERANCE`].
    pub fn target(&self, gif: &str, question: &str, clip: &PreparedClip, size: usize, grid: usize) -> Option<Vec<f32>> {
        let named = self.named(gif, question);
        if named.is_empty() {
            return None;
        }
        let counts = pixel_counts(&self.objects[gif], clip, size, grid); // `named` found the GIF
        let mut target = vec![0f32; counts[0].len()]; // `named` is not empty, so neither is `counts`
        for i in named {
            target.iter_mut().zip(&counts[i]).for_each(|(t, c)| *t += c);
        }
        normalise_frames(&mut target, grid * grid);
        target.iter().any(|&v| v > 0.0).then_some(target)
    }

    /// Every object of `gif` in every frame of `clip` where it is visible: its shape and colour
    /// words and its pixel share per cell (for the object probe, `train --object-supervision`).
    /// Empty when the GIF is not annotated.
    pub fn objects_in_frames(
        &self,
        gif: &str,
        clip: &PreparedClip,
        size: usize,
        grid: usize,
    ) -> Vec<ObjectInFrame<'_>> {
        let Some(objects) = self.objects.get(gif) else { return Vec::new() };
        let cells = grid * grid;
        let mut found = Vec::new();
        for (object, mut counts) in objects.iter().zip(pixel_counts(objects, clip, size, grid)) {
            normalise_frames(&mut counts, cells);
            for (frame, weights) in counts.chunks_exact(cells).enumerate() {
                if weights.iter().any(|&v| v > 0.0) {
                    found.push(ObjectInFrame {
                        frame,
                        shape: &object.shape,
                        colour: &object.colour,
                        weights: weights.to_vec(),
                    });
                }
            }
        }
        found
    }

    /// Targets of a batch's questions (`(gif name, question text, clip)` each).
    pub fn targets(&self, questions: &[(&str, &str, &PreparedClip)], size: usize, grid: usize) -> AttentionTargets {
        let rows: Vec<Option<Vec<f32>>> =
            questions.iter().map(|(gif, question, clip)| self.target(gif, question, clip, size, grid)).collect();
        let frames = rows
            .iter()
            .flatten()
            .map(|row| row.chunks_exact(grid * grid).filter(|frame| frame.iter().any(|&v| v > 0.0)).count())
            .sum();
        AttentionTargets { rows, frames }
    }
}

/// One object seen in one frame.
pub struct ObjectInFrame<'a> {
    /// Index of the frame in the clip.
    pub frame: usize,
    /// Shape word (`star`).
    pub shape: &'a str,
    /// Colour word (`red`).
    pub colour: &'a str,
    /// The object's share of pixels per grid cell (sums to 1).
    pub weights: Vec<f32>,
}

/// Per object, its pixel count in every cell of every frame of `clip` (`frames * cells` values,
/// frame-major): a pixel belongs to the object whose shade is nearest, within [`TOLERANCE`].
fn pixel_counts(objects: &[ObjectRow], clip: &PreparedClip, size: usize, grid: usize) -> Vec<Vec<f32>> {
    let frames = clip.times.len();
    let cells = grid * grid;
    let mut counts = vec![vec![0f32; frames * cells]; objects.len()];
    for f in 0..frames {
        for (p, pixel) in clip.pixels[f * size * size * 3..(f + 1) * size * size * 3].chunks_exact(3).enumerate() {
            let nearest = objects
                .iter()
                .map(|o| distance(pixel, o.rgb))
                .enumerate()
                .filter(|&(_, d)| d <= TOLERANCE)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((i, _)) = nearest {
                let (y, x) = (p / size, p % size);
                counts[i][f * cells + (y * grid / size) * grid + x * grid / size] += 1.0;
            }
        }
    }
    counts
}

/// Divides each frame's row (`cells` values) by its total, or zeroes it when the total is below
/// [`MIN_PIXELS`] (a hidden or tiny object).
fn normalise_frames(counts: &mut [f32], cells: usize) {
    for row in counts.chunks_exact_mut(cells) {
        let total: f32 = row.iter().sum();
        if total >= MIN_PIXELS {
            row.iter_mut().for_each(|v| *v /= total);
        } else {
            row.iter_mut().for_each(|v| *v = 0.0);
        }
    }
}

fn distance(pixel: &[u8], rgb: [u8; 3]) -> f32 {
    pixel.iter().zip(rgb).map(|(&a, b)| (f32::from(a) - f32::from(b)).powi(2)).sum::<f32>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANNOTATIONS: &str = r#"{"gif_name":"g","objects":[{"colour":"red","shape":"star","rgb":[200,10,10]},{"colour":"blue","shape":"cross","rgb":[10,10,200]}]}"#;

    /// A 4×4 two-frame clip on grey: the red star at (0, 0) in frame 0 and at (3, 3) in frame 1,
    /// the blue cross at (0, 3) in both.
    fn clip() -> PreparedClip {
        let mut pixels = vec![128u8; 2 * 16 * 3];
        let mut paint = |f: usize, y: usize, x: usize, rgb: [u8; 3]| {
            let at = (f * 16 + y * 4 + x) * 3;
            pixels[at..at + 3].copy_from_slice(&rgb);
        };
        for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            paint(0, dy, dx, [205, 14, 8]);
            paint(1, 2 + dy, 2 + dx, [205, 14, 8]);
            paint(0, dy, 2 + dx, [10, 10, 200]);
            paint(1, dy, 2 + dx, [10, 10, 200]);
        }
        PreparedClip { pixels, times: vec![0.25, 0.75], sources: vec![Some(0), Some(1)] }
    }

    #[test]
    fn the_named_object_is_found_in_every_frame() {
        let annotations = ObjectAnnotations::parse(ANNOTATIONS).unwrap();
        let clip = clip();
        let target = annotations.target("g", "What does the red star do ?", &clip, 4, 2).unwrap();
        assert_eq!(target, vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        let target = annotations.target("g", "What color is the cross ?", &clip, 4, 2).unwrap();
        assert_eq!(target, vec![0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn every_visible_object_is_found_with_its_names() {
        let annotations = ObjectAnnotations::parse(ANNOTATIONS).unwrap();
        let clip = clip();
        let found = annotations.objects_in_frames("g", &clip, 4, 2);
        let summary: Vec<(usize, &str, &str, Vec<f32>)> =
            found.iter().map(|o| (o.frame, o.shape, o.colour, o.weights.clone())).collect();
        assert_eq!(
            summary,
            vec![
                (0, "star", "red", vec![1.0, 0.0, 0.0, 0.0]),
                (1, "star", "red", vec![0.0, 0.0, 0.0, 1.0]),
                (0, "cross", "blue", vec![0.0, 1.0, 0.0, 0.0]),
                (1, "cross", "blue", vec![0.0, 1.0, 0.0, 0.0]),
            ]
        );
        assert!(annotations.objects_in_frames("other", &clip, 4, 2).is_empty());
    }

    #[test]
    fn questions_naming_no_object_have_no_target() {
        let annotations = ObjectAnnotations::parse(ANNOTATIONS).unwrap();
        let clip = clip();
        assert!(annotations.target("g", "How many objects are there ?", &clip, 4, 2).is_none());
        assert!(annotations.target("other", "What does the red star do ?", &clip, 4, 2).is_none());
        let targets = annotations.targets(&[("g", "What shape is the blue object ?", &clip)], 4, 2);
        assert_eq!(targets.frames, 2);
    }
}
