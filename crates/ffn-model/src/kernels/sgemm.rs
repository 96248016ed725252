//! An `f32` matrix product for x86-64 CPUs with AVX2 and FMA but without AVX-512, where the
//! `gemm` crate's kernels leave about a tenth of the machine's speed unused (measured on an AMD
//! EPYC, Zen 3). The structure is the classic blocked one (Goto and van de Geijn, "Anatomy of
//! high-performance matrix multiplication", ACM TOMS 2008): panels of the operands are packed
//! into cache-sized buffers and a 6 × 16 register tile is computed with broadcasts and FMAs,
//! with the destination tile prefetched before its inner loop. Several threads each take a
//! band of the output, with no synchronisation between them.

use std::arch::x86_64::*;
use std::cell::RefCell;

use rayon::prelude::*;

use super::matrix::{Matrix, Start};

/// Rows of the register tile.
const MR: usize = 6;
/// Columns of the register tile: two AVX vectors.
const NR: usize = 16;
/// Depth of a packed panel: a `[KC, NR]` panel of the right operand (16 KiB) stays in L1.
const KC: usize = 256;
/// Rows of a packed block of the left operand: `[MC, KC]` (144 KiB) stays in L2.
const MC: usize = 144;
/// Columns of a packed block of the right operand: `[KC, NC]` (4 MiB) stays in L3.
const NC: usize = 4080;

/// Whether this product serves the CPU: AVX2 and FMA without AVX-512 (where `gemm`'s AVX-512
/// kernels are the faster choice).
pub(super) fn serves_this_cpu() -> bool {
    // The standard library caches the detection: these are loads, not `cpuid` calls.
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && !is_x86_feature_detected!("avx512f")
}

/// `dst = start + alpha · lhs·rhs`, `dst` row-major `[lhs.rows, rhs.cols]` with row stride
/// `dst_row_stride`; over the rayon pool's threads when `parallel`. A bias start is added in the
/// first pass over the output, not written beforehand.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `dst` must be valid for writes of the `lhs.rows ×
/// rhs.cols` window (and initialised for reads with [`Start::Held`]), and every element the
/// operands' pointers and strides address must lie inside live buffers. `lhs.cols == rhs.rows`,
/// and a bias holds `rhs.cols` values.
pub(super) unsafe fn sgemm(
    dst: *mut f32,
    dst_row_stride: usize,
    lhs: Matrix,
    rhs: Matrix,
    alpha: f32,
    start: Start,
    parallel: bool,
) {
    let (m, n) = (lhs.rows, rhs.cols);
    let out = Out {
        ptr: dst,
        row_stride: dst_row_stride,
    };
    let threads = if parallel {
        rayon::current_num_threads()
    } else {
        1
    };
    if threads <= 1 {
        // SAFETY: as the caller guarantees.
        return unsafe { sgemm_band(out, lhs, rhs, alpha, start) };
    }
    super::warm::keep_warm();
    // Bands of rows (or of columns, for wide outputs), aligned to the register tile.
    let by_rows = m >= n;
    let (len, tile) = if by_rows { (m, MR) } else { (n, NR) };
    let band = len.div_ceil(threads).next_multiple_of(tile);
    (0..len.div_ceil(band)).into_par_iter().for_each(|i| {
        let (first, count) = (i * band, band.min(len - i * band));
        let (out, lhs, rhs, start) = if by_rows {
            (
                out.offset(first, 0),
                lhs.rows_from(first, count),
                rhs,
                start,
            )
        } else {
            let rhs = rhs.t().rows_from(first, count).t();
            (out.offset(0, first), lhs, rhs, start.at_column(first))
        };
        // SAFETY: the bands are disjoint parts of `dst`, and their operands sub-matrices of the
        // caller's, so the caller's guarantees hold for each band.
        unsafe { sgemm_band(out, lhs, rhs, alpha, start) }
    });
}

/// The destination of a product: a row-major window with its row stride.
#[derive(Clone, Copy)]
struct Out {
    ptr: *mut f32,
    row_stride: usize,
}

// SAFETY: an `Out` is only a window of a buffer; the product hands disjoint windows to threads.
unsafe impl Send for Out {}
// SAFETY: as above.
unsafe impl Sync for Out {}

