//! Adam's and AdamW's parameter update as one multi-threaded pass on the flex CPU backend: the
//! moments, the bias corrections, the weight decay and the step for every element at once, where
//! Burn's optimisers run about fourteen single-threaded tensor operations in turn. The loop is
//! compiled per instruction set and vectorised for each. The arithmetic is Burn's, operation for
//! operation in `f32`, so the results are the same bits.

use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Tensor};
use burn_flex::FlexTensor;

use super::buffers::{from_values, on_flex};
use super::elementwise::map_elements_to;

/// Adam's or AdamW's hyper-parameters, as Burn's `AdamConfig` / `AdamWConfig` hold them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamHyper {
    /// Decay rate of the first moment.
    pub beta1: f32,
    /// Decay rate of the second moment.
    pub beta2: f32,
    /// Added to the second moment's square root.
    pub eps: f32,
    /// Weight decay: decoupled (`p ← p·(1 − lr·wd)`, AdamW) or an L2 penalty added to the
    /// gradient (`g ← g + wd·p`, Adam); none at 0.
    pub weight_decay: f32,
    /// AdamW's decoupled decay rather than Adam's L2 penalty.
    pub decoupled: bool,
}

/// One Adam or AdamW step: the hyper-parameters, this step's learning rate and its number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// The hyper-parameters.
    pub hyper: AdamHyper,
    /// Learning rate of this step.
    pub lr: f64,
    /// The step's number, from 1: the bias corrections are `1 − β^time`.
    pub time: i32,
}

/// The update as backend operations: the new parameter and moments `(p, m, v)`, each shaped like
/// `param`.
#[backend_extension(Flex)]
pub trait AdamBackend: Backend {
    /// The first step of Adam or AdamW on `param` with gradient `grad` (no moments yet).
    fn adam_first(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// A later step, from the moments `m`, `v` of the previous one.
    fn adam_next(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl AdamBackend for Flex {
    fn adam_first(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        update(&step, [param, grad])
    }

    fn adam_next(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        update(&step, [param, grad, m, v])
    }
}

/// The step on `[p, g]` (the first) or `[p, g, m, v]` (a later one): `(p, m, v)` after it.
fn update<const N: usize>(
    step: &AdamStep,
    tensors: [FlexTensor; N],
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let rule = Rule::new(step);
    let tensors = tensors.map(contiguous);
    let shape = tensors[0].shape();
    let inputs = tensors.each_ref().map(values);
    // The choices that hold for every element are made here, once, so that the element loop has
    // no branches and the compiler vectorises it.
    let [p, m, v] = match rule.correction {
        Correction::Divided { first, second, eps } => with_penalty(&rule, inputs, move |m, v| {
            (m / first) / ((v / second).sqrt() + eps)
        }),
        Correction::Combined { factor, eps } => {
            with_penalty(&rule, inputs, move |m, v| (m * factor) / (v.sqrt() + eps))
        }
    };
    (
        from_values(shape.clone(), p),
        from_values(shape.clone(), m),
        from_values(shape, v),
    )
}

/// The step's `[p, m, v]` with the moments' correction `delta(m, v)`, the L2 penalty chosen
/// once for all elements.
fn with_penalty<const N: usize>(
    rule: &Rule,
    inputs: [&[f32]; N],
    delta: impl Fn(f32, f32) -> f32 + Sync,
) -> [Vec<f32>; 3] {
    if rule.penalty != 0.0 {
        map_rule::<N, true>(rule, inputs, delta)
    } else {
        map_rule::<N, false>(rule, inputs, delta)
    }
}

/// [`Rule::apply`] over every element of `[p, g]` or `[p, g, m, v]`.
fn map_rule<const N: usize, const PENALTY: bool>(
    rule: &Rule,
    inputs: [&[f32]; N],
    delta: impl Fn(f32, f32) -> f32 + Sync,
) -> [Vec<f32>; 3] {
    map_elements_to(
        inputs,
        #[inline(always)]
        |x| match *x.as_slice() {
            [p, g, m, v] => rule.apply::<PENALTY>(p, g, Some((m, v)), &delta),
            [p, g, ..] => rule.apply::<PENALTY>(p, g, None, &delta),
            _ => unreachable!("the step has a parameter and a gradient"),
        },
    )
}

/// `t` itself when contiguous, else a contiguous copy (parameters rarely are strided views).
fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        Flex::float_add_scalar(t, 0.0.into())
    }
}

/// The values of a contiguous `f32` tensor ([`fused_adam_step`] checked the dtype).
fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("the Adam kernel's inputs are contiguous f32 tensors")
}

