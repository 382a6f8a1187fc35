//! A split of a question dataset with its GIFs decoded once and cached at model resolution.
//! Rows whose GIF is not in the folder are reported once (count, first names, full list in a file)
//! and skipped, or refused with `strict`.

/// Slot-attention targets from the benchmark's object positions.
pub mod attention_targets;
/// Per-frame event-counter targets from the benchmark's repetition times.
pub mod count_targets;
/// Decoded, resized frames on disk, memory-mapped by later runs.
pub mod frame_cache;
/// Training batches prepared on a background thread.
pub mod loader;
/// Extra Train questions from each GIF's true caption.
pub mod order_drills;
/// A pretrained text tower's outputs, once per distinct text.
pub mod text_cache;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use rayon::prelude::*;
use shared_model::gif::{DecodeLimits, decode_gif};
use shared_model::preprocess::{PreparedClip, PreprocessConfig, gather_clip, resize_rgba};
use shared_model::sampling::{SampledFrame, Timeline};
use shared_model::text::msrvtt::{MSRVTT_MC_FILE, load_msrvtt_mc};
use shared_model::text::questions::{QaItem, gif_dir, has_split, load_split};

use crate::runtime::progress::progress;
use frame_cache::FrameBytes;

/// Missing GIF names shown in the one-line report (the file has them all).
const SHOWN_MISSING: usize = 10;

/// Which question files a dataset folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Dataset {
    /// TGIF-QA's layout (also the synthetic benchmark's): `{Split}_{type}_question.csv` flat in
    /// the folder or in `{Split}/`, GIFs in `gifs/` or `{Split}/gifs/`.
    #[default]
    TgifQa,
    /// MSRVTT-MC: `MSR_MC_test.csv` in the folder (one test set, `--split` is ignored), GIFs at
    /// `gifs/{vid_key}.gif`; scored as caption questions.
    MsrvttMc,
}

/// What to do about question rows whose GIF is not in the folder.
#[derive(Debug, Clone, Default)]
pub struct MissingGifs {
    /// Fail instead of skipping those rows.
    pub strict: bool,
    /// Write the full list of missing GIFs here (`trainer eval` sets it only with `--report`,
    /// hence the hint printed when it is unset).
    pub list_file: Option<PathBuf>,
}

/// Off with `--no-frame-cache`: one switch for every split this process loads (training, its
/// validation, every stage of a recipe, eval, calibrate) without threading it through each caller.
static FRAME_CACHE_OFF: AtomicBool = AtomicBool::new(false);

/// Turns the on-disk frame cache ([`frame_cache`]) off or on for the rest of the process.
pub fn set_frame_cache(enabled: bool) {
    FRAME_CACHE_OFF.store(!enabled, Ordering::Relaxed);
}

/// One GIF: every frame resized to the model's input size, and its time line.
pub struct CachedGif {
    /// GIF name (file stem).
    pub name: String,
    /// `[frames, size, size, 3]` RGB bytes (in memory, or mapped from the frame cache).
    pub frames: FrameBytes,
    /// Frame count.
    pub frame_count: usize,
    /// When each frame is shown.
    pub timeline: Timeline,
    /// Indices into [`Split::items`] of this GIF's questions.
    pub items: Vec<usize>,
}

/// Questions of one split and their GIFs.
pub struct Split {
    /// Every question whose GIF could be read.
    pub items: Vec<QaItem>,
    /// The GIFs, each with its questions.
    pub gifs: Vec<CachedGif>,
    /// Side of the cached frames.
    pub size: usize,
    /// The missing-GIF list as written to [`MissingGifs::list_file`] (`None` when none is missing).
    pub missing_list: Option<String>,
}

impl CachedGif {
    /// Assembles a clip of sampled frames (the same bytes `preprocess::prepare_clip` makes).
    pub fn clip(&self, frames: &[SampledFrame], size: usize) -> PreparedClip {
        let frame_bytes = size * size * 3;
        gather_clip(frames, self.frame_count, size, |i| self.frames[i * frame_bytes..(i + 1) * frame_bytes].to_vec())
    }
}

