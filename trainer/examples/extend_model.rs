//! Copies a model folder with new parts added, every trained tensor kept: the start of a
//! `trainer train --init OUT_DIR` run (with the matching flags) that continues a trained model.
//!
//! Usage: extend_model MODEL_DIR OUT_DIR CHANGE...
//! - `frame-evidence-count`: the pooled count head replaced by a fresh frame-evidence head
//!   (`--count-head frame-evidence`);
//! - `evidence-count`: a fresh frame-evidence head added beside the trained pooled one, their
//!   logits summed; its parabola starts flat, so the counts barely change at the start
//!   (`--count-head pooled-and-evidence`, trained with `--count-supervision`);
//! - `slot-coordinates`: the slot reader's position read added, zero-initialised so the model's
//!   answers are unchanged at the start (`--slot-coordinates`);
//! - `object-probe`: a fresh object probe added, which answering never uses (`--object-supervision`);
//! - `grid-attention`: one more self-attention layer among each frame's grid tokens
//!   (`--grid-attention-layers N` with the new count). The first comes with a gate that starts at
//!   zero, a further one starts as the identity: either way the answers are unchanged at the start.
//! - `fused-captions`: caption candidates read the GIF as questions (`--fused-captions`); no
//!   tensor is added, the trained weights answer the new way from the start.
//! - `sampling=SPEC` (e.g. `sampling=uniform:32`): the frames every question reads (`--frames 32`
//!   or `--sample SPEC`; a count-less name keeps the model's frame count); no tensor is added:
//!   frames carry time buckets, not indices, so the temporal embedding already covers any number
//!   of them.
//! - `count-check=W`: multiple-choice scores add the count head's check of each count a caption or
//!   an action answer states, at weight W (see `shared_model::count_check`; `trainer eval
//!   --count-check-sweep` measures weights); no tensor is added.
//! - `order-check=W`: fused caption scores add the transition head's check of the order each
//!   caption states, at weight W (see `shared_model::order_check`; `trainer eval
//!   --order-check-sweep` measures weights); no tensor is added.
//! - `object-check=W`: fused caption scores add the FrameQA head's check of the shape each caption
//!   gives its colour, at weight W (see `shared_model::object_check`; `trainer eval
//!   --object-check-sweep` measures weights); no tensor is added.
//! - `object-zoom=F`: the object check of fused captions also asks its questions of a closer
//!   look, each frame cropped to a window F times its side around where the question looked (see
//!   `shared_model::zoom`); no tensor is added.
use anyhow::{Context, Result};
use shared_model::bundle::{ModelBundle, folder_files, load_weights_partially, weights_to_bytes};
use shared_model::model::CountHead;
use trainer::backend::{self, Training};
use trainer::files::write_folder_atomically;

