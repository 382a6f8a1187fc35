//! `trainer generate`: the synthetic benchmark, with a progress bar and a summary line.

use std::path::PathBuf;

use anyhow::Result;
use trainer::generate::{self, Drawing, GenerateOptions, Renderer, Wording};
use trainer::runtime::progress;

/// Options of `trainer generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Output folder (must not exist or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed: the same seed gives byte-identical output.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of GIFs (split 80/10/10 into Train/Val/Test).
    #[arg(long, default_value_t = 10_000)]
    pub gifs: usize,
    /// How questions and captions are worded (the GIFs and answers are the same in all).
    #[arg(long, value_enum, default_value_t = Wording::Templates)]
    pub wording: Wording,
    /// Which renderer draws the GIFs (same world and questions): `second` makes GIFs that no
    /// model trains on, for choosing models on a look they never saw.
    #[arg(long, value_enum, default_value_t = Renderer::Primary)]
    pub renderer: Renderer,
    /// How the primary renderer draws (same world and questions): `plain`, one look, or
    /// `varied`, many looks within the benchmark's contract (backgrounds, anti-aliasing and
    /// resampling filters, fills, palette quantisers, dithering, disposal methods).
    #[arg(long, value_enum, default_value_t = Drawing::Plain)]
    pub drawing: Drawing,
}

/// Runs `trainer generate`.
pub fn run(args: GenerateArgs) -> Result<()> {
    let GenerateArgs { out, seed, gifs, wording, renderer, drawing } = args;
    let bar = progress::progress(gifs as u64, "generating GIFs");
    let options = GenerateOptions { out: out.clone(), seed, gifs, wording, renderer, drawing };
    let summary = generate::generate(&options, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let splits: Vec<String> = summary.gifs_per_split.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let types: Vec<String> = summary.questions_per_type.iter().map(|(t, n)| format!("{t} {n}")).collect();
    println!(
        "wrote {} in {:.1}s: GIFs {}; questions {}",
        out.display(),
        bar.elapsed().as_secs_f64(),
        splits.join(", "),
        types.join(", ")
    );
    Ok(())
}
