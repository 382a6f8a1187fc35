//! Procedural generator of the synthetic GIF-QA benchmark; the contract it follows is
//! `../shared/docs/synthetic-benchmark.md`.
//!
//! Each GIF is a pure function of `(seed, key)`: its RNG is ChaCha8 seeded with `seed` on stream
//! `key`, so the output is byte-identical whatever the thread count. Files are written into a
//! hidden sibling folder that is renamed to the output folder only once everything succeeded.

mod encode;
mod questions;
mod render;
/// Sample GIFs with their questions for the demo and the page.
pub mod samples;
mod second;
mod varied;
pub mod wording;
mod world;

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use questions::{KINDS, Questions};
use world::{Background, Scene};

pub use wording::Wording;

/// What `trainer generate` writes.
pub struct GenerateOptions {
    /// Dataset folder (created; must not hold a dataset already).
    pub out: PathBuf,
    /// Seed of every random choice: the same seed gives the same files.
    pub seed: u64,
    /// GIFs over all three splits.
    pub gifs: usize,
    /// How questions and captions are worded; the GIFs and answers do not depend on it.
    pub wording: Wording,
    /// Which code draws the GIFs; the questions and answers do not depend on it either.
    pub renderer: Renderer,
    /// How the primary renderer draws: its plain look, or many looks; the questions and answers do
    /// not depend on it.
    pub drawing: Drawing,
}

/// How the primary renderer draws and encodes the GIFs (the second renderer has its own look).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Drawing {
    /// One look: signed-distance shapes with 4x4 supersampled edges or none, the plain
    /// backgrounds, an exact palette, Keep disposal.
    #[default]
    Plain,
    /// Many looks within the contract: gradient and noise backgrounds of several kinds and
    /// scales, several anti-aliasing methods and resampling filters, shaded or flickering fills,
    /// three palette quantisers with or without ordered dithering, every disposal method.
    Varied,
}

/// Which code draws and encodes the GIFs; the world, the questions and the answers are the same.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Renderer {
    /// The project's own renderer: signed-distance shapes, an exact palette, the training data.
    #[default]
    Primary,
    /// A renderer written apart from the first (tiny-skia paths, backgrounds of its own, NeuQuant
    /// palettes with or without dithering, other frame layouts and disposals): GIFs no model trains
    /// on, to check that it learnt the world and not one renderer's look.
    Second,
}

/// What `trainer generate` wrote.
pub struct GenerateSummary {
    /// GIFs of each split.
    pub gifs_per_split: [(String /*split*/, usize); 3],
    /// Questions of each type, over all splits.
    pub questions_per_type: Vec<(String /*type*/, usize)>,
}

/// The dataset's splits, in the order they are written.
pub const SPLITS: [&str; 3] = ["Train", "Val", "Test"];

/// The colour words of the benchmark's world, as its questions and captions write them.
pub fn colour_words() -> [&'static str; 8] {
    world::Colour::ALL.map(world::Colour::name)
}

/// The shape words of the benchmark's world.
pub fn shape_words() -> [&'static str; 6] {
    world::Shape::ALL.map(world::Shape::name)
}

/// 80% / 10% / 10%, at least one GIF per split.
fn split_sizes(gifs: usize) -> Result<[usize; 3]> {
    if gifs < 3 {
        bail!("need at least 3 GIFs (one per split), got {gifs}");
    }
    let val = (gifs / 10).max(1);
    let test = (gifs / 10).max(1);
    Ok([gifs - val - test, val, test])
}

fn split_of(key: usize, sizes: [usize; 3]) -> usize {
    if key < sizes[0] {
        0
    } else if key < sizes[0] + sizes[1] {
        1
    } else {
        2
    }
}

/// The file stem of the GIF with this key.
pub fn gif_name(key: usize) -> String {
    format!("syn_{key:06}")
}

