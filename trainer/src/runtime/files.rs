//! Writing files and folders so that a failure, or a process killed at any instruction, never
//! leaves a half-written one where a reader looks.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Writes `bytes` to a temporary sibling of `path`, then renames it over `path`: a reader sees
/// the old file or the whole new one, never a part.
pub fn write_atomically(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// The folder holding `dir` and `dir`'s own name (`.` and `model` when they cannot be told).
fn parent_and_name(dir: &Path) -> (PathBuf, String) {
    let name = dir.file_name().map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    (parent.to_path_buf(), name)
}

/// Hidden sibling of `dir` used while writing it: `.{name}.{role}-{pid}`.
fn sibling(parent: &Path, name: &str, role: &str, pid: u32) -> PathBuf {
    parent.join(format!(".{name}.{role}-{pid}"))
}

/// Whether process `pid` still runs (Linux: `/proc/PID`; elsewhere only this process counts).
pub(crate) fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// Hidden siblings of `dir` that a killed writer left behind: `(path, role)` for each
/// `.{name}.{role}-{pid}` whose process is gone.
fn leftovers(dir: &Path, roles: &[&str]) -> Vec<(PathBuf, String)> {
    let (parent, name) = parent_and_name(dir);
    let Ok(entries) = std::fs::read_dir(&parent) else { return Vec::new() };
    let prefix = format!(".{name}.");
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let (role, pid) = file_name.strip_prefix(&prefix)?.rsplit_once('-')?;
            let pid: u32 = pid.parse().ok()?;
            (roles.contains(&role) && !alive(pid)).then(|| (entry.path(), role.to_string()))
        })
        .collect()
}

/// Undoes what a killed [`write_folder_atomically`] or `generate` left beside `dir`: unfinished
/// staging folders are removed, and a complete folder that was moved aside (only where the
/// platform cannot swap two folders in one step) is put back. Returns what was removed.
pub fn clean_leftovers(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for (path, role) in leftovers(dir, &["tmp", "old", "partial"]) {
        if role == "old" && !dir.exists() {
            std::fs::rename(&path, dir)
                .with_context(|| format!("restoring {} from {}", dir.display(), path.display()))?;
            continue;
        }
        std::fs::remove_dir_all(&path).with_context(|| format!("removing the leftover {}", path.display()))?;
        removed.push(path);
    }
    Ok(removed)
}

/// An unfinished `trainer generate` output beside `dir` (`.{name}.partial-{pid}`), if any: the
/// generator writes there and renames it to `dir` only when every file is written.
pub fn unfinished_generate(dir: &Path) -> Option<PathBuf> {
    let (parent, name) = parent_and_name(dir);
    let prefix = format!(".{name}.partial-");
    std::fs::read_dir(parent)
        .ok()?
        .filter_map(|entry| entry.ok())
        .find(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .map(|entry| entry.path())
}

/// The plain files of folder `dir` as (name, contents), except those named in `except`: a model
/// folder read whole to be written again with some files replaced.
pub fn read_folder(dir: &Path, except: &[&str]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && !except.contains(&name.as_str()) {
            let bytes = std::fs::read(entry.path()).with_context(|| format!("reading {}", entry.path().display()))?;
            files.push((name, bytes));
        }
    }
    Ok(files)
}

/// Writes `files` (name, contents) as the folder `dir` so that `dir` is always either the old
/// folder or the whole new one, even if the process is killed at any point: the files are written
/// and synced in a hidden sibling, which then takes `dir`'s place in one atomic swap (Linux's
/// `renameat2` exchange). Other files of an older `dir` are not kept.
pub fn write_folder_atomically(dir: &Path, files: &[(&str, Vec<u8>)]) -> Result<()> {
    let (parent, name) = parent_and_name(dir);
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    clean_leftovers(dir)?;
    let staging = sibling(&parent, &name, "tmp", std::process::id());
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    for (index, (file, bytes)) in files.iter().enumerate() {
        let path = staging.join(file);
        let mut out = File::create(&path).with_context(|| format!("writing {}", path.display()))?;
        out.write_all(bytes).and_then(|()| out.sync_all()).with_context(|| format!("writing {}", path.display()))?;
        if index == 0 {
            pause_point("checkpoint-write");
        }
    }
    sync_dir(&staging)?;
    if dir.exists() {
        swap_in(&staging, dir)?;
    } else {
        std::fs::rename(&staging, dir)
            .with_context(|| format!("renaming {} to {}", staging.display(), dir.display()))?;
    }
    sync_dir(&parent)?;
    Ok(())
}

/// Writes the model folder `source` as `out` (the same folder or a new one) with `replaced`'s
/// files (name, contents) in place of its own, every other file kept, and `manifest.json` listing
/// the files the old one listed, in its order (the page fetches them in that order), with their
/// new sizes and hashes.
pub fn rewrite_model_folder(source: &Path, out: &Path, replaced: &[(&str, Vec<u8>)]) -> Result<()> {
    use shared_model::bundle::manifest::{MANIFEST_FILE, Manifest};
    let old = shared_model::bundle::read_manifest(source)?;
    let mut except: Vec<&str> = replaced.iter().map(|(name, _)| *name).collect();
    except.push(MANIFEST_FILE);
    let kept = read_folder(source, &except)?;
    let mut files: Vec<(&str, Vec<u8>)> = kept.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    files.extend(replaced.iter().cloned());
    let listed: Vec<(&str, Vec<u8>)> =
        old.files.iter().filter_map(|entry| files.iter().find(|(n, _)| *n == entry.name).cloned()).collect();
    files.push((MANIFEST_FILE, serde_json::to_vec_pretty(&Manifest::of(&listed))?));
    write_folder_atomically(out, &files)
}