/// Loads `split` of the TGIF-QA-layout dataset in `dir`, skipping (and reporting) missing GIFs.
pub fn load(dir: &Path, split: &str, preprocess: &PreprocessConfig, limit_gifs: Option<usize>) -> Result<Split> {
    load_with(dir, split, Dataset::TgifQa, preprocess, limit_gifs, &MissingGifs::default())
}

/// The question rows of `split` and the folder their GIFs should be in.
pub fn questions(dir: &Path, split: &str, dataset: Dataset) -> Result<(Vec<QaItem>, PathBuf)> {
    ensure_generated(dir)?;
    match dataset {
        Dataset::TgifQa => {
            if !has_split(dir, split) && dir.join(MSRVTT_MC_FILE).is_file() {
                anyhow::bail!(
                    "{} has no {split} question files but holds {MSRVTT_MC_FILE}: pass --dataset msrvtt-mc",
                    dir.display()
                );
            }
            let items = load_split(dir, split)
                .with_context(|| format!("reading the {split} questions in {}", dir.display()))?;
            Ok((items, gif_dir(dir, split)))
        }
        Dataset::MsrvttMc => {
            let items = load_msrvtt_mc(dir).context("reading MSRVTT-MC")?;
            Ok((items, dir.join("gifs")))
        }
    }
}

/// Says on stderr how many of `items`' texts (questions and candidates) are longer than the
/// model's token window and so are read truncated (they are not refused in bulk data, but never
/// dropped silently). Returns that count.
pub fn note_truncated(
    items: &[QaItem],
    tokenizer: &shared_model::text::tokenize::TextTokenizer,
    max_len: usize,
    split: &str,
) -> usize {
    let texts = items.iter().flat_map(|item| std::iter::once(&item.question).chain(&item.candidates));
    let mut longest = 0;
    let long = texts
        .filter(|text| {
            let tokens = tokenizer.token_count(text).unwrap_or(0);
            longest = longest.max(tokens);
            tokens > max_len
        })
        .count();
    if long > 0 {
        eprintln!(
            "note: {long} {split} texts are longer than the model's {max_len}-token window (the longest {longest} tokens); \
             the model reads their first {max_len} tokens"
        );
    }
    long
}

/// Fails when `dir` is absent because a `trainer generate` into it was interrupted (its unfinished
/// output sits beside it under a hidden name), saying so instead of "no question files".
pub fn ensure_generated(dir: &Path) -> Result<()> {
    if !dir.exists()
        && let Some(partial) = crate::runtime::files::unfinished_generate(dir)
    {
        anyhow::bail!(
            "{} does not exist: {} beside it is the unfinished output of an interrupted `trainer generate`; run it again",
            dir.display(),
            partial.display()
        );
    }
    Ok(())
}

/// Loads `split` of the dataset in `dir`, decoding GIFs in parallel. Rows whose GIF file is absent
/// are handled by `missing`; GIFs that exist but cannot be decoded are reported and skipped.
/// Fails when no GIF is left.
pub fn load_with(
    dir: &Path,
    split: &str,
    dataset: Dataset,
    preprocess: &PreprocessConfig,
    limit_gifs: Option<usize>,
    missing: &MissingGifs,
) -> Result<Split> {
    let use_cache = !FRAME_CACHE_OFF.load(Ordering::Relaxed);
    load_from(dir, split, dataset, preprocess, limit_gifs, missing, use_cache)
}

