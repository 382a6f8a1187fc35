//! Seeded mutations of fuzz inputs: byte-level ones for every target, line- and field-level ones
//! for text targets. The same seed and parents give the same mutants, so a run replays exactly.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Byte values that often sit on a boundary (sign bit, all bits, none).
const INTERESTING_BYTES: [u8; 4] = [0x00, 0xFF, 0x7F, 0x80];
/// Little-endian u16 values for sizes and counts (a GIF's dimensions, positions and delays).
const HUGE_U16: [u16; 7] = [0xFFFF, 0xFFFE, 0x8000, 0x7FFF, 0x1000, 0x0100, 0];
/// Little-endian u32 values for sizes and counts.
const HUGE_U32: [u32; 6] = [0xFFFF_FFFF, 0xFFFF_FFFE, 0x8000_0000, 0x7FFF_FFFF, 0x0100_0000, 0x0001_0000];
/// Control characters that split or end lines and fields.
const CONTROL: [&[u8]; 6] = [b"\t", b"\r", b"\n", b"\0", b"\r\n", b"\t\t"];
/// Byte sequences that are not UTF-8: a stray continuation byte, a cut-off lead byte, a UTF-16
/// surrogate, an overlong `/`, a code point past U+10FFFF, and a byte never used.
const INVALID_UTF8: [&[u8]; 6] = [b"\x80", b"\xC3", b"\xED\xA0\x80", b"\xC0\xAF", b"\xF4\x90\x80\x80", b"\xFF"];
/// Tokens worth trying in any text: numbers at type limits, JSON syntax, escapes.
const TOKENS: [&[u8]; 22] = [
    b"-1",
    b"0",
    b"-0",
    b"4294967296",
    b"18446744073709551616",
    b"99999999999999999999999",
    b"1e999",
    b"NaN",
    b"null",
    b"true",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\\u0000",
    b"\\ud800",
    b"\xE2\x80\xAE",
    b"\xEF\xBB\xBF",
];
/// Lengths of the very long lines inserted into text (the last is over the CSV readers' row limit).
const LONG_LINES: [usize; 3] = [300, 5_000, 70_000];

/// One kind of mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// Flips one bit.
    BitFlip,
    /// Sets a byte to 0, 0xFF, 0x7F or 0x80.
    InterestingByte,
    /// Sets a byte to a random value.
    RandomByte,
    /// Adds or subtracts a small number to a byte.
    ArithmeticByte,
    /// Cuts the input at a random length.
    Truncate,
    /// The start of this input followed by the end of another one.
    Splice,
    /// Copies a chunk to a random place.
    DuplicateChunk,
    /// Removes a chunk.
    DeleteChunk,
    /// Writes (over or between bytes) a huge little-endian u16.
    HugeU16,
    /// Writes (over or between bytes) a huge little-endian u32.
    HugeU32,
    /// Text: repeats one line 1 to 1,000 times.
    DuplicateLine,
    /// Text: inserts a tab (splitting a field), or turns one into a space (joining two).
    SplitField,
    /// Text: inserts a line of hundreds to tens of thousands of bytes.
    LongLine,
    /// Text: inserts or writes a tab, CR, LF or NUL.
    ControlChar,
    /// Text: inserts bytes that are not UTF-8.
    InvalidUtf8,
    /// Text: inserts or writes a token from the target's dictionary or [`TOKENS`].
    Token,
}

impl Mutation {
    /// Mutations for binary inputs (and [`Mutation::Token`] when the target has a dictionary).
    pub const BINARY: [Mutation; 10] = [
        Self::BitFlip,
        Self::InterestingByte,
        Self::RandomByte,
        Self::ArithmeticByte,
        Self::Truncate,
        Self::Splice,
        Self::DuplicateChunk,
        Self::DeleteChunk,
        Self::HugeU16,
        Self::HugeU32,
    ];