/// Tensor paths a change adds (fresh) and drops.
struct Change {
    added: Option<String>,
    dropped: Option<&'static str>,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output, changes @ ..] = args.as_slice() else {
        anyhow::bail!(
            "usage: extend_model MODEL_DIR OUT_DIR [frame-evidence-count] [evidence-count] [slot-coordinates] [object-probe] [grid-attention] [fused-captions] [sampling=SPEC] [count-check=W] [order-check=W] [object-check=W] [object-zoom=F]"
        );
    };
    anyhow::ensure!(
        !changes.is_empty(),
        "name at least one change: frame-evidence-count, evidence-count, slot-coordinates, object-probe, grid-attention, \
         fused-captions, sampling=SPEC, count-check=W, order-check=W, object-check=W, object-zoom=F"
    );
    let output = std::path::Path::new(output);
    anyhow::ensure!(!output.exists(), "{} exists already", output.display());
    let device = backend::device();
    let bundle = ModelBundle::<Training>::load_dir(input.as_ref(), &device)
        .with_context(|| format!("cannot load the model in {input}"))?;
    let mut config = bundle.config.clone();
    let mut applied = Vec::new();
    for change in changes {
        match change.as_str() {
            "frame-evidence-count" => {
                anyhow::ensure!(config.model.count_head() == CountHead::Pooled, "{input} has no pooled count head");
                config.model.count_head = Some(CountHead::FrameEvidence);
                applied.push(Change { added: Some("event_counter.".into()), dropped: Some("count_head.") });
            }
            "evidence-count" => {
                anyhow::ensure!(config.model.count_head() == CountHead::Pooled, "{input} has no pooled count head");
                config.model.count_head = Some(CountHead::PooledAndEvidence);
                applied.push(Change { added: Some("event_counter.".into()), dropped: None });
            }
            "slot-coordinates" => {
                anyhow::ensure!(config.model.slot_coordinates != Some(true), "{input} reads slot coordinates already");
                config.model.slot_coordinates = Some(true);
                applied.push(Change { added: Some("fusion.slot_reader.where_read.".into()), dropped: None });
            }
            "object-probe" => {
                anyhow::ensure!(config.model.object_probe != Some(true), "{input} has an object probe already");
                config.model.object_probe = Some(true);
                applied.push(Change { added: Some("object_probe.".into()), dropped: None });
            }
            "grid-attention" => {
                anyhow::ensure!(config.model.vision_tower.is_none(), "{input} has a pretrained vision tower");
                let layers = config.model.grid_attention_layers.unwrap_or(0);
                config.model.grid_attention_layers = Some(layers + 1);
                let added = match layers {
                    0 => "frame_encoder.grid_attention.".to_string(),
                    n => format!("frame_encoder.grid_attention.transformer.layers.{n}."),
                };
                applied.push(Change { added: Some(added), dropped: None });
            }
            "fused-captions" => {
                anyhow::ensure!(!config.model.fuses_captions(), "{input} fuses caption candidates already");
                config.model.fused_captions = Some(true);
                applied.push(Change { added: None, dropped: None });
            }
            other if other.starts_with("sampling=") => {
                let spec = &other["sampling=".len()..];
                let sampling = backend::strategy_for(&config, Some(spec))
                    .with_context(|| format!("bad change '{other}'"))?
                    .to_string();
                anyhow::ensure!(sampling != config.sampling, "{input} samples {sampling} already");
                config.sampling = sampling;
                applied.push(Change { added: None, dropped: None });
            }
            other
                if ["count-check=", "order-check=", "object-check=", "object-zoom="]
                    .iter()
                    .any(|p| other.starts_with(p)) =>
            {
                let (check, weight) = other.split_once('=').unwrap_or_default();
                let weight: f64 = weight.parse().with_context(|| format!("bad change '{other}': expected a number"))?;
                match check {
                    "count-check" => config.model.count_check_weight = Some(weight),
                    "order-check" => config.model.order_check_weight = Some(weight),
                    "object-zoom" => config.model.object_zoom = Some(weight),
                    _ => config.model.object_check_weight = Some(weight),
                }
                applied.push(Change { added: None, dropped: None });
            }
            other => anyhow::bail!(
                "unknown change '{other}' (expected frame-evidence-count, evidence-count, slot-coordinates, object-probe, \
                 grid-attention, fused-captions, sampling=SPEC, count-check=W, order-check=W, object-check=W or object-zoom=F)"
            ),
        }
    }
    // Options written out as `trainer train` writes them for a new model, so that `--init`
    // compares equal (the same values, now explicit).
    config.model.count_head = Some(config.model.count_head());
    config.model.slot_coordinates = Some(config.model.slot_coordinates == Some(true));
    config.model.dropout = Some(config.model.dropout());

    let mut model = config.model.init::<Training>(&device);
    let result = load_weights_partially(&mut model, weights_to_bytes(&bundle.model)?)?;
    let expected_missing =
        |path: &String| applied.iter().any(|c| c.added.as_ref().is_some_and(|added| path.starts_with(added)));
    let expected_unused = |path: &String| applied.iter().any(|c| c.dropped.is_some_and(|d| path.starts_with(d)));
    anyhow::ensure!(result.missing.iter().all(expected_missing), "unexpected missing tensors {:?}", result.missing);
    anyhow::ensure!(result.unused.iter().all(expected_unused), "unexpected unused tensors {:?}", result.unused);
    let files = folder_files(&config, &model, &bundle.tokenizer)?;
    write_folder_atomically(output, &files)?;
    println!("{}: fresh {:?}, dropped {:?}", output.display(), result.missing, result.unused);
    Ok(())
}
