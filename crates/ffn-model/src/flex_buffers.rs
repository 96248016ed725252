//! Reading and making `f32` flex tensors for this crate's CPU kernels.

use burn::tensor::{Shape, TensorData};
use burn_flex::FlexTensor;

/// The values of an `f32` tensor stored contiguously; `None` for other dtypes or strided views,
/// which the kernels leave to flex's own implementation.
pub(crate) fn f32_contiguous(x: &FlexTensor) -> Option<&[f32]> {
    x.as_slice::<f32>()
}

/// A contiguous tensor of `shape` holding `values`, taking the buffer as it is (no copy).
pub(crate) fn from_values(shape: impl Into<Shape>, values: Vec<f32>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}
