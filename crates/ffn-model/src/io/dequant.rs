//! The element types of GGUF tensors and their conversion to `f32`: plain floats (F32, F16,
//! BF16) and llama.cpp's block quantisations Q8_0 and Q4_1 (32 values per block).

use half::{bf16, f16};
use rayon::prelude::*;

/// Values per block of the quantised types.
pub const QUANT_BLOCK: usize = 32;

/// The element type of a GGUF tensor (ggml's `ggml_type` ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    Bf16,
    /// Blocks of 32: an f16 scale `d`, 32 `i8` values; `x = d · q`.
    Q8_0,
    /// Blocks of 32: f16 scale `d` and minimum `m`, 32 4-bit values; `x = d · q + m`.
    Q4_1,
    /// Another type, by id and name, that this reader cannot convert.
    Unsupported(u32, &'static str),
}

impl GgmlType {
    /// The type of ggml id `id`.
    pub fn from_id(id: u32) -> Self {
        match id {
            0 => Self::F32,
            1 => Self::F16,
            30 => Self::Bf16,
            8 => Self::Q8_0,
            3 => Self::Q4_1,
            other => Self::Unsupported(other, unsupported(other).0),
        }
    }

    /// ggml's name of the type.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Bf16 => "BF16",
            Self::Q8_0 => "Q8_0",
            Self::Q4_1 => "Q4_1",
            Self::Unsupported(_, name) => name,
        }
    }

    /// Bytes taken by `elements` values, or `None` for a type of unknown size or a count that
    /// is not a whole number of blocks.
    pub fn bytes_for(self, elements: usize) -> Option<usize> {
        let (block, block_bytes) = match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::Bf16 => (1, 2),
            Self::Q8_0 => (QUANT_BLOCK, 2 + QUANT_BLOCK),
            Self::Q4_1 => (QUANT_BLOCK, 4 + QUANT_BLOCK / 2),
            Self::Unsupported(id, _) => unsupported(id).1?,
        };
        elements
            .is_multiple_of(block)
            .then(|| elements / block)?
            .checked_mul(block_bytes)
    }

    /// `bytes` (exactly [`Self::bytes_for`] of the element count) as `f32` values. `None` for an
    /// unsupported type.
    pub fn dequantize(self, bytes: &[u8]) -> Option<Vec<f32>> {
        Some(match self {
            Self::F32 => convert(bytes, 4, 1, |b, out| {
                out[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]])
            }),
            Self::F16 => convert(bytes, 2, 1, |b, out| {
                out[0] = f16::from_le_bytes([b[0], b[1]]).to_f32()
            }),
            Self::Bf16 => convert(bytes, 2, 1, |b, out| {
                out[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32()
            }),
            Self::Q8_0 => convert(bytes, 2 + QUANT_BLOCK, QUANT_BLOCK, |b, out| {
                let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
                for (x, &q) in out.iter_mut().zip(&b[2..]) {
                    *x = d * f32::from(q as i8);
                }
            }),
            Self::Q4_1 => convert(bytes, 4 + QUANT_BLOCK / 2, QUANT_BLOCK, |b, out| {
                let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
                let m = f16::from_le_bytes([b[2], b[3]]).to_f32();
                // Low nibbles are the block's first 16 values, high nibbles the last 16.
                let (low, high) = out.split_at_mut(QUANT_BLOCK / 2);
                for ((lo, hi), &q) in low.iter_mut().zip(high).zip(&b[4..]) {
                    *lo = d * f32::from(q & 0x0f) + m;
                    *hi = d * f32::from(q >> 4) + m;
                }
            }),
            Self::Unsupported(..) => return None,
        })
    }
}

/// Decodes `bytes` block by block (`block_bytes` in, `block` values out), in parallel.
fn convert(
    bytes: &[u8],
    block_bytes: usize,
    block: usize,
    decode: impl Fn(&[u8], &mut [f32]) + Sync,
) -> Vec<f32> {
    let blocks = bytes.len() / block_bytes;
    let mut values = vec![0.0f32; blocks * block];
    // Chunks of 4096 blocks amortise the scheduling over a few hundred kilobytes.
    const CHUNK: usize = 4096;
    values
        .par_chunks_mut(CHUNK * block)
        .zip(bytes.par_chunks(CHUNK * block_bytes))
        .for_each(|(out, input)| {
            for (o, b) in out
                .chunks_exact_mut(block)
                .zip(input.chunks_exact(block_bytes))
            {
                decode(b, o);
            }
        });
    values
}

/// Values per block and bytes per block of a ggml type.
type BlockGeometry = (usize, usize);

/// The ggml types this reader does not convert: id, name, and values and bytes per block where
/// known (ggml's `type_traits`), so that their byte ranges are still checked.
const UNSUPPORTED: &[(u32, &str, Option<BlockGeometry>)] = &[
    (2, "Q4_0", Some((32, 18))),
    (6, "Q5_0", Some((32, 22))),
    (7, "Q5_1", Some((32, 24))),
    (9, "Q8_1", Some((32, 36))),
    (10, "Q2_K", Some((256, 84))),
    (11, "Q3_K", Some((256, 110))),
    (12, "Q4_K", Some((256, 144))),
    (13, "Q5_K", Some((256, 176))),
    (14, "Q6_K", Some((256, 210))),
    (15, "Q8_K", Some((256, 292))),
    (24, "I8", Some((1, 1))),
    (25, "I16", Some((1, 2))),
    (26, "I32", Some((1, 4))),
    (27, "I64", Some((1, 8))),
    (28, "F64", Some((1, 8))),
    (34, "TQ1_0", None),
    (35, "TQ2_0", None),
    (39, "MXFP4", None),
];

/// The entry of ggml type `id` in [`UNSUPPORTED`]: its name and geometry.
fn unsupported(id: u32) -> (&'static str, Option<BlockGeometry>) {
    match UNSUPPORTED.iter().find(|(known, ..)| *known == id) {
        Some(&(_, name, geometry)) => (name, geometry),
        None if (16..=23).contains(&id) || id == 29 => ("IQ (importance) quantisation", None),
        None => ("an unknown type", None),
    }
}
