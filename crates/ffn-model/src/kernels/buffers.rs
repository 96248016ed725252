//! Flex tensors for this crate's CPU kernels: which tensors the kernels serve, and making `f32`
//! tensors from their output buffers.

use burn::tensor::{Device, Shape, Tensor, TensorData};
use burn_flex::FlexTensor;

/// Whether `x` lives on a flex device (with or without autodiff), the backend the kernels
/// implement; other backends keep Burn's operations.
pub(crate) fn on_flex<const D: usize>(x: &Tensor<D>) -> bool {
    x.device().inner() == Device::flex()
}

/// A contiguous tensor of `shape` holding `values`, taking the buffer as it is (no copy).
pub(crate) fn from_values(shape: impl Into<Shape>, values: Vec<f32>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}
