//! Frame sampling on the GIF's time line.
//!
//! GIF encoders merge identical consecutive frames into one with the summed delay, so frame
//! indices say little about time: every strategy picks *times* and shows the frame on screen then.
//! All strategies are deterministic given a seed.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// CLIP-Cut's K when `clipcut` is given without a count.
pub const CLIPCUT_DEFAULT_K: usize = 8;

/// Browsers show frames with a delay of 10 ms or less for 100 ms; so do we.
pub const MIN_DELAY_MS: u32 = 20;
/// Delay used for frames whose delay is below [`MIN_DELAY_MS`].
pub const DEFAULT_DELAY_MS: u32 = 100;

/// A stable 64-bit seed from a name (FNV-1a), e.g. a GIF's name, so runs sample the same frames.
pub const fn seed_of(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut i = 0;
    while i < bytes.len() {
        hash = (hash ^ bytes[i] as u64).wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// Candidate frames CLIP-Cut scores to keep `k`: `max(4k, 32)`, a fixed number (not capped by the
/// GIF's frame count) so that clips of a batch stay equally long; short GIFs repeat frames in the
/// pool and the selection skips the repeats (see `clipcut::top_k_frames`).
pub const fn clipcut_pool(k: usize) -> usize {
    if 4 * k > 32 { 4 * k } else { 32 }
}

/// A sampling strategy, written `name` or `name:K` (K frames), `sparse:NxT`, `keyframes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplingStrategy {
    /// K frames at evenly spaced times.
    Uniform {
        /// Frames read.
        frames: usize,
    },
    /// ClipBERT: `clips` clips of `frames` consecutive frames at random offsets.
    Sparse {
        /// Clips read.
        clips: usize,
        /// Consecutive frames a clip.
        frames: usize,
    },
    /// `clips` uniform clips of `frames` times each, clip c shifted by (c + ½)/clips − ½ of the
    /// spacing: together they see `clips` times as many moments at the density the model was
    /// trained on (one clip is `uniform`).
    Staggered {
        /// Clips read.
        clips: usize,
        /// Times a clip.
        frames: usize,
    },
    /// First, middle and last frame.
    Keyframes,
    /// K random times, later times favoured (density rising linearly from 1 to 3).
    Weighted {
        /// Frames read.
        frames: usize,
    },
    /// Drop 30% of the frames at random, then K evenly spaced times over the rest.
    Dropout {
        /// Frames read.
        frames: usize,
    },
    /// The pixel-mean of all frames, repeated K times (a no-motion baseline).
    Mean {
        /// Copies of the mean frame.
        frames: usize,
    },
    /// CLIP-Cut: a pool of [`clipcut_pool`]`(K)` evenly spaced frames is encoded, and each
    /// question reads only the K pool frames most similar to it (chosen in `clipcut.rs`).
    ClipCut {
        /// Frames each question reads.
        frames: usize,
    },
}

/// Errors from parsing a strategy name.
#[derive(Debug, thiserror::Error)]
pub enum SamplingError {
    /// The name is not one of the strategies.
    #[error(
        "unknown sampling strategy '{0}' (expected uniform[:K], sparse[:NxT], staggered:NxK, keyframes, weighted[:K], dropout[:K], mean[:K] or clipcut[:K])"
    )]
    Unknown(String),
    /// The frame count is not a positive number.
    #[error("bad frame count in sampling strategy '{0}' (expected a number from 1 to 256)")]
    BadCount(String),
}

/// One frame picked by a strategy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampledFrame {
    /// Which frame to show.
    pub source: FrameSource,
    /// When it is shown, as a fraction of the GIF's duration (0 ≤ time < 1).
    pub time: f32,
}

/// Where a sampled frame's pixels come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameSource {
    /// A decoded frame, by index.
    Index(usize),
    /// The pixel-mean of all frames.
    Mean,
}

/// A GIF's time line: when each frame starts and how long the GIF lasts.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    starts_ms: Vec<u64>,
    duration_ms: u64,
}

impl Timeline {
    /// Builds the time line from per-frame delays in milliseconds (at least one frame).
    pub fn from_delays(delays_ms: &[u32]) -> Self {
        let mut starts_ms = Vec::with_capacity(delays_ms.len());
        let mut now = 0u64;
        for &delay in delays_ms {
            starts_ms.push(now);
            now += u64::from(if delay < MIN_DELAY_MS { DEFAULT_DELAY_MS } else { delay });
        }
        Timeline { starts_ms, duration_ms: now.max(1) }
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.starts_ms.len()
    }

