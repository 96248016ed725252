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
use super::safetensors::HostTensor;
use crate::ModelError;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: usize = 32;
/// Tensors have at most this many axes (ggml's `GGML_MAX_DIMS`).
const MAX_DIMS: usize = 4;

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
    range: std::ops::Range<usize>,
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
        match self.require(key)? {
            GgufValue::Unsigned(v) => usize::try_from(*v).ok(),
            GgufValue::Signed(v) => usize::try_from(*v).ok(),
            _ => None,
        }
        .ok_or_else(|| self.wrong_type(key, "a non-negative integer", self.get(key).unwrap()))
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

/// What [`parse`] reads from the bytes.
struct Parsed {
    version: u32,
    metadata: BTreeMap<String, GgufValue>,
    tensors: BTreeMap<String, GgufTensorInfo>,
}

fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    if bytes.len() < 4 || &bytes[..4] != MAGIC {
        return Err("not a GGUF file (it does not start with the bytes 'GGUF')".into());
    }
    let mut at = Cursor { bytes, pos: 4 };
    let version = at.u32()?;
    if !(2..=3).contains(&version) {
        return Err(format!(
            "GGUF version {version} is not supported; versions 2 and 3 are"
        ));
    }
    let n_tensors = at.count("tensor count")?;
    let n_metadata = at.count("metadata count")?;
    let mut metadata = BTreeMap::new();
    for _ in 0..n_metadata {
        let key = at.string()?;
        let ty = at.u32()?;
        let value = at.value(ty, 0)?;
        if metadata.insert(key.clone(), value).is_some() {
            return Err(format!("metadata key '{key}' appears twice"));
        }
    }
    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(GgufValue::Unsigned(a)) if a.is_power_of_two() && *a <= 1 << 16 => *a as usize,
        Some(other) => return Err(format!("general.alignment {other:?} is not a power of 2")),
    };
    let mut table = Vec::new();
    for _ in 0..n_tensors {
        let name = at.string()?;
        let n_dims = at.u32()? as usize;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(format!(
                "tensor '{name}' has {n_dims} axes; 1 to {MAX_DIMS} are valid"
            ));
        }
        let mut shape = (0..n_dims)
            .map(|_| at.u64().map(|d| d as usize))
            .collect::<Result<Vec<_>, _>>()?;
        shape.reverse();
        let dtype = GgmlType::from_id(at.u32()?);
        let offset = at.u64()? as usize;
        table.push((name, shape, dtype, offset));
    }
    let data_start = at.pos.next_multiple_of(alignment);
    let mut tensors = BTreeMap::new();
    for (name, shape, dtype, offset) in table {
        let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let Some(elements) = elements else {
            return Err(format!("tensor '{name}' has an impossible shape {shape:?}"));
        };
        // An unsupported type keeps its place in the table (and fails when fetched); its bytes
        // are checked when its size is known.
        let size = match (dtype.bytes_for(elements), dtype) {
            (Some(size), _) => size,
            (None, GgmlType::Unsupported(..)) => 0,
            (None, _) => {
                return Err(format!(
                    "tensor '{name}' of shape {shape:?} is not a whole number of {} blocks",
                    dtype.name()
                ));
            }
        };
        let start = data_start.checked_add(offset);
        let range = match start.and_then(|s| Some(s..s.checked_add(size)?)) {
            Some(range) if range.end <= bytes.len() => range,
            _ => {
                return Err(format!(
                    "the file is truncated: tensor '{name}' needs bytes up to {} but the file \
                     has {}; download it again",
                    start.map_or(usize::MAX, |s| s.saturating_add(size)),
                    bytes.len()
                ));
            }
        };
        let info = GgufTensorInfo {
            dtype,
            shape,
            range,
        };
        if tensors.insert(name.clone(), info).is_some() {
            return Err(format!("tensor '{name}' appears twice"));
        }
    }
    Ok(Parsed {
        version,
        metadata,
        tensors,
    })
}

/// A read position in the file's bytes; every read checks the end.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Arrays nest at most this deep (real files use one level).
const MAX_NESTING: usize = 4;

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| {
            format!(
                "the file is truncated: its header ends at byte {} of {}; download it again",
                self.pos,
                self.bytes.len()
            )
        })?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }

    /// A count of items that each take at least one byte: more than the bytes left is damage.
    fn count(&mut self, what: &str) -> Result<usize, String> {
        let n = self.u64()?;
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left {
            return Err(format!(
                "the {what} {n} runs past the end of the file: it is truncated or damaged; \
                 download it again"
            ));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.count("string length")?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "a string is not valid UTF-8".to_string())
    }

    fn value(&mut self, ty: u32, depth: usize) -> Result<GgufValue, String> {
        use GgufValue::*;
        Ok(match ty {
            0 => Unsigned(self.array::<1>()?[0].into()),
            1 => Signed((self.array::<1>()?[0] as i8).into()),
            2 => Unsigned(u16::from_le_bytes(self.array()?).into()),
            3 => Signed(i16::from_le_bytes(self.array()?).into()),
            4 => Unsigned(self.u32()?.into()),
            5 => Signed(i32::from_le_bytes(self.array()?).into()),
            6 => Float(f32::from_le_bytes(self.array()?).into()),
            7 => match self.array::<1>()?[0] {
                0 => Bool(false),
                1 => Bool(true),
                b => return Err(format!("a boolean holds {b}")),
            },
            8 => String(self.string()?),
            9 if depth < MAX_NESTING => {
                let item_type = self.u32()?;
                let n = self.count("array length")?;
                Array(
                    (0..n)
                        .map(|_| self.value(item_type, depth + 1))
                        .collect::<Result<_, _>>()?,
                )
            }
            9 => return Err("arrays nest too deep".into()),
            10 => Unsigned(self.u64()?),
            11 => Signed(i64::from_le_bytes(self.array()?)),
            12 => Float(f64::from_le_bytes(self.array()?)),
            other => return Err(format!("unknown metadata value type {other}")),
        })
    }
}
