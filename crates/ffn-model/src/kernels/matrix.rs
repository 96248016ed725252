//! Strided `f32` matrices inside flex tensors' buffers (or plain slices), and products of them
//! written into slices, for this crate's kernels.

use std::mem::MaybeUninit;

use burn::tensor::DType;
use burn_flex::FlexTensor;
use gemm::Parallelism;
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::sgemm;

/// A strided `f32` matrix: element `(r, c)` is `storage[offset + r·row_stride + c·col_stride]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Matrix<'a> {
    pub storage: &'a [f32],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: isize,
    pub col_stride: isize,
}

impl<'a> Matrix<'a> {
    /// The matrix view of a rank-2 `f32` tensor; `None` for other ranks and dtypes.
    pub fn of(t: &'a FlexTensor) -> Option<Self> {
        let layout = t.layout();
        let dims = layout.shape();
        if t.dtype() != DType::F32 || dims.num_dims() != 2 {
            return None;
        }
        let strides = layout.strides();
        Some(Self {
            storage: t.storage::<f32>(),
            offset: layout.start_offset(),
            rows: dims[0],
            cols: dims[1],
            row_stride: strides[0],
            col_stride: strides[1],
        })
    }

    /// The `[rows, cols]` matrix at index `(i, j)` of the two leading axes of a rank-4 `f32`
    /// tensor `[n0, n1, rows, cols]`; `None` for other ranks and dtypes.
    pub fn inner(t: &'a FlexTensor, i: usize, j: usize) -> Option<Self> {
        let layout = t.layout();
        let dims = layout.shape();
        if t.dtype() != DType::F32 || dims.num_dims() != 4 || i >= dims[0] || j >= dims[1] {
            return None;
        }
        let strides = layout.strides();
        let offset =
            layout.start_offset() as isize + i as isize * strides[0] + j as isize * strides[1];
        Some(Self {
            storage: t.storage::<f32>(),
            offset: usize::try_from(offset).ok()?,
            rows: dims[2],
            cols: dims[3],
            row_stride: strides[2],
            col_stride: strides[3],
        })
    }

    /// A row-major `[rows, cols]` matrix in `values`.
    pub fn dense(values: &'a [f32], rows: usize, cols: usize) -> Self {
        debug_assert_eq!(values.len(), rows * cols);
        Self {
            storage: values,
            offset: 0,
            rows,
            cols,
            row_stride: cols as isize,
            col_stride: 1,
        }
    }

    /// The transpose, as a view.
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Rows `first..first + rows`, as a view (`first + rows` at most `self.rows`).
    pub fn rows_from(self, first: usize, rows: usize) -> Self {
        debug_assert!(first + rows <= self.rows);
        let offset = self.offset as isize + first as isize * self.row_stride;
        Self {
            offset: offset as usize,
            rows,
            ..self
        }
    }

    /// Whether every element lies inside `storage`.
    fn in_bounds(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let corner = |r: usize, c: usize| {
            self.offset as isize + r as isize * self.row_stride + c as isize * self.col_stride
        };
        let ends = [
            corner(0, 0),
            corner(self.rows - 1, 0),
            corner(0, self.cols - 1),
            corner(self.rows - 1, self.cols - 1),
        ];
        ends.iter()
            .all(|&e| e >= 0 && (e as usize) < self.storage.len())
    }

    pub fn ptr(&self) -> *const f32 {
        self.storage.as_ptr().wrapping_add(self.offset)
    }
}

/// What a product's destination starts as, before `alpha · lhs·rhs` is added.
#[derive(Debug, Clone, Copy)]
pub(super) enum Start<'a> {
    /// Nothing: the destination is overwritten (and may be uninitialised).
    Zero,
    /// The values the destination holds.
    Held,
    /// Every row a copy of this bias (one value per column).
    Bias(&'a [f32]),
}

impl<'a> Start<'a> {
    /// This start for the columns from `col` on.
    pub fn at_column(self, col: usize) -> Self {
        match self {
            Start::Bias(bias) => Start::Bias(&bias[col..]),
            other => other,
        }
    }
}

/// `dst = alpha · lhs·rhs` (plus what `dst` held, when `accumulate`), `dst` a row-major
/// `[lhs.rows, rhs.cols]` slice; on the calling thread (callers parallelise over products).
pub(super) fn product_into(
    dst: &mut [f32],
    lhs: Matrix,
    rhs: Matrix,
    alpha: f32,
    accumulate: bool,
) {
    let (m, n) = (lhs.rows, rhs.cols);
    assert_eq!(dst.len(), m * n, "matrix product of mismatched shapes");
    let window = Window {
        offset: 0,
        row_stride: n,
    };
    // SAFETY: `dst` is borrowed exclusively for the call.
    unsafe { product_into_window(SharedBuffer::of(dst), window, lhs, rhs, alpha, accumulate) };
}

