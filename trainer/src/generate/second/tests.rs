//! The second renderer end to end: determinism, every style decoding back to what was drawn,
//! objects keeping their colours, and a drawing that really differs from the primary renderer's.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use shared_model::gif::{DecodeLimits, decode_gif};

use super::*;
use crate::generate::tests::{read_tree, run_with, scratch};
use crate::generate::{Renderer, Wording};

fn run(out: &Path, seed: u64, gifs: usize, threads: usize, renderer: Renderer) {
    run_with(out, seed, gifs, threads, Wording::Templates, renderer);
}

#[test]
fn second_renderer_is_deterministic_whatever_the_threads() {
    let dir = scratch("second-determinism");
    run(&dir.join("a"), 7, 24, 1, Renderer::Second);
    run(&dir.join("b"), 7, 24, 3, Renderer::Second);
    run(&dir.join("p"), 7, 24, 2, Renderer::Primary);
    let (a, b, p) = (read_tree(&dir.join("a")), read_tree(&dir.join("b")), read_tree(&dir.join("p")));
    assert_eq!(a.len(), 24 + 3 * 6);
    assert!(a == b);
    // Same world and questions as the primary renderer for the same seed; other GIFs.
    for (name, bytes) in &a {
        if name.ends_with("_question.csv") {
            assert_eq!(bytes, &p[name], "{name}");
        } else if name.ends_with(".gif") {
            assert_ne!(bytes, &p[name], "{name}");
        }
    }
    for split in crate::generate::SPLITS {
        let name = format!("{split}/{split}_annotations.jsonl");
        for line in String::from_utf8(a[&name].clone()).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["renderer"], "second");
            assert!(v["second_style"]["background"]["kind"].is_string());
        }
        assert!(!String::from_utf8(p[&name].clone()).unwrap().contains("renderer"));
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// Everything one GIF went through.
struct Drawn {
    sample: Sample,
    rendered: Vec<Vec<u8>>,
    shown: Vec<Vec<u8>>,
}

fn draw(seed: u64, key: usize) -> Drawn {
    let (mut rendered, mut shown) = (Vec::new(), Vec::new());
    let sample = make_sample(seed, key, &mut |r, s| {
        rendered.push(r.to_vec());
        shown.push(s.to_vec());
    })
    .unwrap();
    Drawn { sample, rendered, shown }
}

fn kind(style: &Style) -> String {
    serde_json::to_value(style.background).unwrap()["kind"].as_str().unwrap().to_string()
}

/// Decodes every GIF of a few samples with the project's decoder, maps the decoded frames back
/// onto the rendered time line through the delays, and checks them against what was quantised
/// (exactly) and what was rendered (closely); every style occurs.
#[test]
fn every_style_decodes_to_what_was_drawn() {
    let mut layouts = BTreeSet::new();
    let mut palettes = BTreeSet::new();
    let mut backgrounds = BTreeSet::new();
    for key in 0..48 {
        let Drawn { sample: s, rendered, shown } = draw(21, key);
        let style = s.second.unwrap();
        layouts.insert(format!("{:?}", style.layout));
        palettes.insert((style.global_palette, style.dither, style.merge, style.palette_size));
        backgrounds.insert(kind(&style));
        let d = decode_gif(&s.gif, &DecodeLimits::default()).unwrap();
        assert_eq!(d.width as usize, s.scene.canvas);
        assert_eq!(d.frames.len(), s.gif_frames);
        let delays: Vec<u32> = d.frames.iter().map(|f| f.delay_ms).collect();
        let total: u32 = s.scene.delays_cs.iter().map(|&c| u32::from(c) * 10).sum();
        assert_eq!(delays.iter().sum::<u32>(), total);
        let mut t = 0u32;
        for f in 0..s.scene.frames() {
            // The decoded frame on screen when rendered frame f starts.
            let mut acc = 0u32;
            let j = delays
                .iter()
                .position(|&d| {
                    acc += d;
                    acc > t
                })
                .unwrap();
            t += u32::from(s.scene.delays_cs[f]) * 10;
            let got: Vec<u8> = d.frames[j].rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
            assert!(d.frames[j].rgba.chunks_exact(4).all(|p| p[3] == 255), "key {key} frame {f}");
            assert!(got == shown[f], "key {key} frame {f} {style:?}: decoded differs from the quantised frame");
            let mean =
                got.iter().zip(&rendered[f]).map(|(a, b)| f64::from(a.abs_diff(*b))).sum::<f64>() / got.len() as f64;
            assert!(mean < 4.0, "key {key} frame {f} {style:?}: mean error {mean}");
        }
    }
    assert_eq!(layouts.len(), 4, "{layouts:?}");
    assert_eq!(backgrounds.len(), 6, "{backgrounds:?}");
    for flag in 0..3 {
        let seen: BTreeSet<bool> = palettes.iter().map(|p| [p.0, p.1, p.2][flag]).collect();
        assert_eq!(seen.len(), 2, "{palettes:?}");
    }
    assert_eq!(palettes.iter().map(|p| p.3).collect::<BTreeSet<_>>().len(), 3);
}

#[test]
fn objects_keep_their_shade_after_quantisation() {
    for key in 0..32 {
        let Drawn { sample: s, shown, .. } = draw(5, key);
        let w = s.scene.canvas;
        for (f, frame) in shown.iter().enumerate() {
            for o in &s.scene.objects {
                let st = o.track[f];
                if !st.visible {
                    continue;
                }
                let i = (st.y as usize * w + st.x as usize) * 3;
                for c in 0..3 {
                    assert!(
                        frame[i + c].abs_diff(o.rgb[c]) <= 2,
                        "key {key} frame {f} {:?} {:?}: {:?} for {:?}",
                        o.colour,
                        s.second,
                        &frame[i..i + 3],
                        o.rgb
                    );
                }
            }
        }
    }
}

/// The same scene drawn by both renderers: the same objects in the same places, but other pixels.
#[test]
fn the_drawing_differs_from_the_primary_renderer() {
    let (mut differing, mut total) = (0usize, 0usize);
    let mut gifs_that_differ = 0;
    let keys = 16;
    for key in 0..keys {
        let mut primary = Vec::new();
        let p = crate::generate::make_sample(9, key, &mut |f| primary.push(f.to_vec())).unwrap();
        let Drawn { sample: s, rendered, .. } = draw(9, key);
        assert_eq!(p.questions.rows("x", key), s.questions.rows("x", key));
        assert_eq!(p.scene.delays_cs, s.scene.delays_cs);
        let mut this = 0;
        for (a, b) in primary.iter().zip(&rendered) {
            let n = a.chunks_exact(3).zip(b.chunks_exact(3)).filter(|(x, y)| x != y).count();
            this += n;
            total += a.len() / 3;
        }
        differing += this;
        gifs_that_differ += usize::from(this > 0);
    }
    assert_eq!(gifs_that_differ, keys);
    // Noise and gradients of its own change a good part of the background, not only the edges.
    assert!(differing * 5 > total, "{differing} of {total} pixels differ");
}
