//! Activations as fused multi-threaded SIMD kernels on the flex CPU backend: exact GELU,
//! `0.5·x·(1 + erf(x/√2))`, and SiLU, `x·sigmoid(x)` (SwiGLU's gate), each one pass forward and
//! one backward, with the autodiff backward of [`super::backward`]. Flex's own GELU evaluates
//! `libm`'s `erff` one element at a time on one thread, and its SiLU is two operations each way.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};

use super::backward::{Derivative, InputGradients, record};
use super::buffers::from_values;
use super::elementwise::map_elements;

/// Activations and their input gradients as backend operations; every `*_backward` takes the
/// activation's input `x` and the output gradient `grad` (same shape) and returns the input
/// gradient. The defaults compose differentiable tensor operations, so gradients of gradients
/// work under autodiff.
#[backend_extension(
    Flex,
    Cube: cfg(feature = "wgpu"),
    Fusion: cfg(feature = "wgpu"),
    Autodiff
)]
pub trait ActivationKernels: Backend {
    /// GELU (erf form) of every element of `x`, any shape.
    #[fusion(dtype = x, shape = x)]
    fn gelu_erf(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `grad · GELU'(x)`, with `GELU'(x) = Φ(x) + x·φ(x)`.
    #[fusion(dtype = x, shape = x)]
    fn gelu_erf_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let z = Self::float_mul_scalar(x.clone(), std::f64::consts::FRAC_1_SQRT_2.into());
        let erf = Self::float_erf(z.clone());
        let cdf = Self::float_mul_scalar(Self::float_add_scalar(erf, 1.0.into()), 0.5.into());
        let square = Self::float_mul(z.clone(), z);
        let density = Self::float_mul_scalar(
            Self::float_exp(Self::float_neg(square)),
            FRAC_1_SQRT_2PI.into(),
        );
        let slope = Self::float_add(cdf, Self::float_mul(x, density));
        Self::float_mul(grad, slope)
    }

    /// SiLU, `x·sigmoid(x)`, of every element of `x`, any shape.
    #[fusion(dtype = x, shape = x)]
    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `grad · SiLU'(x)`, with `SiLU'(x) = s·(1 + x·(1 − s))` and `s = sigmoid(x)`.
    #[fusion(dtype = x, shape = x)]
    fn silu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        composed_silu_backward::<Self>(x, grad)
    }
}

/// `grad · s·(1 + x·(1 − s))` from tensor operations of `B`.
fn composed_silu_backward<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    let s = B::sigmoid(x.clone());
    let one_minus_s = B::float_add_scalar(B::float_neg(s.clone()), 1.0.into());
    let inner = B::float_add_scalar(B::float_mul(x, one_minus_s), 1.0.into());
    B::float_mul(grad, B::float_mul(s, inner))
}

/// `1/√(2π)`, the standard normal density at zero.
pub(super) const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

impl ActivationKernels for Flex {
    fn gelu_erf(x: FloatTensor<Self>) -> FloatTensor<Self> {
        map_or(x, scalar::gelu, Flex::gelu)
    }

    fn gelu_erf_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        zip_map_or(x, grad, scalar::gelu_slope, Flex::gelu_backward)
    }

    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        map_or(x, scalar::silu, |x| {
            Flex::float_mul(x.clone(), Flex::sigmoid(x))
        })
    }

    fn silu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        zip_map_or(x, grad, scalar::silu_slope, composed_silu_backward::<Flex>)
    }
}

/// `f` on every element of an `f32` contiguous tensor, else `fallback` (other dtypes, strided
/// views). `f` is generic, not a function pointer, so that it inlines into the vectorised loop.
fn map_or(
    x: FloatTensor<Flex>,
    f: impl Fn(f32) -> f32 + Sync,
    fallback: impl FnOnce(FloatTensor<Flex>) -> FloatTensor<Flex>,
) -> FloatTensor<Flex> {
    match x.as_slice::<f32>() {
        Some(values) => from_values(x.shape(), map_elements([values], |[x]| f(x))),
        None => fallback(x),
    }
}

