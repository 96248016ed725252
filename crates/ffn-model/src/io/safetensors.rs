//! Reading Hugging Face `.safetensors` checkpoints through the `safetensors` crate over a memory
//! map: a single file, or a sharded checkpoint (`model.safetensors.index.json` naming the shard
//! of every tensor). Opening reads only the headers; fetching a tensor touches only its bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::tensor::Metadata;
use safetensors::{Dtype, SafeTensorError};
use serde::Deserialize;

use crate::ModelError;

/// The index of a sharded checkpoint, as `transformers` writes it.
pub const INDEX_FILE: &str = "model.safetensors.index.json";
/// The single-file checkpoint name `transformers` uses.
pub const SINGLE_FILE: &str = "model.safetensors";

/// A checkpoint of one or more `.safetensors` files whose tensors can be fetched as `f32`.
#[derive(Debug)]
pub struct SafeTensors {
    /// What the user named: the file, the index or the directory.
    path: PathBuf,
    shards: Vec<Shard>,
    /// Every tensor name and the shard holding it.
    names: BTreeMap<String, usize>,
}

/// One `.safetensors` file: its bytes (mapped) and its parsed header.
#[derive(Debug)]
struct Shard {
    path: PathBuf,
    bytes: Bytes,
    /// Where the data section starts: 8 bytes of header length plus the header.
    data_start: usize,
    metadata: Metadata,
}

/// The bytes of a shard: a read-only memory map of the file, or bytes handed over in memory.
#[derive(Debug)]
enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(map) => map,
            Bytes::Owned(bytes) => bytes,
        }
    }
}

/// A tensor converted to `f32`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Its shape as stored.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub values: Vec<f32>,
}

/// `model.safetensors.index.json`: which shard holds each tensor.
#[derive(Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

impl SafeTensors {
    /// Opens a checkpoint: a `.safetensors` file, a sharded checkpoint's index JSON, or a
    /// directory holding either (the index is preferred). Every header is read and checked
    /// (valid JSON, byte ranges inside the file and matching dtype and shape); no tensor data
    /// is read.
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let target = if path.is_dir() {
            [INDEX_FILE, SINGLE_FILE]
                .iter()
                .map(|name| path.join(name))
                .find(|candidate| candidate.exists())
                .ok_or_else(|| {
                    import_error(
                        path,
                        format!("the directory holds neither {INDEX_FILE} nor {SINGLE_FILE}"),
                    )
                })?
        } else {
            path.to_path_buf()
        };
        let shards = if target.extension().is_some_and(|e| e == "json") {
            read_index(&target)?
        } else {
            vec![target]
        };
        let shards = shards
            .into_iter()
            .map(|file| Shard::map(&file))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_shards(path, shards)
    }

    /// A checkpoint from the bytes of one safetensors file; `path` only names it in errors.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self, ModelError> {
        let shard = Shard::parse(path, Bytes::Owned(bytes))?;
        Self::from_shards(path, vec![shard])
    }

    fn from_shards(path: &Path, shards: Vec<Shard>) -> Result<Self, ModelError> {
        let mut names = BTreeMap::new();
        for (index, shard) in shards.iter().enumerate() {
            for name in shard.metadata.tensors().into_keys() {
                if let Some(other) = names.insert(name.clone(), index) {
                    return Err(import_error(
                        path,
                        format!(
                            "tensor '{name}' is in both {} and {}",
                            shards[other].path.display(),
                            shard.path.display()
                        ),
                    ));
                }
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            shards,
            names,
        })
    }

    /// The path the checkpoint was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(String::as_str)
    }

    /// Whether a tensor called `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// The string metadata of the file's header (`__metadata__`), of every shard together.
    pub fn metadata(&self) -> BTreeMap<String, String> {
        self.shards
            .iter()
            .filter_map(|shard| shard.metadata.metadata().as_ref())
            .flat_map(|map| map.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect()
    }

    /// The shape of tensor `name`, without reading its data.
    pub fn shape(&self, name: &str) -> Result<Vec<usize>, ModelError> {
        let (_, info) = self.entry(name)?;
        Ok(info.shape.clone())
    }

    /// The tensor `name` converted to `f32` (from F32, F16, BF16 or F64), reading only its
    /// bytes; fails naming the key when it is missing or of another dtype.
    pub fn tensor(&self, name: &str) -> Result<HostTensor, ModelError> {
        let (shard, info) = self.entry(name)?;
        let (start, end) = info.data_offsets;
        let bytes = &shard.bytes[shard.data_start + start..shard.data_start + end];
        let values = match info.dtype {
            Dtype::F32 => bytes
                .as_chunks::<4>()
                .0
                .iter()
                .map(|b| f32::from_le_bytes(*b))
                .collect(),
            Dtype::F64 => bytes
                .as_chunks::<8>()
                .0
                .iter()
                .map(|b| f64::from_le_bytes(*b) as f32)
                .collect(),
            Dtype::BF16 => bytes
                .as_chunks::<2>()
                .0
                .iter()
                .map(|b| half::bf16::from_le_bytes(*b).to_f32())
                .collect(),
            Dtype::F16 => bytes
                .as_chunks::<2>()
                .0
                .iter()
                .map(|b| half::f16::from_le_bytes(*b).to_f32())
                .collect(),
            other => {
                return Err(import_error(
                    &shard.path,
                    format!("tensor '{name}' has dtype {other}; supported: F32, F16, BF16, F64"),
                ));
            }
        };
        Ok(HostTensor {
            shape: info.shape.clone(),
            values,
        })
    }

    fn entry(&self, name: &str) -> Result<(&Shard, &safetensors::tensor::TensorInfo), ModelError> {
        let missing = || ModelError::MissingWeight {
            path: self.path.clone(),
            key: name.to_string(),
        };
        let shard = &self.shards[*self.names.get(name).ok_or_else(missing)?];
        let info = shard.metadata.info(name).ok_or_else(missing)?;
        Ok((shard, info))
    }
}