/// `progress` is called once per finished GIF (from worker threads).
pub fn generate(opts: &GenerateOptions, progress: &(dyn Fn() + Sync)) -> anyhow::Result<GenerateSummary> {
    let sizes = split_sizes(opts.gifs)?;
    if opts.renderer == Renderer::Second && opts.drawing != Drawing::Plain {
        bail!("--drawing varied is the primary renderer's; the second renderer has a look of its own");
    }
    let out = &opts.out;
    if out.exists() {
        let mut entries = fs::read_dir(out).with_context(|| format!("reading {}", out.display()))?;
        if entries.next().is_some() {
            bail!("{} exists and is not empty; refusing to overwrite it", out.display());
        }
    }
    let name = out.file_name().with_context(|| format!("{} does not name a folder", out.display()))?.to_string_lossy();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    // What an earlier, killed generate into the same folder left is of no use: its GIFs are
    // made again from the seed.
    for leftover in crate::runtime::files::clean_leftovers(out)? {
        eprintln!("note: removed {}, left by an interrupted generate", leftover.display());
    }
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).with_context(|| format!("removing stale {}", tmp.display()))?;
    }
    match write_all(opts, sizes, &tmp, progress) {
        Ok(summary) => {
            if out.exists() {
                fs::remove_dir(out).with_context(|| format!("removing empty {}", out.display()))?;
            }
            fs::rename(&tmp, out).with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))?;
            Ok(summary)
        }
        Err(e) => {
            // Best effort: the error that matters is the one being returned.
            let _ = fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

/// What one GIF contributes to the split files.
struct GifRows {
    rows: [Vec<String>; 5],
    annotation: String,
}

fn write_all(
    opts: &GenerateOptions,
    sizes: [usize; 3],
    dir: &Path,
    progress: &(dyn Fn() + Sync),
) -> Result<GenerateSummary> {
    for split in SPLITS {
        let gifs = dir.join(split).join("gifs");
        fs::create_dir_all(&gifs).with_context(|| format!("creating {}", gifs.display()))?;
    }
    let per_gif: Vec<GifRows> = (0..opts.gifs)
        .into_par_iter()
        .map(|key| {
            let split = SPLITS[split_of(key, sizes)];
            let mut sample = match (opts.renderer, opts.drawing) {
                (Renderer::Primary, Drawing::Plain) => make_sample(opts.seed, key, &mut |_| {})?,
                (Renderer::Primary, Drawing::Varied) => varied::make_sample(opts.seed, key, &mut |_, _| {})?,
                (Renderer::Second, _) => second::make_sample(opts.seed, key, &mut |_, _| {})?,
            };
            wording::apply(&mut sample.questions, opts.wording, opts.seed, key);
            let name = gif_name(key);
            let path = dir.join(split).join("gifs").join(format!("{name}.gif"));
            fs::write(&path, &sample.gif).with_context(|| format!("writing {}", path.display()))?;
            let annotation = annotation(&sample, &name, key, split)?;
            progress();
            crate::runtime::files::pause_point("generate-gif");
            Ok(GifRows { rows: sample.questions.rows(&name, key), annotation })
        })
        .collect::<Result<_>>()?;

    let mut totals = [0usize; 5];
    let mut start = 0;
    for (s, split) in SPLITS.iter().enumerate() {
        let gifs = &per_gif[start..start + sizes[s]];
        start += sizes[s];
        for (k, (kind, header)) in KINDS.iter().enumerate() {
            let path = dir.join(split).join(format!("{split}_{kind}_question.csv"));
            let lines = gifs.iter().flat_map(|g| g.rows[k].iter());
            totals[k] += write_lines(&path, Some(header), lines)?;
        }
        let path = dir.join(split).join(format!("{split}_annotations.jsonl"));
        write_lines(&path, None, gifs.iter().map(|g| &g.annotation))?;
    }
    Ok(GenerateSummary {
        gifs_per_split: std::array::from_fn(|s| (SPLITS[s].to_string(), sizes[s])),
        questions_per_type: KINDS.iter().zip(totals).map(|((k, _), n)| (k.to_string(), n)).collect(),
    })
}

/// Writes `\n`-terminated lines; returns how many lines (header excluded).
fn write_lines<'a>(path: &Path, header: Option<&str>, lines: impl Iterator<Item = &'a String>) -> Result<usize> {
    let file = fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::new(file);
    let ctx = || format!("writing {}", path.display());
    if let Some(h) = header {
        writeln!(w, "{h}").with_context(ctx)?;
    }
    let mut n = 0;
    for line in lines {
        writeln!(w, "{line}").with_context(ctx)?;
        n += 1;
    }
    w.flush().with_context(ctx)?;
    Ok(n)
}

