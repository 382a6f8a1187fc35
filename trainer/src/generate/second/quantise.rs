//! Colour reduction for the second renderer: a palette learnt by NeuQuant (`color_quant`, the
//! Kohonen network the `gif` crate itself uses), from all frames at once or from each frame
//! alone, and a pixel mapping with or without Floyd–Steinberg dithering.
//!
//! A learnt palette follows what covers most pixels, so a small object's colour can lose its
//! entry to background shades. The objects' shades therefore get entries of their own ahead of
//! the learnt ones, and a pixel that is exactly an object's shade always maps to that entry (and
//! spreads no error), so every object keeps its colour whatever the palette and the dithering.

use ahash::AHashMap;
use color_quant::NeuQuant;

/// Pixels NeuQuant learns from, about: fewer make it faster, more make it no better on these
/// images (flat regions repeat).
const GLOBAL_SAMPLES: usize = 60_000;
const LOCAL_SAMPLES: usize = 15_000;

/// One frame as palette indices, with the palette they index (at most 255 entries, so the
/// encoder has room for a transparent index).
#[derive(Clone, Debug, PartialEq)]
pub struct Quantised {
    pub palette: Vec<[u8; 3]>,
    pub indices: Vec<u8>,
}

impl Quantised {
    /// The frame as RGB, as a decoder shows it.
    pub fn shown(&self) -> Vec<u8> {
        self.indices.iter().flat_map(|&i| self.palette[usize::from(i)]).collect()
    }
}

fn distance(a: [i32; 3], b: [u8; 3]) -> i32 {
    (0..3).map(|i| (a[i] - i32::from(b[i])).pow(2)).sum()
}

/// A learnt palette behind the reserved shades.
pub struct Palette {
    colours: Vec<[u8; 3]>,
    reserved: usize,
    network: NeuQuant,
    cache: AHashMap<[u8; 3], u8>,
}

impl Palette {
    /// Learns `entries - shades` colours from `frames` (RGB) and puts the shades first.
    pub fn learn(frames: &[&[u8]], shades: &[[u8; 3]], entries: usize, samples: usize) -> Palette {
        let mut reserved: Vec<[u8; 3]> = Vec::with_capacity(shades.len());
        for &s in shades {
            if !reserved.contains(&s) {
                reserved.push(s);
            }
        }
        let rgba: Vec<u8> =
            frames.iter().flat_map(|f| f.chunks_exact(3)).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        let pixels = rgba.len() / 4;
        // NeuQuant looks at one pixel in `samplefac` (1 to 30).
        let samplefac = pixels.div_ceil(samples.max(1)).clamp(1, 30) as i32;
        let learnt = entries.clamp(reserved.len() + 32, 255) - reserved.len();
        let network = NeuQuant::new(samplefac, learnt, &rgba);
        let mut colours = reserved.clone();
        colours.extend(network.color_map_rgb().chunks_exact(3).map(|c| [c[0], c[1], c[2]]));
        Palette { colours, reserved: reserved.len(), network, cache: AHashMap::new() }
    }

    pub fn colours(&self) -> &[[u8; 3]] {
        &self.colours
    }

    /// The entry nearest `c` (clamped to 0-255): NeuQuant's own search over the learnt entries,
    /// then the reserved shades, which win ties.
    fn nearest(&self, c: [i32; 3]) -> u8 {
        let px = c.map(|v| v.clamp(0, 255) as u8);
        let learnt = self.reserved + self.network.index_of(&[px[0], px[1], px[2], 255]);
        let mut best = (distance(c, self.colours[learnt]), learnt);
        for (i, &s) in self.colours[..self.reserved].iter().enumerate() {
            let d = distance(c, s);
            if d <= best.0 {
                best = (d, i);
            }
        }
        best.1 as u8
    }

    fn reserved_index(&self, c: [u8; 3]) -> Option<u8> {
        self.colours[..self.reserved].iter().position(|&s| s == c).map(|i| i as u8)
    }

    /// Maps one RGB frame to indices, with or without dithering.
    pub fn map(&mut self, rgb: &[u8], width: usize, dither: bool) -> Vec<u8> {
        if dither { self.map_dithered(rgb, width) } else { self.map_plain(rgb) }
    }

    fn map_plain(&mut self, rgb: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(rgb.len() / 3);
        for p in rgb.chunks_exact(3) {
            let c = [p[0], p[1], p[2]];
            let index = match self.cache.get(&c) {
                Some(&i) => i,
                None => {
                    let i = self.reserved_index(c).unwrap_or_else(|| self.nearest(c.map(i32::from)));
                    self.cache.insert(c, i);
                    i
                }
            };
            out.push(index);
        }
        out
    }

