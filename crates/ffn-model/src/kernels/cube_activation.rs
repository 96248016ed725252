//! Exact GELU and SiLU as CubeCL kernels for Burn's CubeCL backend (wgpu): one pass forward and
//! one backward, each reading only the activation's input (and the output gradient), with the
//! same formulas as the CPU kernels. Composed from Burn's operations instead, autodiff keeps
//! every intermediate of the formula for the backward pass; Burn's fusion still fuses the bias
//! addition into the matrix product before the activation.

use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::tensor::FloatTensor;
use burn::backend::{DispatchDevice, TensorMetadata};
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;
use cubecl::{CubeDim, calculate_cube_count_elemwise};

use super::activation::{ActivationKernels, FRAC_1_SQRT_2PI};

/// Whether `x` lives on a CubeCL device (wgpu, with or without autodiff).
pub(crate) fn on_cube<const D: usize>(x: &burn::Tensor<D>) -> bool {
    matches!(x.device().inner().as_dispatch(), DispatchDevice::Cube(_))
}

/// Which activation a kernel computes; fixed when the kernel is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Formula {
    Gelu,
    Silu,
}

impl ActivationKernels for CubeBackend {
    fn gelu_erf(x: FloatTensor<Self>) -> FloatTensor<Self> {
        launch(Formula::Gelu, x, None)
    }

    fn gelu_erf_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        launch(Formula::Gelu, x, Some(grad))
    }

    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        launch(Formula::Silu, x, None)
    }

    fn silu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        launch(Formula::Silu, x, Some(grad))
    }
}

/// `formula(x)`, or with `grad` the input gradient `grad · formula'(x)`, as a new contiguous
/// tensor of `x`'s shape and dtype. Strided inputs are made contiguous first.
fn launch(formula: Formula, x: CubeTensor, grad: Option<CubeTensor>) -> CubeTensor {
    let x = into_contiguous(x);
    let (client, dtype, shape) = (x.client.clone(), x.dtype, x.shape());
    let elements = shape.num_elements();
    let buffer = client.empty(elements * dtype.size());
    let output = CubeTensor::new_contiguous(client.clone(), x.device.clone(), shape, buffer, dtype);
    let cube_dim = CubeDim::new(&client, elements);
    let cube_count = calculate_cube_count_elemwise(&client, elements, cube_dim);
    // The forward pass binds `x` again in the gradient's place; the kernel does not read it.
    let backward = grad.is_some();
    let grad = match grad {
        Some(grad) => {
            assert_eq!(grad.shape(), output.shape(), "activation gradient shape");
            into_contiguous(grad)
        }
        None => x.clone(),
    };
    activation_kernel::launch(
        &client,
        cube_count,
        cube_dim,
        x.into_tensor_arg(),
        grad.into_tensor_arg(),
        output.clone().into_tensor_arg(),
        formula,
        backward,
        dtype_to_storage_type(dtype),
    );
    output
}

/// `output[i] = formula(x[i])`, or with `backward` the input gradient
/// `output[i] = grad[i] · formula'(x[i])`, over contiguous buffers, one element per unit.
#[cube(launch)]
fn activation_kernel<F: Float>(
    x: &Tensor<F>,
    grad: &Tensor<F>,
    output: &mut Tensor<F>,
    #[comptime] formula: Formula,
    #[comptime] backward: bool,
    #[define(F)] _dtype: ElemType,
) {
    if ABSOLUTE_POS >= output.len() {
        terminate!();
    }
    let v = x[ABSOLUTE_POS];
    output[ABSOLUTE_POS] = if backward {
        let slope = if comptime!(formula == Formula::Gelu) {
            gelu_slope::<F>(v)
        } else {
            silu_slope::<F>(v)
        };
        grad[ABSOLUTE_POS] * slope
    } else if comptime!(formula == Formula::Gelu) {
        gelu::<F>(v)
    } else {
        v * sigmoid_and_complement::<F>(v).0
    };
}

/// `0.5·x·(1 + erf(x/√2))`; CubeCL's `erf` is Abramowitz & Stegun's 7.1.26, as on the CPU.
#[cube]
fn gelu<F: Float>(x: F) -> F {
    let z = x * F::new(std::f32::consts::FRAC_1_SQRT_2);
    F::new(0.5) * x * (F::new(1.0) + F::erf(z))
}

