//! `trainer frames`: write a GIF's frames as PNGs, composited, or sampled at model resolution.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use shared_model::answer::pipeline::{ClipAggregation, answer_prepared, prepare_gif};
use shared_model::gif::{DecodeLimits, decode_gif};
use shared_model::preprocess::{PreparedClip, PreprocessConfig};
use shared_model::sampling::SamplingStrategy;

use crate::runtime::backend;

/// Options of `trainer frames`.
#[derive(clap::Args)]
pub struct FramesOptions {
    /// The GIF.
    #[arg(long)]
    pub gif: PathBuf,
    /// Output folder (created; must not exist or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Write the sampled frames at model resolution instead of every composited frame, e.g.
    /// uniform:16 (with --model: default the model's strategy). `clipcut:K` needs --model and
    /// --question and writes the K frames CLIP-Cut picks for that question.
    #[arg(long)]
    pub sample: Option<String>,
    /// Sample as this model folder does: its input size and default strategy.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Load the model folder without checking its files against its manifest.json (needed for a
    /// folder that has none; sizes are still bounded and weights still checked for NaN).
    #[arg(long)]
    pub no_verify: bool,
    /// The question CLIP-Cut ranks frames by (`--sample clipcut:K`).
    #[arg(long, requires = "model")]
    pub question: Option<String>,
    /// Model input size used with --sample (without --model).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
}

/// One PNG to write: pixels, width, height, colour type.
type Image = (Vec<u8>, usize, usize, png::ColorType);

/// Runs `trainer frames`.
pub fn run(options: FramesOptions) -> Result<()> {
    if options.out.exists() && std::fs::read_dir(&options.out)?.next().is_some() {
        anyhow::bail!("{} exists and is not empty", options.out.display());
    }
    let bytes = crate::runtime::files::read_gif(&options.gif)?;
    let gif = decode_gif(&bytes, &DecodeLimits::default()).with_context(|| format!("{}", options.gif.display()))?;
    let images: Vec<Image> = match (&options.sample, &options.model) {
        (None, None) => gif
            .frames
            .iter()
            .map(|f| (f.rgba.clone(), gif.width as usize, gif.height as usize, png::ColorType::Rgba))
            .collect(),
        (Some(spec), None) => {
            let strategy = SamplingStrategy::parse(spec, 16)?;
            anyhow::ensure!(
                strategy.top_k().is_none(),
                "{spec} picks frames per question: pass --model and --question to see CLIP-Cut's choice"
            );
            let config = PreprocessConfig::new(options.size);
            let clips = prepare_gif(&gif, strategy, &config, crate::eval::seed_of("frames"));
            clips.iter().flat_map(|clip| clip_images(clip, config.image_size, None)).collect()
        }
        (spec, Some(model)) => {
            let bundle = backend::load_model(model, options.no_verify)?;
            let strategy = backend::strategy_for(&bundle.config, spec.as_deref())?;
            let size = bundle.config.preprocess.image_size;
            let clips =
                prepare_gif(&gif, strategy, &bundle.config.preprocess, shared_model::answer::pipeline::INFERENCE_SEED);
            match (strategy.top_k(), &options.question) {
                (None, _) => clips.iter().flat_map(|clip| clip_images(clip, size, None)).collect(),
                (Some(_), None) => anyhow::bail!("{strategy} picks frames per question: pass --question"),
                (Some(_), Some(question)) => {
                    let device = backend::device();
                    let prediction = backend::block_on(answer_prepared(
                        &bundle,
                        &clips,
                        strategy,
                        question,
                        &[],
                        ClipAggregation::Mean,
                        &device,
                    ))?;
                    // `frames` lists each clip's picks in time order, clip after clip.
                    let k = prediction.frames.len() / clips.len().max(1);
                    let mut images = Vec::new();
                    for (clip, picked) in clips.iter().zip(prediction.frames.chunks(k.max(1))) {
                        let positions: Vec<usize> = picked
                            .iter()
                            .filter_map(|frame| {
                                (0..clip.times.len())
                                    .find(|&i| clip.sources[i] == frame.source && clip.times[i] == frame.time)
                            })
                            .collect();
                        images.extend(clip_images(clip, size, Some(&positions)));
                    }
                    images
                }
            }
        }
    };
    let staging = options.out.with_file_name(format!(
        ".{}.tmp-{}",
        options.out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    for (i, (pixels, width, height, color)) in images.iter().enumerate() {
        write_png(&staging.join(format!("frame_{i:04}.png")), pixels, *width, *height, *color)?;
    }
    if options.out.exists() {
        std::fs::remove_dir(&options.out)?;
    }
    std::fs::rename(&staging, &options.out).with_context(|| format!("creating {}", options.out.display()))?;
    println!("wrote {} frames to {}", images.len(), options.out.display());
    Ok(())
}

/// The frames of a prepared clip (`size`×`size` RGB), all of them or those at `positions`.
fn clip_images(clip: &PreparedClip, size: usize, positions: Option<&[usize]>) -> Vec<Image> {
    let frames: Vec<&[u8]> = clip.pixels.chunks(size * size * 3).collect();
    let chosen: Vec<&[u8]> = match positions {
        Some(positions) => positions.iter().filter_map(|&i| frames.get(i).copied()).collect(),
        None => frames,
    };
    chosen.into_iter().map(|p| (p.to_vec(), size, size, png::ColorType::Rgb)).collect()
}

fn write_png(path: &Path, pixels: &[u8], width: usize, height: usize, color: png::ColorType) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(pixels)?;
    Ok(())
}
