//! Training: `trainer train`'s options and the run they describe. A run starts a new model
//! (`new_model`) or resumes a checkpoint (`checkpoint`), loads its splits (`splits`), then trains
//! epoch after epoch (`epoch`, each step data-parallel in `parallel`, its learning rate from
//! `schedule`, its figures kept on the device by `step_metrics`, its clips jittered and augmented by
//! `augment`), validates and saves a checkpoint per epoch (`fit`, `records`). A recipe (`recipe`)
//! chains such runs from generated data to a calibrated model folder (`cook`).

/// One forward pass over a batch of videos and their questions, and the losses on it.
pub mod forward;

pub mod augment;
mod checkpoint;
pub mod cook;
mod epoch;
/// `trainer export` and recipes' last step: a model folder with its weights in another width.
pub mod export;
mod fit;
mod new_model;
mod options;
pub mod parallel;
pub mod recipe;
mod records;
pub mod schedule;
mod splits;
pub mod step_metrics;

use anyhow::Result;

pub use checkpoint::{MAX_STATE_BYTES, RecipeRun, STATE_FILE, TrainState};
pub use epoch::{READ_EVERY, optimizer_config};
pub use new_model::{NewModel, Towers, new_config};
pub use options::{
    CountHeadKind, InputOptions, LossWeights, ModelShape, ScheduleOptions, TemporalKind, TowerOptions, TrainOptions,
};
pub use records::{EpochRecord, KindHeadAccuracy, ObjectProbeAccuracy, describe, kind_accuracy};

/// Runs `trainer train`: a recipe (`--recipe`), or one training run.
pub fn run(options: TrainOptions) -> Result<()> {
    match &options.recipe {
        Some(recipe) => {
            let recipe = recipe::Recipe::load(recipe)?;
            let data = Some(options.data.as_path()).filter(|d| !d.as_os_str().is_empty());
            let run = cook::RunOptions {
                minutes: options.schedule.minutes,
                resume: options.resume,
                devices: options.devices.clone(),
            };
            cook::run(&recipe, &options.out, data, &run)
        }
        None => fit::fit(options),
    }
}