impl Out {
    fn offset(self, row: usize, col: usize) -> Self {
        Self {
            ptr: self.ptr.wrapping_add(row * self.row_stride + col),
            ..self
        }
    }
}

thread_local! {
    /// Each thread's packing buffers, kept between products.
    static PACKED: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The product on the calling thread.
///
/// # Safety
/// As [`sgemm`]'s.
unsafe fn sgemm_band(out: Out, lhs: Matrix, rhs: Matrix, alpha: f32, start: Start) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    PACKED.with_borrow_mut(|(packed_lhs, packed_rhs)| {
        packed_lhs.resize(MC * KC, 0.0);
        packed_rhs.resize(KC * NC.min(n.next_multiple_of(NR)), 0.0);
        for col in (0..n).step_by(NC) {
            let nc = NC.min(n - col);
            for depth in (0..k).step_by(KC) {
                let kc = KC.min(k - depth);
                // SAFETY: the block lies inside `rhs`; the buffer holds `kc × nc` rounded up.
                unsafe { pack_rhs(packed_rhs, rhs, depth, kc, col, nc) };
                // Later depth blocks add to what the first wrote.
                let start = if depth == 0 { start } else { Start::Held };
                for row in (0..m).step_by(MC) {
                    let mc = MC.min(m - row);
                    // SAFETY: as above, for `lhs`.
                    unsafe { pack_lhs(packed_lhs, lhs, row, mc, depth, kc) };
                    for j in (0..nc).step_by(NR) {
                        for i in (0..mc).step_by(MR) {
                            let tile = out.offset(row + i, col + j);
                            // SAFETY: the panels hold `kc` steps each; the tile lies inside
                            // `dst` and is `min(MR, mc − i) × min(NR, nc − j)`.
                            unsafe {
                                tile_kernel(
                                    kc,
                                    packed_lhs.as_ptr().add(i * kc),
                                    packed_rhs.as_ptr().add(j * kc),
                                    tile,
                                    [MR.min(mc - i), NR.min(nc - j)],
                                    alpha,
                                    start.at_column(col + j),
                                )
                            };
                        }
                    }
                }
            }
        }
    });
}

/// Packs `lhs[row.., depth..]` (`mc × kc`) into panels of `MR` rows, each stored step by step
/// (`[kc][MR]`), the last panel padded with zeros.
///
/// # Safety
/// The block must lie inside `lhs`'s buffer.
unsafe fn pack_lhs(dst: &mut [f32], lhs: Matrix, row: usize, mc: usize, depth: usize, kc: usize) {
    assert!(dst.len() >= mc.next_multiple_of(MR) * kc);
    let at = |r: usize, p: usize| {
        lhs.ptr()
            .wrapping_offset((row + r) as isize * lhs.row_stride)
            .wrapping_offset((depth + p) as isize * lhs.col_stride)
    };
    for first in (0..mc).step_by(MR) {
        let rows = MR.min(mc - first);
        let panel = &mut dst[first * kc..(first + MR) * kc];
        if lhs.row_stride == 1 && rows == MR {
            // Columns are contiguous: MR values per step.
            for (p, step) in panel.chunks_exact_mut(MR).enumerate() {
                // SAFETY: the MR values of column `depth + p` lie inside `lhs` (caller).
                step.copy_from_slice(unsafe { std::slice::from_raw_parts(at(first, p), MR) });
            }
            continue;
        }
        if lhs.col_stride == 1 && rows == MR {
            // Rows are contiguous: transposed in registers.
            // SAFETY: the MR rows of `kc` values lie inside `lhs` (caller); AVX2 (sgemm's).
            unsafe { pack_transposed::<MR>(panel, at(first, 0), lhs.row_stride, kc) };
            continue;
        }
        for r in 0..MR {
            for p in 0..kc {
                // SAFETY: rows below `rows` lie inside `lhs` (caller).
                panel[p * MR + r] = if r < rows {
                    unsafe { *at(first + r, p) }
                } else {
                    0.0
                };
            }
        }
    }
}

