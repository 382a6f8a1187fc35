//! The second renderer of the benchmark's world (`trainer generate --renderer second`).
//!
//! It draws the same scenes and asks the same questions as the primary renderer, but shares none
//! of its drawing code, so that a model trained on the primary renderer's GIFs can be checked (and
//! chosen) on a look it never saw:
//! - shapes are `tiny-skia` paths with their own proportions ([`raster`]);
//! - backgrounds have kinds of their own: gradients in any direction, per-pixel colour noise,
//!   smooth value noise, blocky noise, speckle ([`background`]);
//! - colours are reduced by NeuQuant, per GIF or per frame, with or without Floyd–Steinberg
//!   dithering, and every object's shade keeps a palette entry of its own ([`quantise`]);
//! - frames are written whole or as transparent difference frames, with Keep, Background or
//!   Previous disposal, and identical frames are sometimes merged ([`encode`]).
//!
//! Every choice is drawn from the GIF's own RNG (ChaCha8 seeded with the seed, stream = key), so
//! a GIF is a pure function of (seed, key, renderer) whatever the thread count.

mod background;
mod encode;
mod quantise;
mod raster;

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{Sample, gif_name, questions, world};
use background::BackgroundStyle;
use encode::FrameLayout;

/// How one GIF is drawn and encoded; written into its annotation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Style {
    pub background: BackgroundStyle,
    /// One palette learnt from every frame, or one learnt per frame (local palettes).
    pub global_palette: bool,
    /// Palette entries, the objects' reserved shades included (the transparent index is extra).
    pub palette_size: usize,
    /// Floyd–Steinberg error diffusion over the learnt palette.
    pub dither: bool,
    pub layout: FrameLayout,
    /// Identical consecutive frames become one frame with the summed delay.
    pub merge: bool,
}

impl Style {
    /// Probabilities: global palette 1/2; 255 / 128 / 64 entries 1/2, 3/10, 1/5; dithering 2/5;
    /// layouts as [`FrameLayout::sample`]; merging 2/5; backgrounds as [`BackgroundStyle::sample`].
    fn sample(rng: &mut ChaCha8Rng, scene: &world::Scene) -> Style {
        let background = BackgroundStyle::sample(rng, scene);
        let global_palette = rng.random_bool(0.5);
        let palette_size = match rng.random_range(0..10) {
            0..5 => 255,
            5..8 => 128,
            _ => 64,
        };
        let dither = rng.random_bool(0.4);
        let layout = FrameLayout::sample(rng);
        let merge = rng.random_bool(0.4);
        Style { background, global_palette, palette_size, dither, layout, merge }
    }
}

/// Generates GIF `key` with the second renderer. `on_frame` sees every rendered RGB frame and the
/// same frame after quantisation (what a decoder must show), for tests and debugging.
pub(crate) fn make_sample(seed: u64, key: usize, on_frame: &mut dyn FnMut(&[u8], &[u8])) -> Result<Sample> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(key as u64);
    let scene = world::sample_scene(&mut rng);
    // The primary renderer draws its encoder style here; drawing it too keeps the RNG in step, so
    // the same (seed, key) gives the same questions under both renderers and the two can be
    // compared question for question.
    let _ = super::encode::Style::sample(&mut rng, &scene.background);
    let questions = questions::make(&mut rng, &scene);
    let style = Style::sample(&mut rng, &scene);

    let size = scene.canvas;
    let bg = background::paint(&style.background, size);
    let shapes = raster::Shapes::new().context("building the shape paths")?;
    let mut canvas = raster::Canvas::new(size, &bg).context("allocating the canvas")?;
    let rendered: Vec<Vec<u8>> = (0..scene.frames()).map(|f| canvas.draw(&scene, f, &shapes)).collect();

    let shades: Vec<[u8; 3]> = scene.objects.iter().map(|o| o.rgb).collect();
    let quantised =
        quantise::quantise(&rendered, size, &shades, style.palette_size, style.global_palette, style.dither);
    for (f, q) in quantised.iter().enumerate() {
        on_frame(&rendered[f], &q.shown());
    }
    let encoded =
        encode::write_gif(size, &quantised, &scene.delays_cs, style.global_palette, style.layout, style.merge)
            .with_context(|| format!("encoding {} (second renderer)", gif_name(key)))?;
    let palette_colours = quantised.iter().map(|q| q.palette.len()).max().unwrap_or(0);
    // The annotation's common encoding fields, in the primary renderer's terms.
    let common = super::encode::Style {
        global_palette: style.global_palette,
        subrect: matches!(style.layout, FrameLayout::Difference | FrameLayout::OverFirst),
        merge: style.merge,
    };
    Ok(Sample {
        scene,
        style: common,
        questions,
        gif: encoded.bytes,
        gif_frames: encoded.frames,
        palette_colours,
        second: Some(style),
        varied: None,
    })
}

#[cfg(test)]
mod tests;