    /// Mutations for text inputs: the binary ones and the line- and field-level ones.
    pub const TEXT: [Mutation; 16] = [
        Self::BitFlip,
        Self::InterestingByte,
        Self::RandomByte,
        Self::ArithmeticByte,
        Self::Truncate,
        Self::Splice,
        Self::DuplicateChunk,
        Self::DeleteChunk,
        Self::HugeU16,
        Self::HugeU32,
        Self::DuplicateLine,
        Self::SplitField,
        Self::LongLine,
        Self::ControlChar,
        Self::InvalidUtf8,
        Self::Token,
    ];
}

/// Makes mutants from a seeded random number generator.
pub struct Mutator {
    rng: ChaCha8Rng,
    max_len: usize,
}

impl Mutator {
    /// A mutator whose mutants never exceed `max_len` bytes.
    pub fn new(seed: u64, max_len: usize) -> Self {
        Mutator { rng: ChaCha8Rng::seed_from_u64(seed), max_len: max_len.max(1) }
    }

    /// The generator, for choices the caller makes (which parent to mutate).
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// A mutant of `input`: 1 to 8 stacked mutations, fewer more often. `others` are splicing
    /// partners; `text` adds the text mutations; `dictionary` adds target-specific tokens.
    pub fn mutate(&mut self, input: &[u8], others: &[Vec<u8>], text: bool, dictionary: &[&[u8]]) -> Vec<u8> {
        let mut data = input.to_vec();
        let stacked = 1 << self.rng.random_range(0..4u32); // 1, 2, 4 or 8
        let stacked = self.rng.random_range(1..=stacked);
        let kinds: &[Mutation] = if text { &Mutation::TEXT } else { &Mutation::BINARY };
        for _ in 0..stacked {
            let binary_token = !text && !dictionary.is_empty() && self.rng.random_bool(0.1);
            let chosen = if binary_token { Some(&Mutation::Token) } else { kinds.choose(&mut self.rng) };
            let Some(&kind) = chosen else { break };
            self.apply(kind, &mut data, others, dictionary);
            data.truncate(self.max_len);
        }
        data
    }

