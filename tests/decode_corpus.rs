//! `gif_decode` against Pillow's reference decodes, on malformed input, and on hand-built GIFs.
//!
//! The reference (`shared/data/reference-decodes.json`, made by `shared/tools/gif_reference.py`)
//! stores, per GIF, Pillow's frame count, delays and each composited RGBA frame reduced to an
//! 8x8 grid of cell means; files Pillow refuses are recorded as `{"error": ...}`.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gif::DisposalMethod;
use serde_json::{Map, Value};
use shared_model::gif::{DecodeLimits, DecodedGif, GifError, decode_gif};

/// Largest mean absolute difference (0-255 scale) over all grid cells, channels and frames.
const MAX_MAD: f64 = 2.0;
/// A decode taking longer than this counts as a hang.
const DEADLINE: Duration = Duration::from_secs(5);

#[test]
fn corpus_matches_pillow() {
    let Some((data, reference)) = load_reference() else {
        return;
    };
    let mut failures = Vec::new();
    let mut worst: f64 = 0.0;
    let started = Instant::now();
    println!("{:<58} {:>7} {:>7}", "file", "frames", "MAD");
    for (name, entry) in reference.iter().filter(|(_, entry)| entry.get("error").is_none()) {
        let bytes = read(&data, name);
        let gif = match decode_with_deadline(bytes) {
            Ok(Ok(gif)) => gif,
            Ok(Err(err)) => {
                failures.push(format!("{name}: decode failed: {err}"));
                continue;
            }
            Err(why) => {
                failures.push(format!("{name}: {why}"));
                continue;
            }
        };
        let (width, height, frames) = (json_u64(entry, "width"), json_u64(entry, "height"), json_u64(entry, "frames"));
        let ours = (u64::from(gif.width), u64::from(gif.height), gif.frames.len() as u64);
        if ours != (width, height, frames) {
            failures.push(format!("{name}: {ours:?} (width, height, frames), Pillow ({width}, {height}, {frames})"));
            continue;
        }
        for (i, (frame, delay)) in
            gif.frames.iter().zip(entry["delays_ms"].as_array().into_iter().flatten()).enumerate()
        {
            // Pillow reports no delay for a frame without a graphic control extension.
            if let Some(delay) = delay.as_u64().filter(|&delay| delay != u64::from(frame.delay_ms)) {
                failures.push(format!("{name}: frame {i} delay {} ms, Pillow {delay} ms", frame.delay_ms));
            }
        }
        let mad = grid_mad(&gif, &entry["frame_grids"]);
        worst = worst.max(mad);
        println!("{name:<58} {frames:>7} {mad:>7.3}");
        if mad > MAX_MAD {
            failures.push(format!("{name}: grid MAD {mad:.3} > {MAX_MAD}"));
        }
    }
    println!("worst MAD {worst:.3}; corpus decoded and compared in {:.2?}", started.elapsed());
    assert!(failures.is_empty(), "{} file(s) differ from Pillow:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn pillow_refusals_are_errors() {
    let Some((data, reference)) = load_reference() else {
        return;
    };
    let mut failures = Vec::new();
    for (name, entry) in &reference {
        let Some(pillow_error) = entry.get("error").and_then(Value::as_str) else {
            continue;
        };
        let started = Instant::now();
        match decode_with_deadline(read(&data, name)) {
            Ok(Err(err)) => println!("{name}: {err} (Pillow: {pillow_error}) in {:.2?}", started.elapsed()),
            Ok(Ok(gif)) => {
                failures.push(format!("{name}: decoded {} frames, Pillow: {pillow_error}", gif.frames.len()));
            }
            Err(why) => failures.push(format!("{name}: {why}")),
        }
        if started.elapsed() > Duration::from_secs(1) {
            failures.push(format!("{name}: took {:.2?}", started.elapsed()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sub_rectangle_frame_after_background_disposal() {
    // Frame 0 fills the 5x3 canvas with red and asks for "restore to background" (index 3,
    // blue); frame 1 draws a 2x2 green square at (4,1) that reaches past the right edge and
    // is clipped to the canvas (Pillow would grow the canvas instead).
    let mut bytes = encode(
        5,
        3,
        &[
            frame((0, 0, 5, 3), &[1; 15], DisposalMethod::Background, None),
            frame((4, 1, 2, 2), &[2; 4], DisposalMethod::Keep, None),
        ],
    );
    bytes[11] = 3; // background colour index in the logical screen descriptor
    let gif = decode(&bytes);
    assert_eq!((gif.width, gif.height, gif.frames.len()), (5, 3, 2));
    assert!(pixels(&gif, 0).iter().all(|&px| px == RED));
    let expected: Vec<[u8; 4]> = (0..15).map(|i| if i == 9 || i == 14 { GREEN } else { BLUE }).collect();
    assert_eq!(pixels(&gif, 1), expected);
    assert_eq!(gif.frames[1].delay_ms, 70);
}

#[test]
fn previous_disposal_restores_the_canvas() {
    let gif = decode(&encode(
        3,
        3,
        &[
            frame((0, 0, 3, 3), &[1; 9], DisposalMethod::Keep, None),
            frame((1, 0, 2, 2), &[2; 4], DisposalMethod::Previous, None),
            frame((0, 2, 1, 1), &[3], DisposalMethod::Keep, None),
        ],
    ));
    assert_eq!(pixels(&gif, 1), [RED, GREEN, GREEN, RED, GREEN, GREEN, RED, RED, RED]);
    assert_eq!(pixels(&gif, 2), [RED, RED, RED, RED, RED, RED, BLUE, RED, RED]);
}

#[test]
fn transparent_index_shows_as_alpha_zero_then_keeps_the_canvas() {
    // Index 0 is transparent in both frames: on frame 0 it is alpha 0 (with palette colour 0),
    // on frame 1 it leaves frame 0's pixels alone.
    let gif = decode(&encode(
        2,
        2,
        &[
            frame((0, 0, 2, 2), &[0, 1, 1, 0], DisposalMethod::Keep, Some(0)),
            frame((0, 0, 2, 2), &[2, 0, 0, 0], DisposalMethod::Keep, Some(0)),
        ],
    ));
    let clear = [0, 0, 0, 0];
    assert_eq!(pixels(&gif, 0), [clear, RED, RED, clear]);
    assert_eq!(pixels(&gif, 1), [GREEN, RED, RED, clear]);
}

#[test]
fn restore_to_background_follows_pillow() {
    // Two Pillow quirks. The animation stays opaque unless frame 0 has a transparent index, so
    // "restore to background" with a transparent index (3, blue) paints blue opaque; and a
    // disposal field of 0 ("any") keeps the previous frame's method (here: background, index 0).
    let frames = |first_transparent| {
        encode(
            3,
            1,
            &[
                frame((0, 0, 3, 1), &[1; 3], DisposalMethod::Keep, first_transparent),
                frame((0, 0, 1, 1), &[2], DisposalMethod::Background, Some(3)),
                frame((1, 0, 1, 1), &[2], DisposalMethod::Any, None),
                frame((2, 0, 1, 1), &[2], DisposalMethod::Keep, None),
            ],
        )
    };
    let black = PALETTE_RGBA[0];
    assert_eq!(pixels(&decode(&frames(None)), 3), [BLUE, black, GREEN]);
    assert_eq!(pixels(&decode(&frames(Some(0))), 3), [[0, 0, 255, 0], black, GREEN]);
}

#[test]
fn interlaced_rows_are_put_back_in_order() {
    // Row y has colour index y % 4; the encoder writes rows as given, so hand them over in
    // interlace order (0, 8, 4, 2, 6, 10, 1, 3, ...). An odd width trips gif 0.14.2's own
    // deinterlacer.
    let (width, height) = (3u16, 11u16);
    let indices: Vec<u8> = interlace_order(height, true).flat_map(|y| [(y % 4) as u8; 3]).collect();
    let mut interlaced = frame((0, 0, width, height), &indices, DisposalMethod::Keep, None);
    interlaced.interlaced = true;
    let gif = decode(&encode(width, height, &[interlaced]));
    let expected: Vec<[u8; 4]> = (0..height).flat_map(|y| [PALETTE_RGBA[usize::from(y % 4)]; 3]).collect();
    assert_eq!(pixels(&gif, 0), expected);
}

#[test]
fn odd_sizes_round_trip() {
    // Every frame size up to 13x13, plain and interlaced, with pseudo-random opaque pixels:
    // catches deinterlacing and row-stride slips that square or even sizes hide.
    let mut seed = 0x2545_f491_u32;
    for (width, height, interlace) in
        (1..=13u16).flat_map(|w| (1..=13u16).flat_map(move |h| [(w, h, false), (w, h, true)]))
    {
        let rows: Vec<Vec<u8>> = (0..height)
            .map(|_| {
                (0..width)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        (seed >> 16) as u8 % 4
                    })
                    .collect()
            })
            .collect();
        let stored: Vec<u8> = interlace_order(height, interlace).flat_map(|y| rows[y].clone()).collect();
        let mut image = frame((0, 0, width, height), &stored, DisposalMethod::Keep, None);
        image.interlaced = interlace;
        let gif = decode(&encode(width, height, &[image]));
        let expected: Vec<[u8; 4]> = rows.iter().flatten().map(|&i| PALETTE_RGBA[usize::from(i)]).collect();
        assert_eq!(pixels(&gif, 0), expected, "{width}x{height} interlaced={interlace}");
    }
}

#[test]
fn bad_input_is_rejected() {
    let limits = DecodeLimits::default();
    assert!(matches!(decode_gif(&[], &limits), Err(GifError::NotAGif)));
    assert!(matches!(decode_gif(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", &limits), Err(GifError::NotAGif)));
    assert!(matches!(decode_gif(b"GIF89a\x05", &limits), Err(GifError::Truncated)));

    // A 60000x60000 screen is refused from the header alone, before any allocation.
    let mut huge = b"GIF89a".to_vec();
    huge.extend_from_slice(&[0x60, 0xEA, 0x60, 0xEA, 0, 0, 0, b';']);
    match decode_gif(&huge, &limits) {
        Err(err @ GifError::TooLarge { .. }) => {
            assert_eq!(err.to_string(), "GIF canvas 60000x60000 exceeds the limit of 16777216 pixels");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let empty_screen = encode(0, 4, &[]);
    assert!(matches!(decode_gif(&empty_screen, &limits), Err(GifError::Empty { .. })));
    assert!(matches!(decode_gif(&encode(4, 4, &[]), &limits), Err(GifError::NoFrames)));
}

#[test]
fn truncated_corpus_file_is_an_error() {
    let Some(data) = shared_data() else { return };
    let bytes = read(&data, "gif-corpus/tests__samples__interlaced.gif");
    let half = &bytes[..bytes.len() / 2];
    assert!(matches!(decode_gif(half, &DecodeLimits::default()), Err(GifError::Truncated)));
}

#[test]
fn limits_stop_long_animations() {
    let frames: Vec<_> = (0..5).map(|_| frame((0, 0, 2, 2), &[1; 4], DisposalMethod::Keep, None)).collect();
    let bytes = encode(2, 2, &frames);
    let few_frames = DecodeLimits { max_frames: 4, ..DecodeLimits::default() };
    assert!(matches!(decode_gif(&bytes, &few_frames), Err(GifError::TooLarge { actual: 5, .. })));
    let few_bytes = DecodeLimits { max_total_bytes: 3 * 16, ..DecodeLimits::default() };
    assert!(matches!(decode_gif(&bytes, &few_bytes), Err(GifError::TooLarge { actual: 64, .. })));
    assert_eq!(decode(&bytes).frames.len(), 5);
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// The global palette of the hand-built GIFs: black, red, green, blue.
const PALETTE: [u8; 12] = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255];
const PALETTE_RGBA: [[u8; 4]; 4] = [[0, 0, 0, 255], RED, GREEN, BLUE];
const RED: [u8; 4] = [255, 0, 0, 255];
const GREEN: [u8; 4] = [0, 255, 0, 255];
const BLUE: [u8; 4] = [0, 0, 255, 255];

/// `shared/data` beside the repository, or `None` (with a message) when it is missing.
fn shared_data() -> Option<PathBuf> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    if !data.join("reference-decodes.json").is_file() {
        println!(
            "skipped: {} has no reference-decodes.json; it lives in shared/ beside the repository and is rebuilt by \
             `python3 shared/tools/gif_reference.py shared/data/reference-decodes.json shared/data/gif-corpus \
             shared/data/tgif-qa/gifs` (needs Pillow)",
            data.display()
        );
        return None;
    }
    Some(data)
}

fn load_reference() -> Option<(PathBuf, Map<String, Value>)> {
    let data = shared_data()?;
    let text = std::fs::read_to_string(data.join("reference-decodes.json")).expect("read reference-decodes.json");
    let Value::Object(reference) = serde_json::from_str(&text).expect("parse reference-decodes.json") else {
        panic!("reference-decodes.json is not a JSON object");
    };
    Some((data, reference))
}

fn read(data: &Path, name: &str) -> Vec<u8> {
    std::fs::read(data.join(name)).unwrap_or_else(|err| panic!("read {name}: {err}"))
}

fn json_u64(entry: &Value, key: &str) -> u64 {
    entry[key].as_u64().unwrap_or_else(|| panic!("reference entry has no {key}"))
}

/// Decodes on a worker thread: `Err` if the decoder panicked or missed `DEADLINE`.
fn decode_with_deadline(bytes: Vec<u8>) -> Result<Result<DecodedGif, GifError>, String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(|| decode_gif(&bytes, &DecodeLimits::default())));
        let _ = send.send(result);
    });
    match receive.recv_timeout(DEADLINE) {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(_)) => Err("decode_gif panicked".into()),
        Err(_) => Err(format!("decode_gif did not finish within {DEADLINE:?}")),
    }
}

/// Mean absolute difference between our frames' 8x8 grids and Pillow's, as
/// `gif_reference.py` computes them: cell x-range `gx*w/8 .. max(that+1, (gx+1)*w/8)`, clipped.
fn grid_mad(gif: &DecodedGif, reference: &Value) -> f64 {
    let (w, h) = (gif.width as usize, gif.height as usize);
    let (mut sum, mut count) = (0.0, 0usize);
    for (frame, cells) in gif.frames.iter().zip(reference.as_array().into_iter().flatten()) {
        for (cell, expected) in cells.as_array().into_iter().flatten().enumerate() {
            let (gx, gy) = (cell % 8, cell / 8);
            let (x0, y0) = (gx * w / 8, gy * h / 8);
            let (x1, y1) = ((x0 + 1).max((gx + 1) * w / 8).min(w), (y0 + 1).max((gy + 1) * h / 8).min(h));
            let mut total = [0u64; 4];
            for y in y0..y1 {
                for px in frame.rgba[(y * w + x0) * 4..(y * w + x1) * 4].chunks_exact(4) {
                    total.iter_mut().zip(px).for_each(|(t, &v)| *t += u64::from(v));
                }
            }
            let n = ((x1 - x0) * (y1 - y0)).max(1) as f64;
            for (c, total) in total.iter().enumerate() {
                sum += (*total as f64 / n - expected[c].as_f64().unwrap_or(f64::NAN)).abs();
                count += 1;
            }
        }
    }
    sum / count.max(1) as f64
}

/// A frame of the hand-built GIFs: `(left, top, width, height)`, palette indices row-major.
fn frame(
    (left, top, width, height): (u16, u16, u16, u16),
    indices: &[u8],
    dispose: DisposalMethod,
    transparent: Option<u8>,
) -> gif::Frame<'static> {
    gif::Frame {
        left,
        top,
        width,
        height,
        dispose,
        transparent,
        delay: 7,
        buffer: indices.to_vec().into(),
        ..gif::Frame::default()
    }
}

fn encode(width: u16, height: u16, frames: &[gif::Frame<'_>]) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut bytes, width, height, &PALETTE).expect("encoder");
        for frame in frames {
            encoder.write_frame(frame).expect("encode frame");
        }
    }
    bytes
}

/// Rows in the order a GIF stores them: interlaced passes start at 0, 4, 2, 1 with steps 8, 8, 4, 2.
fn interlace_order(height: u16, interlaced: bool) -> impl Iterator<Item = usize> {
    let passes: &[(usize, usize)] = if interlaced { &[(0, 8), (4, 8), (2, 4), (1, 2)] } else { &[(0, 1)] };
    passes.iter().flat_map(move |&(start, step)| (start..usize::from(height)).step_by(step))
}

fn decode(bytes: &[u8]) -> DecodedGif {
    decode_gif(bytes, &DecodeLimits::default()).unwrap_or_else(|err| panic!("decode failed: {err}"))
}

fn pixels(gif: &DecodedGif, frame: usize) -> Vec<[u8; 4]> {
    gif.frames[frame].rgba.chunks_exact(4).map(|px| [px[0], px[1], px[2], px[3]]).collect()
}
