//! Reading GGUF files (llama.cpp's single-file model format, versions 2 and 3) over a memory
//! map. Opening parses the header, the metadata and the tensor table and checks every tensor's
//! byte range against the file; fetching a tensor converts only its bytes to `f32`.
//!
//! The reader is this crate's own: the Rust GGUF crates either read the type fields as Rust
//! enums without checking them or index past the end of a truncated file, and a damaged file
//! here must give an error, never a panic.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::dequant::GgmlType;
use super::gguf_format::parse;
use super::safetensors::HostTensor;
use crate::ModelError;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// Any of the unsigned integer types.
    Unsigned(u64),
    /// Any of the signed integer types.
    Signed(i64),
    /// `f32` or `f64`.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string.
    String(String),
    /// An array of values of one type.
    Array(Vec<GgufValue>),
}

/// Where a tensor lies and how it is stored.
#[derive(Debug, Clone)]
pub struct GgufTensorInfo {
    /// Element type.
    pub dtype: GgmlType,
    /// Row-major shape (GGUF lists the axes innermost first; this is the reverse).
    pub shape: Vec<usize>,
    /// Byte range in the file.
    pub(super) range: std::ops::Range<usize>,
}

/// An open GGUF file.
#[derive(Debug)]
pub struct Gguf {
    path: PathBuf,
    bytes: Mmap,
    version: u32,
    metadata: BTreeMap<String, GgufValue>,
    tensors: BTreeMap<String, GgufTensorInfo>,
}

impl Gguf {
    /// Opens and checks `path`: a missing file, a file that is not GGUF, a truncated one or one
    /// whose tables do not fit is an error naming the file.
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let fail = |reason: String| ModelError::Import {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
        // SAFETY: the map is read-only; a file changed underneath while mapped is outside what
        // any reader can guard against, as for the safetensors checkpoints.
        let bytes = unsafe { Mmap::map(&file) }.map_err(|e| fail(format!("cannot map: {e}")))?;
        let parsed = parse(&bytes).map_err(fail)?;
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            version: parsed.version,
            metadata: parsed.metadata,
            tensors: parsed.tensors,
        })
    }

    /// The file as named when opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Every metadata key and value.
    pub fn metadata(&self) -> &BTreeMap<String, GgufValue> {
        &self.metadata
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.get(key)
    }

    /// The value of `key` as a string; fails naming the key when absent or of another type.
    pub fn string(&self, key: &str) -> Result<&str, ModelError> {
        match self.require(key)? {
            GgufValue::String(s) => Ok(s),
            other => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// The value of `key` as a non-negative integer.
    pub fn usize(&self, key: &str) -> Result<usize, ModelError> {
        let value = self.require(key)?;
        match value {
            GgufValue::Unsigned(v) => usize::try_from(*v).ok(),
            GgufValue::Signed(v) => usize::try_from(*v).ok(),
            _ => None,
        }
        .ok_or_else(|| self.wrong_type(key, "a non-negative integer", value))
    }

    /// The value of `key` as a float (integers are accepted).
    pub fn float(&self, key: &str) -> Result<f64, ModelError> {
        match self.require(key)? {
            GgufValue::Float(v) => Ok(*v),
            GgufValue::Unsigned(v) => Ok(*v as f64),
            GgufValue::Signed(v) => Ok(*v as f64),
            other => Err(self.wrong_type(key, "a number", other)),
        }
    }

    /// The value of `key` as an array of strings.
    pub fn strings(&self, key: &str) -> Result<Vec<&str>, ModelError> {
        let wrong = |v: &GgufValue| self.wrong_type(key, "an array of strings", v);
        match self.require(key)? {
            GgufValue::Array(items) => items
                .iter()
                .map(|item| match item {
                    GgufValue::String(s) => Ok(s.as_str()),
                    other => Err(wrong(other)),
                })
                .collect(),
            other => Err(wrong(other)),
        }
    }

    /// The value of `key` as an array of integers.
    pub fn integers(&self, key: &str) -> Result<Vec<i64>, ModelError> {
        let wrong = |v: &GgufValue| self.wrong_type(key, "an array of integers", v);
        match self.require(key)? {
            GgufValue::Array(items) => items
                .iter()
                .map(|item| match item {
                    GgufValue::Signed(v) => Ok(*v),
                    GgufValue::Unsigned(v) => i64::try_from(*v).map_err(|_| wrong(item)),
                    other => Err(wrong(other)),
                })
                .collect(),
            other => Err(wrong(other)),
        }
    }

    /// Every tensor by name.
    pub fn tensors(&self) -> &BTreeMap<String, GgufTensorInfo> {
        &self.tensors
    }

    /// Whether the file holds tensor `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Tensor `name` converted to `f32`, with its row-major shape. Fails naming the tensor when
    /// it is absent or of a type this reader cannot convert.
    pub fn tensor(&self, name: &str) -> Result<HostTensor, ModelError> {
        let info = self
            .tensors
            .get(name)
            .ok_or_else(|| ModelError::MissingWeight {
                path: self.path.clone(),
                key: name.to_string(),
            })?;
        let values = info
            .dtype
            .dequantize(&self.bytes[info.range.clone()])
            .ok_or_else(|| ModelError::Import {
                path: self.path.clone(),
                reason: format!(
                    "tensor '{name}' is stored as {}, which cannot be read; supported types: \
                     F32, F16, BF16, Q8_0, Q4_1",
                    info.dtype.name()
                ),
            })?;
        Ok(HostTensor {
            shape: info.shape.clone(),
            values,
        })
    }

    fn require(&self, key: &str) -> Result<&GgufValue, ModelError> {
        self.metadata.get(key).ok_or_else(|| ModelError::Import {
            path: self.path.clone(),
            reason: format!("metadata key '{key}' is missing"),
        })
    }

    fn wrong_type(&self, key: &str, expected: &str, found: &GgufValue) -> ModelError {
        let found = match found {
            GgufValue::Unsigned(_) | GgufValue::Signed(_) => "an integer",
            GgufValue::Float(_) => "a float",
            GgufValue::Bool(_) => "a boolean",
            GgufValue::String(_) => "a string",
            GgufValue::Array(_) => "an array",
        };
        ModelError::Import {
            path: self.path.clone(),
            reason: format!("metadata key '{key}' should be {expected}, found {found}"),
        }
    }
}
