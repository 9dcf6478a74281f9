//! Where model versions live. A version is written once and never changed: the trainer puts a
//! checkpoint's two files, the manifest on the models topic names where they went and their
//! checksum, and every engine reads them back and checks that checksum before serving them.
//! [`ModelStore`] is the seam; [`DirStore`] is a directory (a shared volume in Kubernetes) and
//! an object store can follow behind the same trait.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A checkpoint's two files, as bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointFiles {
    pub config: Vec<u8>,
    pub weights: Vec<u8>,
}

/// What can go wrong between a store and its user; every variant names the location.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("model store {location}: {message}")]
    Io { location: String, message: String },
    #[error(
        "model store {location}: checksum {actual} does not match the manifest's {expected} (a corrupt or truncated file)"
    )]
    Checksum {
        location: String,
        expected: String,
        actual: String,
    },
    #[error("model store: location {0:?} is not <model>/<version>")]
    Location(String),
}

impl StoreError {
    /// The metric label of the failure.
    pub fn reason(&self) -> &'static str {
        match self {
            StoreError::Io { .. } => "io",
            StoreError::Checksum { .. } => "checksum",
            StoreError::Location(_) => "location",
        }
    }
}

/// SHA-256 over both files, each preceded by its length, as lowercase hex.
pub fn checksum(files: &CheckpointFiles) -> String {
    let mut h = Sha256::new();
    for part in [&files.config, &files.weights] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub trait ModelStore: Send + Sync {
    /// Stores a version's files and returns its location (what the manifest records).
    fn put(
        &self,
        model: &str,
        version: &str,
        files: &CheckpointFiles,
    ) -> Result<String, StoreError>;
    /// Reads a version back and checks it against `expected_checksum`.
    fn get(&self, location: &str, expected_checksum: &str) -> Result<CheckpointFiles, StoreError>;
}

/// The `[model_store]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelStoreConfig {
    pub dir: String,
}

impl Default for ModelStoreConfig {
    fn default() -> Self {
        crate::defaults::section("model_store")
    }
}

impl ModelStoreConfig {
    /// The configured store; `None` when `dir` is empty.
    pub fn open(&self) -> Option<DirStore> {
        (!self.dir.is_empty()).then(|| DirStore::new(&self.dir))
    }
}

/// A directory of `<model>/<version>/{config.json,model.safetensors}`; locations are relative to
/// it, so replicas may mount it at different paths.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

const CONFIG_FILE: &str = "config.json";
const WEIGHTS_FILE: &str = "model.safetensors";

/// A name that is one plain path component (no separators, no `..`), so a manifest cannot point
/// outside the store.
fn plain(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

impl DirStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir_of(&self, location: &str) -> Result<PathBuf, StoreError> {
        match location.split_once('/') {
            Some((m, v)) if plain(m) && plain(v) => Ok(self.root.join(m).join(v)),
            _ => Err(StoreError::Location(location.to_string())),
        }
    }
}

impl ModelStore for DirStore {
    fn put(
        &self,
        model: &str,
        version: &str,
        files: &CheckpointFiles,
    ) -> Result<String, StoreError> {
        let location = format!("{model}/{version}");
        let dir = self.dir_of(&location)?;
        let io = |e: std::io::Error| StoreError::Io {
            location: location.clone(),
            message: e.to_string(),
        };
        if dir.join(WEIGHTS_FILE).is_file() {
            // versions are content hashes: the same version is the same files
            return Ok(location);
        }
        // written under a temporary name and renamed, so a reader never sees half a version
        let parent = self.root.join(model);
        std::fs::create_dir_all(&parent).map_err(io)?;
        let tmp = parent.join(format!(".{version}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io)?;
        for (name, bytes) in [(CONFIG_FILE, &files.config), (WEIGHTS_FILE, &files.weights)] {
            let mut f = std::fs::File::create(tmp.join(name)).map_err(io)?;
            f.write_all(bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        match std::fs::rename(&tmp, &dir) {
            Ok(()) => Ok(location),
            // another writer put the same version first
            Err(_) if dir.join(WEIGHTS_FILE).is_file() => {
                let _ = std::fs::remove_dir_all(&tmp);
                Ok(location)
            }
            Err(e) => Err(io(e)),
        }
    }

    fn get(&self, location: &str, expected_checksum: &str) -> Result<CheckpointFiles, StoreError> {
        let dir = self.dir_of(location)?;
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| StoreError::Io {
                location: location.to_string(),
                message: format!("{name}: {e}"),
            })
        };
        let files = CheckpointFiles {
            config: read(CONFIG_FILE)?,
            weights: read(WEIGHTS_FILE)?,
        };
        let actual = checksum(&files);
        if actual != expected_checksum {
            return Err(StoreError::Checksum {
                location: location.to_string(),
                expected: expected_checksum.to_string(),
                actual,
            });
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> CheckpointFiles {
        CheckpointFiles {
            config: b"{\"model\":\"lstm\"}\n".to_vec(),
            weights: vec![1, 2, 3, 4, 5],
        }
    }

    #[test]
    fn put_then_get_round_trips_and_checks_the_checksum() {
        let dir = std::env::temp_dir().join(format!("seer-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = DirStore::new(&dir);
        let f = files();
        let sum = checksum(&f);
        let loc = store.put("lstm", "abc123", &f).unwrap();
        assert_eq!(loc, "lstm/abc123");
        assert_eq!(store.get(&loc, &sum).unwrap(), f);
        // the same version again is a no-op
        assert_eq!(store.put("lstm", "abc123", &f).unwrap(), loc);
        // a truncated weights file is refused, naming the location
        std::fs::write(dir.join("lstm/abc123/model.safetensors"), [1, 2]).unwrap();
        let err = store.get(&loc, &sum).unwrap_err();
        assert_eq!(err.reason(), "checksum");
        assert!(err.to_string().contains("lstm/abc123"), "{err}");
        let missing = store.get("lstm/nope", &sum).unwrap_err();
        assert_eq!(missing.reason(), "io");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn locations_cannot_leave_the_store() {
        let store = DirStore::new("/tmp/x");
        for bad in ["../etc", "a/../../b", "a", "/abs/v", "a/b/c", "a/.."] {
            assert_eq!(
                store.get(bad, "").unwrap_err().reason(),
                "location",
                "{bad}"
            );
        }
        assert_eq!(
            store.put("..", "v", &files()).unwrap_err().reason(),
            "location"
        );
    }

    #[test]
    fn checksum_separates_the_two_files() {
        let a = CheckpointFiles {
            config: b"ab".to_vec(),
            weights: b"c".to_vec(),
        };
        let b = CheckpointFiles {
            config: b"a".to_vec(),
            weights: b"bc".to_vec(),
        };
        assert_ne!(checksum(&a), checksum(&b));
        assert_eq!(checksum(&a).len(), 64);
    }
}
