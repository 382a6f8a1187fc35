//! What the page draws of an answer, computed here with shared-model's rules so that the main
//! thread needs no model code: the ranked answers, the notes, and each frame the question read
//! with its pixels as RGBA (ready for `ImageData`) and its most-attended cell.

use shared_model::answer::pipeline::{Prediction, unknown_words_note};
use shared_model::preprocess::PreparedClip;
use shared_model::trust::in_world::out_of_world_note;
use web_protocol::{AnswerView, FrameView};

/// The view of `prediction` and the RGBA pixels of its frames, in the same order. CLIP-Cut reads
/// only some of the sampled frames: each one's pixels are found by source and time (else by
/// position); a frame with no pixels is left out.
pub fn answer_view(
    prediction: &Prediction,
    clips: &[PreparedClip],
    size: usize,
    unsure_note: &str,
) -> (AnswerView, Vec<u8>) {
    let frame_bytes = size * size * 3;
    let sampled: Vec<(Option<usize>, f32, &[u8])> = clips
        .iter()
        .flat_map(|clip| {
            clip.sources
                .iter()
                .zip(&clip.times)
                .zip(clip.pixels.chunks_exact(frame_bytes))
                .map(|((&s, &t), p)| (s, t, p))
        })
        .collect();
    let mut frames = Vec::new();
    let mut rgba = Vec::new();
    for (i, info) in prediction.frames.iter().enumerate() {
        let found = sampled.iter().find(|(source, time, _)| *source == info.source && *time == info.time);
        let Some(&(_, _, rgb)) = found.or(sampled.get(i)) else { continue };
        rgba.extend(rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]));
        frames.push(FrameView {
            time: info.time,
            relevance: info.relevance,
            focus: info.focus(),
            cells_per_side: (info.attention.len() as f64).sqrt().round() as usize,
        });
    }
    let view = AnswerView {
        ranked: prediction.ranked.iter().map(|a| (a.answer.clone(), a.probability)).collect(),
        unknown_words_note: unknown_words_note(&prediction.unknown_words),
        out_of_world_note: prediction.in_world.as_ref().and_then(out_of_world_note),
        unsure_note: prediction.unsure().then(|| unsure_note.to_string()),
        frames,
        frame_size: size,
    };
    (view, rgba)
}