/// [`load_with`], with the frame cache used or not.
fn load_from(
    dir: &Path,
    split: &str,
    dataset: Dataset,
    preprocess: &PreprocessConfig,
    limit_gifs: Option<usize>,
    missing: &MissingGifs,
    use_cache: bool,
) -> Result<Split> {
    let (items, folder) = questions(dir, split, dataset)?;
    let mut by_gif: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        by_gif.entry(item.gif_name.clone()).or_default().push(i);
    }
    let (mut names, absent): (Vec<_>, Vec<_>) =
        by_gif.into_iter().partition(|(name, _)| folder.join(format!("{name}.gif")).is_file());
    let missing_list = report_missing(&absent, &items, names.is_empty(), &folder, split, missing)?;
    if let Some(limit) = limit_gifs {
        names.truncate(limit);
    }
    let size = preprocess.image_size;
    let list: Vec<&str> = names.iter().map(|(name, _)| name.as_str()).collect();
    let location = GifLocation { data: dir, folder: &folder, split };
    let frames =
        if use_cache { cached_frames(&location, preprocess, &list) } else { decode_all(&location, preprocess, &list) };
    let decoded = names.into_iter().zip(frames).map(|((name, indices), frames)| (name, indices, frames));
    let mut kept_items = Vec::new();
    let mut gifs = Vec::new();
    let mut failures = Vec::new();
    for (name, indices, result) in decoded {
        match result {
            Ok((frames, delays)) => {
                let first = kept_items.len();
                kept_items.extend(indices.iter().map(|&i| items[i].clone()));
                gifs.push(CachedGif {
                    name,
                    frames,
                    frame_count: delays.len(),
                    timeline: Timeline::from_delays(&delays),
                    items: (first..kept_items.len()).collect(),
                });
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    if !failures.is_empty() {
        eprintln!(
            "warning: {} of {} {split} GIFs could not be decoded and are skipped, e.g. {}",
            failures.len(),
            failures.len() + gifs.len(),
            failures[0]
        );
    }
    anyhow::ensure!(!gifs.is_empty(), "no readable GIFs for the {split} split in {}", folder.display());
    Ok(Split { items: kept_items, gifs, size, missing_list })
}

/// One report for the rows whose GIF is absent: fails when nothing is left (or when `strict`),
/// else warns with the first names and writes the full list (a TSV: GIF file, question count,
/// the questions' ids) to `missing.list_file`. Returns the list.
fn report_missing(
    absent: &[(String, Vec<usize>)],
    items: &[QaItem],
    none_left: bool,
    folder: &Path,
    split: &str,
    missing: &MissingGifs,
) -> Result<Option<String>> {
    if absent.is_empty() {
        return Ok(None);
    }
    let shown: Vec<String> = absent.iter().take(SHOWN_MISSING).map(|(name, _)| format!("{name}.gif")).collect();
    let more = if absent.len() > SHOWN_MISSING {
        format!(", ... ({} more)", absent.len() - SHOWN_MISSING)
    } else {
        String::new()
    };
    let names = format!("{}{more}", shown.join(", "));
    anyhow::ensure!(
        !none_left,
        "none of the {} GIFs that the {split} questions reference is in {}: {names}",
        absent.len(),
        folder.display()
    );
    let mut list = String::from("gif\tquestions\tvid_ids\n");
    for (name, indices) in absent {
        let ids: Vec<&str> = indices.iter().map(|&i| items[i].vid_id.as_str()).collect();
        list += &format!("{name}.gif\t{}\t{}\n", indices.len(), ids.join(","));
    }
    let where_listed = match &missing.list_file {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            crate::runtime::files::write_atomically(path, &list)?;
            format!("full list in {}", path.display())
        }
        None => "pass --report to write the full list".to_string(),
    };
    let rows: usize = absent.iter().map(|(_, indices)| indices.len()).sum();
    let summary = format!(
        "{} {split} GIFs are missing from {} ({rows} of {} questions reference them): {names}; {where_listed}",
        absent.len(),
        folder.display(),
        items.len()
    );
    anyhow::ensure!(!missing.strict, "{summary} (--strict)");
    eprintln!("warning: {summary}; their questions are skipped");
    Ok(Some(list))
}

/// A GIF's resized frames and delays (ms), or why it could not be decoded.
type Decoded = std::result::Result<(FrameBytes, Vec<u32>), String>;

/// Where a split's GIFs are: the dataset folder (which holds the frame cache), the GIF folder and
/// the split's name.
struct GifLocation<'a> {
    data: &'a Path,
    folder: &'a Path,
    split: &'a str,
}

