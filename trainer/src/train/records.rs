//! What `training.json` records of each epoch, and the log line that shows it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shared_model::text::questions::QuestionType;

use super::step_metrics::Figures;
use crate::eval::Report;

/// Metrics of one epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Optimiser steps so far.
    pub step: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy per type (on the fly, with dropout).
    pub train_accuracy: BTreeMap<String, f64>,
    /// Validation accuracy per type.
    pub val_accuracy: BTreeMap<String, f64>,
    /// Training accuracy of the object probe (with `--object-supervision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_probe: Option<ObjectProbeAccuracy>,
    /// How often the kind head named the question's type (with `--kind-head`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind_head: Option<KindHeadAccuracy>,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
    /// Questions per second.
    pub questions_per_second: f64,
    /// GIFs (videos) per second.
    pub gifs_per_second: f64,
}

/// How often the object probe named an object's shape and colour right during an epoch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ObjectProbeAccuracy {
    /// Share of objects (in frames) whose shape it named.
    pub shape: f64,
    /// Share whose colour it named.
    pub colour: f64,
}

/// How often the kind head named a question's type during an epoch, in training (on the fly, with
/// dropout) and on Val (`None` without a Val split).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct KindHeadAccuracy {
    /// Share of training questions.
    pub train: f64,
    /// Share of validation questions.
    pub val: Option<f64>,
}

/// GIFs and questions an epoch trained on.
#[derive(Clone, Copy, Default)]
pub(super) struct Seen {
    pub(super) gifs: usize,
    pub(super) questions: usize,
}

/// The record of an epoch: its training figures, and the Val report.
pub(super) fn epoch_record(
    epoch: usize,
    step: usize,
    figures: &Figures,
    val: &Report,
    seconds: f64,
    seen: Seen,
) -> EpochRecord {
    let share = |right: usize, n: usize| right as f64 / n.max(1) as f64;
    EpochRecord {
        epoch,
        step,
        train_loss: figures.mean_loss(),
        train_accuracy: figures.tally.iter().map(|(t, (r, n))| (t.tag().to_string(), share(*r, *n))).collect(),
        val_accuracy: val.iter().map(|(t, r)| (t.clone(), r.accuracy)).collect(),
        object_probe: (figures.probe.objects > 0).then(|| ObjectProbeAccuracy {
            shape: share(figures.probe.shapes_right, figures.probe.objects),
            colour: share(figures.probe.colours_right, figures.probe.objects),
        }),
        kind_head: (figures.kinds.1 > 0)
            .then(|| KindHeadAccuracy { train: share(figures.kinds.0, figures.kinds.1), val: kind_accuracy(val) }),
        seconds,
        questions_per_second: seen.questions as f64 / seconds,
        gifs_per_second: seen.gifs as f64 / seconds,
    }
}

/// The kind head's accuracy over every question of `report` (`None` without the head or questions).
pub fn kind_accuracy(report: &Report) -> Option<f64> {
    let (right, n) = report
        .values()
        .filter_map(|r| r.kind_accuracy.map(|a| (a * r.n as f64, r.n)))
        .fold((0.0, 0), |(right, n), (r, k)| (right + r, n + k));
    (n > 0).then(|| right / n as f64)
}

/// One line per epoch for the log.
pub fn describe(record: &EpochRecord) -> String {
    let fmt = |m: &BTreeMap<String, f64>| {
        QuestionType::ALL
            .iter()
            .filter_map(|t| m.get(t.tag()).map(|a| format!("{} {:.1}%", t.tag(), 100.0 * a)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // No Val split (real TGIF-QA): say so rather than print nothing.
    let fmt = |m: &BTreeMap<String, f64>| if m.is_empty() { "-".to_string() } else { fmt(m) };
    let probe = record.object_probe.map_or(String::new(), |p| {
        format!(" | object probe shape {:.1}%, colour {:.1}%", 100.0 * p.shape, 100.0 * p.colour)
    });
    let kind = record.kind_head.map_or(String::new(), |k| {
        let val = k.val.map_or(String::new(), |v| format!(", val {:.1}%", 100.0 * v));
        format!(" | kind head train {:.1}%{val}", 100.0 * k.train)
    });
    format!(
        "epoch {} (step {}): loss {:.3} | train {} | val {}{probe}{kind} | {:.0}s, {:.1} questions/s",
        record.epoch,
        record.step,
        record.train_loss,
        fmt(&record.train_accuracy),
        fmt(&record.val_accuracy),
        record.seconds,
        record.questions_per_second
    )
}
