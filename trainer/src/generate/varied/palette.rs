//! Colour reduction of the varied drawing: a palette per GIF from one of three quantisers (every
//! colour exactly when at most 255 are used, median cut, or median cut refined by k-means), of 48
//! to 255 entries, mapped with or without ordered (Bayer) dithering.
//!
//! Every object's shade keeps an entry of its own and is never dithered, so an object's flat
//! interior keeps its exact colour whatever the palette. Dithering depends only on the pixel's
//! position and colour, so a background that does not change stays the same from frame to frame.

use std::collections::HashMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::generate::encode::Quantiser as Nearest;

/// Entries a palette may have (the transparent index is extra).
const MAX_ENTRIES: usize = 255;
/// k-means refinement rounds.
const KMEANS_ROUNDS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantiser {
    /// Every colour used, when there are at most `MAX_ENTRIES`; median cut beyond.
    Exact,
    MedianCut,
    /// Median cut, then a few rounds of k-means over the colour histogram.
    KMeans,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PaletteStyle {
    pub quantiser: Quantiser,
    /// Most entries, the objects' shades included.
    pub entries: usize,
    /// Side of the Bayer matrix (2, 4 or 8); 0 = no dithering.
    pub dither_matrix: u8,
    /// Peak dithering offset per channel.
    pub dither_spread: u8,
}

impl PaletteStyle {
    /// Quantisers exact 2/5, median cut 3/10, k-means 3/10; entries 48 / 96 / 160 / 255; ordered
    /// dithering 2/5.
    pub fn sample(rng: &mut ChaCha8Rng) -> PaletteStyle {
        let quantiser = match rng.random_range(0..10) {
            0..4 => Quantiser::Exact,
            4..7 => Quantiser::MedianCut,
            _ => Quantiser::KMeans,
        };
        let entries = [48, 96, 160, 255][rng.random_range(0..4)];
        let dither = rng.random_bool(0.4);
        PaletteStyle {
            quantiser,
            entries,
            dither_matrix: if dither { [2, 4, 8][rng.random_range(0..3)] } else { 0 },
            dither_spread: if dither { rng.random_range(6..=16) } else { 0 },
        }
    }
}

/// Colours with their pixel counts, in a fixed order.
pub type Histogram = Vec<([u8; 3], u32)>;

/// The histogram of `pixels` (RGB, each with its weight), sorted by colour so that the palette
/// is a function of them.
pub fn histogram<'a>(pixels: impl Iterator<Item = (&'a [u8], u32)>) -> Histogram {
    let mut counts: HashMap<[u8; 3], u32> = HashMap::new();
    for (p, weight) in pixels {
        *counts.entry([p[0], p[1], p[2]]).or_default() += weight;
    }
    let mut out: Histogram = counts.into_iter().collect();
    out.sort_unstable();
    out
}

fn mean(colours: &[([u8; 3], u32)]) -> [u8; 3] {
    let total: f64 = colours.iter().map(|c| f64::from(c.1)).sum::<f64>().max(1.0);
    std::array::from_fn(|k| {
        (colours.iter().map(|c| f64::from(c.0[k]) * f64::from(c.1)).sum::<f64>() / total).round() as u8
    })
}

/// Median cut: split the box with the widest channel range at its weighted median until there
/// are `entries` boxes (or no box can be split); each box gives its weighted mean.
fn median_cut(colours: &[([u8; 3], u32)], entries: usize) -> Vec<[u8; 3]> {
    if colours.is_empty() || entries == 0 {
        return Vec::new();
    }
    let range = |b: &[([u8; 3], u32)]| {
        (0..3)
            .map(|k| {
                let lo = b.iter().map(|c| c.0[k]).min().unwrap_or(0);
                let hi = b.iter().map(|c| c.0[k]).max().unwrap_or(0);
                (hi - lo, k)
            })
            .max()
            .unwrap_or((0, 0))
    };
    let mut boxes: Vec<Vec<([u8; 3], u32)>> = vec![colours.to_vec()];
    while boxes.len() < entries {
        let Some((i, (_, channel))) = boxes
            .iter()
            .enumerate()
            .filter(|(_, b)| b.len() > 1)
            .map(|(i, b)| (i, range(b)))
            .max_by_key(|&(i, r)| (r.0, std::cmp::Reverse(i)))
        else {
            break;
        };
        let mut b = boxes.swap_remove(i);
        b.sort_unstable_by_key(|c| (c.0[channel], c.0));
        let total: u64 = b.iter().map(|c| u64::from(c.1)).sum();
        let mut acc = 0u64;
        let mut cut = 1;
        for (j, c) in b.iter().enumerate() {
            acc += u64::from(c.1);
            if acc * 2 >= total {
                cut = (j + 1).clamp(1, b.len() - 1);
                break;
            }
        }
        let upper = b.split_off(cut);
        boxes.push(b);
        boxes.push(upper);
    }
    boxes.iter().map(|b| mean(b)).collect()
}

fn distance(a: [u8; 3], b: [u8; 3]) -> u32 {
    (0..3).map(|k| (i32::from(a[k]) - i32::from(b[k])).unsigned_abs().pow(2)).sum()
}

/// Lloyd's rounds over the histogram, starting from `centres`; `fixed` entries take part in the
/// assignment but do not move.
fn kmeans(colours: &[([u8; 3], u32)], fixed: &[[u8; 3]], mut centres: Vec<[u8; 3]>) -> Vec<[u8; 3]> {
    for _ in 0..KMEANS_ROUNDS {
        let mut members: Vec<Vec<([u8; 3], u32)>> = vec![Vec::new(); centres.len()];
        for &c in colours {
            let nearest_fixed = fixed.iter().map(|&f| distance(f, c.0)).min().unwrap_or(u32::MAX);
            let best = centres.iter().enumerate().map(|(i, &m)| (distance(m, c.0), i)).min();
            if let Some((_, i)) = best.filter(|&(d, _)| d < nearest_fixed) {
                members[i].push(c);
            }
        }
        for (centre, m) in centres.iter_mut().zip(&members) {
            if !m.is_empty() {
                *centre = mean(m);
            }
        }
    }
    centres
}