    /// Floyd–Steinberg, left to right on every row, errors in sixteenths. Pixels that are exactly
    /// an object's shade take its entry and neither receive nor pass on error, so object interiors
    /// stay flat and their colour exact.
    fn map_dithered(&self, rgb: &[u8], width: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(rgb.len() / 3);
        // Error rows with one spare pixel at each end.
        let mut this_row = vec![[0i32; 3]; width + 2];
        let mut next_row = vec![[0i32; 3]; width + 2];
        for row in rgb.chunks_exact(width * 3) {
            for (x, p) in row.chunks_exact(3).enumerate() {
                let c = [p[0], p[1], p[2]];
                if let Some(i) = self.reserved_index(c) {
                    out.push(i);
                    continue;
                }
                let e = this_row[x + 1];
                let want: [i32; 3] = std::array::from_fn(|k| (i32::from(c[k]) + e[k] / 16).clamp(0, 255));
                let i = self.nearest(want);
                out.push(i);
                let got = self.colours[usize::from(i)];
                for k in 0..3 {
                    let err = want[k] - i32::from(got[k]);
                    this_row[x + 2][k] += err * 7;
                    next_row[x][k] += err * 3;
                    next_row[x + 1][k] += err * 5;
                    next_row[x + 2][k] += err;
                }
            }
            std::mem::swap(&mut this_row, &mut next_row);
            next_row.iter_mut().for_each(|e| *e = [0; 3]);
        }
        out
    }
}

/// Quantises every frame (RGB, `width` px wide): one palette learnt from all frames, or one per
/// frame. `entries` counts the reserved shades.
pub fn quantise(
    frames: &[Vec<u8>],
    width: usize,
    shades: &[[u8; 3]],
    entries: usize,
    global: bool,
    dither: bool,
) -> Vec<Quantised> {
    if global {
        let all: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let mut palette = Palette::learn(&all, shades, entries, GLOBAL_SAMPLES);
        frames
            .iter()
            .map(|f| Quantised { indices: palette.map(f, width, dither), palette: palette.colours().to_vec() })
            .collect()
    } else {
        frames
            .iter()
            .map(|f| {
                let mut palette = Palette::learn(&[f.as_slice()], shades, entries, LOCAL_SAMPLES);
                Quantised { indices: palette.map(f, width, dither), palette: palette.colours().to_vec() }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grey gradient with one small patch of an object's shade: too few pixels for NeuQuant to
    /// give it an entry of its own.
    fn picture() -> (Vec<u8>, usize, [u8; 3]) {
        let (size, shade) = (64, [230, 20, 30]);
        let mut rgb = Vec::new();
        for y in 0..size {
            for x in 0..size {
                let g = (60 + x + y) as u8;
                let c = if (30..33).contains(&x) && (30..33).contains(&y) { shade } else { [g, g, g] };
                rgb.extend_from_slice(&c);
            }
        }
        (rgb, size, shade)
    }

    #[test]
    fn reserved_shades_keep_their_colour_with_and_without_dithering() {
        let (rgb, size, shade) = picture();
        for entries in [64, 128, 255] {
            for dither in [false, true] {
                let q = quantise(std::slice::from_ref(&rgb), size, &[shade], entries, true, dither);
                assert!(q[0].palette.len() <= entries.max(33));
                let shown = q[0].shown();
                let at = (31 * size + 31) * 3;
                assert_eq!(&shown[at..at + 3], &shade, "{entries} {dither}");
                // The rest stays close to the picture.
                let mean: f64 =
                    rgb.iter().zip(&shown).map(|(a, b)| f64::from(a.abs_diff(*b))).sum::<f64>() / rgb.len() as f64;
                assert!(mean < 4.0, "{entries} {dither}: {mean}");
            }
        }
    }

    #[test]
    fn dithering_mixes_entries_towards_the_colour() {
        // A reddish grey that a palette learnt from greys and a red does not hold, but that lies
        // between its entries: the plain mapping gives one entry, dithering a mix whose mean is
        // closer to the colour.
        let (rgb, size, shade) = picture();
        let mut palette = Palette::learn(&[&rgb], &[shade], 64, 10_000);
        let want = [150u8, 100, 102];
        let flat: Vec<u8> = vec![want; size * size].concat();
        let error = |palette: &mut Palette, dither: bool| {
            let indices = palette.map(&flat, size, dither);
            let distinct: std::collections::BTreeSet<u8> = indices.iter().copied().collect();
            let mean = |c: usize| {
                indices.iter().map(|&i| f64::from(palette.colours()[usize::from(i)][c])).sum::<f64>()
                    / indices.len() as f64
            };
            let error: f64 = (0..3).map(|c| (mean(c) - f64::from(want[c])).abs()).sum();
            (distinct.len(), error)
        };
        let (plain_entries, plain_error) = error(&mut palette, false);
        let (dithered_entries, dithered_error) = error(&mut palette, true);
        assert_eq!(plain_entries, 1);
        assert!(dithered_entries >= 2);
        assert!(dithered_error < plain_error / 2.0, "{dithered_error} vs {plain_error}");
    }

    #[test]
    fn local_palettes_are_learnt_per_frame() {
        let (a, size, shade) = picture();
        let b: Vec<u8> = a.iter().map(|&v| 255 - v).collect();
        let q = quantise(&[a, b], size, &[shade], 128, false, false);
        assert_ne!(q[0].palette, q[1].palette);
        assert_eq!(q[0].palette[0], shade);
        assert_eq!(q[1].palette[0], shade);
    }
}
