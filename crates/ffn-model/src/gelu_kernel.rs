//! Exact GELU, `0.5·x·(1 + erf(x/√2))`, as one fused multi-threaded SIMD pass forward and one
//! backward on the flex CPU backend, plugged into Burn through its backend-extension mechanism
//! (with a hand-written backward for autodiff). Flex's own GELU runs the same formula one element
//! at a time on one thread with `libm`'s `erff`; on the 512→2048 FFN train step (W1 of `ffn
//! bench`) that was about 30 % of the step, and this kernel takes a few percent.

use std::mem::MaybeUninit;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ActivationOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use rayon::prelude::*;

use crate::flex_buffers::{f32_contiguous, from_values};

/// GELU (erf form) and its input gradient as backend operations.
#[backend_extension(Flex, Autodiff)]
pub trait GeluErfBackend: Backend {
    /// GELU of every element of `x`, any shape.
    fn gelu_erf(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `grad · GELU'(x)`: the input gradient given the output gradient `grad` (same shape as `x`).
    /// The default composes differentiable tensor operations, so gradients of gradients work.
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
}

/// `1/√(2π)`, the standard normal density at zero.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

impl GeluErfBackend for Flex {
    fn gelu_erf(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match f32_contiguous(&x) {
            Some(values) => from_values(x.shape(), map_elements([values], |[x]| gelu(x))),
            None => Flex::gelu(x),
        }
    }

    fn gelu_erf_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        match (f32_contiguous(&x), f32_contiguous(&grad)) {
            (Some(xs), Some(gs)) if xs.len() == gs.len() => from_values(
                x.shape(),
                map_elements([xs, gs], |[x, g]| g * gelu_slope(x)),
            ),
            _ => Flex::gelu_backward(x, grad),
        }
    }
}

impl<B: GeluErfBackend, C: CheckpointStrategy> GeluErfBackend for Autodiff<B, C> {
    fn gelu_erf(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct GeluErf;

        impl<B: GeluErfBackend> Backward<B, 1> for GeluErf {
            type State = NodeId;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [parent] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                if let Some(parent) = parent {
                    let x = checkpointer.retrieve_node_output(ops.state);
                    grads.register::<B>(parent.id, B::gelu_erf_backward(x, grad));
                }
            }
        }

        match GeluErf.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&x);
                prep.finish(state, B::gelu_erf(x.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::gelu_erf(x.into_primitive())),
        }
    }
}

/// GELU of a tensor through the extension, on devices whose backend implements it (flex,
/// with or without autodiff).
pub(crate) fn gelu_erf<const D: usize>(x: burn::Tensor<D>) -> burn::Tensor<D> {
    burn::Tensor::from_dispatch(<Dispatch as GeluErfBackend>::gelu_erf(x.into_dispatch()))
}

/// Elements per parallel task: large enough that scheduling costs nothing, small enough to spread
/// a `[2048, 2048]` activation over many cores.
const CHUNK: usize = 1 << 14;

/// `f` applied element-wise to `N` equally long slices, in parallel chunks, each chunk compiled
/// for the widest vector instructions the CPU offers (AVX-512, else AVX2 + FMA, else baseline).
fn map_elements<const N: usize>(
    inputs: [&[f32]; N],
    f: impl Fn([f32; N]) -> f32 + Sync,
) -> Vec<f32> {
    let len = inputs[0].len();
    let mut out = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(chunk, slots)| {
            let start = chunk * CHUNK;
            let window = inputs.map(|s| &s[start..start + slots.len()]);
            map_chunk(window, slots, &f);
        });
    // SAFETY: every slot in `0..len` was written by exactly one chunk above.
    unsafe { out.set_len(len) };
    out
}

