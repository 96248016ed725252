//! The same layers give matching outputs and gradients on flex, ndarray and (where an adapter
//! exists) wgpu. Tolerances: |a - b| ≤ 1e-5 + 1e-5·|b| between the CPU backends, and ≤ 1e-3 + 1e-3·|b| between flex and wgpu (other
//! kernels, other summation order).

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use ffn_model::{
    Activation, FeedForwardConfig, FfnVariant, MlpConfig, MoeFfnConfig, NormKind,
    TransformerFfnConfig,
};

use crate::{assert_close, flex, ndarray, values, wgpu};

const CPU_TOL: f64 = 1e-5;
const WGPU_TOL: f64 = 1e-3;

/// Output and input gradient of `sum(forward(x) * r)` on `device`, with the module's weights
/// copied from `reference` (built on flex).
fn run_on<M: Module, const D: usize>(
    reference: &M,
    build: &impl Fn(&Device) -> M,
    forward: &impl Fn(&M, Tensor<D>) -> Tensor<D>,
    x: &[f32],
    shape: [usize; D],
    device: &Device,
) -> (Vec<f32>, Vec<f32>) {
    let device = device.clone().autodiff();
    let model = build(&device)
        .try_load_record(reference.clone().into_record())
        .unwrap();
    let x = Tensor::<D>::from_data(TensorData::new(x.to_vec(), shape), &device).require_grad();
    let out = forward(&model, x.clone());
    let weights = Tensor::<D>::ones(out.shape(), &device).cumsum(D - 1) / 7.0;
    let grads = (out.clone() * weights).sum().backward();
    (values(out.inner()), values(x.grad(&grads).unwrap()))
}

fn compare<M: Module, const D: usize>(
    name: &str,
    build: impl Fn(&Device) -> M,
    forward: impl Fn(&M, Tensor<D>) -> Tensor<D>,
    shape: [usize; D],
) {
    let cpu = flex();
    cpu.seed(3);
    let reference = build(&cpu);
    let x = values(Tensor::<D>::random(
        shape,
        Distribution::Normal(0.0, 1.0),
        &cpu,
    ));
    let (out, grad) = run_on(&reference, &build, &forward, &x, shape, &cpu);
    let widen = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<_>>();
    let mut others = vec![("ndarray", ndarray(), CPU_TOL)];
    if let Some(gpu) = wgpu() {
        others.push(("wgpu", gpu, WGPU_TOL));
    }
    for (backend, device, tol) in others {
        let (o, g) = run_on(&reference, &build, &forward, &x, shape, &device);
        assert_close(
            &o,
            &widen(&out),
            tol,
            tol,
            &format!("{name} output on {backend}"),
        );
        assert_close(
            &g,
            &widen(&grad),
            tol,
            tol,
            &format!("{name} gradient on {backend}"),
        );
    }
}

#[test]
fn layers_agree_across_backends() {
    compare(
        "dense",
        |d| {
            FeedForwardConfig::new(16, 8, Activation::Gelu)
                .init(d)
                .unwrap()
        },
        |m, x| m.forward(x).unwrap(),
        [4, 16],
    );
    compare(
        "mlp",
        |d| {
            MlpConfig::new(16, vec![32, 16], 4)
                .with_norm(Some(NormKind::LayerNorm))
                .init(d)
                .unwrap()
        },
        |m, x| m.forward(x).unwrap(),
        [4, 16],
    );
    compare(
        "mlp rms-norm silu",
        |d| {
            MlpConfig::new(16, vec![24], 4)
                .with_activation(Activation::Silu)
                .with_norm(Some(NormKind::RmsNorm))
                .init(d)
                .unwrap()
        },
        |m, x| m.forward(x).unwrap(),
        [4, 16],
    );
    for (name, config) in [
        ("bert", TransformerFfnConfig::bert(16, 32)),
        ("gpt2", TransformerFfnConfig::gpt2(16, 32)),
        ("llama", TransformerFfnConfig::llama(16, 32)),
        (
            "geglu without residual or norm",
            TransformerFfnConfig::new(16, 32).with_variant(FfnVariant::Gated),
        ),
    ] {
        compare(
            name,
            |d| config.init(d).unwrap(),
            |m, x| m.forward(x).unwrap(),
            [2, 3, 16],
        );
    }
    compare(
        "moe",
        |d| {
            MoeFfnConfig::new(16, 24, 4, 2)
                .with_shared_d_ff(Some(8))
                .init(d)
                .unwrap()
        },
        |m, x| m.forward(x).unwrap().0,
        [2, 3, 16],
    );
}
