//! Integration tests of ffn-model, in one binary so Burn is linked once.

mod activation;
mod backends;
mod gguf;
mod gradients;
mod hand_computed;
mod hf_import;
mod lm;
mod lora;
mod moe;
mod persistence;
mod shapes;
mod sharded;
mod torch_reference;

use std::sync::OnceLock;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;

/// The reference CPU device of the tests.
pub fn flex() -> Device {
    Device::flex()
}

/// The ndarray CPU device (deprecated in Burn 0.22, still a supported backend of ffn).
#[allow(deprecated)]
pub fn ndarray() -> Device {
    Device::ndarray()
}

/// The wgpu device when a Vulkan (or other) adapter exists on this machine, else `None`.
/// `FFN_REQUIRE_WGPU=1` turns a missing adapter into a test failure (CI sets it).
pub fn wgpu() -> Option<Device> {
    static DEVICE: OnceLock<Option<Device>> = OnceLock::new();
    DEVICE
        .get_or_init(|| match Device::wgpu_options().init() {
            Ok(device) => Some(device),
            Err(error) => {
                assert!(
                    std::env::var("FFN_REQUIRE_WGPU").is_err(),
                    "FFN_REQUIRE_WGPU is set but no wgpu adapter is available: {error}"
                );
                eprintln!("skipping wgpu checks: {error}");
                None
            }
        })
        .clone()
}

/// A tensor from `f64` values and a shape.
pub fn tensor<const D: usize>(values: &[f64], shape: [usize; D], device: &Device) -> Tensor<D> {
    let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// The values of a tensor as `f32`.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .expect("float tensor")
}

/// Sets a linear layer's parameters from PyTorch-layout values: weight `[out, in]`, bias `[out]`.
pub fn set_linear(linear: &mut Linear, weight: &[f64], bias: Option<&[f64]>, device: &Device) {
    let [d_input, d_output] = linear.weight.shape().dims::<2>();
    let w = tensor(weight, [d_output, d_input], device).transpose();
    linear.weight = Param::from_tensor(w);
    linear.bias = bias.map(|b| Param::from_tensor(tensor(b, [d_output], device)));
}

/// Asserts `|a - b| <= abs + rel * |b|` element-wise, naming the first offending index.
#[track_caller]
pub fn assert_close(actual: &[f32], expected: &[f64], abs: f64, rel: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let a = a as f64;
        assert!(
            a.is_finite() == e.is_finite() && (a - e).abs() <= abs + rel * e.abs(),
            "{what}[{i}]: got {a}, expected {e} (abs {abs}, rel {rel})"
        );
    }
}

/// The numbers of a JSON array.
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}