/// Decodes the GIFs `names` in parallel, in order.
fn decode_all(at: &GifLocation<'_>, preprocess: &PreprocessConfig, names: &[&str]) -> Vec<Decoded> {
    let bar = progress(names.len() as u64, &format!("decoding {} GIFs", at.split));
    let decoded = names
        .par_iter()
        .map(|name| {
            let result = read_and_resize(&at.folder.join(format!("{name}.gif")), preprocess);
            bar.inc(1);
            result.map(|(frames, delays)| (FrameBytes::Owned(frames), delays)).map_err(|e| format!("{e:#}"))
        })
        .collect();
    bar.finish_and_clear();
    decoded
}

/// The frames of `names` from the split's frame cache when a valid one exists (mapped, not
/// decoded), else decoded and written to it for later runs. A cache that cannot be written (a
/// read-only folder) leaves the frames in memory for this run, with a note.
fn cached_frames(at: &GifLocation<'_>, preprocess: &PreprocessConfig, names: &[&str]) -> Vec<Decoded> {
    let path = match frame_cache::path_for(at.data, at.folder, at.split, preprocess, names) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("note: no frame cache for {} ({e:#}); decoding the GIFs", at.split);
            return decode_all(at, preprocess, names);
        }
    };
    let frame_bytes = preprocess.image_size * preprocess.image_size * 3;
    let started = Instant::now();
    match frame_cache::open(&path, frame_bytes) {
        Ok(Some(entries)) if entries.iter().map(|e| e.name.as_str()).eq(names.iter().copied()) => {
            eprintln!(
                "frame cache: {} {} GIFs mapped from {} in {:.2}s (not decoded; --no-frame-cache decodes)",
                names.len(),
                at.split,
                path.display(),
                started.elapsed().as_secs_f64()
            );
            return entries.into_iter().map(|entry| entry.frames).collect();
        }
        Ok(Some(_)) => eprintln!("note: the frame cache {} lists other GIFs; decoding again", path.display()),
        Ok(None) => {}
        Err(e) => eprintln!("note: ignoring the frame cache {} ({e:#}); decoding again", path.display()),
    }
    let decoded = decode_all(at, preprocess, names);
    let decode_seconds = started.elapsed().as_secs_f64();
    let entries: Vec<_> = names
        .iter()
        .zip(&decoded)
        .map(|(name, frames)| (*name, frames.as_ref().map(|(f, d)| (&f[..], &d[..])).map_err(String::as_str)))
        .collect();
    match frame_cache::write(&path, frame_bytes, &entries) {
        Ok(()) => {
            frame_cache::remove_superseded(&path);
            eprintln!(
                "frame cache: {} {} GIFs decoded in {decode_seconds:.1}s and written to {} ({} MB) for later runs",
                names.len(),
                at.split,
                path.display(),
                std::fs::metadata(&path).map_or(0, |m| m.len() >> 20)
            );
        }
        Err(e) => eprintln!(
            "note: the frame cache could not be written ({e:#}); the {} frames stay in memory for this run only",
            at.split
        ),
    }
    decoded
}

/// Resized `[frames, size, size, 3]` bytes and per-frame delays (ms) of one GIF.
fn read_and_resize(path: &Path, preprocess: &PreprocessConfig) -> Result<(Vec<u8>, Vec<u32>)> {
    let bytes = crate::runtime::files::read_gif(path)?;
    let gif = decode_gif(&bytes, &DecodeLimits::default())?;
    let size = preprocess.image_size;
    let mut frames = Vec::with_capacity(gif.frames.len() * size * size * 3);
    for frame in &gif.frames {
        frames.extend(resize_rgba(&frame.rgba, gif.width as usize, gif.height as usize, size, preprocess.background));
    }
    Ok((frames, gif.frames.iter().map(|f| f.delay_ms).collect()))
}

/// A question in a batch: which video (clip) it reads, and the row itself.
pub struct BatchQuestion<'a> {
    /// Index into the batch's clips.
    pub video: usize,
    /// The question row.
    pub item: &'a QaItem,
}

#[cfg(test)]
mod tests {
    use shared_model::text::questions::{Answer, QuestionType};

