//! Seeds made by code, so they can be remade when a format changes: tiny GIFs (written with the
//! `gif` crate), sampling inputs and a training.json of the current shape. `fuzz --write-seeds`
//! writes them into `tests/fuzz/corpus/<target>/`; the text seeds there are written by hand.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use gif::{DisposalMethod, Encoder, Frame, Repeat};
use trainer::train::{EpochRecord, ObjectProbeAccuracy, TrainOptions, TrainState};

use super::targets::corpus_dir;

/// Why seeds could not be made or written.
#[derive(Debug, thiserror::Error)]
// Each variant's fields are named in its #[error] message and its doc line.
#[allow(missing_docs)]
pub enum SeedError {
    /// The `gif` crate refused a hand-built GIF.
    #[error("encoding {name}: {source}")]
    Gif {
        name: String,
        #[source]
        source: gif::EncodingError,
    },
    /// The trainer's options did not parse.
    #[error("building training.json: {0}")]
    Options(#[from] clap::Error),
    /// training.json could not be serialised.
    #[error("serialising training.json: {0}")]
    Json(#[from] serde_json::Error),
    /// A seed file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Black, red, green, blue.
const PALETTE: [u8; 12] = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255];

/// One frame: `(left, top, width, height)`, palette indices row-major, disposal, transparent index,
/// delay in hundredths of a second.
fn frame(
    (left, top, width, height): (u16, u16, u16, u16),
    indices: Vec<u8>,
    dispose: DisposalMethod,
    transparent: Option<u8>,
    delay: u16,
) -> Frame<'static> {
    Frame { left, top, width, height, dispose, transparent, delay, buffer: Cow::Owned(indices), ..Frame::default() }
}

/// `count` palette indices cycling through `0..colours`.
fn pattern(count: usize, colours: u8) -> Vec<u8> {
    (0..count).map(|i| (i % usize::from(colours)) as u8).collect()
}

fn encode(
    name: &str,
    (width, height): (u16, u16),
    palette: &[u8],
    repeat: Option<Repeat>,
    frames: &[Frame<'_>],
) -> Result<Vec<u8>, SeedError> {
    let error = |source| SeedError::Gif { name: name.to_string(), source };
    let mut bytes = Vec::new();
    {
        let mut encoder = Encoder::new(&mut bytes, width, height, palette).map_err(error)?;
        if let Some(repeat) = repeat {
            encoder.set_repeat(repeat).map_err(error)?;
        }
        for frame in frames {
            encoder.write_frame(frame).map_err(error)?;
        }
    }
    Ok(bytes)
}

/// The tiny GIFs of `corpus/gif/`: each exercises compositing rules (disposal, transparency,
/// interlacing, local palettes, frames reaching outside the screen) in under 2 kB.
pub fn gifs() -> Result<Vec<(&'static str, Vec<u8>)>, SeedError> {
    use DisposalMethod::{Any, Background, Keep, Previous};
    let local = |f: Frame<'static>| Frame { palette: Some(vec![9, 9, 9, 200, 100, 50, 1, 2, 3]), ..f };
    let interlaced = |f: Frame<'static>| Frame { interlaced: true, ..f };
    Ok(vec![
        ("one-pixel.gif", encode("one-pixel", (1, 1), &PALETTE, None, &[frame((0, 0, 1, 1), vec![1], Any, None, 0)])?),
        (
            "disposal-background.gif",
            encode(
                "disposal-background",
                (4, 4),
                &PALETTE,
                None,
                &[
                    frame((0, 0, 4, 4), pattern(16, 4), Background, Some(0), 0),
                    frame((1, 1, 2, 2), vec![2, 3, 0, 1], Keep, None, 5),
                    // Reaches past the screen's right and bottom edges.
                    frame((3, 3, 2, 2), vec![1, 1, 1, 1], Background, Some(1), 1),
                ],
            )?,
        ),
        (
            "disposal-previous.gif",
            encode(
                "disposal-previous",
                (8, 8),
                &PALETTE,
                Some(Repeat::Infinite),
                &[
                    frame((0, 0, 8, 8), pattern(64, 3), Previous, None, 4),
                    local(frame((2, 2, 4, 4), pattern(16, 3), Previous, Some(2), 4)),
                    frame((0, 4, 8, 4), pattern(32, 4), Any, Some(3), 4),
                ],
            )?,
        ),
        (
            "interlaced-odd-width.gif",
            encode(
                "interlaced-odd-width",
                (5, 9),
                &PALETTE,
                None,
                &[
                    interlaced(frame((0, 0, 5, 9), pattern(45, 4), Keep, None, 10)),
                    interlaced(frame((1, 0, 3, 9), pattern(27, 2), Background, Some(1), 0)),
                ],
            )?,
        ),
        (
            "delays.gif",
            encode(
                "delays",
                (6, 6),
                &PALETTE,
                Some(Repeat::Finite(3)),
                &[
                    frame((0, 0, 6, 6), pattern(36, 4), Keep, None, 2),
                    frame((0, 0, 6, 6), pattern(36, 3), Keep, None, 0),
                    frame((0, 0, 6, 6), pattern(36, 2), Keep, None, 100),
                    frame((0, 0, 6, 6), pattern(36, 1), Keep, None, u16::MAX),
                ],
            )?,
        ),
        (
            // Tall and narrow, the shape of a fuzzing find (which was mostly a ../shared corpus file,
            // so is not kept): stretching 6 columns to 64 made every resize cost 47,622 x 64
            // pixels, and this file took about 3.5 s in the gif target.
            "narrow-tall.gif",
            encode(
                "narrow-tall",
                (6, 47_622),
                &PALETTE,
                None,
                &(0..48u16)
                    .map(|i| frame((0, i * 991, 6, 1), vec![(i % 4) as u8; 6], Keep, None, 2))
                    .collect::<Vec<_>>(),
            )?,
        ),
        (
            "local-palettes-only.gif",
            encode(
                "local-palettes-only",
                (3, 2),
                &[],
                None,
                &[
                    local(frame((0, 0, 3, 2), pattern(6, 3), Keep, None, 7)),
                    local(frame((0, 0, 2, 2), vec![2, 7, 0, 1], Background, None, 7)),
                ],
            )?,
        ),
    ])
}

/// The seeds of `corpus/sampling/`: a strategy line, then little-endian u16 delays (hundredths of a
/// second).
pub fn sampling() -> Vec<(&'static str, Vec<u8>)> {
    let seed = |strategy: &str, delays: &[u16]| {
        let mut bytes = format!("{strategy}\n").into_bytes();
        bytes.extend(delays.iter().flat_map(|d| d.to_le_bytes()));
        bytes
    };
    let ramp: Vec<u16> = (0..40).map(|i| i * 3).collect();
    vec![
        ("uniform.bin", seed("uniform:16", &[10; 8])),
        ("sparse.bin", seed("sparse:2x8", &ramp)),
        ("staggered.bin", seed("staggered:2x4", &[4, 0, 65535])),
        ("keyframes.bin", seed("keyframes", &[7])),
        ("weighted.bin", seed("weighted:9", &[0, 1, 2, 3, 0, 50])),
        ("dropout.bin", seed("dropout:13", &[4; 37])),
        ("mean.bin", seed("mean:4", &[10, 20, 30, 40, 50])),
        ("clipcut.bin", seed(" clipcut : 5 ", &[4; 100])),
        ("default-count.bin", seed("sparse", &[2; 3])),
    ]
}

/// A training.json as `trainer train --data data --out model` writes it after two epochs (every
/// option at its default).
pub fn training_json() -> Result<Vec<u8>, SeedError> {
    #[derive(Parser)]
    struct Train {
        #[command(flatten)]
        options: TrainOptions,
    }
    let options = Train::try_parse_from(["train", "--data", "data", "--out", "model"])?.options;
    let accuracy = |a: f64| BTreeMap::from([("action".to_string(), a), ("count".to_string(), a / 2.0)]);
    let epoch = |epoch: usize| EpochRecord {
        epoch,
        step: 100 * epoch,
        train_loss: 1.5 / epoch as f64,
        train_accuracy: accuracy(0.5),
        val_accuracy: accuracy(0.4),
        object_probe: (epoch == 2).then_some(ObjectProbeAccuracy { shape: 0.9, colour: 0.8 }),
        kind_head: None,
        seconds: 60.5,
        questions_per_second: 17.7,
        gifs_per_second: 3.1,
    };
    let state = TrainState { options, backend: "flex".into(), history: vec![epoch(1), epoch(2)], recipe: None };
    Ok(serde_json::to_vec_pretty(&state)?)
}

/// Writes every generated seed into its corpus folder; returns the paths written.
pub fn write_all() -> Result<Vec<PathBuf>, SeedError> {
    let mut files: Vec<(&str, &str, Vec<u8>)> = Vec::new();
    files.extend(gifs()?.into_iter().map(|(name, bytes)| ("gif", name, bytes)));
    files.extend(sampling().into_iter().map(|(name, bytes)| ("sampling", name, bytes)));
    files.push(("config", "training.json", training_json()?));
    let mut written = Vec::new();
    for (target, name, bytes) in files {
        let dir = corpus_dir(target);
        let path = dir.join(name);
        let error = |source| SeedError::Write { path: path.display().to_string(), source };
        std::fs::create_dir_all(&dir).map_err(error)?;
        std::fs::write(&path, bytes).map_err(error)?;
        written.push(path);
    }
    Ok(written)
}
