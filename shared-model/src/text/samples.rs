//! The sample questions shipped with the demo (`www/samples/samples.json`), read by the trainer's
//! `demo` and by the page's gallery.

use serde::{Deserialize, Serialize};

/// File listing the samples, beside the GIFs.
pub const SAMPLES_FILE: &str = "samples.json";

/// One sample question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// GIF file name inside the samples folder.
    pub gif: String,
    /// Question type tag.
    pub qtype: String,
    /// The question.
    pub question: String,
    /// Candidates (empty for open-ended questions).
    pub candidates: Vec<String>,
    /// The right answer's text.
    pub answer: String,
}