/// Packs `rhs[depth.., col..]` (`kc × nc`) into panels of `NR` columns, each stored step by step
/// (`[kc][NR]`), the last panel padded with zeros.
///
/// # Safety
/// The block must lie inside `rhs`'s buffer.
unsafe fn pack_rhs(dst: &mut [f32], rhs: Matrix, depth: usize, kc: usize, col: usize, nc: usize) {
    assert!(dst.len() >= nc.next_multiple_of(NR) * kc);
    for first in (0..nc).step_by(NR) {
        let cols = NR.min(nc - first);
        let panel = &mut dst[first * kc..(first + NR) * kc];
        // Element `(depth, col + first)`, where the panel's first step starts.
        let corner = rhs
            .ptr()
            .wrapping_offset(depth as isize * rhs.row_stride)
            .wrapping_offset((col + first) as isize * rhs.col_stride);
        if rhs.row_stride == 1 && cols == NR {
            // Columns are contiguous (a transposed row-major matrix): transposed in registers.
            // SAFETY: the NR columns of `kc` values lie inside `rhs` (caller); AVX2 (sgemm's).
            unsafe { pack_transposed::<NR>(panel, corner, rhs.col_stride, kc) };
            continue;
        }
        for (p, step) in panel.chunks_exact_mut(NR).enumerate() {
            let start = corner.wrapping_offset(p as isize * rhs.row_stride);
            if rhs.col_stride == 1 && cols == NR {
                // SAFETY: the NR values of row `depth + p` lie inside `rhs` (caller).
                step.copy_from_slice(unsafe { std::slice::from_raw_parts(start, NR) });
            } else {
                for (c, value) in step.iter_mut().enumerate() {
                    *value = if c < cols {
                        // SAFETY: columns below `cols` lie inside `rhs` (caller).
                        unsafe { *start.wrapping_offset(c as isize * rhs.col_stride) }
                    } else {
                        0.0
                    };
                }
            }
        }
    }
}

/// Packs `W` lines of `kc` contiguous values each (line `l` starts at `first + l·line_stride`)
/// as a panel `[kc][W]`: value `p` of line `l` goes to `panel[p·W + l]`. Eight steps at a time,
/// each group of eight lines is transposed in registers (a narrower group is padded with zero
/// lines whose lanes the next step's store overwrites); the remaining steps go one by one.
///
/// # Safety
/// AVX2; the `W` lines of `kc` values lie inside live memory; `panel` holds `kc · W` values.
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_transposed<const W: usize>(
    panel: &mut [f32],
    first: *const f32,
    line_stride: isize,
    kc: usize,
) {
    assert!(panel.len() >= kc * W);
    let line = |l: usize| first.wrapping_offset(l as isize * line_stride);
    // A group narrower than eight stores two lanes past its last step: stop before the end.
    let vector_steps = match W % 8 {
        0 => kc / 8 * 8,
        _ => kc.saturating_sub(1) / 8 * 8,
    };
    for p in (0..vector_steps).step_by(8) {
        for group in (0..W).step_by(8) {
            let mut lines = [_mm256_setzero_ps(); 8];
            for (l, values) in lines.iter_mut().enumerate().take(W - group) {
                // SAFETY: steps `p..p + 8` of line `group + l` lie inside the lines (caller).
                *values = unsafe { _mm256_loadu_ps(line(group + l).add(p)) };
            }
            for (j, step) in transpose8(lines).into_iter().enumerate() {
                // SAFETY: the eight lanes end within `panel` (the bound of `vector_steps`).
                unsafe { _mm256_storeu_ps(panel.as_mut_ptr().add((p + j) * W + group), step) };
            }
        }
    }
    for p in vector_steps..kc {
        for l in 0..W {
            // SAFETY: step `p` of line `l` lies inside the lines (caller).
            panel[p * W + l] = unsafe { *line(l).add(p) };
        }
    }
}