/// `GELU'(x) = Φ(x) + x·φ(x)`.
#[cube]
fn gelu_slope<F: Float>(x: F) -> F {
    let z = x * F::new(std::f32::consts::FRAC_1_SQRT_2);
    let density = F::exp(-(z * z)) * F::new(DENSITY_AT_ZERO);
    F::new(0.5) * (F::new(1.0) + F::erf(z)) + x * density
}

/// `SiLU'(x) = s·(1 + x·(1 − s))` with `s = sigmoid(x)`.
#[cube]
fn silu_slope<F: Float>(x: F) -> F {
    let (s, complement) = sigmoid_and_complement::<F>(x);
    s * (F::new(1.0) + x * complement)
}

/// `(sigmoid(x), 1 − sigmoid(x))` from `e = exp(−|x|)`, which never overflows, and neither by
/// subtraction (as on the CPU).
#[cube]
fn sigmoid_and_complement<F: Float>(x: F) -> (F, F) {
    let e = F::exp(-F::abs(x));
    let large = F::new(1.0) / (F::new(1.0) + e);
    let small = e * large;
    let positive = x >= F::new(0.0);
    (
        select(positive, large, small),
        select(positive, small, large),
    )
}

/// `1/√(2π)` in `f32`.
const DENSITY_AT_ZERO: f32 = FRAC_1_SQRT_2PI as f32;

#[cfg(test)]
mod tests {
    use burn::backend::Dispatch;
    use burn::tensor::{Device, Distribution, Tensor, TensorData};

    use super::super::activation::{ActivationKernels, serves, tests::kernel_devices};

    /// The four kernels called directly on wgpu against the flex kernels, element for element
    /// within 1e-5·max(1, |value|), on normal inputs and on extremes (±3e38, ±100, ±1e-30, 0),
    /// including a strided (transposed) input.
    #[test]
    fn wgpu_kernels_match_flex_kernels() {
        let Some(gpu) = kernel_devices().into_iter().find(|d| *d != Device::flex()) else {
            return;
        };
        let cpu = Device::flex();
        let mut values: Vec<f32> =
            Tensor::<1>::random([4093], Distribution::Normal(0.0, 4.0), &cpu)
                .into_data()
                .try_to_vec()
                .unwrap();
        values.extend([3e38, -3e38, 100.0, -100.0, 1e-30, -1e-30, 0.0, 30.0, -30.0]);
        let rows = values.len() / 2;
        let shape = [2, rows];
        let grads: Vec<f32> = (0..2 * rows).map(|i| (i % 7) as f32 - 3.0).collect();
        let on = |device: &Device, data: &[f32], transpose: bool| {
            let t =
                Tensor::<2>::from_data(TensorData::new(data[..2 * rows].to_vec(), shape), device);
            let t = if transpose { t.transpose() } else { t };
            t.into_dispatch()
        };
        let read = |t| {
            Tensor::<2>::from_dispatch(t)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        assert!(serves(&Tensor::<2>::zeros(shape, &gpu)));
        assert!(serves(&Tensor::<2>::zeros(shape, &gpu.clone().autodiff())));
        for transpose in [false, true] {
            for name in ["gelu", "gelu'", "silu", "silu'"] {
                let run = |device: &Device| {
                    let (x, g) = (
                        on(device, &values, transpose),
                        on(device, &grads, transpose),
                    );
                    read(match name {
                        "gelu" => <Dispatch as ActivationKernels>::gelu_erf(x),
                        "gelu'" => <Dispatch as ActivationKernels>::gelu_erf_backward(x, g),
                        "silu" => <Dispatch as ActivationKernels>::silu(x),
                        _ => <Dispatch as ActivationKernels>::silu_backward(x, g),
                    })
                };
                let (want, got) = (run(&cpu), run(&gpu));
                assert_eq!(want.len(), got.len());
                for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                    let bound = 1e-5 * w.abs().max(1.0);
                    assert!(
                        (w - g).abs() <= bound,
                        "{name} #{i} (transposed {transpose}): wgpu {g}, flex {w}"
                    );
                }
            }
        }
    }
}