    /// True when there are no frames.
    pub fn is_empty(&self) -> bool {
        self.starts_ms.is_empty()
    }

    /// The frame on screen at `fraction` (0..1) of the duration.
    pub fn frame_at(&self, fraction: f64) -> usize {
        let t = (fraction.clamp(0.0, 1.0) * self.duration_ms as f64) as u64;
        self.starts_ms.partition_point(|&start| start <= t).saturating_sub(1)
    }

    /// Start of frame `index` as a fraction of the duration.
    pub fn start_of(&self, index: usize) -> f32 {
        (self.starts_ms[index.min(self.starts_ms.len() - 1)] as f64 / self.duration_ms as f64) as f32
    }

    /// Middle of frame `index` as a fraction of the duration.
    fn middle_of(&self, index: usize) -> f32 {
        let end = self.starts_ms.get(index + 1).copied().unwrap_or(self.duration_ms);
        ((self.starts_ms[index] + end) as f64 / 2.0 / self.duration_ms as f64) as f32
    }
}

impl SamplingStrategy {
    /// Frames per clip.
    pub fn frames_per_clip(&self) -> usize {
        match *self {
            Self::Uniform { frames }
            | Self::Sparse { frames, .. }
            | Self::Staggered { frames, .. }
            | Self::Weighted { frames }
            | Self::Dropout { frames }
            | Self::Mean { frames } => frames,
            Self::Keyframes => 3,
            Self::ClipCut { frames } => clipcut_pool(frames),
        }
    }

    /// Frames each question reads when they are chosen per question (CLIP-Cut's K), else `None`:
    /// then every question reads all [`Self::frames_per_clip`] sampled frames.
    pub fn top_k(&self) -> Option<usize> {
        match *self {
            Self::ClipCut { frames } => Some(frames),
            _ => None,
        }
    }

    /// Frames a question reads per clip: K for CLIP-Cut, else all sampled ones.
    pub fn frames_read(&self) -> usize {
        self.top_k().unwrap_or(self.frames_per_clip())
    }

    /// Parses `name[:K]`, using `default_frames` when no count is given.
    pub fn parse(text: &str, default_frames: usize) -> Result<Self, SamplingError> {
        let (name, count) = match text.split_once(':') {
            Some((name, count)) => (name.trim(), Some(count.trim())),
            None => (text.trim(), None),
        };
        let number = |s: &str| match s.parse::<usize>() {
            Ok(n) if (1..=256).contains(&n) => Ok(n),
            _ => Err(SamplingError::BadCount(text.to_string())),
        };
        let frames = || count.map(number).unwrap_or(Ok(default_frames));
        // `NxT`: clips by frames per clip.
        let clips_by_frames = |spec: &str| match spec.split_once('x') {
            Some((clips, frames)) => Ok((number(clips)?, number(frames)?)),
            None => Err(SamplingError::BadCount(text.into())),
        };
        Ok(match name {
            "uniform" => Self::Uniform { frames: frames()? },
            "weighted" => Self::Weighted { frames: frames()? },
            "dropout" => Self::Dropout { frames: frames()? },
            "mean" => Self::Mean { frames: frames()? },
            "clipcut" => Self::ClipCut { frames: count.map(number).unwrap_or(Ok(CLIPCUT_DEFAULT_K))? },
            "keyframes" if count.is_none() => Self::Keyframes,
            "sparse" => match count {
                None => Self::Sparse { clips: 2, frames: (default_frames / 2).max(1) },
                Some(spec) => {
                    let (clips, frames) = clips_by_frames(spec)?;
                    Self::Sparse { clips, frames }
                }
            },
            "staggered" => {
                let (clips, frames) = clips_by_frames(count.ok_or_else(|| SamplingError::BadCount(text.into()))?)?;
                Self::Staggered { clips, frames }
            }
            _ => return Err(SamplingError::Unknown(text.to_string())),
        })
    }

