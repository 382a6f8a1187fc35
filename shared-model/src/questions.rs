//! Question files in TGIF-QA's layout (tab separated, header line, CRLF or LF), for the synthetic
//! benchmark and for TGIF-QA's real files alike. Columns are found by header name.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The question used for caption rows, which have none (MSRVTT-MC style: pick the caption).
pub const CAPTION_PROMPT: &str = "which caption describes the gif ?";

/// TGIF-QA's question types plus MSRVTT-MC-style captions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuestionType {
    /// Repetition action: "What does the red star do 3 times ?"
    Action,
    /// State transition: "What does the red star do after jumping ?"
    Transition,
    /// Repetition count, open-ended.
    Count,
    /// Single-frame question, open-ended word answer.
    FrameQa,
    /// Pick the caption that describes the GIF.
    Caption,
}

impl QuestionType {
    /// Every type, in report order.
    pub const ALL: [QuestionType; 5] = [Self::Action, Self::Transition, Self::Count, Self::FrameQa, Self::Caption];

    /// The name used in file names and reports.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Action => "action",
            Self::Transition => "transition",
            Self::Count => "count",
            Self::FrameQa => "frameqa",
            Self::Caption => "caption",
        }
    }

    /// `{split}_{tag}_question.csv`
    pub fn file_name(self, split: &str) -> String {
        format!("{split}_{}_question.csv", self.tag())
    }

    /// Whether rows carry candidate answers.
    pub fn is_multiple_choice(self) -> bool {
        matches!(self, Self::Action | Self::Transition | Self::Caption)
    }
}

impl fmt::Display for QuestionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// The right answer of a question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// Index into the candidates (multiple choice).
    Choice(usize),
    /// A repetition count.
    Count(u32),
    /// An open-ended word (FrameQA).
    Word(String),
}

/// One question row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QaItem {
    /// Question type.
    pub qtype: QuestionType,
    /// GIF file name without `.gif`.
    pub gif_name: String,
    /// Question text ([`CAPTION_PROMPT`] for captions).
    pub question: String,
    /// Candidate answers (empty for open-ended types).
    pub candidates: Vec<String>,
    /// The right answer.
    pub answer: Answer,
    /// Stable question id.
    pub vid_id: String,
}

/// Errors reading question files.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// File could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A required column is absent from the header.
    #[error("{source_name}: header has no '{column}' column")]
    MissingColumn { source_name: String, column: String },
    /// A row is malformed. `line` is the 1-based line number in the file (the header is line 1).
    #[error("{source_name}, line {line}: {reason}")]
    BadRow { source_name: String, line: usize, reason: String },
    /// No question file exists for the split.
    #[error("no question files for split '{split}' in {dir} (expected e.g. {split}/{split}_action_question.csv)")]
    NoFiles { split: String, dir: String },
}

/// Parses one question file's text. `source_name` names it in errors, with the 1-based line number
/// (the header is line 1) and what is missing or malformed.
pub fn parse_questions(text: &str, qtype: QuestionType, source_name: &str) -> Result<Vec<QaItem>, DatasetError> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').map(str::trim).collect();
    let column = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| DatasetError::MissingColumn {
            source_name: source_name.to_string(),
            column: name.to_string(),
        })
    };
    let gif = column("gif_name")?;
    let answer = column("answer")?;
    let question = if qtype == QuestionType::Caption { None } else { Some(column("question")?) };
    let choices = if qtype.is_multiple_choice() {
        (1..=5).map(|i| column(&format!("a{i}"))).collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let vid_id = header.iter().position(|h| *h == "vid_id");

    let mut items = Vec::new();
    // Line 1 is the header.
    for (line_number, line) in lines.enumerate().map(|(i, l)| (i + 2, l)) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let bad =
            |reason: String| DatasetError::BadRow { source_name: source_name.to_string(), line: line_number, reason };
        let field = |i: usize| {
            fields.get(i).map(|f| f.trim()).ok_or_else(|| {
                bad(format!("has {} columns, the header has {}: no '{}' column", fields.len(), header.len(), header[i]))
            })
        };
        let candidates: Vec<String> =
            choices.iter().map(|&i| field(i).map(str::to_string)).collect::<Result<_, _>>()?;
        let answer_text = field(answer)?;
        let answer = match qtype {
            QuestionType::Action | QuestionType::Transition | QuestionType::Caption => {
                let index: usize = answer_text.parse().map_err(|_| {
                    bad(format!("answer '{answer_text}' is not a choice index (0 to {})", candidates.len() - 1))
                })?;
                if index >= candidates.len() {
                    return Err(bad(format!("answer index {index} is out of range (0 to {})", candidates.len() - 1)));
                }
                Answer::Choice(index)
            }
            QuestionType::Count => Answer::Count(
                answer_text.parse().map_err(|_| bad(format!("count '{answer_text}' is not a whole number")))?,
            ),
            QuestionType::FrameQa => Answer::Word(answer_text.to_string()),
        };
        let gif_name = field(gif)?;
        if gif_name.is_empty() {
            return Err(bad("gif_name is empty".into()));
        }
        items.push(QaItem {
            qtype,
            gif_name: gif_name.to_string(),
            question: match question {
                Some(i) => field(i)?.to_string(),
                None => CAPTION_PROMPT.to_string(),
            },
            candidates,
            answer,
            vid_id: match vid_id {
                Some(i) => field(i)?.to_string(),
                // Row number after the header, as before line numbers were reported.
                None => format!("{}:{}", qtype.tag(), line_number - 1),
            },
        });
    }
    Ok(items)
}

