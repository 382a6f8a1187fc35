//! A closer look: a clip cropped, frame by frame, around where a question looked, and resized
//! back to the model's input. The object check (`object_check`) asks "What shape is the {colour}
//! object ?" of the whole frames and of this closer look, and adds the two answers' log-probabilities.
//!
//! Why: at the 64 px input a benchmark object can be 7 px across, where a circle, a star and a
//! cross differ by a pixel or two. Cropped to a window 0.7 of the frame's side, the same object
//! spans 1.4 times as many input pixels. The crop is taken from the model-sized frames, so it adds
//! scale, not detail; cropping the decoded frames instead measured the same (542 against 541 of the
//! 545 objects of 250 GIFs of another seed).

use super::prepare::{PreparedClip, resize_rgba};
use crate::answer::checks::count::log_softmax;

/// Centre of the most-attended cell of a square grid, as (x, y) fractions of the frame's width and
/// height; `None` unless `attention` is a non-empty square grid (row-major).
pub fn peak_cell_centre(attention: &[f32]) -> Option<(f32, f32)> {
    let side = (attention.len() as f64).sqrt().round() as usize;
    if side == 0 || side * side != attention.len() {
        return None;
    }
    let peak = (0..attention.len()).max_by(|&a, &b| attention[a].total_cmp(&attention[b]))?;
    let centre = |i: usize| (i as f32 + 0.5) / side as f32;
    Some((centre(peak % side), centre(peak / side)))
}

/// Crops each frame of `clip` (`size`×`size` RGB) to a square window `window` times its side,
/// centred on that frame's `focus` point (fractions; the window is moved inside the frame where it
/// would cross an edge), and resizes it back to `size`×`size`. Frames without a focus point use
/// the frame's centre.
pub fn closer_look(clip: &PreparedClip, focus: &[(f32, f32)], window: f32, size: usize) -> PreparedClip {
    if size == 0 {
        return clip.clone();
    }
    let side = ((size as f32 * window).round() as usize).clamp(1, size);
    let frame_bytes = size * size * 3;
    let frames = clip.pixels.len() / frame_bytes;
    let start = |centre: f32| ((centre * size as f32).round() as usize).saturating_sub(side / 2).min(size - side);
    let mut pixels = Vec::with_capacity(clip.pixels.len());
    let mut crop = Vec::with_capacity(side * side * 4);
    for (j, frame) in clip.pixels.chunks_exact(frame_bytes).enumerate().take(frames) {
        let (fx, fy) = focus.get(j).copied().unwrap_or((0.5, 0.5));
        let (x0, y0) = (start(fx), start(fy));
        crop.clear();
        for y in y0..y0 + side {
            for pixel in frame[(y * size + x0) * 3..(y * size + x0 + side) * 3].chunks_exact(3) {
                crop.extend_from_slice(pixel);
                crop.push(u8::MAX);
            }
        }
        // Opaque pixels: the background colour is never used.
        pixels.extend(resize_rgba(&crop, side, side, size, [0; 3]));
    }
    PreparedClip { pixels, times: clip.times.clone(), sources: clip.sources.clone() }
}

/// The focus point of each of `frames` frames from a question's attention, `[frames read, cells]`
/// row-major. When the question read other frames than the clip's (CLIP-Cut reads K of them),
/// every frame gets the peak of the mean attention.
pub fn focus_points(attention: &[f32], cells: usize, frames: usize) -> Vec<(f32, f32)> {
    let centre = (0.5, 0.5);
    if cells == 0 || attention.len() < cells {
        return vec![centre; frames];
    }
    if attention.len() == frames * cells {
        return attention.chunks_exact(cells).map(|a| peak_cell_centre(a).unwrap_or(centre)).collect();
    }
    let mut mean = vec![0.0; cells];
    for frame in attention.chunks_exact(cells) {
        mean.iter_mut().zip(frame).for_each(|(m, a)| *m += a);
    }
    vec![peak_cell_centre(&mean).unwrap_or(centre); frames]
}

/// The closer look of each read: `reads` pairs a clip with a question, `attention` is where each
/// question looked, `[reads, frames read, cells]` row-major (the question may have read other
/// frames than its clip's: see [`focus_points`]).
pub fn closer_looks(
    reads: &[(&PreparedClip, &str)],
    attention: &[f32],
    cells: usize,
    window: f32,
    size: usize,
) -> Vec<PreparedClip> {
    let per_read = attention.len() / reads.len().max(1);
    reads
        .iter()
        .zip(attention.chunks(per_read.max(1)))
        .map(|((clip, _), attention)| {
            closer_look(clip, &focus_points(attention, cells, clip.sources.len()), window, size)
        })
        .collect()
}

