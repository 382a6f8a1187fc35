//! The frame cache: a split's GIFs decoded and resized once, kept on disk in one file per split
//! and preprocessing, and memory-mapped by later runs (`train`, `eval`, `calibrate`, every stage of
//! a recipe), which then sample frames from it without decoding.
//!
//! The file is `DATA/.frame-cache/{split}-{size}px-{n}gifs-{key}.bin`. `key` hashes everything the
//! bytes depend on: the format, the split, the image size and background colour, and each GIF's
//! name, file size and modification time; a GIF rewritten or a preprocessing changed gives another
//! key, so a stale cache is never opened. Layout: a fixed header (magic, key, frame size, entry
//! count, index and data lengths, the index's SHA-256), the index (per GIF: name, then either its
//! delays or why it could not be decoded), then every GIF's frames back to back. It is written to
//! a temporary name, synced and renamed, and opened only when the header, the index's checksum
//! and the file length all agree, so a half-written file is never trusted.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::{Deref, Range};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use memmap2::Mmap;
use sha2::{Digest, Sha256};
use shared_model::preprocess::PreprocessConfig;

/// Folder, inside the dataset folder, that holds the caches.
pub const CACHE_DIR: &str = ".frame-cache";

/// File magic; the trailing digits are the layout's version (a new layout never reads an old file).
const MAGIC: &[u8; 8] = b"GQAFRC01";

/// Magic, key, four lengths, the index's SHA-256.
const HEADER_LEN: usize = 8 + 32 + 4 * 8 + 32;

/// A GIF's resized RGB frames: decoded in this run, or a range of a mapped cache file.
#[derive(Clone)]
pub enum FrameBytes {
    /// Decoded now (no cache, or the run that writes it).
    Owned(Vec<u8>),
    /// Inside the memory-mapped cache (shared by every GIF of the split).
    Mapped {
        /// The whole file.
        map: Arc<Mmap>,
        /// This GIF's bytes in it.
        range: Range<usize>,
    },
}

impl Deref for FrameBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            FrameBytes::Owned(bytes) => bytes,
            FrameBytes::Mapped { map, range } => &map[range.clone()],
        }
    }
}

/// One GIF of a cache: its frames and delays, or why it could not be decoded (kept, so that a
/// cached run reports the same skipped GIFs as the run that decoded them).
pub struct Entry {
    /// GIF name (file stem).
    pub name: String,
    /// `(frames, delays in ms)`, or the decoding error.
    pub frames: std::result::Result<(FrameBytes, Vec<u32>), String>,
}

/// One GIF to write: its name, and its frames and delays or why it could not be decoded.
pub type NewEntry<'a> = (&'a str, std::result::Result<(&'a [u8], &'a [u32]), &'a str>);

/// A GIF file's identity for the cache key: name, size and modification time.
fn stamp(path: &Path) -> Result<(u64, u128)> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    Ok((meta.len(), mtime))
}

/// The cache file for `names` (GIFs in `folder`) of `split` at `preprocess`, under `data`.
pub fn path_for(
    data: &Path,
    folder: &Path,
    split: &str,
    preprocess: &PreprocessConfig,
    names: &[&str],
) -> Result<PathBuf> {
    let mut hash = Sha256::new();
    hash.update(MAGIC);
    hash.update(split.as_bytes());
    hash.update((preprocess.image_size as u64).to_le_bytes());
    hash.update(preprocess.background);
    for name in names {
        let (bytes, mtime) = stamp(&folder.join(format!("{name}.gif")))?;
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update(bytes.to_le_bytes());
        hash.update(mtime.to_le_bytes());
    }
    let key: String = hash.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect();
    let safe_split: String = split.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let file = format!("{safe_split}-{}px-{}gifs-{key}.bin", preprocess.image_size, names.len());
    Ok(data.join(CACHE_DIR).join(file))
}

/// The key part of a cache file's name, stored in its header too (a renamed file is refused).
fn key_of(path: &Path) -> [u8; 32] {
    Sha256::digest(path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default()).into()
}

