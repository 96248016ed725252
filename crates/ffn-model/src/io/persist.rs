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
    write_atomically(path, &module_bytes(module, path)?).map_err(|e| fail(e.to_string()))
}

/// The bytes [`save_module`] writes for `module` (`path` names the file in errors).
pub fn module_bytes<M: Module>(module: &M, path: &Path) -> Result<Bytes, ModelError> {
    module
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| ModelError::Record {
            action: "save",
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
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
    load_module_bytes(module, bytes, path)
}

/// [`load_module`] from the file's bytes, already read (`path` names the file in errors).
pub fn load_module_bytes<M: Module>(
    module: M,
    bytes: Vec<u8>,
    path: &Path,
) -> Result<M, ModelError> {
    let fail = |reason: String| ModelError::Record {
        action: "load",
        path: path.to_path_buf(),
        reason,
    };
    let record =
        ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| fail(e.to_string()))?;
    module
        .try_load_record(record)
        .map_err(|e| fail(e.to_string()))
}

/// Writes `contents` to `path` through a temporary file in the same directory, flushed to disk
/// and then renamed over `path`: readers see the old file or the new one, never a partial one.
/// A new file gets the umask's permissions and an existing one keeps its own. A `path` that is
/// not a regular file (a device such as `/dev/null`, a FIFO, or a link to one) is written in
/// place, never replaced; a link to a regular file is followed, so the link stays.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let linked;
    let path = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_symlink() && path.exists() => {
            linked = std::fs::canonicalize(path)?;
            linked.as_path()
        }
        _ => path,
    };
    let existing = std::fs::metadata(path).ok();
    if let Some(meta) = &existing
        && !meta.is_file()
    {
        if meta.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "it is a directory",
            ));
        }
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .write_all(contents);
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".ffn-").suffix(".tmp");
    // Read and write for all, which the process's umask then narrows, as for any new file.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut file = builder.tempfile_in(dir)?;
    if let Some(meta) = &existing {
        file.as_file().set_permissions(meta.permissions())?;
    }
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
