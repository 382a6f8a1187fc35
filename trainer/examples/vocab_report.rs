//! Measures `--vocab minilm` against the vocabulary built from the data: vocabulary size,
//! parameters and `model.safetensors` size of a new model; how TGIF-QA's real questions are
//! spelled (whole words, subwords, letters, `[UNK]`); and how well the PCA-reduced embeddings
//! keep MiniLM's similarities.
//!
//! ```text
//! cargo run --release -p trainer --example vocab_report -- GENERATED_DATA TGIF_QUESTIONS SHIPPED_TOKENIZER [MINILM]
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, FromArgMatches};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use shared_model::bundle::weights_to_bytes;
use shared_model::questions::load_split;
use shared_model::tokenize::TextTokenizer;
use trainer::backend::{self, Training};
use trainer::train::{NewModel, Towers, TrainOptions, new_config};
use trainer::vocab::{
    DEFAULT_MINILM_FREQUENT, DEFAULT_MINILM_NEIGHBOURS, PruneRule, build_minilm_vocab, minilm_dir,
    minilm_token_embeddings,
};

/// The shipped model's architecture (the demo recipe's `model` section) at width 64.
const DEMO_SHAPE: [&str; 10] = [
    "--frames=48",
    "--slot-coordinates",
    "--grid-attention-layers=2",
    "--fused-captions",
    "--count-head=pooled-and-evidence",
    "--count-temporal-kernel=5",
    "--d-model=64",
    "--data=DATA",
    "--out=unused",
    "--epochs=1",
];

fn options(data: &Path, extra: &[&str]) -> Result<TrainOptions> {
    let mut argv: Vec<String> = vec!["train".into()];
    argv.extend(DEMO_SHAPE.iter().map(|a| a.replace("DATA", &data.display().to_string())));
    argv.extend(extra.iter().map(|a| a.to_string()));
    let matches = TrainOptions::augment_args(clap::Command::new("train")).try_get_matches_from(&argv)?;
    Ok(TrainOptions::from_arg_matches(&matches)?)
}

/// How a word occurrence is spelled.
#[derive(Default, Debug)]
struct Spelling {
    words: usize,
    whole: usize,
    subwords: usize,
    letters: usize,
    unknown: usize,
}

fn is_character(token: &str) -> bool {
    token.strip_prefix("##").unwrap_or(token).chars().count() == 1
}

fn spell(tokenizer: &TextTokenizer, texts: &[&str]) -> Result<Spelling> {
    let mut tally = Spelling::default();
    for text in texts {
        let encoding = tokenizer.inner().encode(*text, false).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut words: Vec<(u32, Vec<String>)> = Vec::new();
        for (i, word) in encoding.get_word_ids().iter().enumerate() {
            let Some(word) = *word else { continue };
            let token = encoding.get_tokens()[i].clone();
            match words.last_mut() {
                Some(last) if last.0 == word => last.1.push(token),
                _ => words.push((word, vec![token])),
            }
        }
        for (_, pieces) in words {
            // Punctuation is a word to the pre-tokeniser; only words with a letter or digit count.
            let alnum =
                pieces.iter().any(|p| p.chars().any(char::is_alphanumeric)) || pieces.iter().any(|p| p == "[UNK]");
            if !alnum {
                continue;
            }
            tally.words += 1;
            if pieces.iter().any(|p| p == "[UNK]") {
                tally.unknown += 1;
            } else if pieces.len() == 1 {
                tally.whole += 1;
            } else if pieces.iter().all(|p| is_character(p)) {
                tally.letters += 1;
            } else {
                tally.subwords += 1;
            }
        }
    }
    Ok(tally)
}

fn describe(name: &str, s: &Spelling) {
    let pct = |n: usize| 100.0 * n as f64 / s.words.max(1) as f64;
    println!(
        "  {name:<22} {} words: whole {:.2}%, subwords {:.2}%, letter by letter {:.2}%, [UNK] {:.3}%",
        s.words,
        pct(s.whole),
        pct(s.subwords),
        pct(s.letters),
        pct(s.unknown)
    );
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b)).max(f64::MIN_POSITIVE)
}

fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0;
        order[i..=j].iter().for_each(|&k| ranks[k] = rank);
        i = j + 1;
    }
    ranks
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

fn main() -> Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [data, tgif, shipped, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: vocab_report GENERATED_DATA TGIF_QUESTIONS SHIPPED_TOKENIZER [MINILM]");
    };
    let minilm = minilm_dir(rest.first().map(PathBuf::as_path))?;
    let [built, pruned] = new_model_sizes(data, &minilm)?;
    report_spellings(tgif, shipped, &minilm, &built, &pruned)?;
    report_similarities(data, &minilm)
}

/// (a) Builds a new demo-shaped model with each vocabulary, prints its sizes and returns the two
/// tokenizers (built from the data, pruned MiniLM).
fn new_model_sizes(data: &Path, minilm: &Path) -> Result<[TextTokenizer; 2]> {
    let device = backend::device();
    println!("(a) a new model of the demo architecture at --d-model 64, trained on {}", data.display());
    let mut tokenizers = Vec::new();
    for (name, extra) in
        [("built", vec![]), ("minilm", vec!["--vocab=minilm".to_string(), format!("--minilm={}", minilm.display())])]
    {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let opts = options(data, &extra)?;
        let NewModel { config, tokenizer, token_embeddings, .. } =
            new_config(data, &opts.shape, &Towers::default(), &device)?;
        let mut model = config.model.init::<Training>(&device);
        if let Some(table) = token_embeddings {
            model = model.with_token_embeddings(table, &device)?;
        }
        let bytes = weights_to_bytes(&model)?;
        let json = tokenizer.inner().to_string(false).map_err(|e| anyhow::anyhow!("{e}"))?;
        println!(
            "  {name:<7} vocabulary {:>5} tokens | {:>9} parameters | model.safetensors {:>9} bytes | tokenizer.json {:>7} bytes",
            tokenizer.vocab_size(),
            burn::module::Module::num_params(&model),
            bytes.len(),
            json.len()
        );
        tokenizers.push(tokenizer);
    }
    tokenizers.try_into().map_err(|_| anyhow::anyhow!("expected two tokenizers"))
}

/// (b) How TGIF-QA's real questions and candidates are spelled by each tokenizer.
fn report_spellings(
    tgif: &Path,
    shipped: &Path,
    minilm: &Path,
    built: &TextTokenizer,
    pruned: &TextTokenizer,
) -> Result<()> {
    println!("(b) TGIF-QA's real questions in {}", tgif.display());
    let shipped = TextTokenizer::from_bytes(&std::fs::read(shipped)?)?;
    let full = TextTokenizer::from_bytes(&std::fs::read(minilm.join("tokenizer.json"))?)?;
    for split in ["Train", "Test"] {
        let items = load_split(tgif, split)?;
        let questions: Vec<&str> = items.iter().map(|i| i.question.as_str()).collect();
        let answers: Vec<&str> = items.iter().flat_map(|i| i.candidates.iter().map(String::as_str)).collect();
        println!(" {split}: {} questions", questions.len());
        for (what, texts) in [("questions", &questions), ("candidates", &answers)] {
            println!("  {what}:");
            describe("shipped (built)", &spell(&shipped, texts)?);
            describe("built here", &spell(built, texts)?);
            describe("pruned MiniLM", &spell(pruned, texts)?);
            describe("full MiniLM", &spell(&full, texts)?);
        }
    }
    Ok(())
}

/// MiniLM's vocabulary for `data` with its 384-d rows, and the 64-d rows reduced from them.
struct Embeddings {
    vocab: trainer::vocab::MinilmVocab,
    small: Vec<f32>,
    mean: Vec<f32>,
}