/// Everything generated for one GIF.
pub(crate) struct Sample {
    pub scene: Scene,
    pub style: encode::Style,
    pub questions: Questions,
    pub gif: Vec<u8>,
    pub gif_frames: usize,
    pub palette_colours: usize,
    /// The second renderer's own choices; `None` for the primary renderer.
    pub second: Option<second::Style>,
    /// The varied drawing's choices; `None` for the plain drawing and the second renderer.
    pub varied: Option<varied::Style>,
}

/// Generates GIF `key`; `on_frame` sees every rendered RGB frame (tests and debugging).
pub(crate) fn make_sample(seed: u64, key: usize, on_frame: &mut dyn FnMut(&[u8])) -> Result<Sample> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(key as u64);
    let scene = world::sample_scene(&mut rng);
    let style = encode::Style::sample(&mut rng, &scene.background);
    let questions = questions::make(&mut rng, &scene);

    let size = scene.canvas;
    let bg = render::background(&scene.background, size);
    let shades: Vec<[u8; 3]> = scene.objects.iter().map(|o| o.rgb).collect();
    let mut quant = encode::Quantiser::new(encode::build_palette(&bg.colours, &shades));
    let bg_index = encode::background_indices(&bg, &mut quant);
    let mut rgb = Vec::with_capacity(size * size * 3);
    let mut frames = Vec::with_capacity(scene.frames());
    for f in 0..scene.frames() {
        let rects = render::draw_frame(&scene, f, &bg, &mut rgb);
        frames.push(encode::index_frame(&rgb, &bg, &bg_index, &rects, size, &mut quant));
        on_frame(&rgb);
    }
    let (gif, gif_frames) = encode::write_gif(size, quant.palette(), &frames, &scene.delays_cs, style)
        .with_context(|| format!("encoding {}", gif_name(key)))?;
    let palette_colours = quant.palette().len();
    Ok(Sample { scene, style, questions, gif, gif_frames, palette_colours, second: None, varied: None })
}

#[derive(Serialize)]
struct BackgroundNote {
    kind: &'static str,
    colours: Vec<[u8; 3]>,
}

#[derive(Serialize)]
struct EncodingNote {
    global_palette: bool,
    subrect_frames: bool,
    merged_identical_frames: bool,
    gif_frames: usize,
    palette_colours: usize,
}

#[derive(Serialize)]
struct SegmentNote {
    action: &'static str,
    repetitions: u32,
    first_frame: usize,
    last_frame: usize,
}

#[derive(Serialize)]
struct ObjectNote {
    colour: &'static str,
    shape: &'static str,
    rgb: [u8; 3],
    /// Size across (px) and centre (px) in the first and last frame.
    start_size: f32,
    start_centre: [f32; 2],
    end_size: f32,
    end_centre: [f32; 2],
    visible_at_end: bool,
    segments: Vec<SegmentNote>,
}

#[derive(Serialize)]
struct Annotation<'a> {
    gif_name: &'a str,
    key: usize,
    split: &'a str,
    width: usize,
    height: usize,
    background: BackgroundNote,
    antialiased: bool,
    encoding: EncodingNote,
    /// One delay per rendered frame; segments index these frames (a merged GIF holds fewer).
    delays_ms: Vec<u32>,
    objects: Vec<ObjectNote>,
    caption: &'a str,
    /// Only written for the second renderer, so the primary renderer's files stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    renderer: Option<&'static str>,
    /// The second renderer's background, palette and frame choices (its background differs from
    /// `background`, which is the scene's).
    #[serde(skip_serializing_if = "Option::is_none")]
    second_style: Option<&'a second::Style>,
    /// The varied drawing's background, edges, fill, palette and frame choices (only written for
    /// it, so the plain drawing's files stay as they were).
    #[serde(skip_serializing_if = "Option::is_none")]
    drawing_style: Option<&'a varied::Style>,
}