/// Encodes the index: per entry its name, then `u32::MAX` and the error, or the frame count and
/// the delays. Returns it with the data length it describes.
fn encode_index(entries: &[NewEntry<'_>], frame_bytes: usize) -> (Vec<u8>, u64) {
    let mut index = Vec::new();
    let mut data_len = 0u64;
    let put_str = |index: &mut Vec<u8>, text: &str| {
        index.extend((text.len() as u32).to_le_bytes());
        index.extend(text.as_bytes());
    };
    for (name, frames) in entries {
        put_str(&mut index, name);
        match frames {
            Ok((bytes, delays)) => {
                index.extend((delays.len() as u32).to_le_bytes());
                delays.iter().for_each(|d| index.extend(d.to_le_bytes()));
                debug_assert_eq!(bytes.len(), delays.len() * frame_bytes);
                data_len += bytes.len() as u64;
            }
            Err(why) => {
                index.extend(u32::MAX.to_le_bytes());
                put_str(&mut index, why);
            }
        }
    }
    (index, data_len)
}

/// Writes the cache at `path` (a temporary sibling, synced, then renamed): `entries` in order,
/// each GIF's frames `frame_bytes` bytes apiece.
pub fn write(path: &Path, frame_bytes: usize, entries: &[NewEntry<'_>]) -> Result<()> {
    let dir = path.parent().context("the cache path has no folder")?;
    // A dataset folder marked read-only (shared data) is left alone even where the permission
    // would not stop this process (root ignores it).
    if let Some(data) = dir.parent()
        && std::fs::metadata(data).is_ok_and(|m| m.permissions().readonly())
    {
        anyhow::bail!("{} is read-only", data.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    remove_dead_temporaries(dir);
    let (index, data_len) = encode_index(entries, frame_bytes);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = (|| -> Result<()> {
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC)?;
        out.write_all(&key_of(path))?;
        for n in [frame_bytes as u64, entries.len() as u64, index.len() as u64, data_len] {
            out.write_all(&n.to_le_bytes())?;
        }
        out.write_all(&Sha256::digest(&index))?;
        out.write_all(&index)?;
        for (_, frames) in entries {
            if let Ok((bytes, _)) = frames {
                out.write_all(bytes)?;
            }
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(())
    })();
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path).context("renaming it into place")) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("writing {}", path.display())));
    }
    Ok(())
}

/// Removes temporaries that a killed writer left (`*.tmp-{pid}` whose process is gone).
fn remove_dead_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.rsplit_once(".tmp-").and_then(|(_, pid)| pid.parse::<u32>().ok()) else { continue };
        if !crate::files::alive(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Removes the other caches of the same split, size and GIF count (made before the GIFs or the
/// preprocessing changed: never opened again), so that regenerating data does not pile them up.
pub fn remove_superseded(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().map(|n| n.to_string_lossy().into_owned())) else {
        return;
    };
    let Some((prefix, _)) = name.rsplit_once('-') else { return };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.filter_map(|e| e.ok()) {
        let other = entry.file_name().to_string_lossy().into_owned();
        if other != name && other.ends_with(".bin") && other.rsplit_once('-').is_some_and(|(p, _)| p == prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Reads little-endian integers and strings from the index, failing past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).context("the index is truncated")?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into()?))
    }

    fn string(&mut self) -> Result<String> {
        let len = self.u32()? as usize;
        Ok(String::from_utf8(self.take(len)?.to_vec())?)
    }
}

/// Opens the cache at `path`: `Ok(None)` when there is none, an error when it exists but is not
/// a whole, valid cache for this key and frame size (the caller then decodes and rewrites it).
pub fn open(path: &Path, frame_bytes: usize) -> Result<Option<Vec<Entry>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    // SAFETY: the map is read-only and the file is never modified in place: writers create a new
    // file and rename it over this name, which leaves this inode (and the map) unchanged. Only an
    // outside process truncating it could fault a read, as with any cache file.
    #[allow(unsafe_code)]
    let map = Arc::new(unsafe { Mmap::map(&file) }.with_context(|| format!("mapping {}", path.display()))?);
    parse(map, path, frame_bytes).map(Some)
}