/// The palette: the objects' shades first, then the quantiser's entries for the other colours.
pub fn learn(style: &PaletteStyle, histogram: &Histogram, shades: &[[u8; 3]]) -> Vec<[u8; 3]> {
    let mut palette: Vec<[u8; 3]> = Vec::with_capacity(MAX_ENTRIES);
    for &s in shades {
        if !palette.contains(&s) {
            palette.push(s);
        }
    }
    let rest: Histogram = histogram.iter().copied().filter(|c| !palette.contains(&c.0)).collect();
    let room = style.entries.min(MAX_ENTRIES).saturating_sub(palette.len());
    let learnt = match style.quantiser {
        Quantiser::Exact if rest.len() <= MAX_ENTRIES - palette.len() => rest.iter().map(|c| c.0).collect(),
        Quantiser::Exact => median_cut(&rest, MAX_ENTRIES - palette.len()),
        Quantiser::MedianCut => median_cut(&rest, room),
        Quantiser::KMeans => kmeans(&rest, &palette, median_cut(&rest, room)),
    };
    for c in learnt {
        if palette.len() < MAX_ENTRIES && !palette.contains(&c) {
            palette.push(c);
        }
    }
    if palette.is_empty() {
        palette.push([0, 0, 0]);
    }
    palette
}

/// Maps pixels to palette indices, dithered by position when the style says so.
pub struct Mapper {
    nearest: Nearest,
    shades: Vec<[u8; 3]>,
    /// Offset per matrix cell, in channel units; empty without dithering.
    offsets: Vec<f32>,
    side: usize,
}

/// The Bayer matrix of side `n` (a power of two), values 0..n².
fn bayer(n: usize) -> Vec<usize> {
    if n <= 1 {
        return vec![0];
    }
    let half = bayer(n / 2);
    let h = n / 2;
    let mut out = vec![0; n * n];
    for y in 0..n {
        for x in 0..n {
            let base = half[(y % h) * h + x % h] * 4;
            let quadrant = match (x >= h, y >= h) {
                (false, false) => 0,
                (true, true) => 1,
                (true, false) => 2,
                (false, true) => 3,
            };
            out[y * n + x] = base + quadrant;
        }
    }
    out
}

impl Mapper {
    pub fn new(palette: Vec<[u8; 3]>, style: &PaletteStyle, shades: &[[u8; 3]]) -> Mapper {
        let side = usize::from(style.dither_matrix);
        let offsets = if side >= 2 {
            let cells = (side * side) as f32;
            bayer(side)
                .into_iter()
                .map(|v| ((v as f32 + 0.5) / cells - 0.5) * 2.0 * f32::from(style.dither_spread))
                .collect()
        } else {
            Vec::new()
        };
        Mapper { nearest: Nearest::new(palette), shades: shades.to_vec(), offsets, side }
    }

    pub fn palette(&self) -> &[[u8; 3]] {
        self.nearest.palette()
    }

    /// The index of the pixel at (`x`, `y`) of colour `c`.
    pub fn map(&mut self, x: usize, y: usize, c: [u8; 3]) -> u8 {
        if self.offsets.is_empty() || self.shades.contains(&c) {
            return self.nearest.map(c);
        }
        let d = self.offsets[(y % self.side) * self.side + x % self.side];
        self.nearest.map(c.map(|v| (f32::from(v) + d).round().clamp(0.0, 255.0) as u8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient() -> Histogram {
        histogram((0..=255u8).flat_map(|v| [[v, v / 2, 200]; 3]).collect::<Vec<_>>().iter().map(|p| (&p[..], 1)))
    }

    #[test]
    fn quantisers_keep_the_shades_and_cover_the_rest() {
        let shades = [[250, 10, 10], [0, 120, 0]];
        let h = gradient();
        for quantiser in [Quantiser::Exact, Quantiser::MedianCut, Quantiser::KMeans] {
            for entries in [48, 255] {
                let style = PaletteStyle { quantiser, entries, dither_matrix: 0, dither_spread: 0 };
                let palette = learn(&style, &h, &shades);
                assert_eq!(&palette[..2], &shades);
                assert!(palette.len() <= if quantiser == Quantiser::Exact { 255 } else { entries });
                // Every colour of the histogram finds an entry within a few units.
                let worst = h.iter().map(|c| palette.iter().map(|&p| distance(p, c.0)).min().unwrap()).max().unwrap();
                let bound = if entries == 48 && quantiser != Quantiser::Exact { 64 } else { 12 };
                assert!(worst <= bound, "{quantiser:?} {entries}: {worst}");
            }
        }
    }

    #[test]
    fn dithering_mixes_entries_and_leaves_shades_alone() {
        let palette = vec![[250, 10, 10], [100, 100, 100], [140, 140, 140]];
        let style = PaletteStyle { quantiser: Quantiser::Exact, entries: 255, dither_matrix: 4, dither_spread: 16 };
        let mut m = Mapper::new(palette, &style, &[[250, 10, 10]]);
        let mut seen = std::collections::BTreeSet::new();
        for y in 0..4 {
            for x in 0..4 {
                seen.insert(m.map(x, y, [120, 120, 120]));
                assert_eq!(m.map(x, y, [250, 10, 10]), 0);
            }
        }
        assert_eq!(seen.len(), 2);
        let b = bayer(4);
        let mut sorted = b.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..16).collect::<Vec<_>>());
    }
}