/// `grad · slope(x)` element-wise for `f32` contiguous tensors of one shape, else `fallback`.
fn zip_map_or(
    x: FloatTensor<Flex>,
    grad: FloatTensor<Flex>,
    slope: impl Fn(f32) -> f32 + Sync,
    fallback: impl FnOnce(FloatTensor<Flex>, FloatTensor<Flex>) -> FloatTensor<Flex>,
) -> FloatTensor<Flex> {
    match (x.as_slice::<f32>(), grad.as_slice::<f32>()) {
        (Some(xs), Some(gs)) if x.shape() == grad.shape() => {
            from_values(x.shape(), map_elements([xs, gs], |[x, g]| g * slope(x)))
        }
        _ => fallback(x, grad),
    }
}

impl<B: ActivationKernels, C: CheckpointStrategy> ActivationKernels for Autodiff<B, C> {
    fn gelu_erf(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let derivative =
            elementwise_derivative(|[x], grad, _| [x.map(|x| B::gelu_erf_backward(x, grad))]);
        record::<B, C, 1>([x], derivative, |[x]| B::gelu_erf(x))
    }

    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let derivative =
            elementwise_derivative(|[x], grad, _| [x.map(|x| B::silu_backward(x, grad))]);
        record::<B, C, 1>([x], derivative, |[x]| B::silu(x))
    }
}

/// The derivative of an element-wise activation: its backward reads the input.
fn elementwise_derivative<B: Backend>(gradients: InputGradients<B, 1>) -> Derivative<B, 1> {
    Derivative {
        keep: |tracked| tracked,
        gradients,
    }
}

/// Whether the activation kernels serve `x`'s device: flex, and with the `wgpu` feature the
/// CubeCL devices (each with or without autodiff).
pub(crate) fn serves<const D: usize>(x: &burn::Tensor<D>) -> bool {
    #[cfg(feature = "wgpu")]
    if super::cube_activation::on_cube(x) {
        return true;
    }
    super::on_flex(x)
}

/// GELU (erf) of a tensor through the extension; only for the devices [`serves`] accepts.
pub(crate) fn gelu_erf<const D: usize>(x: burn::Tensor<D>) -> burn::Tensor<D> {
    burn::Tensor::from_dispatch(<Dispatch as ActivationKernels>::gelu_erf(x.into_dispatch()))
}

/// SiLU of a tensor through the extension; only for the devices [`serves`] accepts.
pub(crate) fn silu<const D: usize>(x: burn::Tensor<D>) -> burn::Tensor<D> {
    burn::Tensor::from_dispatch(<Dispatch as ActivationKernels>::silu(x.into_dispatch()))
}

/// The per-element formulas, written without branches on the data so that they vectorise.
pub(super) mod scalar {
    use super::FRAC_1_SQRT_2PI;

    /// `0.5·x·(1 + erf(x/√2))`.
    #[inline(always)]
    pub(super) fn gelu(x: f32) -> f32 {
        let z = x * std::f32::consts::FRAC_1_SQRT_2;
        0.5 * x * (1.0 + erf_with_gaussian(z, exp_non_positive(-(z * z))))
    }

    /// `GELU'(x) = Φ(x) + x·φ(x)`, normal CDF plus `x` times the normal density; one exponential
    /// serves both.
    #[inline(always)]
    pub(super) fn gelu_slope(x: f32) -> f32 {
        let z = x * std::f32::consts::FRAC_1_SQRT_2;
        let gaussian = exp_non_positive(-(z * z));
        0.5 * (1.0 + erf_with_gaussian(z, gaussian)) + x * FRAC_1_SQRT_2PI as f32 * gaussian
    }

    /// `x·sigmoid(x)`.
    #[inline(always)]
    pub(super) fn silu(x: f32) -> f32 {
        x * sigmoid_and_complement(x).0
    }

    /// `SiLU'(x) = s·(1 + x·(1 − s))` with `s = sigmoid(x)`.
    #[inline(always)]
    pub(super) fn silu_slope(x: f32) -> f32 {
        let (s, complement) = sigmoid_and_complement(x);
        s * (1.0 + x * complement)
    }

    /// `(sigmoid(x), 1 − sigmoid(x))`, both from `e = exp(−|x|)` (which never overflows) and
    /// neither by subtraction: `1/(1 + e)` and `e/(1 + e)`, in that order for `x ≥ 0`.
    #[inline(always)]
    fn sigmoid_and_complement(x: f32) -> (f32, f32) {
        let e = exp_non_positive(-x.abs());
        let large = 1.0 / (1.0 + e);
        let small = e * large;
        if x >= 0.0 {
            (large, small)
        } else {
            (small, large)
        }
    }

