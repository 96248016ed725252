//! Autodiff gradients of every layer and activation against central finite differences.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::{Distribution, Gradients};
use ffn_model::{
    Activation, FeedForwardConfig, FfnVariant, MlpConfig, MoeFfnConfig, NormKind, NormPlacement,
    TransformerFfnConfig,
};

use crate::{flex, tensor, values};

/// Step of the central differences; the sums are computed in f32.
const EPS: f64 = 1e-2;
/// Tolerance: `abs + rel * |analytic|`.
const ABS: f64 = 3e-3;
const REL: f64 = 2e-2;
/// Elements checked per parameter tensor (spread over the tensor).
const SAMPLES: usize = 5;

/// Collects every float parameter's values and its gradient.
struct Collect<'a> {
    grads: &'a Gradients,
    params: Vec<(Vec<f32>, Vec<f32>)>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let grad = value
            .grad(self.grads)
            .map(values)
            .expect("every parameter takes part in the loss");
        self.params.push((values(value.inner()), grad));
    }
}

/// Adds `delta` to element `element` of the `target`-th float parameter.
struct Perturb {
    target: usize,
    element: usize,
    delta: f64,
    seen: usize,
}

impl ModuleMapper for Perturb {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let index = self.seen;
        self.seen += 1;
        if index != self.target {
            return param;
        }
        let (element, delta) = (self.element, self.delta);
        param.map(|t| {
            let device = t.device();
            let shape = t.shape();
            let mut data: Vec<f64> = values(t).into_iter().map(f64::from).collect();
            data[element] += delta;
            let flat = tensor(&data, [data.len()], &device);
            flat.reshape(shape)
        })
    }
}

fn sample_indices(len: usize) -> Vec<usize> {
    let step = (len / SAMPLES).max(1);
    (0..len).step_by(step).take(SAMPLES).collect()
}

#[track_caller]
fn assert_gradient(what: &str, analytic: f32, numeric: f64) {
    let analytic = analytic as f64;
    assert!(
        (analytic - numeric).abs() <= ABS + REL * analytic.abs(),
        "{what}: autodiff {analytic}, finite difference {numeric}"
    );
}

/// Checks d(sum(forward(x) · r))/dx and /dθ for every parameter θ against central differences.
fn check_gradients<M: Module, const D: usize>(
    name: &str,
    build: impl Fn(&Device) -> M,
    forward: impl Fn(&M, Tensor<D>) -> Tensor<D>,
    input_shape: [usize; D],
) {
    let device = flex().autodiff();
    device.seed(7);
    let model = build(&device);
    let x =
        Tensor::<D>::random(input_shape, Distribution::Normal(0.0, 1.0), &device).require_grad();
    let out = forward(&model, x.clone());
    let r = Tensor::<D>::random(out.shape(), Distribution::Normal(0.0, 1.0), &device);
    let loss = (out * r.clone()).sum();
    let grads = loss.backward();
    let input_grad = values(x.grad(&grads).expect("input gradient"));
    let mut collect = Collect {
        grads: &grads,
        params: Vec::new(),
    };
    model.visit(&mut collect);

    let plain = model.valid();
    let x_values: Vec<f64> = values(x.inner()).into_iter().map(f64::from).collect();
    let r = r.inner();
    let inner = device.inner();
    let loss_at = |m: &M, xs: &[f64]| -> f64 {
        let x = tensor(xs, input_shape, &inner);
        f64::from(values((forward(m, x) * r.clone()).sum())[0])
    };

    for i in sample_indices(x_values.len()) {
        let (mut plus, mut minus) = (x_values.clone(), x_values.clone());
        plus[i] += EPS;
        minus[i] -= EPS;
        let numeric = (loss_at(&plain, &plus) - loss_at(&plain, &minus)) / (2.0 * EPS);
        assert_gradient(&format!("{name} input[{i}]"), input_grad[i], numeric);
    }
    for (p, (param, grad)) in collect.params.iter().enumerate() {
        for e in sample_indices(param.len()) {
            let shifted = |delta| {
                let mut mapper = Perturb {
                    target: p,
                    element: e,
                    delta,
                    seen: 0,
                };
                loss_at(&plain.clone().map(&mut mapper), &x_values)
            };
            let numeric = (shifted(EPS) - shifted(-EPS)) / (2.0 * EPS);
            assert_gradient(&format!("{name} param {p}[{e}]"), grad[e], numeric);
        }
    }
}