/// The transpose of an 8 × 8 block held as eight rows: result `j` holds element `j` of every row.
#[target_feature(enable = "avx2,fma")]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    // Pairs of rows interleaved, then quadruples within each 128-bit half, then the halves.
    let t = [
        _mm256_unpacklo_ps(r[0], r[1]),
        _mm256_unpackhi_ps(r[0], r[1]),
        _mm256_unpacklo_ps(r[2], r[3]),
        _mm256_unpackhi_ps(r[2], r[3]),
        _mm256_unpacklo_ps(r[4], r[5]),
        _mm256_unpackhi_ps(r[4], r[5]),
        _mm256_unpacklo_ps(r[6], r[7]),
        _mm256_unpackhi_ps(r[6], r[7]),
    ];
    let s = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    [
        _mm256_permute2f128_ps::<0x20>(s[0], s[4]),
        _mm256_permute2f128_ps::<0x20>(s[1], s[5]),
        _mm256_permute2f128_ps::<0x20>(s[2], s[6]),
        _mm256_permute2f128_ps::<0x20>(s[3], s[7]),
        _mm256_permute2f128_ps::<0x31>(s[0], s[4]),
        _mm256_permute2f128_ps::<0x31>(s[1], s[5]),
        _mm256_permute2f128_ps::<0x31>(s[2], s[6]),
        _mm256_permute2f128_ps::<0x31>(s[3], s[7]),
    ]
}

