//! `manifest.json`: the SHA-256 of every weight and optimiser file of a run, recorded after the
//! file is written and checked before it is read, so a corrupted file, or one copied from
//! another run, is an error naming it instead of weights that load without complaint.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::RunDir;
use crate::TrainError;

/// File (relative to the run, `/`-separated) → SHA-256 in hex.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    sha256: BTreeMap<String, String>,
}

/// The SHA-256 of `bytes` in lower-case hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The SHA-256 of the file at `path` in lower-case hex, read as a stream (a model file need
/// not fit in memory twice).
pub(crate) fn file_sha256(path: &Path) -> Result<String, TrainError> {
    let unreadable = |e: std::io::Error| TrainError::Run {
        path: path.to_path_buf(),
        reason: format!("cannot read: {e}"),
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(unreadable)?;
    Ok(hex(&hasher.finalize()))
}

/// `bytes` in lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl RunDir {
    /// Saves `module` to `path` inside the run and records its hash.
    pub(crate) fn save_weights<M: Module>(
        &self,
        module: &M,
        path: &Path,
    ) -> Result<(), TrainError> {
        self.write_recorded(path, &ffn_model::module_bytes(module, path)?)
    }

    /// Loads the weights at `path` into `structure` after checking their hash.
    pub(crate) fn load_weights<M: Module>(
        &self,
        structure: M,
        path: &Path,
    ) -> Result<M, TrainError> {
        let bytes = self.read_verified(path)?;
        Ok(ffn_model::load_module_bytes(structure, bytes, path)?)
    }

    /// Writes `bytes` to `path` inside the run, atomically, and records their hash.
    pub(crate) fn write_recorded(&self, path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
        self.write(path, bytes)?;
        self.record(path, bytes)
    }

    /// Reads `path` inside the run, failing when it does not match the manifest. Runs written
    /// before manifests existed (no manifest, no lock file, no dataset record) are read
    /// unchecked; a newer run without its manifest is an error.
    pub(crate) fn read_verified(&self, path: &Path) -> Result<Vec<u8>, TrainError> {
        let bytes = std::fs::read(path).map_err(|e| self.error(path, e))?;
        if !self.manifest().exists() {
            let checked =
                self.root().join(super::dir::LOCK).exists() || self.dataset_record().exists();
            return match checked {
                true => Err(TrainError::Run {
                    path: self.manifest(),
                    reason: "missing, so the run's weights cannot be checked; the run directory \
                             was damaged (train it again, or restore the file)"
                        .into(),
                }),
                false => Ok(bytes),
            };
        }
        let manifest: Manifest = self.read_json(&self.manifest())?;
        let fail = |reason: &str| TrainError::Run {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        match manifest.sha256.get(&self.key(path)) {
            None => Err(fail(
                "not in the run's manifest.json: this run did not write it (copied from \
                 another run?)",
            )),
            Some(hash) if *hash != sha256_hex(&bytes) => Err(fail(
                "its SHA-256 differs from the run's manifest.json: the file is corrupt or comes \
                 from another run",
            )),
            Some(_) => Ok(bytes),
        }
    }

    /// Records the hash of `bytes`, just written to `path`, and forgets files no longer there.
    fn record(&self, path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
        let mut manifest: Manifest = match self.manifest().exists() {
            true => self.read_json(&self.manifest())?,
            false => Manifest::default(),
        };
        manifest.sha256.insert(self.key(path), sha256_hex(bytes));
        let root = self.root().to_path_buf();
        manifest.sha256.retain(|file, _| root.join(file).exists());
        self.write_json(&self.manifest(), &manifest)
    }

    /// `path` relative to the run, `/`-separated.
    fn key(&self, path: &Path) -> String {
        let relative = path.strip_prefix(self.root()).unwrap_or(path);
        relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }
}
