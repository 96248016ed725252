//! Saving and loading module weights in Burn's record format (burnpack), atomically.

use std::io::Write;
use std::path::Path;

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;

use crate::ModelError;

/// Writes `module`'s parameters to `path` (burnpack): first to a temporary file beside it,
/// then renamed over `path`, so a crash never leaves a half-written file.
pub fn save_module<M: Module>(module: &M, path: &Path) -> Result<(), ModelError> {
    let fail = |reason: String| ModelError::Record {
        action: "save",
        path: path.to_path_buf(),
        reason,
    };
    let bytes = module
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| fail(e.to_string()))?;
    write_atomically(path, &bytes).map_err(|e| fail(e.to_string()))
}

/// Loads parameters saved by [`save_module`] into `module`, which must have the same structure
/// (build it from the same config); fails on a missing, corrupt or mismatched file.
pub fn load_module<M: Module>(module: M, path: &Path) -> Result<M, ModelError> {
    let fail = |reason: String| ModelError::Record {
        action: "load",
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let record =
        ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| fail(e.to_string()))?;
    module
        .try_load_record(record)
        .map_err(|e| fail(e.to_string()))
}

/// Writes `contents` to `path` through a temporary file in the same directory, flushed to disk
/// and then renamed over `path`: readers see the old file or the new one, never a partial one.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".ffn-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
