//! Prototype: does a closer look help the FrameQA head tell shapes apart? For every object of a
//! generated split's GIFs, asks "What shape is the {colour} object ?" on the usual clip, then on a
//! clip cropped around where that question looked (its slot attention's peak per frame) and
//! resized to the model's input, and reports both accuracies and that of their summed log-probs.
//!
//! It measured the windows of `QaModelConfig::object_zoom` (docs/results/README.md).
//!
//! Usage: zoom_probe MODEL_DIR SPLIT_DIR MAX_GIFS [WINDOW...] [--decoded]
use std::path::PathBuf;

use anyhow::{Context, Result};
use shared_model::gif_decode::{DecodeLimits, DecodedGif, decode_gif};
use shared_model::pipeline::{ClipAggregation, answer_prepared, prepare_gif};
use shared_model::preprocess::{PreparedClip, resize_rgba};
use shared_model::zoom;
use trainer::backend;

/// The closer look of `clip`, cropped from the model-sized frames (`shared_model::zoom`, what
/// answering does) or, with `--decoded`, from the decoded frames (more detail, the same scale).
fn look(
    gif: &DecodedGif,
    clip: &PreparedClip,
    focus: &[(f32, f32)],
    window: f32,
    size: usize,
    decoded: bool,
) -> PreparedClip {
    if !decoded {
        return zoom::closer_look(clip, focus, window, size);
    }
    let (w, h) = (gif.width as usize, gif.height as usize);
    let side = ((w.min(h) as f32 * window).round() as usize).clamp(1, w.min(h));
    let start = |centre: f32, length: usize| {
        ((centre * length as f32).round() as usize).saturating_sub(side / 2).min(length - side)
    };
    let mut pixels = Vec::with_capacity(clip.pixels.len());
    for (j, source) in clip.sources.iter().enumerate() {
        let (fx, fy) = focus.get(j).copied().unwrap_or((0.5, 0.5));
        let (x0, y0) = (start(fx, w), start(fy, h));
        let rgba = &gif.frames[source.unwrap_or(0)].rgba;
        let crop: Vec<u8> =
            (y0..y0 + side).flat_map(|y| rgba[(y * w + x0) * 4..(y * w + x0 + side) * 4].to_vec()).collect();
        pixels.extend(resize_rgba(&crop, side, side, size, [128; 3]));
    }
    PreparedClip { pixels, times: clip.times.clone(), sources: clip.sources.clone() }
}

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().collect();
    let decoded = args.iter().any(|a| a == "--decoded");
    args.retain(|a| a != "--decoded");
    anyhow::ensure!(args.len() >= 4, "usage: zoom_probe MODEL_DIR SPLIT_DIR MAX_GIFS [WINDOW...] [--decoded]");
    let model = PathBuf::from(&args[1]);
    let split = PathBuf::from(&args[2]);
    let max: usize = args[3].parse()?;
    let fractions: Vec<f32> =
        if args.len() > 4 { args[4..].iter().map(|a| a.parse()).collect::<Result<_, _>>()? } else { vec![0.5] };
    let device = backend::device();
    let bundle = backend::load_model(&model, false)?;
    let strategy = backend::strategy_for(&bundle.config, None)?;
    let name = split.file_name().context("split")?.to_string_lossy().to_string();
    let annotations = std::fs::read_to_string(split.join(format!("{name}_annotations.jsonl")))?;
    let shapes: Vec<&str> = vec!["circle", "square", "triangle", "diamond", "star", "cross"];
    let mut right_plain = 0;
    let mut right_zoom = vec![0; fractions.len()];
    let mut right_sum = vec![0; fractions.len()];
    let mut total = 0;
    for line in annotations.lines().take(max) {
        let a: serde_json::Value = serde_json::from_str(line)?;
        let gif_name = a["gif_name"].as_str().context("name")?;
        let bytes = std::fs::read(split.join("gifs").join(format!("{gif_name}.gif")))?;
        let gif = decode_gif(&bytes, &DecodeLimits::default())?;
        let clips = prepare_gif(&gif, strategy, &bundle.config.preprocess, shared_model::pipeline::INFERENCE_SEED);
        for object in a["objects"].as_array().context("objects")? {
            let colour = object["colour"].as_str().context("colour")?;
            let shape = object["shape"].as_str().context("shape")?;
            let size = object["start_size"].as_f64().unwrap_or(0.0);
            let question = format!("What shape is the {colour} object ?");
            let ask = |clips: &[PreparedClip]| {
                backend::block_on(answer_prepared(
                    &bundle,
                    clips,
                    strategy,
                    &question,
                    &[],
                    ClipAggregation::Mean,
                    &device,
                ))
            };
            let plain = ask(&clips)?;
            let logp = |p: &shared_model::pipeline::Prediction, s: &str| {
                p.ranked.iter().find(|r| r.answer == s).map_or(-30.0, |r| r.probability.max(1e-12).ln())
            };
            let best = |score: &dyn Fn(&str) -> f32| {
                shapes.iter().copied().max_by(|x, y| score(x).total_cmp(&score(y))).unwrap_or("circle")
            };
            let plain_top = best(&|s| logp(&plain, s));
            right_plain += usize::from(plain_top == shape);
            total += 1;
            let focus: Vec<(f32, f32)> = plain.frames.iter().map(|f| f.focus().unwrap_or((0.5, 0.5))).collect();
            let mut line = format!(
                "{gif_name} {colour} {shape} size {size:.1} canvas {} plain {plain_top} ({:.2})",
                gif.width,
                logp(&plain, shape).exp()
            );
            let mut any_wrong = plain_top != shape;
            for (k, &fraction) in fractions.iter().enumerate() {
                let size_px = bundle.config.preprocess.image_size;
                let zoomed: Vec<PreparedClip> =
                    clips.iter().map(|c| look(&gif, c, &focus, fraction, size_px, decoded)).collect();
                let zoom = ask(&zoomed)?;
                let zoom_top = best(&|s| logp(&zoom, s));
                let sum_top = best(&|s| logp(&plain, s) + logp(&zoom, s));
                right_zoom[k] += usize::from(zoom_top == shape);
                right_sum[k] += usize::from(sum_top == shape);
                any_wrong |= zoom_top != shape || sum_top != shape;
                line += &format!(" | z{fraction} {zoom_top} ({:.2}) sum {sum_top}", logp(&zoom, shape).exp());
            }
            if any_wrong {
                println!("{line}");
            }
        }
    }
    println!("objects {total}: plain {right_plain}");
    for (k, f) in fractions.iter().enumerate() {
        println!("  window {f}: zoom {} sum {}", right_zoom[k], right_sum[k]);
    }
    Ok(())
}
