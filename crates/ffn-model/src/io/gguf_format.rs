//! The byte layout of GGUF files: header, metadata, tensor table, aligned data. Every read is
//! checked against the end of the file, every count against the bytes left, every tensor's byte
//! range against the file's length.

use std::collections::BTreeMap;

use super::dequant::GgmlType;
use super::gguf::{GgufTensorInfo, GgufValue};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: usize = 32;
/// Tensors have at most this many axes (ggml's `GGML_MAX_DIMS`).
const MAX_DIMS: usize = 4;

/// What [`parse`] reads from the bytes.
pub(super) struct Parsed {
    pub version: u32,
    pub metadata: BTreeMap<String, GgufValue>,
    pub tensors: BTreeMap<String, GgufTensorInfo>,
}

/// The tables of the GGUF file `bytes`; the error says what is wrong.
pub(super) fn parse(bytes: &[u8]) -> Result<Parsed, String> {
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
        let mut bytes = [0u8; N];
        bytes.copy_from_slice(self.take(N)?);
        Ok(bytes)
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