    /// Picks frames: one `Vec` per clip (one clip except for `sparse` and `staggered`).
    pub fn sample(&self, timeline: &Timeline, seed: u64) -> Vec<Vec<SampledFrame>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let at = |fraction: f64| SampledFrame {
            source: FrameSource::Index(timeline.frame_at(fraction)),
            time: fraction as f32,
        };
        let even = |k: usize| (0..k).map(move |i| (i as f64 + 0.5) / k as f64);
        match *self {
            Self::Uniform { frames } => vec![even(frames).map(at).collect()],
            Self::ClipCut { frames } => vec![even(clipcut_pool(frames)).map(at).collect()],
            Self::Keyframes => vec![[0.0, 0.5, 0.999_999].into_iter().map(at).collect()],
            Self::Mean { frames } => {
                vec![even(frames).map(|t| SampledFrame { source: FrameSource::Mean, time: t as f32 }).collect()]
            }
            Self::Weighted { frames } => {
                // Density p(t) = (1 + 2t) / 2 on [0, 1); inverse CDF of u: t = (-1 + sqrt(1 + 8u)) / 2.
                let mut times: Vec<f64> =
                    (0..frames).map(|_| (-1.0 + (1.0 + 8.0 * rng.random::<f64>()).sqrt()) / 2.0).collect();
                times.sort_by(f64::total_cmp);
                vec![times.into_iter().map(at).collect()]
            }
            Self::Dropout { frames } => {
                let kept: Vec<usize> = (0..timeline.len()).filter(|_| rng.random::<f64>() >= 0.3).collect();
                let kept = if kept.is_empty() { vec![0] } else { kept };
                let sub = Timeline::sub_timeline(timeline, &kept);
                vec![
                    even(frames)
                        .map(|t| {
                            let i = kept[sub.frame_at(t)];
                            SampledFrame { source: FrameSource::Index(i), time: timeline.middle_of(i) }
                        })
                        .collect(),
                ]
            }
            Self::Staggered { clips, frames } => (0..clips)
                .map(|c| {
                    // Under half a spacing either way, so every time stays in [0, 1).
                    let shift = ((c as f64 + 0.5) / clips as f64 - 0.5) / frames as f64;
                    even(frames).map(|t| at(t + shift)).collect()
                })
                .collect(),
            Self::Sparse { clips, frames } => (0..clips)
                .map(|_| {
                    let last_start = timeline.len().saturating_sub(frames);
                    let start = rng.random_range(0..=last_start);
                    (0..frames)
                        .map(|i| {
                            let index = (start + i).min(timeline.len() - 1);
                            SampledFrame { source: FrameSource::Index(index), time: timeline.middle_of(index) }
                        })
                        .collect()
                })
                .collect(),
        }
    }
}

impl Timeline {
    /// The time line of a subset of frames, each keeping its own duration.
    fn sub_timeline(full: &Timeline, kept: &[usize]) -> Timeline {
        let delays: Vec<u32> = kept
            .iter()
            .map(|&i| {
                let end = full.starts_ms.get(i + 1).copied().unwrap_or(full.duration_ms);
                (end - full.starts_ms[i]) as u32
            })
            .collect();
        Timeline::from_delays(&delays)
    }
}

impl FromStr for SamplingStrategy {
    type Err = SamplingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s, 16)
    }
}

