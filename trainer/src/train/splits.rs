//! What a run reads before its first step: the Train and Val splits (with order drills), the
//! lists of the GIFs they lack, and the annotations the auxiliary losses need.

use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use shared_model::bundle::BundleConfig;
use shared_model::model::CountHead;
use shared_model::sampling::SamplingStrategy;
use shared_model::text::questions::has_split;

use super::checkpoint::missing_list_name;
use super::options::TrainOptions;
use crate::data::attention_targets::ObjectAnnotations;
use crate::data::order_drills::add_order_drills;
use crate::data::{self, Dataset, MissingGifs, Split};

/// Checks the auxiliary losses' weights against the model and its sampling, and loads the Train
/// annotations they all read (`None` when every one is off).
pub(super) fn supervision_annotations(
    opts: &TrainOptions,
    config: &BundleConfig,
    strategy: SamplingStrategy,
) -> Result<Option<ObjectAnnotations>> {
    let supervisions = [
        ("--attention-supervision", opts.losses.attention_supervision),
        ("--object-supervision", opts.losses.object_supervision),
        ("--count-supervision", opts.losses.count_supervision),
    ];
    for (flag, weight) in supervisions {
        anyhow::ensure!(
            weight == 0.0 || (weight.is_finite() && weight > 0.0),
            "{flag} must be a positive weight (or 0 for off), not {weight}"
        );
        anyhow::ensure!(
            weight == 0.0 || strategy.top_k().is_none(),
            "{flag} needs every question to read all sampled frames; {} picks frames per question",
            config.sampling
        );
    }
    anyhow::ensure!(
        opts.losses.count_supervision == 0.0 || config.model.count_head() != CountHead::Pooled,
        "--count-supervision trains an event counter, and the model's count head is pooled alone \
         (use --count-head frame-evidence or pooled-and-evidence)"
    );
    if supervisions.iter().any(|&(_, weight)| weight > 0.0) {
        Ok(Some(ObjectAnnotations::load(&opts.data, "Train")?))
    } else {
        Ok(None)
    }
}

/// The splits a run reads, and the lists of the GIFs they lack.
pub(super) struct Splits {
    pub(super) train: Split,
    pub(super) val: Option<Split>,
    /// `(file name, contents)`, kept in the model folder beside the weights.
    pub(super) missing_lists: Vec<(&'static str, Vec<u8>)>,
}

/// Loads Train (with `--order-drills`) and Val (when the data has it).
pub(super) fn load_splits(opts: &TrainOptions, config: &BundleConfig) -> Result<Splits> {
    let missing = |split: &str| MissingGifs {
        strict: opts.inputs.strict,
        list_file: Some(opts.out.join(missing_list_name(split))),
    };
    let mut train = data::load_with(
        &opts.data,
        "Train",
        Dataset::TgifQa,
        &config.preprocess,
        opts.inputs.max_gifs,
        &missing("Train"),
    )?;
    if let Some(drills) = opts.inputs.order_drills {
        let counts = add_order_drills(&mut train, drills, &mut ChaCha8Rng::seed_from_u64(opts.seed ^ 0x0d71_11e5));
        eprintln!(
            "order drills: {} Transition and {} caption questions added to Train",
            counts.transitions, counts.captions
        );
    }
    let val = if has_split(&opts.data, "Val") {
        let val_gifs = Some(opts.inputs.val_gifs);
        Some(data::load_with(&opts.data, "Val", Dataset::TgifQa, &config.preprocess, val_gifs, &missing("Val"))?)
    } else {
        eprintln!("note: {} has no Val question files: per-epoch validation is skipped", opts.data.display());
        None
    };
    let mut missing_lists = Vec::new();
    for (split, loaded) in [("Train", Some(&train)), ("Val", val.as_ref())] {
        if let Some(list) = loaded.and_then(|l| l.missing_list.as_ref()) {
            missing_lists.push((missing_list_name(split), list.clone().into_bytes()));
        }
    }
    Ok(Splits { train, val, missing_lists })
}
