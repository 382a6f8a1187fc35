//! TGIF-QA's real question files parse unchanged with the same reader the trainer uses.

use gifqa_tests::shared_data;
use shared_model::text::questions::{Answer, QuestionType, load_split, parse_questions};

#[test]
fn every_real_tgif_row_parses() {
    let Some(data) = shared_data() else { return };
    let dir = data.join("tgif-qa/questions");
    let mut total = 0;
    for entry in std::fs::read_dir(&dir).expect("listing questions") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let qtype =
            QuestionType::ALL.into_iter().find(|t| name.contains(&format!("_{}_", t.tag()))).expect("type in name");
        let text = std::fs::read_to_string(&path).unwrap();
        let rows = text.lines().skip(1).filter(|l| !l.trim().is_empty()).count();
        let items = parse_questions(&text, qtype, &name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(items.len(), rows, "{name}: every row becomes a question");
        for item in &items {
            assert!(!item.gif_name.is_empty() && !item.question.is_empty(), "{name}: {item:?}");
            match (&item.answer, qtype) {
                (Answer::Choice(c), QuestionType::Action | QuestionType::Transition) => {
                    assert!(*c < 5 && item.candidates.len() == 5);
                }
                (Answer::Count(n), QuestionType::Count) => assert!(*n <= 10),
                (Answer::Word(w), QuestionType::FrameQa) => assert!(!w.is_empty()),
                other => panic!("{name}: unexpected {other:?}"),
            }
        }
        total += items.len();
    }
    assert!(total > 70_000, "all six files read ({total} rows)");
    // The split loader finds the files laid out flat, as TGIF-QA ships them.
    let test = load_split(&dir, "Test").unwrap();
    assert_eq!(test.iter().filter(|i| i.qtype == QuestionType::Count).count(), 3554);
}
