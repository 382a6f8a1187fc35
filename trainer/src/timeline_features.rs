//! A frozen model's stage-1 output for every annotated object of a split, read with the segment
//! tagger's question (`timeline_check::tagger_question`), and what the object does in each sampled
//! frame (from the generator's annotations): the data `--example fit_segment_tagger` fits the
//! tagger on in minutes instead of running the whole model at every step.

use std::path::Path;

use anyhow::{Context, Result};
use shared_model::bundle::BundleConfig;
use shared_model::model::QaModel;
use shared_model::pipeline::read_floats;
use shared_model::preprocess::PreparedClip;
use shared_model::sampling::{SamplingStrategy, Timeline, seed_of};
use shared_model::timeline_check::{action_index, tagger_question};
use shared_model::tokenize::TextTokenizer;

use crate::attention_targets::ObjectAnnotations;
use crate::backend::{self, Compute};
use crate::count_features::read_stage_one;
use crate::text_cache::Texts;

/// GIFs per forward pass: more on a GPU, where small batches leave it waiting on kernel launches.
fn gifs_per_batch() -> usize {
    if backend::DEVICE_KIND == "cpu" { 16 } else { 64 }
}

/// Frame label of a frame no segment covers (ignored by the loss).
pub const NO_LABEL: i64 = -1;

/// The objects of one split as the frozen model read them (its own sampling, first clip).
pub struct TimelineFeatures {
    /// Each frame's tokens after stage 1, `[objects, frames, tokens, d_model]` row-major.
    pub slot_tokens: Vec<f32>,
    /// Each frame's action (index into `TIMELINE_ACTIONS`, or [`NO_LABEL`]), `[objects, frames]`.
    pub labels: Vec<i64>,
    /// Sampled frames per object.
    pub frames: usize,
    /// Tokens per frame.
    pub tokens: usize,
    /// Token width.
    pub d_model: usize,
}

impl TimelineFeatures {
    /// Objects held.
    pub fn len(&self) -> usize {
        self.labels.len() / self.frames.max(1)
    }

    /// Whether no object is held.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

impl ObjectAnnotations {
    /// What object `object` of `gif` does in each frame of `clip` (indices into
    /// `TIMELINE_ACTIONS`, [`NO_LABEL`] where no segment covers the frame); `None` when the GIF is
    /// not annotated with delays.
    pub fn frame_actions(&self, gif: &str, object: usize, clip: &PreparedClip) -> Option<Vec<i64>> {
        let delays = self.delays.get(gif).filter(|d| !d.is_empty())?;
        let segments = &self.objects.get(gif)?.get(object)?.segments;
        let timeline = Timeline::from_delays(delays);
        let labels = clip
            .times
            .iter()
            .map(|&t| {
                let frame = timeline.frame_at(f64::from(t));
                segments
                    .iter()
                    .find(|s| (s.first_frame..=s.last_frame).contains(&frame))
                    .and_then(|s| action_index(&s.action))
                    .map_or(NO_LABEL, |a| a as i64)
            })
            .collect();
        Some(labels)
    }

    /// The name questions use for object `object` of `gif` ("red star").
    pub fn object_name(&self, gif: &str, object: usize) -> Option<String> {
        let row = self.objects.get(gif)?.get(object)?;
        Some(format!("{} {}", row.colour, row.shape))
    }

    /// Objects of `gif`.
    pub fn objects_of(&self, gif: &str) -> usize {
        self.objects.get(gif).map_or(0, Vec::len)
    }
}

/// Reads every annotated object of `split` in `dir` (at most `gifs` GIFs) through `model`.
pub fn extract(
    model: &QaModel<Compute>,
    config: &BundleConfig,
    tokenizer: &TextTokenizer,
    dir: &Path,
    split: &str,
    gifs: Option<usize>,
) -> Result<TimelineFeatures> {
    let data = crate::data::load(dir, split, &config.preprocess, gifs)?;
    let strategy: SamplingStrategy = config.sampling.parse().context("the model's sampling")?;
    let texts = Texts::uncached(tokenizer);
    let annotations = ObjectAnnotations::load(dir, split)?;
    let mut out = TimelineFeatures { slot_tokens: Vec::new(), labels: Vec::new(), frames: 0, tokens: 0, d_model: 0 };
    let bar = crate::progress::progress(data.gifs.len() as u64, &format!("reading {split} objects"));
    for chunk in data.gifs.chunks(gifs_per_batch()) {
        bar.inc(chunk.len() as u64);
        let mut clips = Vec::new();
        let mut questions = Vec::new();
        let mut video_index = Vec::new();
        for gif in chunk {
            let sampled = strategy.sample(&gif.timeline, seed_of(&gif.name));
            let Some(first) = sampled.first() else { continue };
            let clip = gif.clip(first, data.size);
            for object in 0..annotations.objects_of(&gif.name) {
                let (Some(name), Some(labels)) =
                    (annotations.object_name(&gif.name, object), annotations.frame_actions(&gif.name, object, &clip))
                else {
                    continue;
                };
                out.labels.extend(labels);
                questions.push(tagger_question(&name));
                video_index.push(clips.len());
            }
            clips.push(clip);
        }
        if questions.is_empty() {
            continue;
        }
        let question_texts: Vec<&str> = questions.iter().map(String::as_str).collect();
        let context = read_stage_one(model, config, &texts, &clips, &video_index, &question_texts)?;
        let slot_tokens = context.slot_tokens();
        [_, out.frames, out.tokens, out.d_model] = slot_tokens.dims();
        out.slot_tokens.extend(backend::block_on(read_floats(slot_tokens))?);
    }
    bar.finish_and_clear();
    anyhow::ensure!(
        out.labels.len() == out.len() * out.frames,
        "every object needs one label per sampled frame (the model samples a fixed number of frames)"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count_targets::tests::uniform;

    /// A red star that stays still for frames 0-3 and then jumps over frames 4-15, 100 ms per
    /// frame; a blue cross whose segments leave frames 8-15 uncovered.
    const ANNOTATIONS: &str = r#"{"gif_name":"g","delays_ms":[100,100,100,100,100,100,100,100,100,100,100,100,100,100,100,100],"objects":[{"colour":"red","shape":"star","rgb":[200,10,10],"segments":[{"action":"stay still","repetitions":1,"first_frame":0,"last_frame":3},{"action":"jump","repetitions":3,"first_frame":4,"last_frame":15}]},{"colour":"blue","shape":"cross","rgb":[10,10,200],"segments":[{"action":"move left","repetitions":1,"first_frame":0,"last_frame":7}]}]}"#;

    #[test]
    fn each_sampled_frame_gets_the_action_on_screen() {
        let annotations = ObjectAnnotations::parse(ANNOTATIONS).unwrap();
        let (still, jump, left) = (9, 8, 0); // indices into TIMELINE_ACTIONS
        // 8 samples at rendered frames 1, 3, 5, ..., 15.
        let labels = annotations.frame_actions("g", 0, &uniform(8)).unwrap();
        assert_eq!(labels, vec![still, still, jump, jump, jump, jump, jump, jump]);
        let labels = annotations.frame_actions("g", 1, &uniform(8)).unwrap();
        assert_eq!(labels, vec![left, left, left, left, NO_LABEL, NO_LABEL, NO_LABEL, NO_LABEL]);
        assert_eq!(annotations.object_name("g", 1).as_deref(), Some("blue cross"));
        assert_eq!(annotations.objects_of("g"), 2);
        assert_eq!(annotations.frame_actions("g", 2, &uniform(8)), None);
        assert_eq!(annotations.frame_actions("other", 0, &uniform(8)), None);
    }
}