/// One Adam/AdamW step on a flex `f32` parameter through the fused kernel: `Some((p, m, v))`;
/// `None` for other devices and dtypes, which keep Burn's optimiser.
pub fn fused_adam_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    moments: Option<(Tensor<D>, Tensor<D>)>,
    step: AdamStep,
) -> Option<(Tensor<D>, Tensor<D>, Tensor<D>)> {
    let fits = [&param, &grad]
        .into_iter()
        .chain(moments.iter().flat_map(|(m, v)| [m, v]))
        .all(|t| t.dtype() == DType::F32 && !t.is_require_grad() && t.dims() == param.dims());
    if !on_flex(&param) || !fits {
        return None;
    }
    let (p, m, v) = match moments {
        None => {
            <Dispatch as AdamBackend>::adam_first(param.into_dispatch(), grad.into_dispatch(), step)
        }
        Some((m, v)) => <Dispatch as AdamBackend>::adam_next(
            param.into_dispatch(),
            grad.into_dispatch(),
            m.into_dispatch(),
            v.into_dispatch(),
            step,
        ),
    };
    Some((
        Tensor::from_dispatch(p),
        Tensor::from_dispatch(m),
        Tensor::from_dispatch(v),
    ))
}

/// The bias corrections of one step (see [`Rule::correction`]).
#[derive(Debug, Clone, Copy)]
enum Correction {
    /// `(m / first) / (√(v / second) + eps)` with `first = 1 − β1^t`, `second = 1 − β2^t`.
    Divided { first: f32, second: f32, eps: f32 },
    /// `(m · factor) / (√v + eps)` with `factor = √(1 − β2^t)/(1 − β1^t)` and `eps` already
    /// multiplied by `√(1 − β2^t)`.
    Combined { factor: f32, eps: f32 },
}

impl Correction {
    fn new(step: &AdamStep) -> Self {
        let hyper = &step.hyper;
        let first = 1.0 - hyper.beta1.powi(step.time);
        let second = 1.0 - hyper.beta2.powi(step.time);
        if hyper.decoupled {
            Self::Divided {
                first,
                second,
                eps: hyper.eps,
            }
        } else {
            let root = second.sqrt();
            Self::Combined {
                factor: root / first,
                eps: hyper.eps * root,
            }
        }
    }
}

/// The per-element update with the step's scalars converted once, as Burn converts them: `f64`
/// scalars become `f32` where an operation applies them.
#[derive(Debug, Clone, Copy)]
struct Rule {
    beta1: f32,
    beta2: f32,
    /// `1 − β1`, `1 − β2`.
    rest1: f32,
    rest2: f32,
    /// How the bias corrections enter the step: Burn's AdamW divides each moment by its
    /// correction; its Adam (PyTorch's form) scales `m` by `√(1 − β2^t)/(1 − β1^t)` and adds
    /// `eps·√(1 − β2^t)` to `√v`. Each is followed, so both stay bit-exact.
    correction: Correction,
    lr: f32,
    /// Adam's L2 penalty (0 for AdamW).
    penalty: f32,
    /// AdamW's `1 − lr·wd`; 1 when there is no decoupled decay.
    keep: f32,
}

impl Rule {
    fn new(step: &AdamStep) -> Self {
        let hyper = &step.hyper;
        let decay_rate = step.lr * hyper.weight_decay as f64;
        Self {
            beta1: hyper.beta1,
            beta2: hyper.beta2,
            rest1: 1.0 - hyper.beta1,
            rest2: 1.0 - hyper.beta2,
            correction: Correction::new(step),
            lr: step.lr as f32,
            penalty: if hyper.decoupled {
                0.0
            } else {
                hyper.weight_decay
            },
            keep: if hyper.decoupled && decay_rate != 0.0 {
                (1.0 - decay_rate) as f32
            } else {
                1.0
            },
        }
    }

