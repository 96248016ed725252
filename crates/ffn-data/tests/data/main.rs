//! Integration tests of ffn-data, in one binary so Burn is linked once.

mod bad_input;
mod batching;
mod clean;
mod shipped;
mod splits;
mod standardize;
mod text;

use std::path::{Path, PathBuf};

/// The repository's `datasets/` folder.
pub fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

/// Writes `contents` to `name` in a fresh temporary folder.
pub fn write_file(name: &str, contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}
