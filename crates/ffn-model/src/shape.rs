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
