//! Causal scaled-dot-product attention on the flex CPU backend: for every (batch, head) pair,
//! in parallel, `softmax(q·kᵀ/√d)` with the causal mask, then its product with `v`, each pair's
//! scores staying in one small buffer. The backward recomputes the probabilities and returns all
//! three input gradients from one pass. Burn's own attention composes about a dozen tensor
//! operations (and as many backward steps) over the whole `[batch, heads, seq, seq]` scores.
//! The output and the gradients are `[batch, heads, len, width]` views of buffers laid out
//! `[batch, len, heads, width]`, the layout of the heads' merged or split projections, so that
//! reshaping between the two copies nothing.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension,
};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{DType, Tensor};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::activation::scalar::exp_non_positive;
use super::backward::{Derivative, record};
use super::buffers::{from_values, on_flex};
use super::elementwise::vectorized;
use super::matrix::{Matrix, SharedBuffer, Window, product_into, product_into_window};

/// Causal attention as backend operations on `q` `[batch, heads, len_q, d]` and `k`, `v`
/// `[batch, heads, len_k, d]` (the same heads: grouped keys are repeated by the caller). The
/// causal mask is aligned at the last positions: query `i` sees keys up to `i + len_k − len_q`.
#[backend_extension(Flex, Autodiff)]
pub trait AttentionBackend: Backend {
    /// `softmax(q·kᵀ/√d, causal)·v`: `[batch, heads, len_q, d_v]`.
    fn causal_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// The gradients `(dq, dk, dv)` of [`Self::causal_attention`] for the output gradient `grad`.
    fn causal_attention_backward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Causal attention of `q`, `k`, `v` `[batch, heads, len, head_dim]`: through this module's
/// kernel for `f32` on flex (whose backward relies on the shapes checked here), Burn's attention
/// elsewhere.
pub(crate) fn causal_attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    let ([b, h, len_q, d], [kb, kh, len_k, kd], [vb, vh, len_v, _]) =
        (q.dims(), k.dims(), v.dims());
    let fits = (kb, kh, kd) == (b, h, d) && (vb, vh, len_v) == (b, h, len_k) && len_k >= len_q;
    if !fits || !on_flex(&q) || q.dtype() != DType::F32 {
        let options = causal_options();
        return burn::tensor::module::attention(q, k, v, None, None, options);
    }
    Tensor::from_dispatch(<Dispatch as AttentionBackend>::causal_attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
    ))
}

fn causal_options() -> AttentionModuleOptions {
    AttentionModuleOptions {
        scale: None,
        softcap: None,
        is_causal: true,
    }
}

impl AttentionBackend for Flex {
    fn causal_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match Heads::of(&q, &k, &v) {
            Some(heads) => heads.forward(),
            None => Flex::attention(q, k, v, None, None, causal_options()),
        }
    }

    fn causal_attention_backward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let heads = Heads::of(&q, &k, &v).expect("the forward pass checked these inputs");
        heads.backward(&grad)
    }
}

impl<B: AttentionBackend, C: CheckpointStrategy> AttentionBackend for Autodiff<B, C> {
    fn causal_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let derivative: Derivative<B, 3> = Derivative {
            keep: |_| [true; 3],
            gradients: |[q, k, v], grad: FloatTensor<B>, [want_q, want_k, want_v]| {
                let (Some(q), Some(k), Some(v)) = (q, k, v) else {
                    return [None, None, None];
                };
                let (dq, dk, dv) = B::causal_attention_backward(q, k, v, grad);
                [
                    want_q.then_some(dq),
                    want_k.then_some(dk),
                    want_v.then_some(dv),
                ]
            },
        };
        record::<B, C, 3>([q, k, v], derivative, |[q, k, v]| {
            B::causal_attention(q, k, v)
        })
    }

    /// The gradients, computed on the inner backend (not differentiable again).
    fn causal_attention_backward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let inner = |t: FloatTensor<Self>| t.into_primitive();
        let (dq, dk, dv) = B::causal_attention_backward(inner(q), inner(k), inner(v), inner(grad));
        let outer = <Self as AutodiffBackend>::from_inner;
        (outer(dq), outer(dk), outer(dv))
    }
}

/// The inputs of one attention call on flex, checked: `f32` rank-4 tensors of matching sizes.
struct Heads<'a> {
    q: &'a FlexTensor,
    k: &'a FlexTensor,
    v: &'a FlexTensor,
    /// Batch × heads.
    batch: usize,
    heads: usize,
    len_q: usize,
    len_k: usize,
    d: usize,
    d_v: usize,
}

