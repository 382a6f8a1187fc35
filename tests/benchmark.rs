//! The generated benchmark read back through the shared decoder: every GIF decodes to the size,
//! duration and object colours its annotation records, every question points at a real GIF, and
//! the files follow TGIF-QA's layout so the same reader loads them.

use gifqa_tests::TempDir;
use shared_model::gif::{DecodeLimits, decode_gif};
use shared_model::text::questions::{QuestionType, gif_dir, load_split};

#[test]
fn generated_gifs_decode_to_their_annotations() {
    let tmp = TempDir::new("benchmark");
    let out = tmp.0.join("data");
    let summary = trainer::generate::generate(
        &trainer::generate::GenerateOptions {
            out: out.clone(),
            seed: 3,
            gifs: 40,
            wording: Default::default(),
            renderer: Default::default(),
            drawing: Default::default(),
        },
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

/// The event counter's targets (`train --count-supervision`) on generated GIFs: every Count
/// question gets them, its annotated repetitions are its answer, each repetition that a sampled
/// frame shows adds exactly one, and the frames where a blinking object is hidden (seen in the
/// very pixels the model reads) all lie inside blinks: the annotations' frames and the sampled
/// times line up, merged GIF frames included.
#[test]
fn count_targets_mark_the_repetitions_the_frames_show() {
    use shared_model::preprocess::PreprocessConfig;
    use shared_model::sampling::SamplingStrategy;
    use shared_model::text::questions::Answer;
    use trainer::data::attention_targets::ObjectAnnotations;

    let tmp = TempDir::new("count-targets");
    let out = tmp.0.join("data");
    trainer::generate::generate(
        &trainer::generate::GenerateOptions {
            out: out.clone(),
            seed: 5,
            gifs: 60,
            wording: Default::default(),
            renderer: Default::default(),
            drawing: Default::default(),
        },
        &|| {},
    )
    .unwrap();
    let size = 64;
    let split = trainer::data::load(&out, "Train", &PreprocessConfig::new(size), None).unwrap();
    let annotations = ObjectAnnotations::load(&out, "Train").unwrap();
    let strategy = SamplingStrategy::parse("uniform:32", 32).unwrap();
    let (mut questions, mut hidden_frames) = (0, 0);
    for gif in &split.gifs {
        let clip = gif.clip(&strategy.sample(&gif.timeline, 0)[0], size);
        for item in gif.items.iter().map(|&i| &split.items[i]).filter(|i| i.qtype == QuestionType::Count) {
            let shares = annotations
                .event_shares(&gif.name, &item.question, &clip)
                .unwrap_or_else(|| panic!("{}: no targets for '{}'", gif.name, item.question));
            assert_eq!(item.answer, Answer::Count(shares.repetitions), "{} {}", gif.name, item.question);
            // Shares of one repetition are equal and sum to 1: the total is a whole number of
            // repetitions, at most the answer.
            let total: f32 = shares.shares.iter().sum();
            assert!((total - total.round()).abs() < 1e-4 && total.round() as u32 <= shares.repetitions, "{total}");
            assert!(total.round() >= 1.0, "{}: no repetition sampled", gif.name);
            if item.question.ends_with("blink ?") {
                let visible = annotations.target(&gif.name, &item.question, &clip, size, 1).unwrap();
                for (frame, (&seen, &share)) in visible.iter().zip(&shares.shares).enumerate() {
                    if seen == 0.0 {
                        assert!(share > 0.0, "{}: hidden in frame {frame} outside every blink", gif.name);
                        hidden_frames += 1;
                    }
                }
            }
            questions += 1;
        }
    }
    assert!(questions >= 20 && hidden_frames >= 20, "{questions} questions, {hidden_frames} hidden frames");
}