/// One chunk of [`map_elements`] with run-time selection of the instruction set.
fn map_chunk<const N: usize, F: Fn([f32; N]) -> f32>(
    inputs: [&[f32]; N],
    out: &mut [MaybeUninit<f32>],
    f: &F,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { map_chunk_avx512(inputs, out, f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { map_chunk_avx2(inputs, out, f) };
        }
    }
    map_chunk_portable(inputs, out, f);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn map_chunk_avx512<const N: usize, F: Fn([f32; N]) -> f32>(
    inputs: [&[f32]; N],
    out: &mut [MaybeUninit<f32>],
    f: &F,
) {
    map_chunk_portable(inputs, out, f);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn map_chunk_avx2<const N: usize, F: Fn([f32; N]) -> f32>(
    inputs: [&[f32]; N],
    out: &mut [MaybeUninit<f32>],
    f: &F,
) {
    map_chunk_portable(inputs, out, f);
}

/// The element loop; inlined into each instruction-set variant so the compiler vectorises it
/// for that set.
#[inline(always)]
fn map_chunk_portable<const N: usize, F: Fn([f32; N]) -> f32>(
    inputs: [&[f32]; N],
    out: &mut [MaybeUninit<f32>],
    f: &F,
) {
    let inputs = inputs.map(|s| &s[..out.len()]);
    for (i, slot) in out.iter_mut().enumerate() {
        slot.write(f(std::array::from_fn(|k| inputs[k][i])));
    }
}

/// `0.5·x·(1 + erf(x/√2))`.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    0.5 * x * (1.0 + erf_with_gaussian(z, exp_non_positive(-(z * z))))
}

/// `GELU'(x) = Φ(x) + x·φ(x)`, normal CDF plus `x` times the normal density; one exponential
/// serves both.
#[inline(always)]
fn gelu_slope(x: f32) -> f32 {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let gaussian = exp_non_positive(-(z * z));
    0.5 * (1.0 + erf_with_gaussian(z, gaussian)) + x * FRAC_1_SQRT_2PI as f32 * gaussian
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

/// `exp(v)` for `v ≤ 0` without branches (so it vectorises): `2^n · e^r` with `n` the nearest
/// integer to `v/ln 2` and `|r| ≤ ln 2 / 2` evaluated by its degree-7 Taylor polynomial
/// (relative error below 1e-8 before rounding). Arguments below −87 give `exp(−87)` ≈ 1.6e-38,
/// which every caller here multiplies into something negligible.
#[inline(always)]
fn exp_non_positive(v: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let v = v.max(-87.0);
    let n = (v * std::f32::consts::LOG2_E + 0.5).floor();
    let r = (v - n * LN2_HI) - n * LN2_LO;
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
    p * f32::from_bits(exponent << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn gelu_and_slope_match_f64_reference() {
        for i in -10_000..=10_000 {
            let x = i as f32 / 1000.0;
            let xd = x as f64;
            let cdf = 0.5 * (1.0 + libm::erf(xd * std::f64::consts::FRAC_1_SQRT_2));
            let pdf = FRAC_1_SQRT_2PI * (-0.5 * xd * xd).exp();
            assert!(
                (gelu(x) as f64 - xd * cdf).abs() < 2e-7 * xd.abs().max(1.0),
                "gelu({x})"
            );
            assert!(
                (gelu_slope(x) as f64 - (cdf + xd * pdf)).abs() < 4e-7,
                "gelu'({x})"
            );
        }
    }

    /// Output and input gradient of `sum(w · GELU(x))` on flex through autodiff, against f64, for
    /// a tensor spanning several parallel chunks and for a transposed (strided) view of it.
    #[test]
    fn autodiff_gelu_matches_f64_reference_on_flex() {
        use burn::tensor::{Device, Distribution, Tensor};

        let device = Device::flex().autodiff();
        let base = Tensor::<2>::random([257, 300], Distribution::Normal(0.0, 3.0), &device);
        let weights = Tensor::<2>::random([257, 300], Distribution::Uniform(-1.0, 1.0), &device);
        for transposed in [false, true] {
            let (x, w) = match transposed {
                false => (base.clone(), weights.clone()),
                true => (base.clone().transpose(), weights.clone().transpose()),
            };
            let x = x.require_grad();
            let y = gelu_erf(x.clone());
            let grads = (y.clone() * w.clone()).sum().backward();
            let host = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
            let (xs, ws, ys) = (host(x.clone()), host(w), host(y));
            let gs = host(x.grad(&grads).unwrap());
            for i in 0..xs.len() {
                let (x, w) = (xs[i] as f64, ws[i] as f64);
                let cdf = 0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2));
                let slope = cdf + x * FRAC_1_SQRT_2PI * (-0.5 * x * x).exp();
                assert!(
                    (ys[i] as f64 - x * cdf).abs() < 1e-6 * x.abs().max(1.0),
                    "y at {x}"
                );
                assert!((gs[i] as f64 - w * slope).abs() < 1e-6, "grad at {x}");
            }
        }
    }

    #[test]
    fn parallel_map_covers_every_element_in_order() {
        let xs: Vec<f32> = (0..3 * CHUNK + 17).map(|i| i as f32).collect();
        let doubled = map_elements([&xs], |[x]| 2.0 * x);
        assert_eq!(doubled.len(), xs.len());
        assert!(doubled.iter().zip(&xs).all(|(d, x)| *d == 2.0 * x));
    }
}
