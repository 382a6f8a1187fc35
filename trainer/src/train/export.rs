//! `trainer export`: a model folder written again with its weights stored in another width
//! (`--weights f16` halves `model.safetensors`, the largest file the page downloads), every other
//! file kept and `manifest.json` listing the new sizes and hashes. Recipes with `"weights": "f16"`
//! end with the same conversion.

use std::path::{Path, PathBuf};

use anyhow::{Result, ensure};
use shared_model::bundle::{WEIGHTS_FILE, WeightsDtype, weights_to_bytes_as};

use crate::runtime::backend;
use crate::runtime::files::rewrite_model_folder;

/// Options of `trainer export`.
#[derive(clap::Args)]
pub struct ExportOptions {
    /// Model folder to read (checked against its manifest.json; its weights may be f32 or f16).
    #[arg(long)]
    pub model: PathBuf,
    /// Folder to write: a new one, or --model itself (rewritten in place).
    #[arg(long)]
    pub out: PathBuf,
    /// How model.safetensors stores the weights: `f16` (half the bytes; every weight rounded to
    /// 11 significant bits, read back into the f32 model) or `f32`.
    #[arg(long, default_value_t = WeightsDtype::F16)]
    pub weights: WeightsDtype,
}

/// Runs `trainer export`.
pub fn run(options: ExportOptions) -> Result<()> {
    let same = options.out.canonicalize().ok() == Some(options.model.canonicalize()?);
    ensure!(
        same || !options.out.exists(),
        "--out {} already exists: choose a new folder, or --model's own to rewrite it in place",
        options.out.display()
    );
    let before = std::fs::metadata(options.model.join(WEIGHTS_FILE))?.len();
    let weights = weights_as(&options.model, options.weights)?;
    let after = weights.len() as u64;
    rewrite_model_folder(&options.model, &options.out, &[(WEIGHTS_FILE, weights)])?;
    println!("{}: {WEIGHTS_FILE} in {} is {after} bytes (was {before})", options.out.display(), options.weights);
    Ok(())
}

/// The weights of the model folder `dir` (loaded and checked against its manifest) as
/// `model.safetensors` bytes in `dtype`.
pub fn weights_as(dir: &Path, dtype: WeightsDtype) -> Result<Vec<u8>> {
    let bundle = backend::load_model(dir, false)?;
    Ok(weights_to_bytes_as(&bundle.model, dtype)?)
}
