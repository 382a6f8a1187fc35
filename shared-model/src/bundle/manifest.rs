//! `manifest.json` of a model folder: the size and SHA-256 of each file the page fetches. The page
//! shows download progress against the sizes and keys its Cache API entries by the hashes, so a
//! retrained model is never mixed with cached files of an older one.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// File name inside a model folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// One listed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// File name inside the model folder.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the contents.
    pub sha256: String,
}

/// Every fetched file of a model folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The files, in fetch order.
    pub files: Vec<ManifestEntry>,
}

/// A file that does not match the manifest.
#[derive(Debug, thiserror::Error)]
// Each variant's fields are named in its #[error] message and its doc line.
#[allow(missing_docs)]
pub enum ManifestError {
    /// The manifest does not list the file.
    #[error("manifest.json does not list {0}")]
    Unlisted(String),
    /// Size or hash differ.
    #[error(
        "{name} does not match manifest.json (expected {expected_bytes} bytes with SHA-256 {expected_sha}, got {bytes} bytes with {sha})"
    )]
    Mismatch { name: String, expected_bytes: u64, expected_sha: String, bytes: u64, sha: String },
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Manifest {
    /// Lists `files` (name, contents).
    pub fn of(files: &[(&str, Vec<u8>)]) -> Self {
        let files = files
            .iter()
            .map(|(name, bytes)| ManifestEntry {
                name: name.to_string(),
                bytes: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            })
            .collect();
        Manifest { files }
    }

    /// The entry for `name`.
    pub fn entry(&self, name: &str) -> Result<&ManifestEntry, ManifestError> {
        self.files.iter().find(|e| e.name == name).ok_or_else(|| ManifestError::Unlisted(name.to_string()))
    }

    /// Total bytes of all listed files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|e| e.bytes).sum()
    }

    /// Checks that `bytes` are the listed contents of `name`.
    pub fn verify(&self, name: &str, bytes: &[u8]) -> Result<(), ManifestError> {
        let entry = self.entry(name)?;
        let sha = sha256_hex(bytes);
        if entry.bytes == bytes.len() as u64 && entry.sha256 == sha {
            Ok(())
        } else {
            Err(ManifestError::Mismatch {
                name: name.to_string(),
                expected_bytes: entry.bytes,
                expected_sha: entry.sha256.clone(),
                bytes: bytes.len() as u64,
                sha,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_contents() {
        let manifest = Manifest::of(&[("a", b"abc".to_vec())]);
        assert_eq!(manifest.files[0].sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(manifest.verify("a", b"abc").is_ok());
        assert!(matches!(manifest.verify("a", b"abd"), Err(ManifestError::Mismatch { .. })));
        assert!(matches!(manifest.verify("b", b"abc"), Err(ManifestError::Unlisted(_))));
    }
}