impl Shard {
    /// Maps `path` read-only and parses its header.
    fn map(path: &Path) -> Result<Self, ModelError> {
        let file = File::open(path).map_err(|e| import_error(path, e.to_string()))?;
        // SAFETY: the map is read-only and private to this process. Another process truncating or
        // rewriting the checkpoint while it is open would change the bytes under us (a `SIGBUS`
        // on truncation), the usual caveat of every memory-mapped weight loader; checkpoints are
        // not written while they are imported.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| import_error(path, e.to_string()))?;
        Self::parse(path, Bytes::Mapped(map))
    }

    fn parse(path: &Path, bytes: Bytes) -> Result<Self, ModelError> {
        let (header_len, metadata) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| import_error(path, describe(&e, bytes.len())))?;
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            data_start: 8 + header_len,
            metadata,
        })
    }
}

/// An `f32` tensor to write, borrowing its values.
struct F32View<'a> {
    tensor: &'a HostTensor,
}

impl safetensors::View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.tensor.shape
    }

    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        self.tensor
            .values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
            .into()
    }

    fn data_len(&self) -> usize {
        self.tensor.values.len() * 4
    }
}

/// Writes `tensors` (as F32) and the string `metadata` to the safetensors file `path`,
/// atomically; fails when a tensor's values do not fill its shape.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, HostTensor)],
    metadata: BTreeMap<String, String>,
) -> Result<(), ModelError> {
    let bytes = safetensors_bytes(path, tensors, metadata)?;
    crate::write_atomically(path, &bytes).map_err(|e| save_error(path, e.to_string()))
}

/// The bytes of a safetensors file of `tensors` (as F32) and the string `metadata`, meant for
/// `path` (named in errors); fails when a tensor's values do not fill its shape.
pub fn safetensors_bytes(
    path: &Path,
    tensors: &[(String, HostTensor)],
    metadata: BTreeMap<String, String>,
) -> Result<Vec<u8>, ModelError> {
    for (name, tensor) in tensors {
        if tensor.shape.iter().product::<usize>() != tensor.values.len() {
            return Err(save_error(
                path,
                format!(
                    "tensor '{name}' has {} values for shape {:?}",
                    tensor.values.len(),
                    tensor.shape
                ),
            ));
        }
    }
    let views = tensors
        .iter()
        .map(|(name, tensor)| (name.as_str(), F32View { tensor }));
    let metadata = (!metadata.is_empty()).then(|| metadata.into_iter().collect());
    safetensors::serialize(views, metadata).map_err(|e| save_error(path, e.to_string()))
}

/// The shard files named by the index at `path`, in a stable order, each once.
fn read_index(path: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| import_error(path, e.to_string()))?;
    let index: ShardIndex = serde_json::from_str(&text).map_err(|e| {
        import_error(
            path,
            format!("not a sharded-checkpoint index (a JSON object with a weight_map): {e}"),
        )
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut files: Vec<PathBuf> = index.weight_map.values().map(|f| dir.join(f)).collect();
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err(import_error(path, "the index's weight_map is empty".into()));
    }
    Ok(files)
}

/// What a header error means for the user.
fn describe(error: &SafeTensorError, len: usize) -> String {
    match error {
        SafeTensorError::HeaderTooSmall
        | SafeTensorError::InvalidHeaderLength
        | SafeTensorError::HeaderTooLarge
        | SafeTensorError::InvalidHeader(_)
        | SafeTensorError::InvalidHeaderDeserialization(_) => {
            format!("not safetensors, or truncated: {error} ({len} bytes)")
        }
        SafeTensorError::MetadataIncompleteBuffer | SafeTensorError::InvalidOffset(_) => format!(
            "the header's byte ranges do not match the {len}-byte file ({error}): truncated or \
             corrupt file"
        ),
        other => format!("corrupt header: {other}"),
    }
}

fn import_error(path: &Path, reason: String) -> ModelError {
    ModelError::Import {
        path: path.to_path_buf(),
        reason,
    }
}

fn save_error(path: &Path, reason: String) -> ModelError {
    ModelError::Record {
        action: "save",
        path: path.to_path_buf(),
        reason,
    }
}