    use super::*;

    fn item(question: &str, candidates: &[&str]) -> QaItem {
        QaItem {
            qtype: QuestionType::Action,
            gif_name: "g".into(),
            question: question.into(),
            candidates: candidates.iter().map(|c| c.to_string()).collect(),
            answer: Answer::Choice(0),
            vid_id: "0".into(),
        }
    }

    /// A generated dataset in a fresh temporary folder (removed by the caller).
    fn generated(name: &str, gifs: usize) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gifqa-data-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let options = crate::generate::GenerateOptions {
            out: dir.clone(),
            seed: 11,
            gifs,
            wording: Default::default(),
            renderer: Default::default(),
            drawing: Default::default(),
        };
        crate::generate::generate(&options, &|| {}).unwrap();
        dir
    }

    fn load_cached(dir: &Path, use_cache: bool) -> Split {
        load_from(dir, "Train", Dataset::TgifQa, &PreprocessConfig::new(32), None, &MissingGifs::default(), use_cache)
            .unwrap()
    }

    fn cache_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(frame_cache::CACHE_DIR))
            .map(|entries| entries.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }

    /// The same clips (bytes and times) from the fresh decode, the run that writes the cache and
    /// the run that maps it, for the same jittered samples; a changed GIF makes a new cache.
    #[test]
    fn clips_from_the_frame_cache_equal_a_fresh_decode() {
        use rand::SeedableRng;
        let dir = generated("frame-cache", 12);
        let fresh = load_cached(&dir, false);
        assert!(cache_files(&dir).is_empty(), "--no-frame-cache writes nothing");
        let writing = load_cached(&dir, true);
        assert!(matches!(writing.gifs[0].frames, FrameBytes::Owned(_)));
        let written = cache_files(&dir);
        assert_eq!(written.len(), 1);
        let mapped = load_cached(&dir, true);
        assert!(matches!(mapped.gifs[0].frames, FrameBytes::Mapped { .. }));
        for split in [&writing, &mapped] {
            assert_eq!(split.items.len(), fresh.items.len());
            assert_eq!(split.gifs.len(), fresh.gifs.len());
            let mut rngs = [0, 1].map(|_| rand_chacha::ChaCha8Rng::seed_from_u64(5));
            for (a, b) in fresh.gifs.iter().zip(&split.gifs) {
                assert_eq!((&a.name, a.frame_count, &a.items), (&b.name, b.frame_count, &b.items));
                let [ra, rb] = &mut rngs;
                let sampled = crate::data::loader::jittered_uniform(&a.timeline, 16, ra);
                assert_eq!(sampled, crate::data::loader::jittered_uniform(&b.timeline, 16, rb), "{}", a.name);
                assert_eq!(a.clip(&sampled, 32), b.clip(&sampled, 32), "{}", a.name);
            }
        }
        // A rewritten GIF (new size and time) is a new cache; the superseded one is removed.
        let gif = dir.join("Train/gifs").join(format!("{}.gif", fresh.gifs[0].name));
        let gif = if gif.is_file() { gif } else { dir.join("gifs").join(format!("{}.gif", fresh.gifs[0].name)) };
        let mut bytes = std::fs::read(&gif).unwrap();
        bytes.push(0x3b);
        std::fs::write(&gif, bytes).unwrap();
        let again = load_cached(&dir, true);
        assert!(matches!(again.gifs[0].frames, FrameBytes::Owned(_)), "a stale cache is not used");
        let now = cache_files(&dir);
        assert_eq!(now.len(), 1);
        assert_ne!(now, written);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn texts_past_the_token_window_are_counted() {
        let items = [item("what does it do ?", &["jump", "spin"]), item(&"what does it do ? ".repeat(3), &["jump"])];
        let tokenizer = crate::vocab::build_tokenizer(&items).unwrap();
        let short = tokenizer.token_count("what does it do ?").unwrap();
        assert_eq!(note_truncated(&items, &tokenizer, short, "Train"), 1);
        assert_eq!(note_truncated(&items, &tokenizer, 3 * short, "Train"), 0);
    }
}
