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
/// compute a `[batch, d, d_out]` gradient per sequence and then sum it).
pub(crate) fn map_rows<const D: usize>(
    x: Tensor<D>,
    f: impl FnOnce(Tensor<2>) -> Tensor<2>,
) -> Tensor<D> {
    let mut dims = x.dims();
    let d = dims[D - 1];
    let rows = dims[..D - 1].iter().product();
    let out = f(x.reshape([rows, d]));
    dims[D - 1] = out.dims()[1];
    out.reshape(dims)
}
