//! The generated benchmark read back through the shared decoder: every GIF decodes to the size,
//! duration and object colours its annotation records, every question points at a real GIF, and
//! the files follow TGIF-QA's layout so the same reader loads them.

use gifqa_tests::TempDir;
use shared_model::gif_decode::{DecodeLimits, decode_gif};
use shared_model::questions::{QuestionType, gif_dir, load_split};

#[test]
fn generated_gifs_decode_to_their_annotations() {
    let tmp = TempDir::new("benchmark");
    let out = tmp.0.join("data");
    let summary = trainer::generate::generate(
        &trainer::generate::GenerateOptions { out: out.clone(), seed: 3, gifs: 40 },
        &|| {},
    )
    .unwrap();
    assert_eq!(summary.gifs_per_split.iter().map(|(_, n)| n).sum::<usize>(), 40);
    let mut checked_pixels = 0;
    for split in ["Train", "Val", "Test"] {
        let items = load_split(&out, split).unwrap();
        for qtype in QuestionType::ALL {
            assert!(out.join(split).join(qtype.file_name(split)).is_file(), "{split} {qtype}");
        }
        let gifs = gif_dir(&out, split);
        assert!(items.iter().all(|i| gifs.join(format!("{}.gif", i.gif_name)).is_file()));
        let annotations = std::fs::read_to_string(out.join(split).join(format!("{split}_annotations.jsonl"))).unwrap();
        for line in annotations.lines() {
            let a: serde_json::Value = serde_json::from_str(line).unwrap();
            let name = a["gif_name"].as_str().unwrap();
            let gif = decode_gif(&std::fs::read(gifs.join(format!("{name}.gif"))).unwrap(), &DecodeLimits::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                (u64::from(gif.width), u64::from(gif.height)),
                (a["width"].as_u64().unwrap(), a["height"].as_u64().unwrap())
            );
            let duration: u64 = gif.frames.iter().map(|f| u64::from(f.delay_ms)).sum();
            let annotated: u64 = a["delays_ms"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).sum();
            assert_eq!(duration, annotated, "{name}: merged frames keep the total duration");
            let last = gif.frames.last().unwrap();
            for object in a["objects"].as_array().unwrap().iter().filter(|o| o["visible_at_end"] == true) {
                let centre = object["end_centre"].as_array().unwrap();
                let (x, y) = (centre[0].as_f64().unwrap() as usize, centre[1].as_f64().unwrap() as usize);
                let pixel = &last.rgba[(y * gif.width as usize + x) * 4..][..3];
                let rgb: Vec<i64> = object["rgb"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
                let worst = pixel.iter().zip(&rgb).map(|(&p, &c)| (i64::from(p) - c).abs()).max().unwrap();
                assert!(
                    worst <= 16,
                    "{name}: {} {} at its centre is {pixel:?}, drawn as {rgb:?}",
                    object["colour"],
                    object["shape"]
                );
                checked_pixels += 1;
            }
        }
    }
    assert!(checked_pixels > 40, "{checked_pixels}");
}
