//! Copies a model folder with its pooled count head replaced by a fresh frame-evidence head
//! (`CountHead::FrameEvidence`), every other tensor kept: the start of a `trainer train --init OUT
//! --count-head frame-evidence` run that continues a trained model.
//! Usage: swap_count_head MODEL_DIR OUT_DIR
use anyhow::{Context, Result};
use shared_model::bundle::{
    ModelBundle, folder_files, load_weights_partially, weights_to_bytes, write_folder_atomically,
};
use shared_model::model::CountHead;
use trainer::backend::{self, Training};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = args.as_slice() else {
        anyhow::bail!("usage: swap_count_head MODEL_DIR OUT_DIR");
    };
    let output = std::path::Path::new(output);
    anyhow::ensure!(!output.exists(), "{} exists already", output.display());
    let device = backend::device();
    let bundle = ModelBundle::<Training>::load_dir(input.as_ref(), &device)
        .with_context(|| format!("cannot load the model in {input}"))?;
    anyhow::ensure!(bundle.config.model.count_head() == CountHead::Pooled, "{input} has no pooled count head");
    let mut config = bundle.config.clone();
    config.model.count_head = Some(CountHead::FrameEvidence);
    // Written out, as new configs have it, so that `--init` compares equal (same value).
    config.model.dropout = Some(config.model.dropout());
    let mut model = config.model.init::<Training>(&device);
    let result = load_weights_partially(&mut model, weights_to_bytes(&bundle.model)?)?;
    let missing = &result.missing;
    anyhow::ensure!(missing.iter().all(|p| p.starts_with("event_counter.")), "unexpected missing tensors {missing:?}");
    anyhow::ensure!(result.unused.iter().all(|p| p.starts_with("count_head.")), "unexpected unused {:?}", result.unused);
    let files = folder_files(&config, &model, &bundle.tokenizer)?;
    write_folder_atomically(output, &files)?;
    println!("{}: fresh {missing:?}, dropped {:?}", output.display(), result.unused);
    Ok(())
}