/// A buffer that parallel tasks fill through disjoint [`Window`]s.
#[derive(Clone, Copy)]
pub(super) struct SharedBuffer {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: a `SharedBuffer` only hands out windows, which its users keep disjoint between tasks.
unsafe impl Send for SharedBuffer {}
// SAFETY: as above.
unsafe impl Sync for SharedBuffer {}

impl SharedBuffer {
    /// The buffer of `values`, which must not be used otherwise while tasks fill it.
    pub fn of(values: &mut [f32]) -> Self {
        Self {
            ptr: values.as_mut_ptr(),
            len: values.len(),
        }
    }
}

/// A row-major window of a buffer: row `r` starts at `offset + r·row_stride`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub offset: usize,
    pub row_stride: usize,
}

/// [`product_into`] for the `[lhs.rows, rhs.cols]` `window` of `dst`.
///
/// # Safety
/// No other thread reads or writes the window's elements during the call.
pub(super) unsafe fn product_into_window(
    dst: SharedBuffer,
    window: Window,
    lhs: Matrix,
    rhs: Matrix,
    alpha: f32,
    accumulate: bool,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    let fits = m == 0
        || n == 0
        || (n <= window.row_stride
            && (m - 1)
                .checked_mul(window.row_stride)
                .and_then(|last| last.checked_add(window.offset)?.checked_add(n))
                .is_some_and(|end| end <= dst.len));
    assert!(
        lhs.cols == rhs.rows && fits && lhs.in_bounds() && rhs.in_bounds(),
        "matrix product of mismatched shapes"
    );
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the window lies inside the buffer (checked above).
    let first = unsafe { dst.ptr.add(window.offset) };
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                // SAFETY: row `r` of the window lies inside the buffer, and no one else uses it.
                unsafe { std::slice::from_raw_parts_mut(first.add(r * window.row_stride), n) }
                    .fill(0.0);
            }
        }
        return;
    }
    // SAFETY: the window lies inside the buffer with its row stride, and is this call's alone;
    // both operands were checked to lie inside their storage above, so every element gemm reads
    // is in bounds.
    unsafe {
        gemm_into(
            first,
            window.row_stride,
            lhs,
            rhs,
            alpha,
            if accumulate { Start::Held } else { Start::Zero },
            Parallelism::None,
        )
    };
}

/// Every `row.len()`-long row of `dst` set to `row`, over the rayon pool.
pub(super) fn fill_rows(dst: &mut [MaybeUninit<f32>], row: &[f32]) {
    dst.par_chunks_mut(row.len().max(1))
        .with_min_len(64)
        .for_each(|slots| {
            slots.write_copy_of_slice(row);
        });
}

/// The smallest dimension, and the fewest multiply-adds, from which [`sgemm`] computes a product
/// (on the CPUs it serves); smaller ones (matrix-vector products, attention heads) stay with
/// `gemm`, whose kernels handle them without packing.
const OWN_PRODUCT_MIN: usize = 16;
const OWN_PRODUCT_MULTIPLY_ADDS: usize = 128 * 128 * 128;

/// `dst = start + alpha · lhs·rhs`, `dst` row-major `[lhs.rows, rhs.cols]` with row stride
/// `dst_row_stride`; `lhs.cols == rhs.rows`, all three positive, a bias of `rhs.cols` values.
///
/// # Safety
/// `dst` must be valid for writes of the `lhs.rows × rhs.cols` window (and initialised for reads
/// with [`Start::Held`]), and every element the operands' pointers and strides address must lie
/// inside live buffers.
pub(super) unsafe fn gemm_into(
    dst: *mut f32,
    dst_row_stride: usize,
    lhs: Matrix,
    rhs: Matrix,
    alpha: f32,
    start: Start,
    parallelism: Parallelism,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    if let Start::Bias(bias) = start {
        assert_eq!(bias.len(), n, "a bias of another width than the product");
    }
    #[cfg(target_arch = "x86_64")]
    if sgemm::serves_this_cpu()
        && m.min(n).min(k) >= OWN_PRODUCT_MIN
        && m * n * k >= OWN_PRODUCT_MULTIPLY_ADDS
    {
        let parallel = !matches!(parallelism, Parallelism::None);
        // SAFETY: the CPU has AVX2 and FMA (checked); the rest as the caller guarantees.
        return unsafe { sgemm::sgemm(dst, dst_row_stride, lhs, rhs, alpha, start, parallel) };
    }
    if let Start::Bias(bias) = start {
        assert_eq!(
            dst_row_stride, n,
            "a bias start into a window of a wider buffer"
        );
        // SAFETY: `dst` is valid for writes of `m·n` values (caller; the rows are contiguous).
        let rows = unsafe { std::slice::from_raw_parts_mut(dst.cast::<MaybeUninit<f32>>(), m * n) };
        fill_rows(rows, bias);
    }
    // SAFETY: as the caller guarantees.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row_stride as isize,
            !matches!(start, Start::Zero),
            lhs.ptr(),
            lhs.col_stride,
            lhs.row_stride,
            rhs.ptr(),
            rhs.col_stride,
            rhs.row_stride,
            1.0,
            alpha,
            false,
            false,
            false,
            parallelism,
        );
    }
}