    /// `[p, m, v]` after the step from parameter `p`, gradient `g` and the previous moments, the
    /// moments corrected by `delta` (the form of [`Rule::correction`]); `PENALTY` when the L2
    /// penalty is not zero.
    #[inline(always)]
    fn apply<const PENALTY: bool>(
        &self,
        p: f32,
        g: f32,
        moments: Option<(f32, f32)>,
        delta: impl Fn(f32, f32) -> f32,
    ) -> [f32; 3] {
        let g = if PENALTY { p * self.penalty + g } else { g };
        let (m, v) = match moments {
            Some((m, v)) => (
                m * self.beta1 + g * self.rest1,
                v * self.beta2 + g * g * self.rest2,
            ),
            None => (g * self.rest1, g * g * self.rest2),
        };
        // Multiplying by 1 changes no value, so no decay is the same multiplication.
        [p * self.keep - delta(m, v) * self.lr, m, v]
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor};

    use super::*;

    fn step(time: i32, weight_decay: f32, decoupled: bool) -> AdamStep {
        AdamStep {
            hyper: AdamHyper {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay,
                decoupled,
            },
            lr: 0.1,
            time,
        }
    }

    /// Two steps by hand for p = 2, g = 0.5 then g = −1 (lr 0.1, betas 0.9 / 0.999):
    /// step 1: m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25, p ← p − 0.1·0.5/0.5 = p − 0.1;
    /// step 2: m = 0.045 − 0.1 = −0.055, v = 0.00024975 + 0.001 = 0.00124975,
    /// m̂ = −0.055/0.19 = −0.289474, v̂ = 0.00124975/0.001999 = 0.625188, p ← p + 0.1·0.366099.
    /// AdamW with wd 0.5 first scales p by 1 − 0.05; Adam with wd 0.5 adds 0.5·p to g.
    #[test]
    fn two_steps_match_the_hand_computed_update() {
        let flex = Device::flex();
        let tensor = |v: f32| Tensor::<1>::from_floats([v], &flex);
        let value = |t: &Tensor<1>| t.clone().into_data().try_to_vec::<f32>().unwrap()[0];
        let run = |weight_decay: f32, decoupled: bool, grads: [f32; 2]| {
            let (p, m, v) = fused_adam_step(
                tensor(2.0),
                tensor(grads[0]),
                None,
                step(1, weight_decay, decoupled),
            )
            .expect("flex f32 takes the fused step");
            let after_first = value(&p);
            let (p, m, v) = fused_adam_step(
                p,
                tensor(grads[1]),
                Some((m, v)),
                step(2, weight_decay, decoupled),
            )
            .unwrap();
            (after_first, value(&p), value(&m), value(&v))
        };
        let close = |got: f32, want: f64| {
            assert!((got as f64 - want).abs() < 2e-6, "{got} vs {want}");
        };

        let (first, second, m, v) = run(0.0, true, [0.5, -1.0]);
        close(first, 1.9);
        close(m, -0.055);
        close(v, 0.00124975);
        close(
            second,
            1.9 + 0.1 * (0.055 / 0.19) / ((0.00124975f64 / 0.001999).sqrt() + 1e-8),
        );

        // AdamW: p·(1 − lr·wd) before the step; the moments are the plain gradient's.
        let (first, _, m, _) = run(0.5, true, [0.5, -1.0]);
        close(first, 2.0 * 0.95 - 0.1);
        close(m, -0.055);

        // Adam's L2 penalty: g + 0.5·p, so 1.5 at the first step (p = 2).
        let (first, ..) = run(0.5, false, [0.5, -1.0]);
        // m̂ = 0.15/0.1 = 1.5, v̂ = 0.00225/0.001 = 2.25: the step is lr·1.5/1.5.
        close(
            first,
            2.0 - 0.1 * (0.15 / 0.1) / (0.00225f64 / 0.001).sqrt(),
        );
    }

    #[test]
    #[allow(deprecated)] // ndarray is deprecated in Burn 0.22 but still a supported backend here
    fn other_backends_and_tracked_tensors_keep_burns_optimiser() {
        let ndarray = Device::ndarray();
        let p = Tensor::<1>::from_floats([1.0, 2.0], &ndarray);
        assert!(fused_adam_step(p.clone(), p, None, step(1, 0.0, true)).is_none());
        let tracked = Device::flex().autodiff();
        let p = Tensor::<1>::from_floats([1.0, 2.0], &tracked).require_grad();
        assert!(fused_adam_step(p.clone(), p, None, step(1, 0.0, true)).is_none());
    }
}
