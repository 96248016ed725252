//! `dataset.json`: which file a tabular run trained on (absolute path, size, rows, SHA-256), so
//! that resuming it or evaluating its splits on a file that changed since is an error instead
//! of a silently different set of rows.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{RunDir, sha256_hex};
use crate::TrainError;

/// The identity of a run's training data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetRecord {
    /// The file, absolute.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its data rows.
    pub rows: usize,
    /// The SHA-256 of its bytes, in hex.
    pub sha256: String,
}

impl DatasetRecord {
    /// The record of the file at `path` holding `rows` data rows.
    pub(crate) fn of(path: &Path, rows: usize) -> Result<Self, TrainError> {
        let bytes = std::fs::read(path).map_err(|e| TrainError::Run {
            path: path.to_path_buf(),
            reason: format!("cannot read the dataset: {e}"),
        })?;
        Ok(Self {
            path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
            bytes: bytes.len() as u64,
            rows,
            sha256: sha256_hex(&bytes),
        })
    }
}

impl RunDir {
    /// Fails when the run recorded its dataset and the file at `path` (with `rows` rows) is no
    /// longer that file. Runs written before records existed are not checked.
    pub(crate) fn check_dataset(&self, path: &Path, rows: usize) -> Result<(), TrainError> {
        if !self.dataset_record().exists() {
            return Ok(());
        }
        let saved: DatasetRecord = self.read_json(&self.dataset_record())?;
        let now = DatasetRecord::of(path, rows)?;
        if (now.rows, &now.sha256) == (saved.rows, &saved.sha256) {
            return Ok(());
        }
        Err(TrainError::Run {
            path: path.to_path_buf(),
            reason: format!(
                "changed since the run trained on it (then {} rows, SHA-256 {}…; now {} rows, \
                 {}…), so the run's splits no longer name the same rows; evaluate a file with \
                 --dataset instead",
                saved.rows,
                &saved.sha256[..12.min(saved.sha256.len())],
                now.rows,
                &now.sha256[..12],
            ),
        })
    }
}
