//! MSRVTT-MC (the multiple-choice test of JSFusion, Yu et al. 2018, as used by ClipBERT):
//! `MSR_MC_test.csv`, tab separated, one video and five captions per row:
//! `vid_key a1 a2 a3 a4 a5 answer`.
//!
//! - A header line is optional: the first line is a header when one of its fields is `vid_key`
//!   (any case). With a header, columns are found by name and extra columns are ignored; without
//!   one, the seven columns are read in the order above.
//! - `answer` is the 0-based index of the right caption (0 to 4). A row whose `answer` is instead
//!   the right caption's text (some conversions write it so) is accepted when it equals exactly one
//!   of `a1..a5`; anything else is an error naming the file and line.
//!
//! Rows become [`QuestionType::Caption`] items with [`CAPTION_PROMPT`] as their question, exactly
//! what the synthetic benchmark's caption rows produce, so the model's caption path scores them.
//! `gif_name` is `vid_key`: the GIF is expected at `{gifs}/{vid_key}.gif`.
//!
//! The limits of TGIF-QA's files apply: a line longer than
//! [`MAX_ROW_BYTES`](crate::text::questions::MAX_ROW_BYTES) and a file larger than
//! [`MAX_FILE_BYTES`](crate::text::questions::MAX_FILE_BYTES) are errors.

use std::path::Path;

use crate::text::questions::{
    Answer, CAPTION_PROMPT, DatasetError, QaItem, QuestionType, check_row_length, read_question_file,
};

/// The file name MSRVTT-MC ships under.
pub const MSRVTT_MC_FILE: &str = "MSR_MC_test.csv";

/// Column names, in the order of a header-less file.
const COLUMNS: [&str; 7] = ["vid_key", "a1", "a2", "a3", "a4", "a5", "answer"];

/// Parses the text of `MSR_MC_test.csv`. `source_name` names the file in errors, with the 1-based
/// line number; a line longer than [`MAX_ROW_BYTES`](crate::text::questions::MAX_ROW_BYTES) is an error.
pub fn parse_msrvtt_mc(text: &str, source_name: &str) -> Result<Vec<QaItem>, DatasetError> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    for (index, line) in lines.iter().enumerate() {
        check_row_length(line, index + 1, source_name)?;
    }
    let first: Vec<&str> = lines.first().map_or_else(Vec::new, |l| l.split('\t').map(str::trim).collect());
    let has_header = first.iter().any(|f| f.eq_ignore_ascii_case("vid_key"));
    let positions: Vec<usize> = if has_header {
        COLUMNS
            .iter()
            .map(|name| {
                first.iter().position(|h| h.eq_ignore_ascii_case(name)).ok_or_else(|| DatasetError::MissingColumn {
                    source_name: source_name.to_string(),
                    column: name.to_string(),
                })
            })
            .collect::<Result<_, _>>()?
    } else {
        (0..COLUMNS.len()).collect()
    };

    let mut items = Vec::new();
    for (index, line) in lines.iter().enumerate().skip(usize::from(has_header)) {
        if line.trim().is_empty() {
            continue;
        }
        let line_number = index + 1;
        let bad =
            |reason: String| DatasetError::BadRow { source_name: source_name.to_string(), line: line_number, reason };
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        let field = |column: usize| {
            fields.get(positions[column]).copied().ok_or_else(|| {
                bad(format!(
                    "has {} columns, expected {} ({}): no '{}' column",
                    fields.len(),
                    COLUMNS.len(),
                    COLUMNS.join(" "),
                    COLUMNS[column]
                ))
            })
        };
        let vid_key = field(0)?;
        if vid_key.is_empty() {
            return Err(bad("vid_key is empty".into()));
        }
        let candidates: Vec<String> = (1..=5).map(|c| field(c).map(str::to_string)).collect::<Result<_, _>>()?;
        if let Some(empty) = candidates.iter().position(String::is_empty) {
            return Err(bad(format!("caption a{} is empty", empty + 1)));
        }
        let answer = answer_index(field(6)?, &candidates).map_err(bad)?;
        items.push(QaItem {
            qtype: QuestionType::Caption,
            gif_name: vid_key.to_string(),
            question: CAPTION_PROMPT.to_string(),
            candidates,
            answer: Answer::Choice(answer),
            vid_id: format!("msrvtt-mc:{line_number}"),
        });
    }
    Ok(items)
}

/// The right caption's index: a 0-based index, or the caption's own text.
fn answer_index(answer: &str, candidates: &[String]) -> Result<usize, String> {
    if let Ok(index) = answer.parse::<usize>() {
        return if index < candidates.len() {
            Ok(index)
        } else {
            Err(format!("answer {index} is out of range (a 0-based index, 0 to {})", candidates.len() - 1))
        };
    }
    let matches: Vec<usize> = (0..candidates.len()).filter(|&i| candidates[i] == answer).collect();
    match matches.as_slice() {
        [index] => Ok(*index),
        [] if answer.is_empty() => Err("answer is empty".into()),
        [] => Err(format!("answer '{answer}' is neither a 0-based index nor one of the captions")),
        _ => Err(format!("answer '{answer}' matches more than one caption")),
    }
}

