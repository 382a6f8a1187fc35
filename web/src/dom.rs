//! Small DOM helpers and the drawing of results (ranked answers, notes, frame strip, timings),
//! from what the worker computed ([`AnswerView`] and the frames' RGBA pixels).

use wasm_bindgen::{Clamped, JsCast, JsValue};
use web_protocol::{Answer, AnswerView, FrameView};
use web_sys::{CanvasRenderingContext2d, Document, Element, HtmlCanvasElement, ImageData};

use crate::error::{WebError, WebResult, wrong_type};

/// `performance.now()` in milliseconds.
pub fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

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

/// Fills the results section; `rgba` holds the view's frames, one after another.
pub fn render_results(answer: &Answer, rgba: &[u8]) -> WebResult<()> {
    let view = &answer.view;
    let ranked = by_id::<Element>("ranked")?;
    ranked.set_inner_html("");
    for (text, probability) in &view.ranked {
        let item = create("li", "")?;
        item.set_attribute("data-answer", text)?;
        item.set_attribute("data-probability", &probability.to_string())?;
        let label = create("span", "answer-label")?;
        label.set_text_content(Some(text));
        let bar = create("span", "bar")?;
        let fill = create("span", "fill")?;
        fill.set_attribute("style", &format!("width: {:.1}%", 100.0 * probability))?;
        bar.append_child(&fill)?;
        let value = create("span", "probability")?;
        value.set_text_content(Some(&format!("{:.1}%", 100.0 * probability)));
        item.append_child(&label)?;
        item.append_child(&bar)?;
        item.append_child(&value)?;
        ranked.append_child(&item)?;
    }
    render_notes(view, &ranked)?;
    render_frames(view, rgba)?;
    let timings = &answer.timings;
    let reuse = if timings.encode_reused { " (reused)" } else { "" };
    set_text(
        "timings",
        &format!(
            "{} · decode {:.0} ms · sample {:.0} ms · encode {:.0} ms{reuse} · answer {:.0} ms",
            answer.backend.label(),
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

/// The notes under the answers: unknown words and out of world (each makes the answer a guess),
/// then the unsure note, when the top answer is below the model's threshold.
fn render_notes(view: &AnswerView, ranked: &Element) -> WebResult<()> {
    // Words the model never saw, and a GIF unlike its training GIFs: each named in its note, and
    // the ranked answers marked as a guess (a class that changes their look, and the notes as the
    // list's description for screen readers).
    let notes = [("unknown-words", &view.unknown_words_note), ("out-of-world", &view.out_of_world_note)];
    let mut described_by = Vec::new();
    for (id, note) in notes {
        let element = by_id::<Element>(id)?;
        element.set_text_content(note.as_deref());
        match note {
            Some(_) => {
                element.class_list().remove_1("hidden")?;
                described_by.push(id);
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
    match &view.unsure_note {
        Some(note) => {
            unsure.set_text_content(Some(note));
            unsure.class_list().remove_1("hidden")?;
        }
        None => unsure.class_list().add_1("hidden")?,
    }
    Ok(())
}

/// Draws every frame the model read (all sampled ones, or CLIP-Cut's choice) as it saw it, with a
/// bar for its relevance to the question and its most-attended grid cell outlined in yellow; the
/// three most relevant frames are outlined.
fn render_frames(view: &AnswerView, rgba: &[u8]) -> WebResult<()> {
    let strip = by_id::<Element>("frames")?;
    strip.set_inner_html("");
    let mut order: Vec<usize> = (0..view.frames.len()).collect();
    order.sort_by(|&a, &b| view.frames[b].relevance.total_cmp(&view.frames[a].relevance));
    let top: Vec<usize> = order.into_iter().take(3).collect();
    let size = view.frame_size;
    for (i, (info, pixels)) in view.frames.iter().zip(rgba.chunks_exact(size * size * 4)).enumerate() {
        let figure = create("figure", if top.contains(&i) { "frame top" } else { "frame" })?;
        let canvas = frame_canvas(info, pixels, size)?;
        figure.append_child(&canvas)?;
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
        figure.append_child(&bar)?;
        figure.append_child(&caption)?;
        strip.append_child(&figure)?;
    }
    Ok(())
}

/// One frame as the model saw it, with where the question looked (the most-attended grid cell)
/// outlined.
fn frame_canvas(info: &FrameView, rgba: &[u8], size: usize) -> WebResult<HtmlCanvasElement> {
    let canvas: HtmlCanvasElement = create("canvas", "")?.dyn_into().map_err(wrong_type)?;
    canvas.set_width(size as u32);
    canvas.set_height(size as u32);
    let context: CanvasRenderingContext2d = canvas
        .get_context("2d")?
        .ok_or_else(|| WebError::Browser("no 2d canvas".into()))?
        .dyn_into()
        .map_err(wrong_type)?;
    let image = ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), size as u32, size as u32)?;
    context.put_image_data(&image, 0.0, 0.0)?;
    if let (Some((x, y)), cells) = (info.focus, info.cells_per_side.max(1)) {
        let cell = size as f64 / cells as f64;
        context.set_stroke_style_str("#ffd400");
        context.set_line_width(1.0);
        let (x, y) = (f64::from(x) * size as f64, f64::from(y) * size as f64);
        context.stroke_rect(x - cell / 2.0 + 0.5, y - cell / 2.0 + 0.5, cell - 1.0, cell - 1.0);
    }
    Ok(canvas)
}
