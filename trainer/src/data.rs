//! A split of a question dataset with its GIFs decoded once and cached at model resolution.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use shared_model::gif_decode::{DecodeLimits, decode_gif};
use shared_model::preprocess::{PreparedClip, PreprocessConfig, gather_clip, resize_rgba};
use shared_model::questions::{QaItem, gif_dir, load_split};
use shared_model::sampling::{SampledFrame, Timeline};

/// One GIF: every frame resized to the model's input size, and its time line.
pub struct CachedGif {
    /// GIF name (file stem).
    pub name: String,
    /// `[frames, size, size, 3]` RGB bytes.
    pub frames: Vec<u8>,
    /// Frame count.
    pub frame_count: usize,
    /// When each frame is shown.
    pub timeline: Timeline,
    /// Indices into [`Split::items`] of this GIF's questions.
    pub items: Vec<usize>,
}

/// Questions of one split and their GIFs.
pub struct Split {
    /// Every question whose GIF could be read.
    pub items: Vec<QaItem>,
    /// The GIFs, each with its questions.
    pub gifs: Vec<CachedGif>,
    /// Side of the cached frames.
    pub size: usize,
}

impl CachedGif {
    /// Assembles a clip of sampled frames (the same bytes `preprocess::prepare_clip` makes).
    pub fn clip(&self, frames: &[SampledFrame], size: usize) -> PreparedClip {
        let frame_bytes = size * size * 3;
        gather_clip(frames, self.frame_count, size, |i| self.frames[i * frame_bytes..(i + 1) * frame_bytes].to_vec())
    }
}

/// Loads `split` of the dataset in `dir`, decoding GIFs in parallel.
/// GIFs that are missing or unreadable are reported and their questions dropped.
pub fn load(dir: &Path, split: &str, preprocess: &PreprocessConfig, limit_gifs: Option<usize>) -> Result<Split> {
    let items =
        load_split(dir, split).with_context(|| format!("reading the {split} questions in {}", dir.display()))?;
    let mut by_gif: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        by_gif.entry(item.gif_name.clone()).or_default().push(i);
    }
    let mut names: Vec<(String, Vec<usize>)> = by_gif.into_iter().collect();
    if let Some(limit) = limit_gifs {
        names.truncate(limit);
    }
    let folder = gif_dir(dir, split);
    let bar = progress(names.len() as u64, &format!("decoding {split} GIFs"));
    let size = preprocess.image_size;
    let decoded: Vec<(String, Vec<usize>, Result<Frames>)> = names
        .into_par_iter()
        .map(|(name, indices)| {
            let path = folder.join(format!("{name}.gif"));
            let result = read_and_resize(&path, preprocess);
            bar.inc(1);
            (name, indices, result)
        })
        .collect();
    bar.finish_and_clear();

    let mut kept_items = Vec::new();
    let mut gifs = Vec::new();
    let mut failures = Vec::new();
    for (name, indices, result) in decoded {
        match result {
            Ok((frames, frame_count, timeline)) => {
                let first = kept_items.len();
                kept_items.extend(indices.iter().map(|&i| items[i].clone()));
                gifs.push(CachedGif {
                    name,
                    frames,
                    frame_count,
                    timeline,
                    items: (first..kept_items.len()).collect(),
                });
            }
            Err(e) => failures.push(format!("{name}: {e:#}")),
        }
    }
    if !failures.is_empty() {
        eprintln!(
            "warning: {} of {} {split} GIFs skipped, e.g. {}",
            failures.len(),
            failures.len() + gifs.len(),
            failures[0]
        );
    }
    anyhow::ensure!(!gifs.is_empty(), "no readable GIFs for the {split} split in {}", folder.display());
    Ok(Split { items: kept_items, gifs, size })
}

/// Resized frames, frame count and time line of one GIF.
type Frames = (Vec<u8>, usize, Timeline);

fn read_and_resize(path: &Path, preprocess: &PreprocessConfig) -> Result<Frames> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let gif = decode_gif(&bytes, &DecodeLimits::default())?;
    let size = preprocess.image_size;
    let mut frames = Vec::with_capacity(gif.frames.len() * size * size * 3);
    for frame in &gif.frames {
        frames.extend(resize_rgba(&frame.rgba, gif.width as usize, gif.height as usize, size, preprocess.background));
    }
    let delays: Vec<u32> = gif.frames.iter().map(|f| f.delay_ms).collect();
    Ok((frames, gif.frames.len(), Timeline::from_delays(&delays)))
}

/// A progress bar in the project's style.
pub fn progress(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>20} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {prefix}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}