/// Checks the header, the index's checksum and the file's length, then lists the entries.
fn parse(map: Arc<Mmap>, path: &Path, frame_bytes: usize) -> Result<Vec<Entry>> {
    let mut header = Reader { bytes: &map[..], at: 0 };
    anyhow::ensure!(header.take(8)? == MAGIC, "not a frame cache of this version");
    anyhow::ensure!(header.take(32)? == key_of(path), "made for another file name");
    let (size, count, index_len, data_len) = (header.u64()?, header.u64()?, header.u64()?, header.u64()?);
    anyhow::ensure!(size == frame_bytes as u64, "frames of {size} bytes, not {frame_bytes}");
    let checksum = header.take(32)?.to_vec();
    let data_start = (HEADER_LEN as u64).checked_add(index_len).context("bad index length")?;
    anyhow::ensure!(
        data_start.checked_add(data_len) == Some(map.len() as u64),
        "{} bytes long, the header says {}",
        map.len(),
        data_start.saturating_add(data_len)
    );
    let index = &map[HEADER_LEN..data_start as usize];
    anyhow::ensure!(Sha256::digest(index)[..] == checksum[..], "the index does not match its checksum");
    let mut reader = Reader { bytes: index, at: 0 };
    let mut offset = data_start as usize;
    let mut entries = Vec::with_capacity(count.min(1 << 24) as usize);
    for _ in 0..count {
        let name = reader.string()?;
        let frames = match reader.u32()? {
            u32::MAX => Err(reader.string()?),
            n => {
                let delays = (0..n).map(|_| reader.u32()).collect::<Result<Vec<u32>>>()?;
                let end = offset + n as usize * frame_bytes;
                anyhow::ensure!(end <= map.len(), "{name}'s frames run past the end");
                let range = offset..end;
                offset = end;
                Ok((FrameBytes::Mapped { map: map.clone(), range }, delays))
            }
        };
        entries.push(Entry { name, frames });
    }
    anyhow::ensure!(reader.at == index.len() && offset == map.len(), "the index does not describe the whole file");
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::scratch_dir;

    #[test]
    fn written_entries_read_back_and_a_damaged_file_is_refused() {
        let dir = scratch_dir("gifqa-frame-cache", "roundtrip");
        let path = dir.join(CACHE_DIR).join("Train-2px-3gifs-abc.bin");
        let a: Vec<u8> = (0..24).collect();
        let b: Vec<u8> = (100..112).collect();
        let entries =
            [("a", Ok((&a[..], &[40u32, 50][..]))), ("bad", Err("truncated")), ("b", Ok((&b[..], &[70u32][..])))];
        write(&path, 12, &entries).unwrap();
        let read = open(&path, 12).unwrap().unwrap();
        assert_eq!(read.len(), 3);
        let (frames, delays) = read[0].frames.as_ref().unwrap();
        assert_eq!((&frames[..], &delays[..]), (&a[..], &[40, 50][..]));
        assert_eq!(read[1].frames.as_ref().err().map(String::as_str), Some("truncated"));
        assert_eq!(&read[2].frames.as_ref().unwrap().0[..], &b[..]);
        // Another frame size, a truncated file, a flipped index byte, a renamed file: all refused.
        assert!(open(&path, 6).is_err());
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(open(&path, 12).is_err());
        let mut flipped = bytes.clone();
        flipped[HEADER_LEN + 1] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert!(open(&path, 12).is_err());
        let renamed = path.with_file_name("Train-2px-3gifs-abd.bin");
        std::fs::write(&renamed, &bytes).unwrap();
        assert!(open(&renamed, 12).is_err());
        assert!(open(&dir.join("absent.bin"), 12).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
