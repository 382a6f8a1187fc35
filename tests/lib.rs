//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/data` beside the repository, or `None` (with a note) when it is absent.
pub fn shared_data() -> Option<PathBuf> {
    let dir = repo_root().join("../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: {} not found (the workplace's shared data sits beside the repository)", dir.display());
        None
    }
}

/// A fresh empty folder under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/gifqa-{name}-{pid}`.
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("gifqa-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("creating a temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
