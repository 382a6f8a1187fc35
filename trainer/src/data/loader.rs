//! Training batches prepared on a background thread while the model computes: one epoch's
//! shuffled GIF order, cut into batches, each with its jitter-sampled clips, sent ahead through a
//! bounded channel. The producer draws from the run's random generator in exactly the order the
//! loop did when it built batches itself (shuffle, then each batch's jitter in turn), so a seed
//! gives the same batches as before, and the generator comes back at the end of the epoch.
//! With augmentation (`train --augment`) each batch also carries its clips augmented, drawn
//! from the same generator after the batch's jitter.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use anyhow::Result;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use shared_model::preprocess::PreparedClip;
use shared_model::sampling::{FrameSource, SampledFrame, Timeline};

use crate::data::Split;

/// Batches ready ahead of the model: enough to hide a slow batch, few enough that the clips
/// waiting in memory stay small (16 GIFs × 48 frames × 64² × 3 bytes is 9 MB a batch).
pub const AHEAD: usize = 4;

/// One step's GIFs (indices into [`Split::gifs`]) and their sampled clips, in the same order.
pub struct Batch {
    /// The GIFs.
    pub gifs: Vec<usize>,
    /// One jitter-sampled clip per GIF.
    pub clips: Vec<PreparedClip>,
    /// The same clips augmented (what the model reads) when training augments; the auxiliary
    /// losses still find objects in `clips`.
    pub augmented: Option<Vec<PreparedClip>>,
}

impl Batch {
    /// The clips the model reads: augmented when the batch has them.
    pub fn seen(&self) -> &[PreparedClip] {
        self.augmented.as_deref().unwrap_or(&self.clips)
    }
}

/// One epoch of batches, produced on a background thread; iterate it, then [`Prefetch::finish`].
pub struct Prefetch {
    /// Dropped first (field order), so that a producer blocked on a full channel stops.
    batches: Option<Receiver<Batch>>,
    producer: Option<JoinHandle<ChaCha8Rng>>,
}

impl Prefetch {
    /// Starts the epoch: shuffles the GIF order with `rng` and prepares batches of `batch_gifs`
    /// GIFs, `frames` jitter-sampled frames per clip, augmented too when `augment`.
    pub fn epoch(split: Arc<Split>, batch_gifs: usize, frames: usize, augment: bool, mut rng: ChaCha8Rng) -> Prefetch {
        let (sender, batches) = sync_channel(AHEAD);
        let producer = std::thread::spawn(move || {
            let mut order: Vec<usize> = (0..split.gifs.len()).collect();
            order.shuffle(&mut rng);
            for chunk in order.chunks(batch_gifs.max(1)) {
                if sender.send(prepare(&split, chunk, frames, augment, &mut rng)).is_err() {
                    break; // the loop stopped early (time budget, error): nobody reads on
                }
            }
            rng
        });
        Prefetch { batches: Some(batches), producer: Some(producer) }
    }

    /// Stops the producer (if the epoch was cut short) and returns the random generator as the
    /// producer left it.
    pub fn finish(mut self) -> Result<ChaCha8Rng> {
        self.batches = None;
        let producer = self.producer.take().ok_or_else(|| anyhow::anyhow!("the batch producer was already joined"))?;
        producer.join().map_err(|panic| {
            let why =
                panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            anyhow::anyhow!("the batch producer failed: {}", why.unwrap_or_default())
        })
    }
}

impl Iterator for Prefetch {
    type Item = Batch;

    /// The next batch; `None` at the end of the epoch (or when the producer failed, which
    /// [`Prefetch::finish`] then reports).
    fn next(&mut self) -> Option<Batch> {
        self.batches.as_ref()?.recv().ok()
    }
}

