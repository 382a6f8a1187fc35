//! Averages the weights of model folders that share one configuration: a "model soup" of
//! checkpoints that continue one another (e.g. a model and a run started from it with `--init`).
//! Averaging works only within one basin of the loss, i.e. for folders that descend from one
//! trained model; averaging independent trainings gives a useless model.
//!
//! Usage: average_models OUT_DIR MODEL_DIR MODEL_DIR...
//!
//! Every input must have the same config.json (answers and options included) and tokenizer.json,
//! and the same tensors (names, dtypes, shapes). Float tensors are averaged element-wise with equal
//! weights; any other tensor must be identical in every input. OUT_DIR gets the first folder's
//! config and tokenizer, the averaged weights and a fresh manifest, plus `averaged_from.json`
//! naming the inputs; it is written whole or not at all.
use anyhow::{Context, Result};
use shared_model::bundle::{ModelBundle, folder_files};
use trainer::backend::{self, Training};
use trainer::files::write_folder_atomically;
use trainer::soup::average_safetensors;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, output, inputs @ ..] = args.as_slice() else {
        anyhow::bail!("usage: average_models OUT_DIR MODEL_DIR MODEL_DIR...");
    };
    anyhow::ensure!(inputs.len() >= 2, "name at least two model folders to average");
    let output = std::path::Path::new(output);
    anyhow::ensure!(!output.exists(), "{} exists already", output.display());

    let read = |dir: &str, file: &str| {
        let path = std::path::Path::new(dir).join(file);
        std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    let config = read(&inputs[0], "config.json")?;
    let tokenizer = read(&inputs[0], "tokenizer.json")?;
    let config_json: serde_json::Value = serde_json::from_slice(&config)?;
    for input in &inputs[1..] {
        let other: serde_json::Value = serde_json::from_slice(&read(input, "config.json")?)?;
        anyhow::ensure!(other == config_json, "{input}/config.json differs from {}/config.json", inputs[0]);
        anyhow::ensure!(
            read(input, "tokenizer.json")? == tokenizer,
            "{input}/tokenizer.json differs from {}/tokenizer.json",
            inputs[0]
        );
    }
    let weights: Vec<Vec<u8>> = inputs.iter().map(|input| read(input, "model.safetensors")).collect::<Result<_>>()?;
    let named: Vec<(&str, &[u8])> = inputs.iter().map(String::as_str).zip(weights.iter().map(Vec::as_slice)).collect();
    let averaged = average_safetensors(&named)?;

    // The bundle loads the averaged bytes strictly, so the folder written is one the app loads
    // (every tensor present and used).
    let device = backend::device();
    let bundle = ModelBundle::<Training>::from_bytes(&config, averaged, &tokenizer, &device)
        .context("the averaged weights do not make a model of the first folder's config")?;
    let mut files = folder_files(&bundle.config, &bundle.model, &bundle.tokenizer)?;
    let sources: Vec<String> = inputs
        .iter()
        .map(|i| std::fs::canonicalize(i).map(|p| p.display().to_string()).unwrap_or_else(|_| i.clone()))
        .collect();
    files.push(("averaged_from.json", serde_json::to_vec_pretty(&serde_json::json!({ "models": sources }))?));
    write_folder_atomically(output, &files)?;
    println!("{}: the mean of {} models", output.display(), inputs.len());
    Ok(())
}