/// Reads `dir/MSR_MC_test.csv`, with [`read_question_file`]'s limits.
pub fn load_msrvtt_mc(dir: &Path) -> Result<Vec<QaItem>, DatasetError> {
    let path = dir.join(MSRVTT_MC_FILE);
    let text = read_question_file(&path)?;
    parse_msrvtt_mc(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &str = "video7010\ta man sings\ta dog runs\ta cat sleeps\ta car drives\ta girl dances\t3";

    #[test]
    fn header_is_optional_and_answers_are_zero_based() {
        let bare = parse_msrvtt_mc(&format!("{ROW}\r\n"), "m.csv").unwrap();
        let with_header =
            parse_msrvtt_mc(&format!("vid_key\ta1\ta2\ta3\ta4\ta5\tanswer\r\n{ROW}\r\n"), "m.csv").unwrap();
        assert_eq!(bare.len(), 1);
        assert_eq!(bare[0].answer, Answer::Choice(3));
        assert_eq!(bare[0].candidates[3], "a car drives");
        assert_eq!(bare[0].question, CAPTION_PROMPT);
        assert_eq!(bare[0].qtype, QuestionType::Caption);
        assert_eq!(bare[0].gif_name, "video7010");
        assert_eq!(with_header[0].candidates, bare[0].candidates);
        assert_eq!(with_header[0].answer, bare[0].answer);
    }

    #[test]
    fn header_columns_are_found_by_name_and_answers_may_be_text() {
        let text = "answer\tvid_key\ta1\ta2\ta3\ta4\ta5\textra\na dog runs\tv1\ta man sings\ta dog runs\tc\td\te\tx\n";
        let items = parse_msrvtt_mc(text, "m.csv").unwrap();
        assert_eq!(items[0].gif_name, "v1");
        assert_eq!(items[0].answer, Answer::Choice(1));
    }

    #[test]
    fn malformed_rows_name_the_file_and_line() {
        let header = "vid_key\ta1\ta2\ta3\ta4\ta5\tanswer\n";
        let short = format!("{header}{ROW}\nvideo1\ta\tb\tc\n");
        let err = parse_msrvtt_mc(&short, "m.csv").unwrap_err().to_string();
        assert_eq!(err, "m.csv, line 3: has 4 columns, expected 7 (vid_key a1 a2 a3 a4 a5 answer): no 'a4' column");
        let out_of_range = parse_msrvtt_mc(&format!("{}5\n", ROW.trim_end_matches('3')), "m.csv").unwrap_err();
        assert_eq!(out_of_range.to_string(), "m.csv, line 1: answer 5 is out of range (a 0-based index, 0 to 4)");
        let word = parse_msrvtt_mc(&format!("{}maybe\n", ROW.trim_end_matches('3')), "m.csv").unwrap_err();
        assert!(word.to_string().starts_with("m.csv, line 1: answer 'maybe' is neither"), "{word}");
        let missing = parse_msrvtt_mc("vid_key\ta1\ta2\ta3\ta4\ta5\n", "m.csv").unwrap_err();
        assert_eq!(missing.to_string(), "m.csv: header has no 'answer' column");
    }

    #[test]
    fn long_rows_and_large_files_are_refused() {
        use crate::text::questions::{MAX_FILE_BYTES, MAX_ROW_BYTES};
        let long = format!("video1\t{}\tb\tc\td\te\t0", "a".repeat(MAX_ROW_BYTES));
        let err = parse_msrvtt_mc(&format!("{ROW}\r\n{long}\r\n"), "m.csv").unwrap_err();
        let expected = format!("m.csv, line 2: is {} bytes long, over the limit of 65536 bytes for a row", long.len());
        assert_eq!(err.to_string(), expected);

        let dir = std::env::temp_dir().join(format!("gifqa-msrvtt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(MSRVTT_MC_FILE);
        std::fs::write(&path, format!("{ROW}\n")).unwrap();
        let read = load_msrvtt_mc(&dir).map(|items| items.len());
        // Sparse: refused from its size, nothing read.
        std::fs::File::create(&path).unwrap().set_len(MAX_FILE_BYTES + 1).unwrap();
        let err = load_msrvtt_mc(&dir).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read.unwrap(), 1);
        assert!(matches!(err, DatasetError::FileTooLarge { size, .. } if size == MAX_FILE_BYTES + 1), "{err}");
        assert!(err.to_string().starts_with(&path.display().to_string()), "{err}");
    }
}