/// Samples and gathers the clips of the GIFs `chunk` (the loop's former per-step work), and
/// augments a copy of them when `augment`.
pub fn prepare(split: &Split, chunk: &[usize], frames: usize, augment: bool, rng: &mut ChaCha8Rng) -> Batch {
    let clips: Vec<PreparedClip> = chunk
        .iter()
        .map(|&g| {
            let gif = &split.gifs[g];
            gif.clip(&jittered_uniform(&gif.timeline, frames, rng), split.size)
        })
        .collect();
    let augmented = augment.then(|| {
        let mut seen = clips.clone();
        crate::train::augment::augment_all(&mut seen, split.size, rng);
        seen
    });
    Batch { gifs: chunk.to_vec(), clips, augmented }
}

/// Training-time sampling: one random time inside each of K equal segments (TSN-style jitter).
pub fn jittered_uniform(timeline: &Timeline, frames: usize, rng: &mut ChaCha8Rng) -> Vec<SampledFrame> {
    (0..frames)
        .map(|i| {
            let t = (i as f64 + rng.random::<f64>()) / frames as f64;
            SampledFrame { source: FrameSource::Index(timeline.frame_at(t)), time: t as f32 }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::data::{Dataset, MissingGifs};

    /// The producer gives the batches the loop used to build itself (same shuffle, same jitter,
    /// same clips) and hands back the generator in the same state; an epoch cut short stops it.
    #[test]
    fn prefetched_batches_equal_the_sequential_ones() {
        let dir = std::env::temp_dir().join(format!("gifqa-loader-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        crate::generate::generate(
            &crate::generate::GenerateOptions {
                out: dir.clone(),
                seed: 4,
                gifs: 12,
                wording: Default::default(),
                renderer: Default::default(),
                drawing: Default::default(),
            },
            &|| {},
        )
        .unwrap();
        let preprocess = shared_model::preprocess::PreprocessConfig::new(16);
        let split =
            crate::data::load_with(&dir, "Train", Dataset::TgifQa, &preprocess, None, &MissingGifs::default()).unwrap();
        let split = Arc::new(split);
        let mut reference = ChaCha8Rng::seed_from_u64(9);
        let mut rng = reference.clone();
        for _ in 0..2 {
            let mut order: Vec<usize> = (0..split.gifs.len()).collect();
            order.shuffle(&mut reference);
            let expected: Vec<Batch> = order.chunks(3).map(|c| prepare(&split, c, 5, false, &mut reference)).collect();
            let mut batches = Prefetch::epoch(split.clone(), 3, 5, false, rng);
            let got: Vec<Batch> = batches.by_ref().collect();
            rng = batches.finish().unwrap();
            assert_eq!(got.len(), expected.len());
            for (a, b) in got.iter().zip(&expected) {
                assert_eq!((&a.gifs, &a.clips), (&b.gifs, &b.clips));
            }
        }
        assert_eq!(rand::Rng::random::<u64>(&mut rng), rand::Rng::random::<u64>(&mut reference));
        let mut cut = Prefetch::epoch(split.clone(), 1, 5, false, rng);
        assert!(cut.next().is_some());
        cut.finish().unwrap();
        // Augmentation: the clips as drawn are the unaugmented ones, the seen ones differ from
        // them, and a seed gives the same augmented batches.
        let batch = |augment: bool| {
            let mut batches = Prefetch::epoch(split.clone(), 4, 5, augment, ChaCha8Rng::seed_from_u64(11));
            let got: Vec<Batch> = batches.by_ref().collect();
            batches.finish().unwrap();
            got
        };
        let (plain, augmented, again) = (batch(false), batch(true), batch(true));
        assert_eq!(plain[0].gifs, augmented[0].gifs);
        assert_eq!(plain[0].clips, augmented[0].clips);
        assert!(plain[0].augmented.is_none() && plain[0].seen() == plain[0].clips.as_slice());
        for (a, b) in augmented.iter().zip(&again) {
            assert_eq!((&a.clips, &a.augmented), (&b.clips, &b.augmented));
            let seen = a.augmented.as_ref().unwrap();
            assert!(seen.iter().zip(&a.clips).all(|(s, c)| s.pixels != c.pixels && s.times == c.times));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