impl<'a> Heads<'a> {
    fn of(q: &'a FlexTensor, k: &'a FlexTensor, v: &'a FlexTensor) -> Option<Self> {
        let [qs, ks, vs] = [q, k, v].map(|t| t.shape());
        let f32s = [q, k, v].iter().all(|t| t.dtype() == DType::F32);
        if !f32s || qs.num_dims() != 4 || ks.num_dims() != 4 || vs.num_dims() != 4 {
            return None;
        }
        let fits = qs[0] == ks[0]
            && ks[0] == vs[0]
            && qs[1] == ks[1]
            && ks[1] == vs[1]
            && qs[3] == ks[3]
            && ks[2] == vs[2]
            && ks[2] >= qs[2];
        fits.then(|| Self {
            q,
            k,
            v,
            batch: qs[0],
            heads: qs[1],
            len_q: qs[2],
            len_k: ks[2],
            d: qs[3],
            d_v: vs[3],
        })
    }

    /// The matrices of pair `pair` (= batch · heads + head) of `t`.
    fn matrix(&self, t: &'a FlexTensor, pair: usize) -> Matrix<'a> {
        Matrix::inner(t, pair / self.heads, pair % self.heads).expect("a checked rank-4 f32 tensor")
    }

    fn scale(&self) -> f32 {
        1.0 / (self.d as f32).sqrt()
    }

    /// The causal attention probabilities of pair `pair`, row-major `[len_q, len_k]`.
    fn probabilities(&self, pair: usize) -> Vec<f32> {
        let (q, k) = (self.matrix(self.q, pair), self.matrix(self.k, pair));
        let mut p = vec![0.0; self.len_q * self.len_k];
        product_into(&mut p, q, k.t(), self.scale(), false);
        let shift = self.len_k - self.len_q;
        vectorized(
            #[inline(always)]
            || {
                for (i, row) in p.chunks_mut(self.len_k).enumerate() {
                    let (seen, masked) = row.split_at_mut(i + shift + 1);
                    let max = seen.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
                    // The exponentials in a loop of their own, which vectorises, and their sum in
                    // order after it (a running sum in the same loop kept it scalar).
                    for s in seen.iter_mut() {
                        *s = exp_non_positive(*s - max);
                    }
                    let sum: f32 = seen.iter().sum();
                    let inverse = 1.0 / sum;
                    seen.iter_mut().for_each(|s| *s *= inverse);
                    masked.fill(0.0);
                }
            },
        );
        p
    }

    /// The window of pair `pair` in a buffer laid out `[batch, len, heads, width]`: the layout
    /// in which the caller merges the heads (`[batch, len, heads·width]`) without a copy.
    fn window(&self, pair: usize, len: usize, width: usize) -> Window {
        let row_stride = self.heads * width;
        Window {
            offset: (pair / self.heads) * len * row_stride + (pair % self.heads) * width,
            row_stride,
        }
    }

    /// A `[batch, heads, len, width]` tensor over `values` laid out `[batch, len, heads, width]`
    /// (see [`Heads::window`]).
    fn heads_view(&self, len: usize, width: usize, values: Vec<f32>) -> FlexTensor {
        from_values([self.batch, len, self.heads, width], values).transpose(1, 2)
    }

    fn forward(&self) -> FlexTensor {
        let (len_q, d_v) = (self.len_q, self.d_v);
        let mut out = vec![0.0; self.batch * self.heads * len_q * d_v];
        let buffer = SharedBuffer::of(&mut out);
        super::warm::keep_warm();
        (0..self.batch * self.heads)
            .into_par_iter()
            .for_each(|pair| {
                let p = self.probabilities(pair);
                let p = Matrix::dense(&p, len_q, self.len_k);
                let window = self.window(pair, len_q, d_v);
                // SAFETY: each pair writes its own window of `out`.
                unsafe {
                    product_into_window(buffer, window, p, self.matrix(self.v, pair), 1.0, false)
                };
            });
        self.heads_view(len_q, d_v, out)
    }

    /// `dv = pᵀ·g`, `dp = g·vᵀ`, `ds = p ∘ (dp − rowsum(dp ∘ p))`, `dq = ds·k/√d`,
    /// `dk = dsᵀ·q/√d`, pair by pair in parallel.
    fn backward(&self, grad: &FlexTensor) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (len_q, len_k, d, d_v) = (self.len_q, self.len_k, self.d, self.d_v);
        let pairs = self.batch * self.heads;
        let mut dq = vec![0.0; pairs * len_q * d];
        let mut dk = vec![0.0; pairs * len_k * d];
        let mut dv = vec![0.0; pairs * len_k * d_v];
        let buffers = [&mut dq, &mut dk, &mut dv].map(|b| SharedBuffer::of(b));
        super::warm::keep_warm();
        (0..pairs).into_par_iter().for_each(|pair| {
            let g = Matrix::inner(grad, pair / self.heads, pair % self.heads)
                .expect("the output gradient has the output's shape");
            let p = self.probabilities(pair);
            let pm = Matrix::dense(&p, len_q, len_k);
            let [dq, dk, dv] = buffers;
            let dv_window = self.window(pair, len_k, d_v);
            // SAFETY: each pair writes its own windows of the three buffers.
            unsafe { product_into_window(dv, dv_window, pm.t(), g, 1.0, false) };
            let mut ds = vec![0.0; len_q * len_k];
            product_into(&mut ds, g, self.matrix(self.v, pair).t(), 1.0, false);
            vectorized(
                #[inline(always)]
                || {
                    for (ds_row, p_row) in ds.chunks_mut(len_k).zip(p.chunks(len_k)) {
                        let dot: f32 = ds_row.iter().zip(p_row).map(|(a, b)| a * b).sum();
                        for (s, &p) in ds_row.iter_mut().zip(p_row) {
                            *s = p * (*s - dot);
                        }
                    }
                },
            );
            let ds = Matrix::dense(&ds, len_q, len_k);
            let (dq_window, dk_window) = (self.window(pair, len_q, d), self.window(pair, len_k, d));
            let (k, q) = (self.matrix(self.k, pair), self.matrix(self.q, pair));
            // SAFETY: as above.
            unsafe {
                product_into_window(dq, dq_window, ds, k, self.scale(), false);
                product_into_window(dk, dk_window, ds.t(), q, self.scale(), false);
            }
        });
        (
            self.heads_view(len_q, d, dq),
            self.heads_view(len_k, d, dk),
            self.heads_view(len_k, d_v, dv),
        )
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    use super::*;

    /// Output and the gradients of `sum(r · attention(q, k, v))` through the kernel on flex,
    /// against Burn's attention on ndarray, for equal lengths and a query block after cached
    /// keys (the causal mask aligned at the end), on strided views as the model passes them.
    #[test]
    #[allow(deprecated)] // ndarray is deprecated in Burn 0.22 but still a supported backend here
    fn kernel_matches_burn_attention_and_its_gradients() {
        let host = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
        let close = |what: &str, got: Vec<f32>, want: Vec<f32>| {
            assert_eq!(got.len(), want.len(), "{what}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 2e-5 + 1e-4 * w.abs(),
                    "{what}[{i}]: {g} vs {w}"
                );
            }
        };
        for (len_q, len_k) in [(9, 9), (3, 11), (1, 6)] {
            let flex = Device::flex().autodiff();
            // Built [batch, len, heads, d] and swapped, as the model's heads are.
            let draw = |len: usize| {
                Tensor::<4>::random([2, len, 3, 8], Distribution::Normal(0.0, 1.0), &flex)
                    .swap_dims(1, 2)
            };
            let (q, k, v) = (
                draw(len_q).require_grad(),
                draw(len_k).require_grad(),
                draw(len_k).require_grad(),
            );
            let r = Tensor::<4>::random([2, 3, len_q, 8], Distribution::Normal(0.0, 1.0), &flex);
            let out = causal_attention(q.clone(), k.clone(), v.clone());
            let grads = (out.clone() * r.clone()).sum().backward();

            let reference = Device::ndarray().autodiff();
            let to_ref =
                |t: Tensor<4>| Tensor::<4>::from_data(t.into_data(), &reference).require_grad();
            let (qr, kr, vr) = (to_ref(q.clone()), to_ref(k.clone()), to_ref(v.clone()));
            let out_ref = burn::tensor::module::attention(
                qr.clone(),
                kr.clone(),
                vr.clone(),
                None,
                None,
                causal_options(),
            );
            let rr = Tensor::<4>::from_data(r.into_data(), &reference);
            let grads_ref = (out_ref.clone() * rr).sum().backward();
            let case = format!("len_q {len_q}, len_k {len_k}");
            close(&format!("{case} out"), host(out), host(out_ref));
            for (name, x, xr) in [("dq", &q, &qr), ("dk", &k, &kr), ("dv", &v, &vr)] {
                close(
                    &format!("{case} {name}"),
                    host(x.grad(&grads).unwrap()),
                    host(xr.grad(&grads_ref).unwrap()),
                );
            }
        }
    }
}
