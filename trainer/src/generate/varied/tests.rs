//! The varied drawing end to end: determinism, the same scenes and questions as the plain
//! drawing, every GIF decoding back to what was quantised, objects keeping their colours, and the
//! variety it claims occurring.

use std::collections::BTreeSet;
use std::fs;

use shared_model::gif::{DecodeLimits, decode_gif};

use super::*;
use crate::generate::Drawing;
use crate::generate::tests::{read_tree, run_drawn, scratch};

#[test]
fn varied_drawing_is_deterministic_and_asks_the_same_questions() {
    let dir = scratch("varied-determinism");
    run_drawn(&dir.join("a"), 7, 24, 1, Drawing::Varied);
    run_drawn(&dir.join("b"), 7, 24, 3, Drawing::Varied);
    run_drawn(&dir.join("p"), 7, 24, 2, Drawing::Plain);
    let (a, b, p) = (read_tree(&dir.join("a")), read_tree(&dir.join("b")), read_tree(&dir.join("p")));
    assert_eq!(a.len(), 24 + 3 * 6);
    assert!(a == b);
    let mut differing = 0;
    for (name, bytes) in &a {
        if name.ends_with("_question.csv") {
            assert_eq!(bytes, &p[name], "{name}");
        } else if name.ends_with(".gif") {
            differing += usize::from(bytes != &p[name]);
        }
    }
    assert_eq!(differing, 24);
    for split in crate::generate::SPLITS {
        let name = format!("{split}/{split}_annotations.jsonl");
        let (varied, plain) =
            (String::from_utf8(a[&name].clone()).unwrap(), String::from_utf8(p[&name].clone()).unwrap());
        for (v, q) in varied.lines().zip(plain.lines()) {
            let (v, q): (serde_json::Value, serde_json::Value) =
                (serde_json::from_str(v).unwrap(), serde_json::from_str(q).unwrap());
            assert!(v["drawing_style"]["edges"]["kind"].is_string());
            // The world is the same: objects, their tracks, delays and the caption.
            for field in ["objects", "delays_ms", "caption", "width", "background", "antialiased"] {
                assert_eq!(v[field], q[field], "{field}");
            }
        }
        assert!(!plain.contains("drawing_style"));
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

fn tag<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value).unwrap() {
        serde_json::Value::Object(map) => map.get("kind").map_or_else(|| format!("{map:?}"), |k| k.to_string()),
        other => other.to_string(),
    }
}

/// Decodes GIFs with the project's decoder, maps the decoded frames back onto the rendered time
/// line through the delays, checks them against what was quantised (exactly) and rendered
/// (closely), and counts the variety: canvas sizes, object sizes, backgrounds, edges, fills,
/// quantisers, dithering, palettes, layouts (hence disposal methods) and merging all vary.
#[test]
fn every_style_decodes_to_what_was_drawn_and_the_variety_occurs() {
    let mut seen: [BTreeSet<String>; 10] = Default::default();
    let mut canvases = BTreeSet::new();
    let (mut smallest, mut largest) = (f32::MAX, 0.0f32);
    for key in 0..60 {
        let Drawn { sample: s, rendered, shown } = draw(21, key);
        let style = s.varied.unwrap();
        let filter = match style.edges {
            raster::Edges::Resampled { filter, .. } => format!("{filter:?}"),
            other => tag(&other),
        };
        let parts = [
            tag(&style.background),
            tag(&style.edges),
            filter,
            tag(&style.fill),
            format!("{:?}", style.palette.quantiser),
            (style.palette.dither_matrix > 0).to_string(),
            style.palette.entries.to_string(),
            format!("{:?}", style.layout),
            style.merge.to_string(),
            style.global_palette.to_string(),
        ];
        for (set, part) in seen.iter_mut().zip(parts) {
            set.insert(part);
        }
        canvases.insert(s.scene.canvas);
        for o in &s.scene.objects {
            for st in &o.track {
                smallest = smallest.min(st.size);
                largest = largest.max(st.size);
            }
        }
        let d = decode_gif(&s.gif, &DecodeLimits::default()).unwrap();
        assert_eq!(d.width as usize, s.scene.canvas);
        assert_eq!(d.frames.len(), s.gif_frames);
        let delays: Vec<u32> = d.frames.iter().map(|f| f.delay_ms).collect();
        let total: u32 = s.scene.delays_cs.iter().map(|&c| u32::from(c) * 10).sum();
        assert_eq!(delays.iter().sum::<u32>(), total);
        let mut t = 0u32;
        for f in 0..s.scene.frames() {
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
            assert!(mean < 6.0, "key {key} frame {f} {style:?}: mean error {mean}");
        }
    }
    let want = [4, 5, 7, 3, 3, 2, 4, 5, 2, 2];
    for (set, least) in seen.iter().zip(want) {
        assert!(set.len() >= least, "{set:?}");
    }
    assert!(canvases.len() > 20);
    assert!(smallest < 18.0 && largest > 32.0, "{smallest} {largest}");
}

#[test]
fn objects_keep_their_colour() {
    for key in 0..30 {
        let Drawn { sample: s, shown, .. } = draw(5, key);
        let w = s.scene.canvas;
        let style = s.varied.unwrap();
        for (f, frame) in shown.iter().enumerate() {
            for o in &s.scene.objects {
                let st = o.track[f];
                if !st.visible {
                    continue;
                }
                let i = (st.y as usize * w + st.x as usize) * 3;
                let css = o.colour.css();
                for c in 0..3 {
                    // Within the contract's band around the CSS colour (fills may shade or
                    // flicker inside it), with a few units for a palette that rounds a shading.
                    let off = i32::from(frame[i + c]).abs_diff(i32::from(css[c]));
                    assert!(off <= world::COLOUR_JITTER as u32 + 8, "key {key} frame {f} {o:?} {style:?}");
                }
                if style.fill == raster::Fill::Flat {
                    assert_eq!(&frame[i..i + 3], &o.rgb, "key {key} frame {f} {style:?}");
                }
            }
        }
    }
}
