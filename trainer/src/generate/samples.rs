//! Sample GIFs with their questions, exported from a generated split for the demo and the page
//! (`www/samples/`: the GIF files and `samples.json`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use shared_model::text::questions::{Answer, QuestionType, gif_dir, load_split};

pub use shared_model::text::samples::{SAMPLES_FILE, Sample};

/// Options of `trainer samples`.
#[derive(clap::Args)]
pub struct SamplesOptions {
    /// Dataset folder (from `trainer generate`).
    #[arg(long)]
    pub data: PathBuf,
    /// Split to take samples from.
    #[arg(long, default_value = "Test")]
    pub split: String,
    /// Output folder (replaced atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of GIFs.
    #[arg(long, default_value_t = 8)]
    pub gifs: usize,
}

/// Copies the first `gifs` GIFs of the split that have a question of every type, with all their questions.
pub fn run(options: SamplesOptions) -> Result<()> {
    let items = load_split(&options.data, &options.split)?;
    let mut names: Vec<String> = items.iter().map(|i| i.gif_name.clone()).collect();
    names.dedup();
    let complete =
        |name: &str| QuestionType::ALL.iter().all(|t| items.iter().any(|i| i.gif_name == name && i.qtype == *t));
    let chosen: Vec<String> = names.into_iter().filter(|n| complete(n)).take(options.gifs).collect();
    anyhow::ensure!(!chosen.is_empty(), "no GIF in {} has a question of every type", options.split);
    let source = gif_dir(&options.data, &options.split);
    let mut files = Vec::new();
    let mut samples = Vec::new();
    for name in &chosen {
        let file = format!("{name}.gif");
        let bytes = std::fs::read(source.join(&file)).with_context(|| format!("reading {file}"))?;
        files.push((file.clone(), bytes));
        for item in items.iter().filter(|i| &i.gif_name == name) {
            let answer = match &item.answer {
                Answer::Choice(c) => item.candidates[*c].clone(),
                Answer::Count(n) => n.to_string(),
                Answer::Word(w) => w.clone(),
            };
            samples.push(Sample {
                gif: file.clone(),
                qtype: item.qtype.tag().into(),
                question: item.question.clone(),
                candidates: item.candidates.clone(),
                answer,
            });
        }
    }
    files.push((SAMPLES_FILE.into(), serde_json::to_vec_pretty(&samples)?));
    let borrowed: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    crate::runtime::files::write_folder_atomically(&options.out, &borrowed)?;
    println!("wrote {} GIFs and {} questions to {}", chosen.len(), samples.len(), options.out.display());
    Ok(())
}

/// Reads `samples.json` from a samples folder.
pub fn read(dir: &Path) -> Result<Vec<Sample>> {
    let path = dir.join(SAMPLES_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is invalid", path.display()))
}