/// The folder holding a split's question files (`dir/{split}`, or `dir`).
fn split_dir(dir: &Path, split: &str) -> std::path::PathBuf {
    let nested = dir.join(split);
    if nested.is_dir() { nested } else { dir.to_path_buf() }
}

/// Whether `dir` holds at least one `{split}_{type}_question.csv` (TGIF-QA ships no `Val` split).
pub fn has_split(dir: &Path, split: &str) -> bool {
    let base = split_dir(dir, split);
    QuestionType::ALL.iter().any(|t| base.join(t.file_name(split)).is_file())
}

/// Reads every `{split}_{type}_question.csv` present in `dir` (or in `dir/{split}`).
pub fn load_split(dir: &Path, split: &str) -> Result<Vec<QaItem>, DatasetError> {
    let base = split_dir(dir, split);
    let mut items = Vec::new();
    let mut found = false;
    for qtype in QuestionType::ALL {
        let path = base.join(qtype.file_name(split));
        if !path.exists() {
            continue;
        }
        found = true;
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| DatasetError::Io { path: shown.clone(), source })?;
        items.extend(parse_questions(&text, qtype, &shown)?);
    }
    if !found {
        return Err(DatasetError::NoFiles { split: split.to_string(), dir: dir.display().to_string() });
    }
    Ok(items)
}

/// The folder holding a split's GIFs (`dir/{split}/gifs`, or `dir/gifs`).
pub fn gif_dir(dir: &Path, split: &str) -> std::path::PathBuf {
    let nested = dir.join(split).join("gifs");
    if nested.is_dir() { nested } else { dir.join("gifs") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_crlf_and_reports_rows() {
        let text = "gif_name\tquestion\tanswer\tvid_id\tkey\r\ng1\tHow many times does the man jump ?\t3\tC1\t1\r\n";
        let items = parse_questions(text, QuestionType::Count, "t.csv").unwrap();
        assert_eq!(items[0].answer, Answer::Count(3));
        assert_eq!(items[0].question, "How many times does the man jump ?");
        let err = parse_questions("gif_name\tquestion\tanswer\ng1\tq\n", QuestionType::Count, "t.csv").unwrap_err();
        assert_eq!(err.to_string(), "t.csv, line 2: has 2 columns, the header has 3: no 'answer' column");
        let err = parse_questions("gif_name\tquestion\tanswer\ng1\tq\t2\ng2\tq\tmany\n", QuestionType::Count, "t.csv")
            .unwrap_err();
        assert_eq!(err.to_string(), "t.csv, line 3: count 'many' is not a whole number");
    }

    #[test]
    fn captions_get_the_prompt() {
        let text = "gif_name\ta1\ta2\ta3\ta4\ta5\tanswer\ng\tA\tB\tC\tD\tE\t4\n";
        let items = parse_questions(text, QuestionType::Caption, "c").unwrap();
        assert_eq!(items[0].question, CAPTION_PROMPT);
        assert_eq!(items[0].answer, Answer::Choice(4));
    }
}