    /// `erf(z)` given `exp(-z²)`, by Abramowitz & Stegun's formula 7.1.26 (Handbook of Mathematical
    /// Functions, 1964): absolute error at most 1.5e-7, below `f32` rounding of values near 1.
    #[inline(always)]
    fn erf_with_gaussian(z: f32, gaussian: f32) -> f32 {
        const P: f32 = 0.327_591_1;
        // The published coefficients rounded to the nearest `f32`.
        const A: [f32; 5] = [
            0.254_829_6,
            -0.284_496_72,
            1.421_413_8,
            -1.453_152_1,
            1.061_405_4,
        ];
        let t = 1.0 / (1.0 + P * z.abs());
        let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
        (1.0 - poly * gaussian).copysign(z)
    }

    /// `exp(v)` for `v ≤ 0` without branches on the data (so it vectorises): `2^n · e^r` with `n`
    /// the nearest integer to `v/ln 2` and `|r| ≤ ln 2 / 2` evaluated by its degree-7 Taylor
    /// polynomial (relative error below 1e-8 before rounding). Below −87, where `f32` runs out of
    /// normal numbers, the result is 0 (so `x·exp(−x²)`-like products stay 0 for huge `|x|`).
    #[inline(always)]
    pub(in crate::kernels) fn exp_non_positive(v: f32) -> f32 {
        const LN2_HI: f32 = 0.693_145_75;
        const LN2_LO: f32 = 1.428_606_8e-6;
        let clamped = v.max(-87.0);
        let n = (clamped * std::f32::consts::LOG2_E + 0.5).floor();
        let r = (clamped - n * LN2_HI) - n * LN2_LO;
        let mut p = 1.0 / 5040.0;
        for c in [
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ] {
            p = p * r + c;
        }
        // 2^n built from its exponent bits. `n + 127` is an integer in 1..=127, read off the mantissa
        // of `2^23 + 127 + n` (exact there) instead of a float-to-int cast, which would not vectorise.
        const BIASED_ZERO: f32 = 8_388_608.0 + 127.0;
        let exponent = (n + BIASED_ZERO).to_bits() - 8_388_608f32.to_bits();
        let value = p * f32::from_bits(exponent << 23);
        if v < -87.0 { 0.0 } else { value }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    use super::scalar::{exp_non_positive, gelu_slope, silu_slope};
    use super::*;

    /// An activation's value and slope in f64.
    type Reference = fn(f64) -> (f64, f64);
    /// A per-element formula.
    type Scalar = fn(f32) -> f32;
    /// An activation on tensors.
    type OnTensor = fn(Tensor<2>) -> Tensor<2>;

    fn gelu_reference(x: f64) -> (f64, f64) {
        let cdf = 0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2));
        (x * cdf, cdf + x * FRAC_1_SQRT_2PI * (-0.5 * x * x).exp())
    }

    fn silu_reference(x: f64) -> (f64, f64) {
        let s = 1.0 / (1.0 + (-x).exp());
        (x * s, s * (1.0 + x * (1.0 - s)))
    }

    #[test]
    fn exp_matches_std_across_the_range() {
        for i in 0..=87_000 {
            let v = -(i as f32) / 1000.0;
            let (got, want) = (exp_non_positive(v), (v as f64).exp());
            assert!(
                ((got as f64 - want) / want).abs() < 3e-7,
                "exp({v}) = {got}, want {want}"
            );
        }
    }

    /// Values within 2e-7·max(1, |x|) and slopes within 4e-7 of f64 on a grid over ±100.
    #[test]
    fn scalar_formulas_match_f64_reference() {
        let cases: [(&str, Scalar, Scalar, Reference); 2] = [
            ("gelu", scalar::gelu, gelu_slope, gelu_reference),
            ("silu", scalar::silu, silu_slope, silu_reference),
        ];
        for (name, value, slope, reference) in cases {
            for i in -100_000..=100_000 {
                let x = i as f32 / 1000.0;
                let (want, want_slope) = reference(x as f64);
                let error = (value(x) as f64 - want).abs();
                assert!(error < 2e-7 * (x.abs() as f64).max(1.0), "{name}({x})");
                assert!((slope(x) as f64 - want_slope).abs() < 4e-7, "{name}'({x})");
            }
        }
    }

    /// Huge inputs give the limits of values and slopes (no `x · tiny` leftovers); +∞ and NaN pass
    /// through GELU as they would in exact arithmetic.
    #[test]
    fn scalar_formulas_at_extremes() {
        for x in [1e37f32, 3e38, f32::MAX] {
            assert_eq!(scalar::gelu(x), x, "gelu({x})");
            assert_eq!(scalar::gelu(-x), 0.0, "gelu(-{x})");
            assert_eq!(gelu_slope(x), 1.0, "gelu'({x})");
            assert_eq!(gelu_slope(-x), 0.0, "gelu'(-{x})");
            assert_eq!(scalar::silu(x), x, "silu({x})");
            assert_eq!(scalar::silu(-x), 0.0, "silu(-{x})");
            assert_eq!(silu_slope(x), 1.0, "silu'({x})");
            assert_eq!(silu_slope(-x), 0.0, "silu'(-{x})");
        }
        assert_eq!(scalar::gelu(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_non_positive(f32::NEG_INFINITY), 0.0);
        assert!(scalar::gelu(f32::NAN).is_nan() && scalar::silu(f32::NAN).is_nan());
    }

    /// The devices the kernels serve in this build: flex, and with the `wgpu` feature the wgpu
    /// adapter where one exists (`FFN_REQUIRE_WGPU=1` turns a missing one into a failure).
    pub(in crate::kernels) fn kernel_devices() -> Vec<Device> {
        #[cfg(feature = "wgpu")]
        {
            static WGPU: std::sync::OnceLock<Option<Device>> = std::sync::OnceLock::new();
            let wgpu = WGPU.get_or_init(|| match Device::wgpu_options().init() {
                Ok(device) => Some(device),
                Err(error) => {
                    assert!(
                        std::env::var("FFN_REQUIRE_WGPU").is_err(),
                        "FFN_REQUIRE_WGPU is set but no wgpu adapter is available: {error}"
                    );
                    eprintln!("skipping wgpu: {error}");
                    None
                }
            });
            std::iter::once(Device::flex())
                .chain(wgpu.clone())
                .collect()
        }
        #[cfg(not(feature = "wgpu"))]
        vec![Device::flex()]
    }

    /// Output and input gradient of `sum(w · act(x))` through autodiff against f64, for GELU and
    /// SiLU, on every kernel device (flex's multi-threaded SIMD pass, wgpu's CubeCL kernels), on
    /// a tensor spanning several parallel chunks and on a transposed (strided) view of it (which
    /// takes flex's own operations, and a contiguous copy on wgpu).
    #[test]
    fn autodiff_activations_match_f64_reference() {
        let cases: [(&str, OnTensor, Reference); 2] = [
            ("gelu", gelu_erf, gelu_reference),
            ("silu", silu, silu_reference),
        ];
        let host = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
        for device in kernel_devices() {
            let device = device.autodiff();
            let base = Tensor::<2>::random([257, 300], Distribution::Normal(0.0, 3.0), &device);
            let weights =
                Tensor::<2>::random([257, 300], Distribution::Uniform(-1.0, 1.0), &device);
            for (name, activation, reference) in cases {
                for transposed in [false, true] {
                    let (x, w) = match transposed {
                        false => (base.clone(), weights.clone()),
                        true => (base.clone().transpose(), weights.clone().transpose()),
                    };
                    let x = x.require_grad();
                    let y = activation(x.clone());
                    let grads = (y.clone() * w.clone()).sum().backward();
                    let (xs, ws, ys) = (host(x.clone()), host(w), host(y));
                    let gs = host(x.grad(&grads).unwrap());
                    let name = format!("{name} on {device:?}");
                    for i in 0..xs.len() {
                        let (x, w) = (xs[i] as f64, ws[i] as f64);
                        let (value, slope) = reference(x);
                        let error = (ys[i] as f64 - value).abs();
                        assert!(error < 1e-6 * x.abs().max(1.0), "{name}({x}) = {}", ys[i]);
                        assert!((gs[i] as f64 - w * slope).abs() < 1e-6, "{name}'({x})");
                    }
                }
            }
        }
    }
}