fn round1(v: f32) -> f32 {
    (v * 10.0).round() / 10.0
}

fn annotation(sample: &Sample, name: &str, key: usize, split: &str) -> Result<String> {
    let scene = &sample.scene;
    let background = match &scene.background {
        Background::Flat(c) => BackgroundNote { kind: "flat", colours: vec![*c] },
        Background::Gradient { from, to, .. } => BackgroundNote { kind: "gradient", colours: vec![*from, *to] },
        Background::Noise { base, .. } => BackgroundNote { kind: "noise", colours: vec![*base] },
    };
    let objects = scene
        .objects
        .iter()
        .map(|o| {
            let first = o.track[0];
            let last = o.track[o.track.len() - 1];
            ObjectNote {
                colour: o.colour.name(),
                shape: o.shape.name(),
                rgb: o.rgb,
                start_size: round1(first.size),
                start_centre: [round1(first.x), round1(first.y)],
                end_size: round1(last.size),
                end_centre: [round1(last.x), round1(last.y)],
                visible_at_end: last.visible,
                segments: o
                    .segments
                    .iter()
                    .map(|s| SegmentNote {
                        action: s.action.name(),
                        repetitions: s.reps,
                        first_frame: s.first,
                        last_frame: s.last,
                    })
                    .collect(),
            }
        })
        .collect();
    let note = Annotation {
        gif_name: name,
        key,
        split,
        width: scene.canvas,
        height: scene.canvas,
        background,
        antialiased: scene.antialias,
        encoding: EncodingNote {
            global_palette: sample.style.global_palette,
            subrect_frames: sample.style.subrect,
            merged_identical_frames: sample.style.merge,
            gif_frames: sample.gif_frames,
            palette_colours: sample.palette_colours,
        },
        delays_ms: scene.delays_cs.iter().map(|&d| u32::from(d) * 10).collect(),
        objects,
        caption: &sample.questions.true_caption,
        renderer: sample.second.is_some().then_some("second"),
        second_style: sample.second.as_ref(),
        drawing_style: sample.varied.as_ref(),
    };
    serde_json::to_string(&note).context("serialising an annotation")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// An empty scratch folder for one test (shared with the second renderer's tests).
    pub(super) fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gen-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Every file under `root`, by relative path.
    pub(super) fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                    out.insert(rel, fs::read(&p).unwrap());
                }
            }
        }
        out
    }

    fn run(out: &Path, seed: u64, gifs: usize, threads: usize) -> GenerateSummary {
        run_worded(out, seed, gifs, threads, Wording::Templates)
    }

    fn run_worded(out: &Path, seed: u64, gifs: usize, threads: usize, wording: Wording) -> GenerateSummary {
        run_with(out, seed, gifs, threads, wording, Renderer::Primary)
    }

    /// `generate` with the primary renderer and `drawing` on a pool of `threads` threads.
    pub(super) fn run_drawn(out: &Path, seed: u64, gifs: usize, threads: usize, drawing: Drawing) -> GenerateSummary {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let opts = GenerateOptions {
            out: out.to_path_buf(),
            seed,
            gifs,
            wording: Wording::Templates,
            renderer: Renderer::Primary,
            drawing,
        };
        pool.install(|| generate(&opts, &|| {})).unwrap()
    }

    /// `generate` on a pool of `threads` threads.
    pub(super) fn run_with(
        out: &Path,
        seed: u64,
        gifs: usize,
        threads: usize,
        wording: Wording,
        renderer: Renderer,
    ) -> GenerateSummary {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let opts = GenerateOptions { out: out.to_path_buf(), seed, gifs, wording, renderer, drawing: Drawing::Plain };
        pool.install(|| generate(&opts, &|| {})).unwrap()
    }

    #[test]
    fn reworded_output_is_the_same_whatever_the_threads() {
        let dir = scratch("worded-determinism");
        for (name, wording) in [("seen", Wording::Seen), ("unseen", Wording::Unseen)] {
            run_worded(&dir.join(format!("{name}-1")), 7, 16, 1, wording);
            run_worded(&dir.join(format!("{name}-3")), 7, 16, 3, wording);
            assert!(read_tree(&dir.join(format!("{name}-1"))) == read_tree(&dir.join(format!("{name}-3"))), "{name}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Only the question texts and the caption choices' words depend on the wording: the GIFs,
    /// the annotations, which questions are asked, their candidates and answers do not.
    #[test]
    fn wordings_change_only_the_text() {
        let dir = scratch("wordings");
        let wordings = [("templates", Wording::Templates), ("seen", Wording::Seen), ("unseen", Wording::Unseen)];
        let trees: Vec<BTreeMap<String, Vec<u8>>> = wordings
            .iter()
            .map(|(name, wording)| {
                run_worded(&dir.join(name), 21, 30, 2, *wording);
                read_tree(&dir.join(name))
            })
            .collect();
        let (canonical, others) = trees.split_first().unwrap();
        for tree in others {
            assert_eq!(canonical.keys().collect::<Vec<_>>(), tree.keys().collect::<Vec<_>>());
            let mut reworded = 0;
            for (path, bytes) in canonical {
                let other = &tree[path];
                if !path.ends_with("_question.csv") {
                    // GIFs and annotations (whose caption is the canonical one).
                    assert!(bytes == other, "{path}");
                    continue;
                }
                let (a, b) = (String::from_utf8_lossy(bytes), String::from_utf8_lossy(other));
                let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
                assert_eq!(la.len(), lb.len(), "{path}");
                let caption = path.ends_with("_caption_question.csv");
                for (x, y) in la.iter().zip(&lb) {
                    let (fx, fy): (Vec<&str>, Vec<&str>) = (x.split('\t').collect(), y.split('\t').collect());
                    assert_eq!(fx.len(), fy.len(), "{path}");
                    // Captions: gif_name and answer; questions: every column but the question.
                    let kept: Vec<usize> =
                        if caption { vec![0, fx.len() - 1] } else { (0..fx.len()).filter(|&i| i != 1).collect() };
                    for i in kept {
                        assert_eq!(fx[i], fy[i], "{path}: {x} / {y}");
                    }
                    reworded += usize::from(x != y);
                }
            }
            assert!(reworded > 30, "{reworded}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn same_seed_same_bytes_whatever_the_threads() {
        let dir = scratch("determinism");
        let a = run(&dir.join("a"), 7, 24, 1);
        run(&dir.join("b"), 7, 24, 3);
        let (ta, tb) = (read_tree(&dir.join("a")), read_tree(&dir.join("b")));
        assert_eq!(ta.len(), 24 + 3 * 6);
        assert!(ta == tb);
        run(&dir.join("c"), 8, 24, 2);
        assert!(ta != read_tree(&dir.join("c")));
        assert_eq!(a.gifs_per_split.map(|s| s.1), [20, 2, 2]);
        assert_eq!(a.questions_per_type.len(), 5);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn layout_and_headers() {
        let dir = scratch("layout");
        let out = dir.join("bench");
        fs::create_dir(&out).unwrap(); // an empty folder is fine
        let summary = run(&out, 3, 10, 2);
        let counts: BTreeMap<String, usize> = summary.questions_per_type.into_iter().collect();
        for (s, split) in SPLITS.iter().enumerate() {
            let n = summary.gifs_per_split[s].1;
            assert_eq!(fs::read_dir(out.join(split).join("gifs")).unwrap().count(), n);
            for (kind, header) in KINDS {
                let text = fs::read_to_string(out.join(split).join(format!("{split}_{kind}_question.csv"))).unwrap();
                assert!(!text.contains('\r'));
                let mut lines = text.lines();
                assert_eq!(lines.next(), Some(header));
                let cols = header.split('\t').count();
                for line in lines {
                    let fields: Vec<&str> = line.split('\t').collect();
                    assert_eq!(fields.len(), cols, "{line}");
                    assert!(fields[0].starts_with("syn_") && !fields[0].ends_with(".gif"));
                    assert!(out.join(split).join("gifs").join(format!("{}.gif", fields[0])).exists());
                }
            }
            let ann = fs::read_to_string(out.join(split).join(format!("{split}_annotations.jsonl"))).unwrap();
            assert_eq!(ann.lines().count(), n);
            for line in ann.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert!(v["objects"][0]["segments"][0]["action"].is_string());
            }
        }
        assert_eq!(counts["caption"], 10);
        assert!(counts["frameqa"] >= 10);
        // No partial folder is left beside the output.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_bad_requests() {
        let dir = scratch("refuse");
        let out = dir.join("full");
        fs::create_dir_all(&out).unwrap();
        fs::write(out.join("keep.txt"), "x").unwrap();
        let opts = GenerateOptions {
            out: out.clone(),
            seed: 1,
            gifs: 5,
            wording: Wording::Templates,
            renderer: Renderer::Primary,
            drawing: Drawing::Plain,
        };
        let err = generate(&opts, &|| {}).err().unwrap();
        assert!(err.to_string().contains("not empty"));
        assert_eq!(fs::read(out.join("keep.txt")).unwrap(), b"x");
        let opts = GenerateOptions {
            out: dir.join("small"),
            seed: 1,
            gifs: 2,
            wording: Wording::Templates,
            renderer: Renderer::Primary,
            drawing: Drawing::Plain,
        };
        assert!(generate(&opts, &|| {}).is_err());
        assert!(!dir.join("small").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn split_sizes_are_80_10_10() {
        assert_eq!(split_sizes(3).unwrap(), [1, 1, 1]);
        assert_eq!(split_sizes(10).unwrap(), [8, 1, 1]);
        assert_eq!(split_sizes(10_000).unwrap(), [8000, 1000, 1000]);
        assert!(split_sizes(2).is_err());
    }

    /// Decodes every GIF of a few samples (all encoder styles occur), composites the frames, maps
    /// them back onto the rendered time line through the delays, and checks the pixels.
    #[test]
    fn gifs_round_trip() {
        let mut styles = std::collections::BTreeSet::new();
        for key in 0..40 {
            let mut rgb_frames = Vec::new();
            let s = make_sample(11, key, &mut |f| rgb_frames.push(f.to_vec())).unwrap();
            styles.insert((s.style.global_palette, s.style.subrect, s.style.merge));
            let (decoded, delays, w) = encode::tests::decode(&s.gif);
            assert_eq!(w, s.scene.canvas);
            assert_eq!(decoded.len(), s.gif_frames);
            let total: u32 = delays.iter().map(|&d| u32::from(d)).sum();
            assert_eq!(total, s.scene.delays_cs.iter().map(|&d| u32::from(d)).sum::<u32>());
            let mut t = 0u32;
            for (f, rendered) in rgb_frames.iter().enumerate() {
                // The decoded frame on screen at the rendered frame's start time.
                let mut acc = 0u32;
                let j = delays.iter().position(|&d| {
                    acc += u32::from(d);
                    acc > t
                });
                let got = &decoded[j.unwrap()];
                t += u32::from(s.scene.delays_cs[f]);
                for (i, (a, b)) in got.iter().zip(rendered).enumerate() {
                    assert!(
                        a.abs_diff(*b) <= 40,
                        "key {key} frame {f} px {} {:?} {:?} {:?} {:?}",
                        i / 3,
                        &got[i / 3 * 3..i / 3 * 3 + 3],
                        &rendered[i / 3 * 3..i / 3 * 3 + 3],
                        s.style,
                        s.scene.objects.iter().map(|o| (o.rgb, o.track[f])).collect::<Vec<_>>()
                    );
                }
                for o in &s.scene.objects {
                    let st = o.track[f];
                    if !st.visible {
                        continue;
                    }
                    let i = (st.y as usize * w + st.x as usize) * 3;
                    for c in 0..3 {
                        assert!(got[i + c].abs_diff(o.rgb[c]) <= 8, "key {key} frame {f} {o:?}");
                    }
                }
            }
        }
        assert!(styles.len() >= 6, "{styles:?}");
    }
}