impl fmt::Display for SamplingStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Uniform { frames } => write!(f, "uniform:{frames}"),
            Self::Sparse { clips, frames } => write!(f, "sparse:{clips}x{frames}"),
            Self::Staggered { clips, frames } => write!(f, "staggered:{clips}x{frames}"),
            Self::Keyframes => write!(f, "keyframes"),
            Self::Weighted { frames } => write!(f, "weighted:{frames}"),
            Self::Dropout { frames } => write!(f, "dropout:{frames}"),
            Self::Mean { frames } => write!(f, "mean:{frames}"),
            Self::ClipCut { frames } => write!(f, "clipcut:{frames}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_follows_time_not_indices() {
        // Frame 1 lasts 8x longer than the others: most uniform samples must land on it.
        let timeline = Timeline::from_delays(&[100, 800, 100]);
        let clip = &SamplingStrategy::Uniform { frames: 10 }.sample(&timeline, 0)[0];
        let on_long = clip.iter().filter(|f| f.source == FrameSource::Index(1)).count();
        assert_eq!(on_long, 8);
    }

    #[test]
    fn zero_delays_count_as_browser_default() {
        let timeline = Timeline::from_delays(&[0, 0, 0, 0]);
        assert_eq!(timeline.frame_at(0.6), 2);
    }

    #[test]
    fn strategies_are_deterministic_and_sized() {
        let timeline = Timeline::from_delays(&[40; 37]);
        for name in
            ["uniform:7", "sparse:3x5", "staggered:2x6", "keyframes", "weighted:9", "dropout:13", "mean:4", "clipcut:5"]
        {
            let strategy: SamplingStrategy = name.parse().unwrap();
            let a = strategy.sample(&timeline, 42);
            assert_eq!(a, strategy.sample(&timeline, 42), "{name}");
            assert!(a.iter().all(|clip| clip.len() == strategy.frames_per_clip()), "{name}");
            assert_eq!(strategy.to_string(), name);
        }
    }

    #[test]
    fn staggered_clips_interleave_and_one_clip_is_uniform() {
        let timeline = Timeline::from_delays(&[10 * 4; 64]);
        let clips = SamplingStrategy::Staggered { clips: 2, frames: 32 }.sample(&timeline, 0);
        // 64 equal frames, two clips of 32 shifted by half a spacing: every frame once.
        let mut seen: Vec<FrameSource> = clips.iter().flatten().map(|f| f.source).collect();
        seen.sort_by_key(|s| match s {
            FrameSource::Index(i) => *i,
            FrameSource::Mean => usize::MAX,
        });
        assert_eq!(seen, (0..64).map(FrameSource::Index).collect::<Vec<_>>());
        assert!(clips.iter().all(|clip| clip.windows(2).all(|w| w[0].time < w[1].time)));
        assert_eq!(
            SamplingStrategy::Staggered { clips: 1, frames: 9 }.sample(&timeline, 3),
            SamplingStrategy::Uniform { frames: 9 }.sample(&timeline, 3)
        );
        assert!(matches!("staggered:32".parse::<SamplingStrategy>(), Err(SamplingError::BadCount(_))));
        assert!(matches!("staggered".parse::<SamplingStrategy>(), Err(SamplingError::BadCount(_))));
    }

    #[test]
    fn weighted_favours_later_frames() {
        let timeline = Timeline::from_delays(&[50; 100]);
        let clip = &SamplingStrategy::Weighted { frames: 256 }.sample(&timeline, 7)[0];
        let late = clip.iter().filter(|f| f.time >= 0.5).count();
        assert!(late > 150, "{late} of 256 in the second half");
    }

    #[test]
    fn bad_names_are_rejected() {
        assert!(matches!("zigzag".parse::<SamplingStrategy>(), Err(SamplingError::Unknown(_))));
        assert!(matches!("uniform:0".parse::<SamplingStrategy>(), Err(SamplingError::BadCount(_))));
        assert!(matches!("sparse:4".parse::<SamplingStrategy>(), Err(SamplingError::BadCount(_))));
        assert!(matches!("clipcut:0".parse::<SamplingStrategy>(), Err(SamplingError::BadCount(_))));
        assert!(matches!("clipcut:x".parse::<SamplingStrategy>(), Err(SamplingError::BadCount(_))));
        let unknown = "clip-cut:8".parse::<SamplingStrategy>().unwrap_err().to_string();
        assert!(unknown.contains("clipcut[:K]"), "{unknown}");
    }

    #[test]
    fn clipcut_parses_and_samples_its_pool() {
        let parse = |s: &str| SamplingStrategy::parse(s, 16).unwrap();
        assert_eq!(parse("clipcut"), SamplingStrategy::ClipCut { frames: CLIPCUT_DEFAULT_K });
        let strategy = parse(" clipcut : 12 ");
        assert_eq!(strategy, SamplingStrategy::ClipCut { frames: 12 });
        assert_eq!(strategy.to_string().parse::<SamplingStrategy>().unwrap(), strategy);
        assert_eq!((strategy.top_k(), strategy.frames_read(), strategy.frames_per_clip()), (Some(12), 12, 48));
        assert_eq!(parse("clipcut:3").frames_per_clip(), 32);
        assert_eq!(parse("uniform:7").top_k(), None);
        // The pool is uniform over the pool size.
        let timeline = Timeline::from_delays(&[40; 100]);
        assert_eq!(
            parse("clipcut:3").sample(&timeline, 1),
            SamplingStrategy::Uniform { frames: 32 }.sample(&timeline, 1)
        );
    }
}
