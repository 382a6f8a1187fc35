//! Reading answers back from the device: the answering errors, float reads and how the logits
//! of several clips of one GIF are combined.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::text::tokenize::TokenizeError;

/// How logits of several clips of one GIF are combined (ClipBERT's inference aggregation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipAggregation {
    /// Mean of the logits.
    Mean,
    /// Element-wise maximum.
    Max,
    /// log-mean-exp: a soft maximum.
    Lse,
}

impl std::str::FromStr for ClipAggregation {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mean" => Ok(Self::Mean),
            "max" => Ok(Self::Max),
            "lse" => Ok(Self::Lse),
            other => Err(InputError::Aggregation(other.to_string())),
        }
    }
}

/// Bad user input, reported as one line.
#[derive(Debug, thiserror::Error)]
// Each variant's fields are named in its #[error] message and its doc line.
#[allow(missing_docs)]
pub enum InputError {
    /// Empty question.
    #[error("the question is empty")]
    EmptyQuestion,
    /// Too few or too many candidates.
    #[error("give 2 to 10 candidate answers (got {0}), or none for an open-ended question")]
    CandidateCount(usize),
    /// An empty candidate.
    #[error("candidate answer {0} is empty")]
    EmptyCandidate(usize),
    /// The same candidate twice.
    #[error("candidate answer '{0}' is given twice")]
    DuplicateCandidate(String),
    /// Unknown aggregation.
    #[error("unknown clip aggregation '{0}' (expected mean, max or lse)")]
    Aggregation(String),
    /// Tokenizer failure.
    #[error(transparent)]
    Tokenize(#[from] TokenizeError),
    /// A tensor could not be read back from the device.
    #[error("reading the result from the device failed: {0}")]
    Device(String),
    /// A question or candidate longer than [`MAX_QUESTION_BYTES`] / [`MAX_CANDIDATE_BYTES`].
    #[error("{what} is {bytes} bytes long; the limit is {limit}")]
    TooManyBytes { what: String, bytes: usize, limit: usize },
    /// A text with more tokens than the model reads (they would be dropped unseen).
    #[error("{what} is {tokens} tokens long, and this model reads at most {limit}: shorten it")]
    TooManyTokens { what: String, tokens: usize, limit: usize },
    /// A text encoder that keeps states (a cache of a pretrained tower's) failed to give them.
    #[error("encoding the texts failed: {0}")]
    TextEncoding(String),
    /// The model computed NaN or infinity: its weights are damaged or it diverged in training.
    #[error("the model's output is not a finite number (its weights are damaged or diverged)")]
    NonFinite,
    /// The model's in-world statistics do not fit its features.
    #[error(transparent)]
    InWorld(#[from] crate::trust::in_world::InWorldError),
}

/// Reads a float tensor back to the host without blocking.
pub async fn read_floats<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Result<Vec<f32>, InputError> {
    let data = tensor.into_data_async().await.map_err(|e| InputError::Device(format!("{e:?}")))?;
    data.to_vec::<f32>().map_err(|e| InputError::Device(format!("{e:?}")))
}

/// Combines `[clips, classes]` logits (row-major) into one row.
pub fn aggregate(logits: &[f32], clips: usize, how: ClipAggregation) -> Vec<f32> {
    let classes = logits.len() / clips.max(1);
    (0..classes)
        .map(|c| {
            let column = (0..clips).map(|k| logits[k * classes + c]);
            match how {
                ClipAggregation::Mean => column.sum::<f32>() / clips as f32,
                ClipAggregation::Max => column.fold(f32::NEG_INFINITY, f32::max),
                ClipAggregation::Lse => {
                    let max = column.clone().fold(f32::NEG_INFINITY, f32::max);
                    max + (column.map(|x| (x - max).exp()).sum::<f32>() / clips as f32).ln()
                }
            }
        })
        .collect()
}