/// Log-probabilities of two reads of the same questions added: per row of `classes`, log-softmax
/// of `a` plus log-softmax of `b` (rows of logits, row-major). Either read can then rule an answer
/// out; the result is a row of scores as the checks expect logits.
pub fn joint_log_probs(a: &[f32], b: &[f32], classes: usize) -> Vec<f32> {
    a.chunks(classes.max(1))
        .zip(b.chunks(classes.max(1)))
        .flat_map(|(a, b)| {
            let (a, b) = (log_softmax(a), log_softmax(b));
            a.into_iter().zip(b).map(|(a, b)| a + b).collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_cell_centre_is_in_fractions_of_the_frame() {
        let mut attention = vec![0.0; 16];
        attention[2 * 4 + 3] = 1.0; // row 2, column 3
        assert_eq!(peak_cell_centre(&attention), Some((0.875, 0.625)));
        assert_eq!(peak_cell_centre(&[0.5; 3]), None);
        assert_eq!(peak_cell_centre(&[]), None);
    }

    /// A 4×4 frame whose pixel (x, y) has red x, green y.
    fn coordinates_frame() -> Vec<u8> {
        (0..4u8).flat_map(|y| (0..4u8).flat_map(move |x| [x, y, 9])).collect()
    }

    #[test]
    fn a_half_window_doubles_the_pixels_around_the_focus() {
        let clip = PreparedClip { pixels: coordinates_frame(), times: vec![0.0], sources: vec![Some(0)] };
        // Focus on the bottom-right quarter: the 2×2 window at (2, 2), each pixel now 2×2.
        let zoomed = closer_look(&clip, &[(0.75, 0.75)], 0.5, 4);
        let at = |x: usize, y: usize| &zoomed.pixels[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3];
        assert_eq!(at(0, 0), [2, 2, 9]);
        assert_eq!(at(1, 1), [2, 2, 9]);
        assert_eq!(at(2, 0), [3, 2, 9]);
        assert_eq!(at(3, 3), [3, 3, 9]);
        assert_eq!((zoomed.times, zoomed.sources), (vec![0.0], vec![Some(0)]));
    }

    #[test]
    fn the_window_stays_inside_the_frame() {
        let clip = PreparedClip { pixels: coordinates_frame(), times: vec![0.0], sources: vec![Some(0)] };
        // A focus on the top-left corner moves the window to start at (0, 0).
        let zoomed = closer_look(&clip, &[(0.0, 0.0)], 0.5, 4);
        assert_eq!(&zoomed.pixels[..3], [0, 0, 9]);
        assert_eq!(&zoomed.pixels[(3 * 4 + 3) * 3..], [1, 1, 9]);
        // A window of the whole frame changes nothing.
        assert_eq!(closer_look(&clip, &[(0.9, 0.1)], 1.0, 4).pixels, clip.pixels);
    }

    #[test]
    fn focus_points_follow_each_frame_read_or_their_mean() {
        let mut attention = vec![0.0; 8];
        attention[0] = 1.0; // frame 0: top-left of a 2×2 grid
        attention[4 + 3] = 1.0; // frame 1: bottom-right
        assert_eq!(focus_points(&attention, 4, 2), vec![(0.25, 0.25), (0.75, 0.75)]);
        // Three frames of which the question read two: the peak of their mean, for all three.
        attention[4 + 3] = 2.0;
        assert_eq!(focus_points(&attention, 4, 3), vec![(0.75, 0.75); 3]);
        assert_eq!(focus_points(&[], 4, 2), vec![(0.5, 0.5); 2]);
    }

    #[test]
    fn joint_log_probs_add_each_reads_log_probabilities() {
        let (a, b) = ([0.0f32, 0.0, 2.0f32.ln()], [3.0f32.ln(), 0.0, 0.0]);
        let joint = joint_log_probs(&a, &b, 3);
        // p_a = (1/4, 1/4, 1/2), p_b = (3/5, 1/5, 1/5).
        let expected = [(0.25f32 * 0.6).ln(), (0.25f32 * 0.2).ln(), (0.5f32 * 0.2).ln()];
        for (j, e) in joint.iter().zip(expected) {
            assert!((j - e).abs() < 1e-5, "{joint:?}");
        }
    }
}
