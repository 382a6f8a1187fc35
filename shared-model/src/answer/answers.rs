//! Answering a batch: each row's head logits read back, the legacy answer checks' gains, and each
//! question's answer over its clips.

use burn::prelude::*;

use super::checks::{CheckGains, CheckWeights, Checks};
use super::heads::{Heads, Routing};
use super::read::{ClipAggregation, InputError, aggregate, read_floats};
use super::route::Route;
use super::{Asked, Engine};
use crate::bundle::BundleConfig;
use crate::model::VideoEncoding;
use crate::preprocess::PreparedClip;

/// A batch's answers: every row's logits over the classes of the head that answered it, and what
/// the checks add to them.
pub struct Answers<B: Backend> {
    /// Each row's logits before the checks (`[classes]` of its head).
    pub logits: Vec<Vec<f32>>,
    /// The checks' gains at weight 1.
    pub gains: CheckGains,
    /// The heads' outputs (routes, stage 1, count events) the logits were read from.
    pub heads: Heads<B>,
}

impl<B: Backend> Answers<B> {
    /// Each row's route.
    pub fn routes(&self) -> &[Route] {
        &self.heads.routes
    }

    /// The logits of the question read by `rows` (one per clip), the checks added at `weights`,
    /// combined over the clips by `aggregation`.
    pub fn combined(
        &self,
        rows: std::ops::Range<usize>,
        weights: CheckWeights,
        aggregation: ClipAggregation,
    ) -> Vec<f32> {
        let clips = rows.len();
        let checked: Vec<f32> = rows.flat_map(|row| self.gains.apply(row, &self.logits[row], weights)).collect();
        aggregate(&checked, clips, aggregation)
    }
}

/// The label of class `index` of the head `route` names: the candidate, the count, or the answer
/// word (empty when there is no such class).
pub fn label(route: Route, index: usize, candidates: &[String], config: &BundleConfig) -> String {
    match route {
        Route::Choice { .. } => candidates.get(index).cloned().unwrap_or_default(),
        Route::Count => index.to_string(),
        Route::Word => config.answers.get(index).cloned().unwrap_or_default(),
    }
}

/// Every label of the head `route` names, in class order.
pub fn labels(route: Route, candidates: &[String], config: &BundleConfig) -> Vec<String> {
    match route {
        Route::Choice { .. } => candidates.to_vec(),
        Route::Count => (0..config.model.count_classes).map(|c| c.to_string()).collect(),
        Route::Word => config.answers.clone(),
    }
}

impl<B: Backend> Engine<'_, B> {
    /// Answers `rows` about the encoded `clips` (`video`): routes them as `routing` says, runs
    /// their heads and reads back each row's logits, with the checks' gains for those weighted in
    /// `wanted` (answering passes the model's own weights, [`CheckWeights::of`]).
    ///
    /// A damaged model's NaN or infinite logits are an error ([`InputError::NonFinite`]), not an
    /// answer.
    pub async fn answer(
        &self,
        video: &VideoEncoding<B>,
        clips: &[PreparedClip],
        rows: &[Asked<'_>],
        routing: Routing,
        wanted: CheckWeights,
    ) -> Result<Answers<B>, InputError> {
        let sources: Vec<&[Option<usize>]> = clips.iter().map(|clip| clip.sources.as_slice()).collect();
        let heads = self.heads(video, &sources, rows, routing).await?;
        let mut logits = vec![Vec::new(); rows.len()];
        for head in heads.all() {
            let classes = head.logits.dims()[1];
            let values = read_floats(head.logits.clone()).await?;
            if !values.iter().all(|x| x.is_finite()) {
                return Err(InputError::NonFinite);
            }
            for (row, values) in head.rows.iter().zip(values.chunks(classes.max(1))) {
                logits[*row] = values.to_vec();
            }
        }
        let checks = Checks { engine: *self, video, clips };
        let gains = checks.gains(rows, &heads.routes, wanted).await?;
        Ok(Answers { logits, gains, heads })
    }
}
