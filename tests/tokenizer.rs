//! One tokenizer loader for both the benchmark's own WordPiece tokenizer.json and a real BERT
//! one (all-MiniLM-L6-v2, whose file bakes in fixed padding to 128 that the loader must undo).

use gifqa_tests::shared_data;
use shared_model::text::questions::{Answer, QaItem, QuestionType};
use shared_model::text::tokenize::TextTokenizer;

fn minilm_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("GIFQA_MINILM_DIR").map(Into::into).unwrap_or_else(|| {
        std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/gifqa/all-MiniLM-L6-v2")
    });
    if dir.join("tokenizer.json").is_file() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: no MiniLM tokenizer in {} (run scripts/fetch-minilm.sh)", dir.display());
        None
    }
}

#[test]
fn real_bert_tokenizer_matches_transformers() {
    let (Some(data), Some(dir)) = (shared_data(), minilm_dir()) else { return };
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("parity/minilm_reference.json")).unwrap()).unwrap();
    let tokenizer = TextTokenizer::from_bytes(&std::fs::read(dir.join("tokenizer.json")).unwrap()).unwrap();
    assert_eq!(tokenizer.vocab_size(), 30522);
    let sentences: Vec<String> =
        reference["sentences"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    for (i, sentence) in sentences.iter().enumerate() {
        let expected: Vec<u32> = reference["tokenization"]["input_ids"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tokenizer.encode(sentence, 512).unwrap(), expected, "{sentence}");
    }
    // The batch is padded to its longest sentence (not to the file's 128), with [PAD] = 0.
    let batch = tokenizer.encode_batch(&sentences, 512).unwrap();
    let expected: Vec<i64> = reference["batch"]["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()))
        .collect();
    assert_eq!(batch.ids, expected);
    let mask: Vec<bool> = reference["batch"]["attention_mask"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_i64().unwrap() == 0))
        .collect();
    assert_eq!(batch.padding, mask);
}

#[test]
fn built_wordpiece_covers_the_benchmark_and_falls_back_to_letters() {
    let item = |question: &str, candidates: &[&str], answer: Answer| QaItem {
        qtype: QuestionType::Action,
        gif_name: "g".into(),
        question: question.into(),
        candidates: candidates.iter().map(|c| c.to_string()).collect(),
        answer,
        vid_id: "v".into(),
    };
    let items = [
        item("What does the red star do 3 times ?", &["jump", "spin", "move left"], Answer::Choice(0)),
        item("Where is the blue circle at the end ?", &[], Answer::Word("top".into())),
    ];
    let tokenizer = trainer::vocab::build_tokenizer(&items).unwrap();
    let ids = tokenizer.encode("What does the red star do 3 times ?", 64).unwrap();
    let unk = tokenizer.inner().token_to_id("[UNK]").unwrap();
    assert_eq!(ids.first(), tokenizer.inner().token_to_id("[CLS]").as_ref());
    assert_eq!(ids.last(), tokenizer.inner().token_to_id("[SEP]").as_ref());
    assert!(!ids.contains(&unk), "every training word has a token: {ids:?}");
    // An unseen word is spelled with letters, not lost as [UNK].
    let unseen = tokenizer.encode("zebra", 64).unwrap();
    assert!(unseen.len() > 3 && !unseen.contains(&unk), "{unseen:?}");
    // It survives a round trip through tokenizer.json.
    let json = tokenizer.inner().to_string(false).unwrap();
    let reloaded = TextTokenizer::from_bytes(json.as_bytes()).unwrap();
    assert_eq!(reloaded.encode("What does the red star do 3 times ?", 64).unwrap(), ids);
}

#[test]
fn words_the_shipped_model_never_saw_are_named() {
    let shipped = gifqa_tests::repo_root().join("www/model/tokenizer.json");
    let tokenizer = TextTokenizer::from_bytes(&std::fs::read(shipped).unwrap()).unwrap();
    let unknown = |text: &str| tokenizer.unknown_words(text).unwrap();
    assert!(unknown("What does the red star do 3 times ?").is_empty());
    assert!(unknown("How many objects are there ?").is_empty());
    assert_eq!(unknown("What does the striped Cat do 3 times ?"), ["striped", "cat"]);
    // "of" never occurs in the benchmark's templates either.
    assert_eq!(unknown("What is the colour of the bulldog ? The bulldog!"), ["colour", "of", "bulldog"]);
}
