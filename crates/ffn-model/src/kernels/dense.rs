//! The dense layer's matrix products on the flex CPU backend, plugged into Burn through its
//! backend-extension mechanism with a hand-written autodiff backward. `x·W + b` is one gemm call
//! whose output buffer starts as the broadcast bias, and every product (forward and backward)
//! writes straight into a fresh buffer. Flex's own matmul zero-fills its output and then copies it
//! once more to meet its byte buffer's alignment, and the bias is a further pass: three extra
//! passes over each `[rows, d_out]` result.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::Linear;
use burn::tensor::{DType, Shape, Tensor};
use burn_flex::FlexTensor;

use super::backward::{Derivative, record};
use super::buffers::{from_values, on_flex};
use super::matrix::{Matrix, Start, fill_rows, gemm_into};

/// The dense layer's products as backend operations.
#[backend_extension(Flex, Autodiff)]
pub trait DenseBackend: Backend {
    /// `x·w + b` for `x` `[rows, d_in]`, `w` `[d_in, d_out]` and `b` `[d_out]`: `[rows, d_out]`.
    fn affine(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `lhs·rhs` for matrices `[m, k]` and `[k, n]` of any strides: `[m, n]`.
    fn product(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// `x·W + b` of a Burn `Linear` for `x` `[rows, d_in]`: through this module's products on flex,
/// through Burn's `Linear::forward` elsewhere and for quantised weights.
pub(crate) fn linear_rows(x: Tensor<2>, linear: &Linear) -> Tensor<2> {
    // Quantised weights keep Burn's path, which multiplies them without dequantising.
    if !on_flex(&x) || matches!(linear.weight.dtype(), DType::QFloat(_)) {
        return linear.forward(x);
    }
    let w = linear.weight.val().into_dispatch();
    let out = match &linear.bias {
        Some(b) => {
            <Dispatch as DenseBackend>::affine(x.into_dispatch(), w, b.val().into_dispatch())
        }
        None => <Dispatch as DenseBackend>::product(x.into_dispatch(), w),
    };
    Tensor::from_dispatch(out)
}

/// `lhs·rhs` for matrices `[m, k]` and `[k, n]` (views and transposes included): through this
/// module's product on flex, Burn's matmul elsewhere.
pub(crate) fn matmul(lhs: Tensor<2>, rhs: Tensor<2>) -> Tensor<2> {
    if !on_flex(&lhs) {
        return lhs.matmul(rhs);
    }
    Tensor::from_dispatch(<Dispatch as DenseBackend>::product(
        lhs.into_dispatch(),
        rhs.into_dispatch(),
    ))
}

impl DenseBackend for Flex {
    fn affine(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match (Matrix::of(&x), Matrix::of(&w), b.as_slice::<f32>()) {
            (Some(xm), Some(wm), Some(bias)) if xm.cols == wm.rows && bias.len() == wm.cols => {
                product_with_bias(&xm, &wm, Some(bias))
            }
            _ => {
                let d_out = b.shape()[0];
                let product = Flex::float_matmul(x, w);
                Flex::float_add(product, Flex::float_reshape(b, Shape::new([1, d_out])))
            }
        }
    }

    fn product(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        match (Matrix::of(&lhs), Matrix::of(&rhs)) {
            (Some(a), Some(b)) if a.cols == b.rows => product_with_bias(&a, &b, None),
            _ => Flex::float_matmul(lhs, rhs),
        }
    }
}

impl<B: DenseBackend, C: CheckpointStrategy> DenseBackend for Autodiff<B, C> {
    fn affine(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let derivative: Derivative<B, 3> = Derivative {
            keep: |[x, w, _]| [w, x, false],
            gradients: |[x, w, _], grad: FloatTensor<B>, [want_x, want_w, want_b]| {
                let db = want_b.then(|| {
                    let d_out = grad.shape()[1];
                    B::float_reshape(B::float_sum_dim(grad.clone(), 0), Shape::new([d_out]))
                });
                let [dx, dw] = product_gradients::<B>([x, w], grad, [want_x, want_w]);
                [dx, dw, db]
            },
        };
        record::<B, C, 3>([x, w, b], derivative, |[x, w, b]| B::affine(x, w, b))
    }

    fn product(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        let derivative = Derivative {
            keep: |[lhs, rhs]| [rhs, lhs],
            gradients: product_gradients::<B>,
        };
        record::<B, C, 2>([lhs, rhs], derivative, |[lhs, rhs]| B::product(lhs, rhs))
    }
}

/// `d lhs = grad·rhsᵀ` and `d rhs = lhsᵀ·grad` for the operands of `lhs·rhs` that want one
/// (each operand is kept exactly when the other wants its gradient).
fn product_gradients<B: DenseBackend>(
    [lhs, rhs]: [Option<FloatTensor<B>>; 2],
    grad: FloatTensor<B>,
    [want_lhs, want_rhs]: [bool; 2],
) -> [Option<FloatTensor<B>>; 2] {
    let d_lhs = rhs
        .filter(|_| want_lhs)
        .map(|rhs| B::product(grad.clone(), B::float_transpose(rhs)));
    let d_rhs = lhs
        .filter(|_| want_rhs)
        .map(|lhs| B::product(B::float_transpose(lhs), grad));
    [d_lhs, d_rhs]
}

/// Products below this many multiply-adds run on one thread (flex's threshold).
const PARALLEL_MULTIPLY_ADDS: usize = 192 * 192 * 192;

/// `lhs·rhs` (plus `bias` broadcast over the rows) into a new contiguous `[m, n]` tensor.
fn product_with_bias(lhs: &Matrix, rhs: &Matrix, bias: Option<&[f32]>) -> FlexTensor {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    let len = m
        .checked_mul(n)
        .expect("a matrix product's output has more elements than memory can address");
    let mut out: Vec<f32> = Vec::with_capacity(len);
    if k == 0 && len > 0 {
        // No products to sum: the output is the bias (or zero) alone.
        let slots = &mut out.spare_capacity_mut()[..len];
        match bias {
            Some(bias) => fill_rows(slots, bias),
            None => slots.fill(std::mem::MaybeUninit::new(0.0)),
        }
    }
    if m > 0 && n > 0 && k > 0 {
        let parallelism = if len.saturating_mul(k) >= PARALLEL_MULTIPLY_ADDS {
            gemm::Parallelism::Rayon(0)
        } else {
            gemm::Parallelism::None
        };
        let start = bias.map_or(Start::Zero, Start::Bias);
        // SAFETY: `out` has room for `m·n` values written with row stride `n`; the operands'
        // pointers and strides come from flex layouts of live `[m, k]` and `[k, n]` tensors, so
        // every element the product reads lies inside their buffers; the bias holds `n` values
        // (checked by the caller). Neither start reads the destination before writing it.
        unsafe { gemm_into(out.as_mut_ptr(), n, *lhs, *rhs, 1.0, start, parallelism) };
    }
    // SAFETY: every value was written: by the bias fill, the zero fill, or the product (which
    // writes all of the destination when `m`, `n` and `k` are positive); with `m·n = 0` there
    // is nothing.
    unsafe { out.set_len(len) };
    from_values([m, n], out)
}

#[cfg(test)]
mod tests {
    use burn::nn::{LinearConfig, LinearLayout};
    use burn::tensor::{Device, Distribution, Tensor};

    use super::*;

    /// Output and all three gradients of `sum(r · (x·W + b))` through the extension on flex,
    /// against Burn's own matmul on ndarray, for a small (single-threaded) and a large
    /// (multi-threaded) product; inputs contiguous, transposed and flipped (negative strides);
    /// weights stored row- and column-major (a transposed view); with and without bias.
    #[test]
    #[allow(deprecated)] // ndarray is deprecated in Burn 0.22 but still a supported backend here
    fn products_and_gradients_match_burn_matmul() {
        let host = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
        let close = |what: &str, got: Vec<f32>, want: Vec<f32>| {
            assert_eq!(got.len(), want.len(), "{what}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-4 + 1e-5 * w.abs(),
                    "{what}[{i}]: {g} vs {w}"
                );
            }
        };
        let layouts = [
            (true, "contiguous", LinearLayout::Row),
            (true, "transposed", LinearLayout::Col),
            (true, "flipped", LinearLayout::Row),
            (false, "contiguous", LinearLayout::Col),
        ];
        for (rows, d_in, d_out) in [(3, 4, 5), (520, 200, 96)] {
            for (bias, input, weight) in layouts {
                let case = format!("{rows}x{d_in}x{d_out} bias={bias} {input} {weight:?}");
                let flex = Device::flex().autodiff();
                let linear = LinearConfig::new(d_in, d_out)
                    .with_bias(bias)
                    .with_layout(weight)
                    .init(&flex);
                let x = Tensor::<2>::random([d_in, rows], Distribution::Normal(0.0, 1.0), &flex);
                let x = match input {
                    "transposed" => x.transpose(),
                    "flipped" => x.reshape([rows, d_in]).flip([0, 1]),
                    _ => x.reshape([rows, d_in]),
                };
                let r = Tensor::<2>::random([rows, d_out], Distribution::Normal(0.0, 1.0), &flex);

                let x = x.require_grad();
                let out = linear_rows(x.clone(), &linear);
                let grads = (out.clone() * r.clone()).sum().backward();

                let reference = Device::ndarray().autodiff();
                let to_ref = |t: Tensor<2>| Tensor::<2>::from_data(t.into_data(), &reference);
                let (xr, wr) = (
                    to_ref(x.clone()).require_grad(),
                    to_ref(linear.weight.val()),
                );
                let wr = wr.require_grad();
                let br = linear.bias.as_ref().map(|b| {
                    Tensor::<1>::from_data(b.val().into_data(), &reference).require_grad()
                });
                let mut out_ref = xr.clone().matmul(wr.clone());
                if let Some(b) = &br {
                    out_ref = out_ref + b.clone().unsqueeze();
                }
                let grads_ref = (out_ref.clone() * to_ref(r)).sum().backward();

                close(&format!("{case} out"), host(out), host(out_ref));
                let grad = |t: &Tensor<2>, g| host(t.grad(g).unwrap());
                close(
                    &format!("{case} dx"),
                    grad(&x, &grads),
                    grad(&xr, &grads_ref),
                );
                let dw = host(linear.weight.val().grad(&grads).unwrap());
                close(&format!("{case} dW"), dw, grad(&wr, &grads_ref));
                if let (Some(b), Some(br)) = (&linear.bias, &br) {
                    let db = b.val().grad(&grads).unwrap().into_data();
                    let db_ref = br.grad(&grads_ref).unwrap().into_data();
                    close(
                        &format!("{case} db"),
                        db.try_to_vec().unwrap(),
                        db_ref.try_to_vec().unwrap(),
                    );
                }
            }
        }
    }
}
