//! Question files in TGIF-QA's layout (tab separated, header line, CRLF or LF), for the synthetic
//! benchmark and for TGIF-QA's real files alike. Columns are found by header name.

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Longest line a question file may hold, in bytes (TGIF-QA's longest row is under 1 KiB): a longer
/// line is refused with its file and line number before it is split into fields.
pub const MAX_ROW_BYTES: usize = 64 * 1024;

/// Largest question file read, in bytes (TGIF-QA's files are tens of MB at most): a larger file is refused
/// from its size before any of it is read.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

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
// Each variant's fields are named in its #[error] message and its doc line.
#[allow(missing_docs)]
pub enum DatasetError {
    /// File could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{path} is {size} bytes, over the limit of {limit} bytes for a question file")]
    FileTooLarge { path: String, size: u64, limit: u64 },
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

/// Reads a question file (TGIF-QA or MSRVTT-MC) as text: a file larger than [`MAX_FILE_BYTES`] is
/// refused from its size, before it is read, and text that is not UTF-8 is refused with the line
/// of its first bad byte.
pub fn read_question_file(path: &Path) -> Result<String, DatasetError> {
    read_bounded(path, MAX_FILE_BYTES)
}

/// [`read_question_file`] with the size limit as a parameter.
fn read_bounded(path: &Path, limit: u64) -> Result<String, DatasetError> {
    let shown = path.display().to_string();
    let io = |source| DatasetError::Io { path: shown.clone(), source };
    let too_large = |size| DatasetError::FileTooLarge { path: shown.clone(), size, limit };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > limit {
        return Err(too_large(size));
    }
    // The size can change after the check (and is 0 for a pipe): read at most one byte past the limit.
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    question_text(bytes, &shown)
}

/// A question file's bytes as text; bytes that are not UTF-8 are an error naming `source_name` and
/// the 1-based line and byte of the first bad one.
pub fn question_text(bytes: Vec<u8>, source_name: &str) -> Result<String, DatasetError> {
    String::from_utf8(bytes).map_err(|err| {
        let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
        let column = valid.len() - valid.iter().rposition(|&b| b == b'\n').map_or(0, |newline| newline + 1) + 1;
        DatasetError::BadRow {
            source_name: source_name.to_string(),
            line,
            reason: format!("byte {column} is not UTF-8"),
        }
    })
}

/// `Err(BadRow)` when `line` (1-based `line_number`) is longer than [`MAX_ROW_BYTES`].
pub(crate) fn check_row_length(line: &str, line_number: usize, source_name: &str) -> Result<(), DatasetError> {
    if line.len() > MAX_ROW_BYTES {
        return Err(DatasetError::BadRow {
            source_name: source_name.to_string(),
            line: line_number,
            reason: format!("is {} bytes long, over the limit of {MAX_ROW_BYTES} bytes for a row", line.len()),
        });
    }
    Ok(())
}

/// Parses one question file's text. `source_name` names it in errors, with the 1-based line number
/// (the header is line 1) and what is missing or malformed; a line longer than [`MAX_ROW_BYTES`]
/// is an error.
pub fn parse_questions(text: &str, qtype: QuestionType, source_name: &str) -> Result<Vec<QaItem>, DatasetError> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let header_line = lines.next().unwrap_or("");
    check_row_length(header_line, 1, source_name)?;
    let header: Vec<&str> = header_line.split('\t').map(str::trim).collect();
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
        check_row_length(line, line_number, source_name)?;
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

/// Reads every `{split}_{type}_question.csv` present in `dir` (or in `dir/{split}`), each with
/// [`read_question_file`]'s limits.
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
        let text = read_question_file(&path)?;
        items.extend(parse_questions(&text, qtype, &path.display().to_string())?);
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
    fn long_rows_are_refused_with_their_line() {
        let long = "q".repeat(MAX_ROW_BYTES);
        // A row of exactly the limit is read.
        let row = format!("g1\t{}\t3", &long[..MAX_ROW_BYTES - 5]);
        assert_eq!(row.len(), MAX_ROW_BYTES);
        let items = parse_questions(&format!("gif_name\tquestion\tanswer\r\n{row}\r\n"), QuestionType::Count, "t.csv");
        assert_eq!(items.unwrap()[0].answer, Answer::Count(3));
        let text = format!("gif_name\tquestion\tanswer\r\ng1\tq\t1\r\ng2\t{long}\t3\r\n");
        let err = parse_questions(&text, QuestionType::Count, "t.csv").unwrap_err();
        let expected =
            format!("t.csv, line 3: is {} bytes long, over the limit of 65536 bytes for a row", MAX_ROW_BYTES + 5);
        assert_eq!(err.to_string(), expected);
        // The header too, and an empty-looking (all blank) line.
        let err = parse_questions(&format!("gif_name\t{long}\n"), QuestionType::Count, "t.csv").unwrap_err();
        assert!(err.to_string().starts_with("t.csv, line 1: is 65545 bytes long"), "{err}");
        let blank = " ".repeat(MAX_ROW_BYTES + 1);
        let err = parse_questions(&format!("gif_name\tquestion\tanswer\n{blank}\n"), QuestionType::Count, "t.csv");
        assert!(err.unwrap_err().to_string().starts_with("t.csv, line 2: "));
    }

    /// A fresh file under the temp dir, removed when dropped.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(name: &str) -> Self {
            TempFile(std::env::temp_dir().join(format!("gifqa-questions-{}-{name}", std::process::id())))
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn large_files_are_refused_before_reading() {
        // A sparse file one byte over the limit: refused from its size, without reading 256 MiB.
        let file = TempFile::new("Train_count_question.csv");
        std::fs::File::create(&file.0).unwrap().set_len(MAX_FILE_BYTES + 1).unwrap();
        let started = std::time::Instant::now();
        let err = read_question_file(&file.0).unwrap_err();
        assert!(started.elapsed().as_secs_f64() < 1.0);
        let shown = file.0.display().to_string();
        assert!(matches!(&err, DatasetError::FileTooLarge { path, size, limit: MAX_FILE_BYTES }
            if *path == shown && *size == MAX_FILE_BYTES + 1));
        assert_eq!(
            err.to_string(),
            format!("{shown} is 268435457 bytes, over the limit of 268435456 bytes for a question file")
        );
        // The same file through the split reader.
        let dir = file.0.with_file_name(format!("gifqa-questions-{}-split", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let in_split = dir.join(QuestionType::Count.file_name("Train"));
        std::fs::File::create(&in_split).unwrap().set_len(MAX_FILE_BYTES + 1).unwrap();
        let err = load_split(&dir, "Train").unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(err, DatasetError::FileTooLarge { .. }), "{err}");
        std::fs::write(&file.0, "gif_name\tquestion\tanswer\n").unwrap();
        assert!(read_bounded(&file.0, 1000).is_ok());
        let err = read_bounded(&file.0, 10).unwrap_err();
        assert!(matches!(err, DatasetError::FileTooLarge { size: 25, limit: 10, .. }), "{err}");
        // A file whose size says nothing (0 here) is still read only one byte past the limit.
        #[cfg(unix)]
        {
            let err = read_bounded(Path::new("/dev/zero"), 1000).unwrap_err();
            assert!(matches!(err, DatasetError::FileTooLarge { size: 1001, limit: 1000, .. }), "{err}");
        }
    }

    #[test]
    fn text_that_is_not_utf8_names_its_line() {
        let file = TempFile::new("bad-utf8.csv");
        std::fs::write(&file.0, b"gif_name\tquestion\tanswer\r\ng1\tq\t1\r\ng2\tq\xff\t1\r\n").unwrap();
        let err = read_question_file(&file.0).unwrap_err();
        assert_eq!(err.to_string(), format!("{}, line 3: byte 5 is not UTF-8", file.0.display()));
        let missing = read_question_file(&file.0.with_extension("absent")).unwrap_err();
        assert!(matches!(missing, DatasetError::Io { .. }));
    }

    #[test]
    fn captions_get_the_prompt() {
        let text = "gif_name\ta1\ta2\ta3\ta4\ta5\tanswer\ng\tA\tB\tC\tD\tE\t4\n";
        let items = parse_questions(text, QuestionType::Caption, "c").unwrap();
        assert_eq!(items[0].question, CAPTION_PROMPT);
        assert_eq!(items[0].answer, Answer::Choice(4));
    }
}
