//! Small DOM helpers and the rendering of results (ranked answers, frame strip, timings).

use serde::Serialize;
use shared_model::in_world::out_of_world_note;
use shared_model::pipeline::{Prediction, unknown_words_note};
use shared_model::preprocess::PreparedClip;
use wasm_bindgen::{Clamped, JsCast, JsValue};
use web_sys::{CanvasRenderingContext2d, Document, Element, HtmlCanvasElement, ImageData};

use crate::engine::BackendKind;
use crate::error::{WebError, WebResult, wrong_type};

/// The page's document.
pub fn document() -> WebResult<Document> {
    web_sys::window().and_then(|w| w.document()).ok_or_else(|| WebError::Browser("no document".into()))
}

/// The element with `id`, as type `T`.
pub fn by_id<T: JsCast>(id: &str) -> WebResult<T> {
    document()?
        .get_element_by_id(id)
        .ok_or_else(|| WebError::Browser(format!("the page has no #{id}")))?
        .dyn_into::<T>()
        .map_err(|_| WebError::Browser(format!("#{id} has the wrong element type")))
}

/// A new element with a class.
pub fn create(tag: &str, class: &str) -> WebResult<Element> {
    let element = document()?.create_element(tag)?;
    if !class.is_empty() {
        element.set_class_name(class);
    }
    Ok(element)
}

/// Sets the text of `#id`.
pub fn set_text(id: &str, text: &str) {
    if let Ok(element) = by_id::<Element>(id) {
        element.set_text_content(Some(text));
    }
}

/// Shows `message` in the error line (empty hides it).
pub fn show_error(message: &str) {
    set_text("error", message);
    if let Ok(element) = by_id::<Element>("error") {
        let _ = element.class_list().toggle_with_force("hidden", message.is_empty());
    }
    if !message.is_empty() {
        web_sys::console::warn_1(&JsValue::from_str(&format!("gifqa error: {message}")));
    }
}

/// Per-step milliseconds of one answer.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Timings {
    /// GIF decoding.
    pub decode_ms: f64,
    /// Frame sampling and resizing.
    pub sample_ms: f64,
    /// Video encoding on the backend (0 when reused from an earlier question on this GIF).
    pub encode_ms: f64,
    /// Question encoding, fusion and heads.
    pub answer_ms: f64,
    /// Whether the video encoding was reused.
    pub encode_reused: bool,
}

/// Fills the results section.
pub fn render_results(
    prediction: &Prediction,
    clips: &[PreparedClip],
    size: usize,
    backend: BackendKind,
    timings: &Timings,
    unsure_note: &str,
) -> WebResult<()> {
    let ranked = by_id::<Element>("ranked")?;
    ranked.set_inner_html("");
    for answer in &prediction.ranked {
        let item = create("li", "")?;
        item.set_attribute("data-answer", &answer.answer)?;
        item.set_attribute("data-probability", &answer.probability.to_string())?;
        let label = create("span", "answer-label")?;
        label.set_text_content(Some(&answer.answer));
        let bar = create("span", "bar")?;
        let fill = create("span", "fill")?;
        fill.set_attribute("style", &format!("width: {:.1}%", 100.0 * answer.probability))?;
        bar.append_child(&fill)?;
        let value = create("span", "probability")?;
        value.set_text_content(Some(&format!("{:.1}%", 100.0 * answer.probability)));
        item.append_child(&label)?;
        item.append_child(&bar)?;
        item.append_child(&value)?;
        ranked.append_child(&item)?;
    }
    // Words the model never saw, and a GIF unlike its training GIFs: each named in its note, and
    // the ranked answers marked as a guess (a class that changes their look, and the notes as the
    // list's description for screen readers).
    let notes = [
        ("unknown-words", unknown_words_note(&prediction.unknown_words)),
        ("out-of-world", prediction.in_world.as_ref().and_then(out_of_world_note)),
    ];
    let mut described_by = Vec::new();
    for (id, note) in &notes {
        let element = by_id::<Element>(id)?;
        element.set_text_content(note.as_deref());
        match note {
            Some(_) => {
                element.class_list().remove_1("hidden")?;
                described_by.push(*id);
            }
            None => element.class_list().add_1("hidden")?,
        }
    }
    if described_by.is_empty() {
        ranked.class_list().remove_1("guess")?;
        ranked.remove_attribute("aria-describedby")?;
    } else {
        ranked.class_list().add_1("guess")?;
        ranked.set_attribute("aria-describedby", &described_by.join(" "))?;
    }
    let unsure = by_id::<Element>("unsure")?;
    if prediction.unsure() {
        unsure.set_text_content(Some(unsure_note));
        unsure.class_list().remove_1("hidden")?;
    } else {
        unsure.class_list().add_1("hidden")?;
    }
    render_frames(prediction, clips, size)?;
    let reuse = if timings.encode_reused { " (reused)" } else { "" };
    set_text(
        "timings",
        &format!(
            "{} · decode {:.0} ms · sample {:.0} ms · encode {:.0} ms{reuse} · answer {:.0} ms",
            backend.label(),
            timings.decode_ms,
            timings.sample_ms,
            timings.encode_ms,
            timings.answer_ms
        ),
    );
    let results = by_id::<Element>("results")?;
    results.class_list().remove_1("hidden")?;
    Ok(())
}

