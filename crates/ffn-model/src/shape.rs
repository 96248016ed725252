//! Input-shape checks that turn a wrong tensor into a [`ModelError`] naming the layer.

use burn::tensor::Tensor;

use crate::ModelError;

/// Fails unless the last axis of `x` has size `expected`; `layer` names the layer in the error.
pub(crate) fn check_last_dim<const D: usize>(
    layer: impl FnOnce() -> String,
    x: &Tensor<D>,
    expected: usize,
) -> Result<(), ModelError> {
    let dims = x.dims();
    if dims.last() == Some(&expected) {
        Ok(())
    } else {
        Err(ModelError::InputShape {
            layer: layer(),
            expected: format!("[.., {expected}]"),
            actual: dims.to_vec(),
        })
    }
}

/// Applies `f` to `x` `[.., d]` viewed as one matrix `[rows, d]` and gives the result back the
/// leading axes of `x`: `[.., d_out]`. Dense layers use it so that a `[batch, seq, d]` input runs
/// as one matrix product, whose weight gradient is one product too (a batched product would
/// compute a `[batch, d, d_out]` gradient per sequence and then sum it). An input without rows
/// gives an empty output of the right shape: `reshape` reads a 0 in a target shape as "keep this
/// axis", so empty shapes are built, not reshaped to.
pub(crate) fn map_rows<const D: usize>(
    x: Tensor<D>,
    f: impl FnOnce(Tensor<2>) -> Tensor<2>,
) -> Tensor<D> {
    let mut dims = x.dims();
    let d = dims[D - 1];
    let rows = dims[..D - 1].iter().product();
    if rows == 0 {
        let device = x.device();
        dims[D - 1] = f(Tensor::empty([0, d], &device)).dims()[1];
        return Tensor::empty(dims, &device);
    }
    let out = f(x.reshape([rows, d]));
    dims[D - 1] = out.dims()[1];
    out.reshape(dims)
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    /// Leading axes of size 0 stay 0 (plain `reshape` would read them as "keep this axis").
    #[test]
    fn map_rows_keeps_empty_leading_axes() {
        let device = Device::flex();
        let w = Tensor::<2>::ones([3, 4], &device);
        for dims in [[5, 0, 3], [0, 0, 3], [0, 7, 3]] {
            let x = Tensor::<3>::zeros(dims, &device);
            let out = map_rows(x, |rows| rows.matmul(w.clone()));
            assert_eq!(out.dims(), [dims[0], dims[1], 4]);
        }
        let x = Tensor::<3>::ones([2, 3, 3], &device);
        let out = map_rows(x, |rows| rows.matmul(w.clone()));
        assert_eq!(out.dims(), [2, 3, 4]);
        assert_eq!(out.sum().into_scalar::<f32>(), 2.0 * 3.0 * 4.0 * 3.0);
    }
}
