//! The varied drawing of the primary renderer (`trainer generate --drawing varied`): the same
//! scenes, questions and answers as the plain drawing, drawn and encoded in many more of the ways
//! the contract allows, so that a model trained on it does not learn one look.
//!
//! - backgrounds: the scene's kind and colours as gradients between any two points (smooth or in
//!   bands), and noise as grain, fractal lattice noise of several scales, or scan lines
//!   ([`background`]);
//! - edges: hard from one point anywhere in the pixel or from a majority of points; anti-aliased
//!   by a box filter over 2² to 8² points, by a supersampled mask resampled with a tent, Gaussian,
//!   Mitchell or Lanczos filter, by stratified random points, or by a ramp over the signed
//!   distance; fills flat, shaded or flickering within the colour's jitter band ([`raster`]);
//! - palettes of 48 to 255 entries from three quantisers, global or local, with or without
//!   ordered dithering ([`palette`]);
//! - frames whole or as sub-rectangles, with or without transparency, with every disposal method,
//!   identical frames merged or not ([`layout`]).
//!
//! Its choices come from a random stream of their own (the seed, stream `STREAM_OFFSET + key`),
//! drawn after everything the plain drawing draws, so the scene and the questions do not depend
//! on the drawing. It shares no code with the second renderer, which stays unseen by training.

mod background;
mod layout;
mod palette;
mod raster;

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{Sample, encode, gif_name, questions, render::Rect, world};
use background::BackgroundStyle;
use layout::Layout;
use palette::PaletteStyle;
use raster::{Edges, Fill};

/// Added to the GIF's key to make the drawing's RNG stream: GIF streams are the keys, the
/// wording's start at 2⁶³; keys stay far below 2⁶².
const STREAM_OFFSET: u64 = 3 << 62;

/// How one GIF is drawn and encoded; written into its annotation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Style {
    pub background: BackgroundStyle,
    pub edges: Edges,
    pub fill: Fill,
    pub palette: PaletteStyle,
    /// One palette for the GIF, or each frame's colours in a local palette.
    pub global_palette: bool,
    pub layout: Layout,
    /// Identical consecutive frames become one frame with the summed delay.
    pub merge: bool,
}

impl Style {
    /// Global palette 1/2, merging 2/5; the rest as each part's `sample` says.
    fn sample(rng: &mut ChaCha8Rng, scene: &world::Scene) -> Style {
        Style {
            background: BackgroundStyle::sample(rng, &scene.background),
            edges: Edges::sample(rng, scene.antialias),
            fill: Fill::sample(rng),
            palette: PaletteStyle::sample(rng),
            global_palette: rng.random_bool(0.5),
            layout: Layout::sample(rng),
            merge: rng.random_bool(0.4),
        }
    }
}

/// Generates GIF `key` in the varied drawing. `on_frame` sees every rendered RGB frame and the
/// same frame after quantisation (what a decoder must show), for tests and debugging.
pub(crate) fn make_sample(seed: u64, key: usize, on_frame: &mut dyn FnMut(&[u8], &[u8])) -> Result<Sample> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(key as u64);
    let scene = world::sample_scene(&mut rng);
    // Drawn as the plain drawing draws it, so that the questions come out the same.
    let _ = encode::Style::sample(&mut rng, &scene.background);
    let questions = questions::make(&mut rng, &scene);
    let mut drawing = ChaCha8Rng::seed_from_u64(seed);
    drawing.set_stream(STREAM_OFFSET.wrapping_add(key as u64));
    let style = Style::sample(&mut drawing, &scene);

    let size = scene.canvas;
    let bg = background::paint(&style.background, size);
    let painter = raster::Painter::new(style.edges, style.fill);
    let mut rendered: Vec<Vec<u8>> = Vec::with_capacity(scene.frames());
    let mut rects: Vec<Vec<Rect>> = Vec::with_capacity(scene.frames());
    for f in 0..scene.frames() {
        let mut rgb = Vec::with_capacity(size * size * 3);
        rects.push(painter.draw_frame(&scene, f, &bg, &mut rgb));
        rendered.push(rgb);
    }

    // The histogram: the background as often as it is shown, and the pixels around the objects in
    // every frame.
    let changed = rendered.iter().zip(&rects).flat_map(|(rgb, rs)| {
        rs.iter().flat_map(move |r| {
            (r.y0..r.y1).flat_map(move |y| (r.x0..r.x1).map(move |x| &rgb[(y * size + x) * 3..(y * size + x) * 3 + 3]))
        })
    });
    let shown_frames = u32::try_from(scene.frames()).unwrap_or(u32::MAX);
    let histogram = palette::histogram(bg.chunks_exact(3).map(|p| (p, shown_frames)).chain(changed.map(|p| (p, 1))));
    let shades: Vec<[u8; 3]> = scene.objects.iter().map(|o| o.rgb).collect();
    let mut mapper = palette::Mapper::new(palette::learn(&style.palette, &histogram, &shades), &style.palette, &shades);
    let bg_index: Vec<u8> =
        bg.chunks_exact(3).enumerate().map(|(i, p)| mapper.map(i % size, i / size, [p[0], p[1], p[2]])).collect();
    let mut frames = Vec::with_capacity(scene.frames());
    for (rgb, rs) in rendered.iter().zip(&rects) {
        let mut index = bg_index.clone();
        for r in rs {
            for y in r.y0..r.y1 {
                for x in r.x0..r.x1 {
                    let i = y * size + x;
                    let p = &rgb[i * 3..i * 3 + 3];
                    if p != &bg[i * 3..i * 3 + 3] {
                        index[i] = mapper.map(x, y, [p[0], p[1], p[2]]);
                    }
                }
            }
        }
        let shown: Vec<u8> = index.iter().flat_map(|&i| mapper.palette()[usize::from(i)]).collect();
        on_frame(rgb, &shown);
        frames.push(index);
    }
    let (gif, gif_frames) = layout::write_gif(
        size,
        mapper.palette(),
        &frames,
        &scene.delays_cs,
        style.layout,
        style.global_palette,
        style.merge,
    )
    .with_context(|| format!("encoding {} (varied drawing)", gif_name(key)))?;
    let palette_colours = mapper.palette().len();
    // The annotation's common encoding fields, in the plain drawing's terms.
    let common = encode::Style {
        global_palette: style.global_palette,
        subrect: style.layout != Layout::FullUnspecified,
        merge: style.merge,
    };
    Ok(Sample { scene, style: common, questions, gif, gif_frames, palette_colours, second: None, varied: Some(style) })
}

#[cfg(test)]
mod tests;