/// Draws every frame the model read (all sampled ones, or CLIP-Cut's choice) as it saw it, with a
/// bar for its relevance to the question and its most-attended grid cell outlined in yellow; the
/// three most relevant frames are outlined.
fn render_frames(prediction: &Prediction, clips: &[PreparedClip], size: usize) -> WebResult<()> {
    let strip = by_id::<Element>("frames")?;
    strip.set_inner_html("");
    let mut order: Vec<usize> = (0..prediction.frames.len()).collect();
    order.sort_by(|&a, &b| prediction.frames[b].relevance.total_cmp(&prediction.frames[a].relevance));
    let top: Vec<usize> = order.into_iter().take(3).collect();
    let frame_bytes = size * size * 3;
    // CLIP-Cut reads only some of the sampled frames: find each one's pixels by source and time.
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
    for (i, info) in prediction.frames.iter().enumerate() {
        let found = sampled.iter().find(|(source, time, _)| *source == info.source && *time == info.time);
        let Some(&(_, _, rgb)) = found.or(sampled.get(i)) else { continue };
        let figure = create("figure", if top.contains(&i) { "frame top" } else { "frame" })?;
        let canvas: HtmlCanvasElement = create("canvas", "")?.dyn_into().map_err(wrong_type)?;
        canvas.set_width(size as u32);
        canvas.set_height(size as u32);
        let context: CanvasRenderingContext2d = canvas
            .get_context("2d")?
            .ok_or_else(|| WebError::Browser("no 2d canvas".into()))?
            .dyn_into()
            .map_err(wrong_type)?;
        let rgba: Vec<u8> = rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        let image = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), size as u32, size as u32)?;
        context.put_image_data(&image, 0.0, 0.0)?;
        // Where the question looked: the most-attended grid cell, outlined.
        if let Some((x, y)) = info.focus() {
            let cell = size as f64 / (info.attention.len() as f64).sqrt();
            context.set_stroke_style_str("#ffd400");
            context.set_line_width(1.0);
            let (x, y) = (f64::from(x) * size as f64, f64::from(y) * size as f64);
            context.stroke_rect(x - cell / 2.0 + 0.5, y - cell / 2.0 + 0.5, cell - 1.0, cell - 1.0);
        }
        let bar = create("span", "relevance")?;
        let fill = create("span", "fill")?;
        let share = ((info.relevance + 1.0) / 2.0).clamp(0.0, 1.0);
        fill.set_attribute("style", &format!("width: {:.0}%", 100.0 * share))?;
        bar.append_child(&fill)?;
        let caption = create("figcaption", "")?;
        caption.set_text_content(Some(&format!("{:.0}% · {:+.2}", 100.0 * info.time, info.relevance)));
        figure.set_attribute(
            "title",
            &format!("time {:.0}% of the GIF, relevance {:+.3}", 100.0 * info.time, info.relevance),
        )?;
        figure.append_child(&canvas)?;
        figure.append_child(&bar)?;
        figure.append_child(&caption)?;
        strip.append_child(&figure)?;
    }
    Ok(())
}
