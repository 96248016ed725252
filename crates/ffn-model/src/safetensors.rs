//! Reading `.safetensors` files (the Hugging Face weight format): an 8-byte little-endian header
//! length, a JSON header mapping names to dtype, shape and byte range, then the raw data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ModelError;

/// One tensor's entry in the header.
#[derive(Debug, Clone, Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// A `.safetensors` file read into memory, whose tensors can be fetched as `f32`.
#[derive(Debug, Clone)]
pub struct SafeTensors {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
    data: Vec<u8>,
}

/// A tensor converted to `f32`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Its shape as stored.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub values: Vec<f32>,
}

impl SafeTensors {
    /// Reads and checks `path`: the header must be valid JSON and every byte range must lie in
    /// the file and match its dtype and shape.
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| import_error(path, e.to_string()))?;
        Self::parse(path, bytes)
    }

    /// Parses the bytes of a safetensors file; `path` only names it in errors.
    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<Self, ModelError> {
        let fail = |reason: String| import_error(path, reason);
        let header_len = bytes
            .first_chunk::<8>()
            .map(|b| u64::from_le_bytes(*b) as usize)
            .ok_or_else(|| fail("shorter than the 8-byte header length: not safetensors".into()))?;
        let header = bytes
            .get(8..8usize.saturating_add(header_len))
            .ok_or_else(|| {
                fail(format!(
                    "header length {header_len} runs past the end of the file ({} bytes): \
                     not safetensors, or truncated",
                    bytes.len()
                ))
            })?;
        let raw: BTreeMap<String, serde_json::Value> = serde_json::from_slice(header)
            .map_err(|e| fail(format!("header is not valid JSON: {e}")))?;
        let data = bytes[8 + header_len..].to_vec();
        let mut entries = BTreeMap::new();
        for (name, value) in raw {
            if name == "__metadata__" {
                continue;
            }
            let entry: Entry = serde_json::from_value(value)
                .map_err(|e| fail(format!("bad header entry for '{name}': {e}")))?;
            let [start, end] = entry.data_offsets;
            let numel: usize = entry.shape.iter().product();
            let width = dtype_width(&entry.dtype);
            if end < start || end > data.len() {
                return Err(fail(format!(
                    "tensor '{name}' spans bytes {start}..{end} but the data has {} bytes \
                     (truncated file?)",
                    data.len()
                )));
            }
            if let Some(width) = width
                && end - start != numel * width
            {
                return Err(fail(format!(
                    "tensor '{name}' of shape {:?} and dtype {} needs {} bytes, has {}",
                    entry.shape,
                    entry.dtype,
                    numel * width,
                    end - start
                )));
            }
            entries.insert(name, entry);
        }
        Ok(Self {
            path: path.to_path_buf(),
            entries,
            data,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Whether a tensor called `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The tensor `name` converted to `f32` (from F32, F16, BF16 or F64); fails naming the key
    /// when it is missing or of another dtype.
    pub fn tensor(&self, name: &str) -> Result<HostTensor, ModelError> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| ModelError::MissingWeight {
                path: self.path.clone(),
                key: name.to_string(),
            })?;
        let bytes = &self.data[entry.data_offsets[0]..entry.data_offsets[1]];
        let values = match entry.dtype.as_str() {
            "F32" => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            "F64" => bytes
                .as_chunks::<8>()
                .0
                .iter()
                .map(|b| f64::from_le_bytes(*b) as f32)
                .collect(),
            "BF16" => bytes
                .chunks_exact(2)
                .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
                .collect(),
            "F16" => bytes
                .chunks_exact(2)
                .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            other => {
                return Err(import_error(
                    &self.path,
                    format!("tensor '{name}' has dtype {other}; supported: F32, F16, BF16, F64"),
                ));
            }
        };
        Ok(HostTensor {
            shape: entry.shape.clone(),
            values,
        })
    }
}

fn import_error(path: &Path, reason: String) -> ModelError {
    ModelError::Import {
        path: path.to_path_buf(),
        reason,
    }
}

fn dtype_width(dtype: &str) -> Option<usize> {
    match dtype {
        "F64" | "I64" | "U64" => Some(8),
        "F32" | "I32" | "U32" => Some(4),
        "F16" | "BF16" | "I16" | "U16" => Some(2),
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => Some(1),
        _ => None,
    }
}

/// IEEE 754 half precision to single precision, exact for every value (subnormals, infinities,
/// NaN).
fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exponent = u32::from((bits >> 10) & 0x1f);
    let mantissa = u32::from(bits & 0x3ff);
    let magnitude = match (exponent, mantissa) {
        (0, 0) => 0,
        (0, m) => {
            // Subnormal: value m · 2^-24, renormalised into f32's range.
            let shift = m.leading_zeros() - 21;
            let m = (m << shift) & 0x3ff;
            ((127 - 15 + 1 - shift) << 23) | (m << 13)
        }
        (0x1f, m) => 0x7f80_0000 | (m << 13),
        (e, m) => ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(sign | magnitude)
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;

    #[test]
    fn half_precision_values_convert_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), 0x8000_0000);
    }
}
