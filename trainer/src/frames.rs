//! `trainer frames`: write a GIF's frames as PNGs, composited, or sampled at model resolution.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use shared_model::gif_decode::{DecodeLimits, decode_gif};
use shared_model::pipeline::prepare_gif;
use shared_model::preprocess::PreprocessConfig;
use shared_model::sampling::SamplingStrategy;

/// Options of `trainer frames`.
#[derive(clap::Args)]
pub struct FramesOptions {
    /// The GIF.
    #[arg(long)]
    pub gif: PathBuf,
    /// Output folder (created; must not exist or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Write the sampled frames at model resolution instead of every composited frame, e.g. uniform:16.
    #[arg(long)]
    pub sample: Option<String>,
    /// Model input size used with --sample.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
}

pub fn run(options: FramesOptions) -> Result<()> {
    let bytes = std::fs::read(&options.gif).with_context(|| format!("cannot read {}", options.gif.display()))?;
    let gif = decode_gif(&bytes, &DecodeLimits::default()).with_context(|| format!("{}", options.gif.display()))?;
    let images: Vec<(Vec<u8>, usize, usize, png::ColorType)> = match &options.sample {
        None => gif
            .frames
            .iter()
            .map(|f| (f.rgba.clone(), gif.width as usize, gif.height as usize, png::ColorType::Rgba))
            .collect(),
        Some(spec) => {
            let strategy = SamplingStrategy::parse(spec, 16)?;
            let config = PreprocessConfig::new(options.size);
            prepare_gif(&gif, strategy, &config, crate::eval::seed_of("frames"))
                .iter()
                .flat_map(|clip| {
                    clip.pixels
                        .chunks(options.size * options.size * 3)
                        .map(|p| (p.to_vec(), options.size, options.size, png::ColorType::Rgb))
                        .collect::<Vec<_>>()
                })
                .collect()
        }
    };
    if options.out.exists() && std::fs::read_dir(&options.out)?.next().is_some() {
        anyhow::bail!("{} exists and is not empty", options.out.display());
    }
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

fn write_png(path: &Path, pixels: &[u8], width: usize, height: usize, color: png::ColorType) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(pixels)?;
    Ok(())
}