/// Puts the complete folder `staging` in `dir`'s place and removes the old one.
#[cfg(target_os = "linux")]
fn swap_in(staging: &Path, dir: &Path) -> Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, staging, CWD, dir, RenameFlags::EXCHANGE)
        .with_context(|| format!("swapping {} into {}", staging.display(), dir.display()))?;
    // `staging` now holds the old folder; a kill here leaves it for `clean_leftovers`.
    std::fs::remove_dir_all(staging).with_context(|| format!("removing the old {}", staging.display()))
}

/// Puts the complete folder `staging` in `dir`'s place and removes the old one. Two renames: a
/// kill between them leaves `dir` absent and the old folder aside, which `clean_leftovers` restores.
#[cfg(not(target_os = "linux"))]
fn swap_in(staging: &Path, dir: &Path) -> Result<()> {
    let (parent, name) = parent_and_name(dir);
    let old = sibling(&parent, &name, "old", std::process::id());
    std::fs::rename(dir, &old).with_context(|| format!("moving {} aside", dir.display()))?;
    std::fs::rename(staging, dir).with_context(|| format!("renaming {} to {}", staging.display(), dir.display()))?;
    std::fs::remove_dir_all(&old).with_context(|| format!("removing the old {}", old.display()))
}

/// Makes a folder's entries durable (a no-op where folders cannot be opened as files).
fn sync_dir(dir: &Path) -> Result<()> {
    match File::open(dir) {
        Ok(handle) => {
            let _ = handle.sync_all();
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

/// The environment variable naming a [`pause_point`] at which the process stops.
pub const PAUSE_AT_VAR: &str = "GIFQA_PAUSE_AT";

/// For tests that kill a run at a chosen instant: when `GIFQA_PAUSE_AT` is `NAME` or `NAME:K`,
/// the K-th (default first) time the process reaches the point `NAME` it prints
/// `paused at NAME` to stderr and sleeps until killed. Unset, it costs one environment lookup.
pub fn pause_point(name: &str) {
    static REACHED: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());
    let Ok(wanted) = std::env::var(PAUSE_AT_VAR) else { return };
    let (point, nth) = match wanted.split_once(':') {
        Some((point, nth)) => (point, nth.parse().unwrap_or(1)),
        None => (wanted.as_str(), 1),
    };
    if point != name {
        return;
    }
    let count = {
        let mut reached = REACHED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let position = reached.iter().position(|(n, _)| n == name);
        let slot = match position {
            Some(i) => &mut reached[i].1,
            None => {
                reached.push((name.to_string(), 0));
                &mut reached.last_mut().expect("just pushed").1
            }
        };
        *slot += 1;
        *slot
    };
    if count == nth {
        eprintln!("paused at {name}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// An empty folder for one test in the system's temporary folder, `{prefix}-{name}-{pid}`.
/// Reads a GIF file for answering, refusing one over [`shared_model::answer::pipeline::MAX_GIF_FILE_BYTES`] before reading it.
pub fn read_gif(path: &Path) -> Result<Vec<u8>> {
    use shared_model::answer::pipeline::MAX_GIF_FILE_BYTES;
    let bytes = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len();
    anyhow::ensure!(
        bytes <= MAX_GIF_FILE_BYTES,
        "{} is {bytes} bytes, over the limit of {MAX_GIF_FILE_BYTES} bytes for a GIF",
        path.display()
    );
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

#[cfg(test)]
pub(crate) fn scratch_dir(prefix: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = scratch_dir("gifqa-files", "file");
        let path = dir.join("report.json");
        std::fs::write(&path, "old").unwrap();
        write_atomically(&path, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert!(!dir.join("report.json.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_folder_is_an_error_that_names_the_file() {
        let path = std::env::temp_dir().join("gifqa-no-such-folder").join("x.json");
        let error = write_atomically(&path, "x").unwrap_err();
        assert!(format!("{error:#}").contains("x.json.tmp"), "{error:#}");
    }

    #[test]
    fn folders_are_replaced_whole_and_leftovers_of_dead_writers_go() {
        let root = scratch_dir("gifqa-files", "folder");
        let dir = root.join("model");
        write_folder_atomically(&dir, &[("a", b"1".to_vec()), ("b", b"1".to_vec())]).unwrap();
        // What a writer killed mid-write leaves (pid 0 is never a user process).
        std::fs::create_dir_all(root.join(".model.tmp-0")).unwrap();
        std::fs::write(root.join(".model.tmp-0/a"), "half").unwrap();
        write_folder_atomically(&dir, &[("a", b"2".to_vec())]).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("a")).unwrap(), "2");
        assert!(!dir.join("b").exists(), "the new folder replaces the old one whole");
        let names: Vec<String> =
            std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["model"]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_folder_moved_aside_by_a_killed_writer_is_restored() {
        let root = scratch_dir("gifqa-files", "restore");
        let dir = root.join("model");
        std::fs::create_dir_all(root.join(".model.old-0")).unwrap();
        std::fs::write(root.join(".model.old-0/a"), "complete").unwrap();
        clean_leftovers(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("a")).unwrap(), "complete");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