    /// Applies one mutation to `data` in place.
    pub fn apply(&mut self, kind: Mutation, data: &mut Vec<u8>, others: &[Vec<u8>], dictionary: &[&[u8]]) {
        let rng = &mut self.rng;
        let len = data.len();
        // A random position in `data` (`len` itself for insertions), or `None` when empty.
        let byte = |rng: &mut ChaCha8Rng| (len > 0).then(|| rng.random_range(0..len));
        let place = |rng: &mut ChaCha8Rng| rng.random_range(0..=len);
        match kind {
            Mutation::BitFlip => {
                if let Some(i) = byte(rng) {
                    data[i] ^= 1 << rng.random_range(0..8);
                }
            }
            Mutation::InterestingByte => {
                if let (Some(i), Some(&value)) = (byte(rng), INTERESTING_BYTES.choose(rng)) {
                    data[i] = value;
                }
            }
            Mutation::RandomByte => {
                if let Some(i) = byte(rng) {
                    data[i] = rng.random();
                }
            }
            Mutation::ArithmeticByte => {
                if let Some(i) = byte(rng) {
                    let delta = rng.random_range(1..=16u8);
                    data[i] =
                        if rng.random_bool(0.5) { data[i].wrapping_add(delta) } else { data[i].wrapping_sub(delta) };
                }
            }
            Mutation::Truncate => {
                // Short cuts are likelier: half the time within the last 64 bytes.
                let keep = if rng.random_bool(0.5) { len.saturating_sub(rng.random_range(0..64)) } else { place(rng) };
                data.truncate(keep);
            }
            Mutation::Splice => {
                if let Some(other) = others.choose(rng) {
                    let head = place(rng);
                    let tail = rng.random_range(0..=other.len());
                    data.truncate(head);
                    data.extend_from_slice(&other[tail..]);
                }
            }
            Mutation::DuplicateChunk => {
                if let Some(start) = byte(rng) {
                    let end = rng.random_range(start + 1..=len.min(start + 1024));
                    let chunk = data[start..end].to_vec();
                    let at = place(rng);
                    let times = if rng.random_bool(0.9) { 1 } else { rng.random_range(2..64) };
                    data.splice(at..at, chunk.iter().copied().cycle().take(chunk.len() * times));
                }
            }
            Mutation::DeleteChunk => {
                if let Some(start) = byte(rng) {
                    let end = rng.random_range(start + 1..=len.min(start + 1024));
                    data.drain(start..end);
                }
            }
            Mutation::HugeU16 => {
                if let Some(&value) = HUGE_U16.choose(rng) {
                    write(rng, data, &value.to_le_bytes());
                }
            }
            Mutation::HugeU32 => {
                if let Some(&value) = HUGE_U32.choose(rng) {
                    write(rng, data, &value.to_le_bytes());
                }
            }
            Mutation::DuplicateLine => {
                if let Some(i) = byte(rng) {
                    let start = data[..i].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
                    let end = data[i..].iter().position(|&b| b == b'\n').map_or(len, |p| i + p + 1);
                    let mut line = data[start..end].to_vec();
                    if line.last() != Some(&b'\n') {
                        line.push(b'\n');
                    }
                    let times = *[1, 1, 2, 10, 1000].choose(rng).unwrap_or(&1);
                    data.splice(end..end, line.iter().copied().cycle().take(line.len() * times));
                }
            }
            Mutation::SplitField => {
                let tabs: Vec<usize> = (0..len).filter(|&i| data[i] == b'\t').collect();
                match tabs.choose(rng) {
                    Some(&tab) if rng.random_bool(0.3) => data[tab] = b' ',
                    _ => {
                        let at = place(rng);
                        data.insert(at, b'\t');
                    }
                }
            }
            Mutation::LongLine => {
                let length = *LONG_LINES.choose(rng).unwrap_or(&300);
                let fill = if rng.random_bool(0.5) { b'a' } else { rng.random_range(0x20..0x7F) };
                let at = place(rng);
                data.splice(at..at, std::iter::repeat_n(fill, length));
            }
            Mutation::ControlChar => {
                if let Some(&control) = CONTROL.choose(rng) {
                    write(rng, data, control);
                }
            }
            Mutation::InvalidUtf8 => {
                if let Some(&bytes) = INVALID_UTF8.choose(rng) {
                    let at = place(rng);
                    data.splice(at..at, bytes.iter().copied());
                }
            }
            Mutation::Token => {
                let from_dictionary = !dictionary.is_empty() && rng.random_bool(0.7);
                let token = if from_dictionary { dictionary.choose(rng) } else { TOKENS.choose(rng) };
                if let Some(&token) = token {
                    write(rng, data, token);
                }
            }
        }
    }
}

/// Inserts `bytes` at a random place, or (half the time, where they fit) writes them over what is there.
fn write(rng: &mut ChaCha8Rng, data: &mut Vec<u8>, bytes: &[u8]) {
    if data.len() >= bytes.len() && rng.random_bool(0.5) {
        let at = rng.random_range(0..=data.len() - bytes.len());
        data[at..at + bytes.len()].copy_from_slice(bytes);
    } else {
        let at = rng.random_range(0..=data.len());
        data.splice(at..at, bytes.iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutants_replay_from_the_seed_and_stay_bounded() {
        let parents = vec![b"gif_name\tquestion\tanswer\r\ng1\tq\t3\r\n".to_vec(), b"GIF89a\x01\x00\x01\x00".to_vec()];
        let run = |seed| {
            let mut mutator = Mutator::new(seed, 4096);
            (0..500).map(|i| mutator.mutate(&parents[i % 2], &parents, i % 3 == 0, &[b"uniform"])).collect::<Vec<_>>()
        };
        let (a, b, c) = (run(1), run(1), run(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|m| m.len() <= 4096));
        assert!(a.iter().filter(|m| m.as_slice() != parents[0] && m.as_slice() != parents[1]).count() > 400);
    }

    #[test]
    fn every_mutation_handles_empty_and_short_inputs() {
        let mut mutator = Mutator::new(0, 1 << 20);
        for kind in Mutation::TEXT {
            for input in [&b""[..], b"x", b"a\tb\n"] {
                for _ in 0..50 {
                    let mut data = input.to_vec();
                    mutator.apply(kind, &mut data, &[b"other".to_vec()], &[b"tok"]);
                }
            }
        }
    }
}
