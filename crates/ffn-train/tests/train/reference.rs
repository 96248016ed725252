//! Losses, optimiser steps and gradient clipping against PyTorch
//! (fixtures/torch_reference.json, made by fixtures/make_torch_reference.py).

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::prelude::*;
use ffn_train::{
    AdamParams, OptimizerConfig, SgdParams, binary_cross_entropy_with_logits, clip_global_norm,
    cross_entropy, huber, mse,
};
use serde::Deserialize;

use crate::assert_close;

#[derive(Deserialize)]
struct CrossEntropyCase {
    weights: Option<Vec<f64>>,
    label_smoothing: f64,
    loss: f64,
}

#[derive(Deserialize)]
struct Bce {
    logits: Vec<f64>,
    targets: Vec<f64>,
    loss: f64,
}

#[derive(Deserialize)]
struct Regression {
    pred: Vec<f64>,
    target: Vec<f64>,
    shape: [usize; 2],
    mse: f64,
    huber_1: f64,
    #[serde(rename = "huber_0.5")]
    huber_half: f64,
}

#[derive(Deserialize)]
struct Losses {
    logits: Vec<f64>,
    logits_shape: [usize; 2],
    targets: Vec<i64>,
    cross_entropy: Vec<CrossEntropyCase>,
    bce: Bce,
    regression: Regression,
}

#[derive(Deserialize)]
struct Optimizers {
    shape: [usize; 2],
    start: Vec<f64>,
    grads: Vec<Vec<f64>>,
    lr: f64,
    trajectories: std::collections::BTreeMap<String, Vec<Vec<f64>>>,
}

#[derive(Deserialize)]
struct Clipping {
    a: Vec<f64>,
    b: Vec<f64>,
    max_norm: f64,
    norm: f64,
    clipped_a: Vec<f64>,
    clipped_b: Vec<f64>,
}

#[derive(Deserialize)]
struct Reference {
    losses: Losses,
    optimizers: Optimizers,
    clipping: Clipping,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/torch_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn tensor<const D: usize>(values: &[f64], shape: [usize; D], device: &Device) -> Tensor<D> {
    let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn scalar(t: Tensor<1>) -> f64 {
    f64::from(t.into_scalar::<f32>())
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

#[test]
fn losses_match_pytorch() {
    let device = Device::flex();
    let l = reference().losses;
    let logits = || tensor(&l.logits, l.logits_shape, &device);
    let targets = || {
        Tensor::<1, Int>::from_data(
            TensorData::new(l.targets.clone(), [l.targets.len()]),
            &device,
        )
    };
    assert_eq!(l.cross_entropy.len(), 4);
    for case in &l.cross_entropy {
        let got = scalar(cross_entropy(
            logits(),
            targets(),
            case.weights.as_deref(),
            case.label_smoothing,
        ));
        let what = format!("cross-entropy {:?} {}", case.weights, case.label_smoothing);
        assert_close(&[got as f32], &[case.loss], 2e-6, &what);
    }
    let n = l.bce.logits.len();
    let bce = binary_cross_entropy_with_logits(
        tensor(&l.bce.logits, [n], &device),
        tensor(&l.bce.targets, [n], &device),
    );
    assert_close(&[scalar(bce) as f32], &[l.bce.loss], 2e-6, "bce");
    let r = &l.regression;
    let pred = || tensor(&r.pred, r.shape, &device);
    let target = || tensor(&r.target, r.shape, &device);
    assert_close(
        &[scalar(mse(pred(), target())) as f32],
        &[r.mse],
        2e-6,
        "mse",
    );
    assert_close(
        &[scalar(huber(pred(), target(), 1.0)) as f32],
        &[r.huber_1],
        2e-6,
        "huber 1",
    );
    assert_close(
        &[scalar(huber(pred(), target(), 0.5)) as f32],
        &[r.huber_half],
        2e-6,
        "huber 0.5",
    );
}

/// The optimiser configs the generator's `OPTIMISERS` describe, by name.
fn optimizer(name: &str) -> OptimizerConfig {
    let sgd = |momentum, dampening, nesterov, weight_decay| {
        OptimizerConfig::Sgd(SgdParams {
            momentum,
            dampening,
            nesterov,
            weight_decay,
        })
    };
    let adam = |weight_decay, amsgrad| AdamParams {
        amsgrad,
        ..AdamParams::with_weight_decay(weight_decay)
    };
    match name {
        "sgd" => OptimizerConfig::from_name("sgd").unwrap(),
        "sgd_momentum" => sgd(0.9, 0.0, false, 0.0),
        "sgd_nesterov_wd" => sgd(0.9, 0.0, true, 0.01),
        "sgd_dampening" => sgd(0.8, 0.1, false, 0.0),
        "adam" => OptimizerConfig::from_name("adam").unwrap(),
        "adam_wd" => OptimizerConfig::Adam(adam(0.01, false)),
        "adam_amsgrad" => OptimizerConfig::Adam(adam(0.0, true)),
        "adamw" => OptimizerConfig::from_name("adamw").unwrap(),
        "adamw_wd" => OptimizerConfig::Adamw(AdamParams {
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
            weight_decay: 0.1,
            amsgrad: false,
        }),
        other => panic!("fixture names an unknown optimiser {other}"),
    }
}

#[test]
fn optimizer_steps_match_pytorch() {
    let device = Device::flex().autodiff();
    let plain = Device::flex();
    let o = reference().optimizers;
    assert_eq!(o.trajectories.len(), 9);
    for (name, trajectory) in &o.trajectories {
        let mut optim = optimizer(name).init();
        let mut layer: Linear = LinearConfig::new(o.shape[0], o.shape[1])
            .with_bias(false)
            .init(&device);
        layer.weight = Param::from_tensor(tensor(&o.start, o.shape, &device));
        for (step, (grad, expected)) in o.grads.iter().zip(trajectory).enumerate() {
            let mut grads = GradientsParams::new();
            grads.register(layer.weight.id, tensor(grad, o.shape, &plain));
            layer = optim.step(o.lr, layer, grads);
            let got = values(layer.weight.val().inner());
            assert_close(&got, expected, 2e-5, &format!("{name} step {}", step + 1));
        }
    }
}

#[test]
fn global_norm_clipping_matches_pytorch() {
    let device = Device::flex().autodiff();
    let plain = Device::flex();
    let c = reference().clipping;
    let layer: Linear = LinearConfig::new(3, 2).init(&device);
    let mut grads = GradientsParams::new();
    grads.register(layer.weight.id, tensor(&c.a, [3, 2], &plain));
    let bias_id = layer.bias.as_ref().unwrap().id;
    grads.register(bias_id, tensor(&c.b, [2], &plain));
    let norm = clip_global_norm(&layer, &mut grads, c.max_norm);
    assert_close(&[norm as f32], &[c.norm], 1e-6, "norm");
    assert_close(
        &values(grads.get::<2>(layer.weight.id).unwrap()),
        &c.clipped_a,
        1e-6,
        "a",
    );
    assert_close(
        &values(grads.get::<1>(bias_id).unwrap()),
        &c.clipped_b,
        1e-6,
        "b",
    );
    assert_eq!(layer.num_params(), 8);
}