/// One `MR × NR` tile: `tile = start + alpha · Σ_p a[p]·b[p]`, of which the `[rows, cols]` corner
/// is stored.
///
/// # Safety
/// AVX2 and FMA; `a` and `b` hold `kc` steps of `MR` and `NR` values; the corner of `tile` lies
/// inside the destination (initialised with [`Start::Held`]); a bias holds at least `cols`
/// values.
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_kernel(
    kc: usize,
    a: *const f32,
    b: *const f32,
    tile: Out,
    [rows, cols]: [usize; 2],
    alpha: f32,
    start: Start,
) {
    let c = tile.ptr;
    let stride = tile.row_stride;
    // SAFETY: the caller's guarantees cover every pointer below.
    unsafe {
        // The destination rows are scattered in memory: ask for them before the loop.
        for r in 0..rows {
            _mm_prefetch::<_MM_HINT_T0>(c.add(r * stride).cast());
            _mm_prefetch::<_MM_HINT_T0>(c.add(r * stride + NR - 1).cast());
        }
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            for (r, acc) in acc.iter_mut().enumerate() {
                let ar = _mm256_broadcast_ss(&*a.add(r));
                acc[0] = _mm256_fmadd_ps(ar, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(ar, b1, acc[1]);
            }
            a = a.add(MR);
            b = b.add(NR);
        }
        let scale = _mm256_set1_ps(alpha);
        if rows == MR && cols == NR {
            for (r, acc) in acc.iter().enumerate() {
                let row = c.add(r * stride);
                let mut low = _mm256_mul_ps(acc[0], scale);
                let mut high = _mm256_mul_ps(acc[1], scale);
                let base = match start {
                    Start::Zero => None,
                    Start::Held => Some(row.cast_const()),
                    Start::Bias(bias) => Some(bias.as_ptr()),
                };
                if let Some(base) = base {
                    low = _mm256_add_ps(low, _mm256_loadu_ps(base));
                    high = _mm256_add_ps(high, _mm256_loadu_ps(base.add(8)));
                }
                _mm256_storeu_ps(row, low);
                _mm256_storeu_ps(row.add(8), high);
            }
        } else {
            let mut values = [0.0f32; MR * NR];
            for (r, acc) in acc.iter().enumerate() {
                _mm256_storeu_ps(
                    values.as_mut_ptr().add(r * NR),
                    _mm256_mul_ps(acc[0], scale),
                );
                _mm256_storeu_ps(
                    values.as_mut_ptr().add(r * NR + 8),
                    _mm256_mul_ps(acc[1], scale),
                );
            }
            for r in 0..rows {
                for j in 0..cols {
                    let slot = c.add(r * stride + j);
                    let value = values[r * NR + j];
                    *slot = match start {
                        Start::Zero => value,
                        Start::Held => *slot + value,
                        Start::Bias(bias) => bias[j] + value,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `alpha·lhs·rhs (+ start)` in `f64`, element by element, with the rounding-error bound of
    /// an `f32` sum of those terms, `k·u·(|alpha|·Σ|a·b| + |start|)` with `u = 2⁻²⁴` (Higham,
    /// Accuracy and Stability of Numerical Algorithms, §3.1), plus one rounding of the result.
    fn reference(lhs: &Matrix, rhs: &Matrix, alpha: f32, start: &[f32]) -> Vec<(f64, f64)> {
        let at = |m: &Matrix, r: usize, c: usize| {
            m.storage[(m.offset as isize + r as isize * m.row_stride + c as isize * m.col_stride)
                as usize] as f64
        };
        let mut out = Vec::with_capacity(lhs.rows * rhs.cols);
        for r in 0..lhs.rows {
            for c in 0..rhs.cols {
                let terms = (0..lhs.cols).map(|p| at(lhs, r, p) * at(rhs, p, c));
                let (dot, size) = terms.fold((0.0, 0.0), |(d, s), t| (d + t, s + t.abs()));
                let init = start[r * rhs.cols + c] as f64;
                let value = alpha as f64 * dot + init;
                let unit = f32::EPSILON as f64 / 2.0;
                let bound = (lhs.cols + 2) as f64 * unit * (alpha.abs() as f64 * size + init.abs());
                out.push((value, bound + unit * value.abs()));
            }
        }
        out
    }

    /// Products of shapes around the tile and block sizes (edges in every dimension, several
    /// depth blocks, bands over threads), with operands row-major, transposed and flipped
    /// (negative strides), scaled, accumulated and started from a bias (the output starting as
    /// NaN where it is to be overwritten), on one thread and on the pool: each element within
    /// the rounding-error bound of the `f64` reference.
    #[test]
    fn products_match_the_f64_reference() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return;
        }
        let shapes = [
            (1, 1, 1),
            (6, 16, 16),
            (7, 17, 5),
            (13, 300, 33),
            (150, 513, 70),
            (37, 64, 260),
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut random = |len: usize| -> Vec<f32> {
            (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % 2001) as f32 / 1000.0 - 1.0
                })
                .collect()
        };
        for (m, k, n) in shapes {
            let (a, b) = (random(m * k), random(k * n));
            let layouts: [(&str, Matrix, Matrix); 3] = [
                (
                    "row-major",
                    Matrix::dense(&a, m, k),
                    Matrix::dense(&b, k, n),
                ),
                (
                    "transposed",
                    Matrix::dense(&a, k, m).t(),
                    Matrix::dense(&b, n, k).t(),
                ),
                ("flipped", flipped(&a, m, k), flipped(&b, k, n)),
            ];
            for (layout, lhs, rhs) in layouts {
                let (held, bias) = (random(m * n), random(n));
                let bias_rows = bias.repeat(m);
                for (alpha, start, parallel) in [
                    (1.0, Start::Zero, false),
                    (-0.5, Start::Held, true),
                    (2.0, Start::Zero, true),
                    (0.5, Start::Bias(&bias), false),
                    (1.0, Start::Bias(&bias), true),
                ] {
                    let (mut out, initial) = match start {
                        Start::Zero => (vec![f32::NAN; m * n], vec![0.0; m * n]),
                        Start::Held => (held.clone(), held.clone()),
                        Start::Bias(_) => (vec![f32::NAN; m * n], bias_rows.clone()),
                    };
                    // SAFETY: AVX2 and FMA checked above; `out` holds `m·n` values, the
                    // operands are views inside `a` and `b`, the bias holds `n` values.
                    unsafe { sgemm(out.as_mut_ptr(), n, lhs, rhs, alpha, start, parallel) };
                    let want = reference(&lhs, &rhs, alpha, &initial);
                    for (i, (got, (want, bound))) in out.iter().zip(&want).enumerate() {
                        assert!(
                            (*got as f64 - want).abs() <= *bound,
                            "{m}x{k}x{n} {layout} alpha {alpha} {start:?}: [{i}] {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// The `[rows, cols]` matrix whose element `(r, c)` is `values[(rows−1−r)·cols + cols−1−c]`:
    /// both strides negative.
    fn flipped(values: &[f32], rows: usize, cols: usize) -> Matrix<'_> {
        Matrix {
            storage: values,
            offset: values.len() - 1,
            rows,
            cols,
            row_stride: -(cols as isize),
            col_stride: -1,
        }
    }
}