impl Embeddings {
    fn new(data: &Path, minilm: &Path) -> Result<Self> {
        let items = load_split(data, "Train")?;
        let rule = PruneRule { frequent: DEFAULT_MINILM_FREQUENT, neighbours: DEFAULT_MINILM_NEIGHBOURS };
        let vocab = build_minilm_vocab(minilm, &items, rule)?;
        let small = minilm_token_embeddings(&vocab.embeddings, &vocab.original_ids, 64)?;
        let rows = vocab.original_ids.len();
        let mut this = Self { vocab, small, mean: Vec::new() };
        let hidden = this.vocab.embeddings.hidden;
        this.mean = (0..hidden).map(|c| (0..rows).map(|r| this.big(r)[c]).sum::<f32>() / rows as f32).collect();
        Ok(this)
    }

    fn big(&self, new: usize) -> &[f32] {
        let hidden = self.vocab.embeddings.hidden;
        let id = self.vocab.original_ids[new] as usize;
        &self.vocab.embeddings.values[id * hidden..(id + 1) * hidden]
    }

    fn small(&self, new: usize) -> &[f32] {
        &self.small[new * 64..(new + 1) * 64]
    }

    fn centred(&self, new: usize) -> Vec<f32> {
        self.big(new).iter().zip(&self.mean).map(|(x, m)| x - m).collect()
    }
}

/// (c) How well the 64-d rows keep MiniLM's similarities: chosen pairs, then Spearman over pairs
/// of 500 sampled whole words.
fn report_similarities(data: &Path, minilm: &Path) -> Result<()> {
    println!("(c) similarities: MiniLM's 384-d token vectors vs the 64-d PCA embeddings");
    let e = Embeddings::new(data, minilm)?;
    let id = |word: &str| e.vocab.tokenizer.inner().token_to_id(word);
    println!("  pair              384-d   384-d centred   64-d");
    for (a, b) in [
        ("jump", "hop"),
        ("spin", "rotate"),
        ("blink", "flicker"),
        ("grow", "expand"),
        ("colour", "color"),
        ("left", "right"),
        ("red", "blue"),
        ("jump", "red"),
        ("spin", "colour"),
    ] {
        let (Some(x), Some(y)) = (id(a), id(b)) else {
            println!("  {a}/{b}: not both whole tokens");
            continue;
        };
        let (x, y) = (x as usize, y as usize);
        println!(
            "  {:<16} {:>6.3}   {:>6.3}          {:>6.3}",
            format!("{a}/{b}"),
            cosine(e.big(x), e.big(y)),
            cosine(&e.centred(x), &e.centred(y)),
            cosine(e.small(x), e.small(y))
        );
    }
    let words: Vec<usize> = (0..e.vocab.original_ids.len())
        .filter(|&i| {
            let token = e.vocab.tokenizer.inner().id_to_token(i as u32).unwrap_or_default();
            token.len() > 1 && token.bytes().all(|b| b.is_ascii_lowercase())
        })
        .collect();
    let mut sample = words.clone();
    sample.shuffle(&mut ChaCha8Rng::seed_from_u64(0));
    sample.truncate(500);
    let sample: Vec<usize> = sample.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
    let (mut raw, mut cen, mut low) = (Vec::new(), Vec::new(), Vec::new());
    let centred_rows: Vec<Vec<f32>> = sample.iter().map(|&i| e.centred(i)).collect();
    for i in 0..sample.len() {
        for j in i + 1..sample.len() {
            raw.push(cosine(e.big(sample[i]), e.big(sample[j])));
            cen.push(cosine(&centred_rows[i], &centred_rows[j]));
            low.push(cosine(e.small(sample[i]), e.small(sample[j])));
        }
    }
    println!(
        "  Spearman over {} pairs of {} kept whole words (of {}): 64-d vs 384-d {:.3}, vs 384-d centred {:.3}",
        raw.len(),
        sample.len(),
        words.len(),
        pearson(&ranks(&low), &ranks(&raw)),
        pearson(&ranks(&low), &ranks(&cen))
    );
    Ok(())
}