#[test]
fn feed_forward_gradients() {
    for (activation, bias) in [(Activation::Gelu, true), (Activation::Silu, false)] {
        check_gradients(
            &format!("FeedForward({activation}, bias={bias})"),
            |d| {
                FeedForwardConfig::new(5, 4, activation)
                    .with_bias(bias)
                    .init(d)
                    .unwrap()
            },
            |m, x| m.forward(x).unwrap(),
            [3, 5],
        );
    }
}

#[test]
fn mlp_gradients() {
    for norm in [None, Some(NormKind::LayerNorm), Some(NormKind::RmsNorm)] {
        check_gradients(
            &format!("Mlp(norm={norm:?})"),
            |d| {
                MlpConfig::new(4, vec![6, 5], 3)
                    .with_activation(Activation::Tanh)
                    .with_norm(norm)
                    .init(d)
                    .unwrap()
            },
            |m, x| m.forward(x).unwrap(),
            [4, 4],
        );
    }
}

#[test]
fn transformer_ffn_gradients() {
    let configs = [
        (
            "bert",
            TransformerFfnConfig::bert(6, 12).with_norm_epsilon(1e-5),
        ),
        ("gpt2", TransformerFfnConfig::gpt2(6, 12)),
        ("llama", TransformerFfnConfig::llama(6, 12)),
        (
            "geglu",
            TransformerFfnConfig::new(6, 12)
                .with_variant(FfnVariant::Gated)
                .with_norm(NormPlacement::None),
        ),
    ];
    for (name, config) in configs {
        check_gradients(
            name,
            |d| config.init(d).unwrap(),
            |m, x| m.forward(x).unwrap(),
            [2, 3, 6],
        );
    }
}

#[test]
fn activation_gradients_match_finite_differences() {
    // Away from the kinks of relu (0) and relu6 (0, 6).
    let grid = [
        -4.0, -2.5, -1.2, -0.7, -0.3, 0.2, 0.6, 1.1, 2.3, 4.0, 5.5, 7.0,
    ];
    let inner = flex();
    let device = inner.clone().autodiff();
    for activation in Activation::all() {
        let x = tensor(&grid, [grid.len()], &device).require_grad();
        let grads = activation.forward(x.clone()).sum().backward();
        let analytic = values(x.grad(&grads).unwrap());
        for (i, &g) in analytic.iter().enumerate() {
            let at = |v: f64| f64::from(values(activation.forward(tensor(&[v], [1], &inner)))[0]);
            let numeric = (at(grid[i] + 1e-3) - at(grid[i] - 1e-3)) / 2e-3;
            assert_gradient(&format!("{activation}'({})", grid[i]), g, numeric);
        }
    }
}

#[test]
fn activation_gradients_stay_finite_at_extremes() {
    let grid = [-1e4, -100.0, -30.0, 30.0, 100.0, 1e4];
    let device = flex().autodiff();
    for activation in Activation::all() {
        let x = tensor(&grid, [grid.len()], &device).require_grad();
        let grads = activation.forward(x.clone()).sum().backward();
        let g = values(x.grad(&grads).unwrap());
        assert!(g.iter().all(|v| v.is_finite()), "{activation}: {g:?}");
    }
}

/// Every expert chosen (k = E), so that no step of the finite differences can change which
/// experts compute and every parameter has a gradient; the selection itself is tested against
/// a dense computation in `moe.rs`.
#[test]
fn moe_gradients() {
    check_gradients(
        "moe",
        |d| {
            MoeFfnConfig::new(8, 12, 3, 3)
                .with_norm_topk_prob(false)
                .with_shared_d_ff(Some(6))
                .with_shared_gate(true)
                .init(d)
                .unwrap()
        },
        |m, x| m.forward(x).unwrap().0,
        [2, 3, 8],
    );
}
