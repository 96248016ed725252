//! Every layer variant against outputs computed by PyTorch (fixtures/torch_reference.json, made by
//! fixtures/make_torch_reference.py). Tolerance: 1e-5 + 1e-5·|expected| in fp32.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use ffn_model::{
    Activation, FeedForwardConfig, FfnVariant, MlpConfig, Norm, NormKind, NormPlacement,
    TransformerFfnConfig,
};
use serde::Deserialize;

use crate::{assert_close, flex, set_linear, tensor, values};

const TOL: f64 = 1e-5;

#[derive(Deserialize)]
struct Flat {
    shape: Vec<usize>,
    data: Vec<f64>,
}

#[derive(Deserialize)]
struct LinearWeights {
    weight: Flat,
    bias: Option<Flat>,
}

#[derive(Deserialize)]
struct NormWeights {
    gamma: Flat,
    beta: Option<Flat>,
}

#[derive(Deserialize)]
struct Activations {
    x: Vec<f64>,
    outputs: std::collections::BTreeMap<String, Vec<f64>>,
}

#[derive(Deserialize)]
struct DenseCase {
    activation: String,
    x: Flat,
    weight: Flat,
    bias: Option<Flat>,
    y: Flat,
}

#[derive(Deserialize)]
struct MlpLayer {
    weight: Flat,
    bias: Option<Flat>,
    norm: Option<NormWeights>,
}

#[derive(Deserialize)]
struct MlpCase {
    norm: Option<NormKind>,
    activation: String,
    d_input: usize,
    hidden: Vec<usize>,
    d_output: usize,
    x: Flat,
    layers: Vec<MlpLayer>,
    output: LinearWeights,
    y: Flat,
}

#[derive(Deserialize)]
struct FfnCase {
    name: String,
    d_model: usize,
    d_ff: usize,
    x: Flat,
    up: LinearWeights,
    gate: Option<LinearWeights>,
    down: LinearWeights,
    norm: Option<NormWeights>,
    y: Flat,
}

#[derive(Deserialize)]
struct Reference {
    activations: Activations,
    feed_forward: Vec<DenseCase>,
    mlp: Vec<MlpCase>,
    transformer_ffn: Vec<FfnCase>,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/torch_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn load_linear(linear: &mut Linear, weights: &LinearWeights, device: &Device) {
    let bias = weights.bias.as_ref().map(|b| b.data.as_slice());
    set_linear(linear, &weights.weight.data, bias, device);
}

fn load_norm(norm: &mut Norm, weights: &NormWeights, device: &Device) {
    let vector = |f: &Flat| Param::from_tensor(tensor(&f.data, [f.data.len()], device));
    match norm {
        Norm::Layer(layer) => {
            layer.gamma = vector(&weights.gamma);
            layer.beta = weights.beta.as_ref().map(vector);
        }
        Norm::Rms(rms) => rms.gamma = vector(&weights.gamma),
    }
}

fn input<const D: usize>(flat: &Flat, device: &Device) -> Tensor<D> {
    let shape: [usize; D] = flat.shape.clone().try_into().unwrap();
    tensor(&flat.data, shape, device)
}

#[test]
fn activations_match_pytorch() {
    let device = flex();
    let reference = reference().activations;
    assert_eq!(reference.outputs.len(), 16);
    for (name, expected) in &reference.outputs {
        let activation: Activation = name.parse().unwrap();
        let x = tensor(&reference.x, [reference.x.len()], &device);
        assert_close(&values(activation.forward(x)), expected, TOL, TOL, name);
    }
}

#[test]
fn feed_forward_matches_pytorch() {
    let device = flex();
    let cases = reference().feed_forward;
    assert_eq!(cases.len(), 32);
    for case in cases {
        let [units, d_input] = case.weight.shape[..] else {
            panic!("weight rank")
        };
        let mut layer = FeedForwardConfig::new(d_input, units, case.activation.parse().unwrap())
            .with_bias(case.bias.is_some())
            .init(&device)
            .unwrap();
        let bias = case.bias.as_ref().map(|b| b.data.as_slice());
        set_linear(&mut layer.linear, &case.weight.data, bias, &device);
        let y = layer.forward(input::<2>(&case.x, &device)).unwrap();
        let what = format!("dense {} bias={}", case.activation, case.bias.is_some());
        assert_close(&values(y), &case.y.data, TOL, TOL, &what);
    }
}

#[test]
fn mlp_matches_pytorch() {
    let device = flex();
    for case in reference().mlp {
        let mut mlp = MlpConfig::new(case.d_input, case.hidden.clone(), case.d_output)
            .with_activation(case.activation.parse().unwrap())
            .with_norm(case.norm)
            .init(&device)
            .unwrap();
        for (layer, weights) in mlp.hidden.iter_mut().zip(&case.layers) {
            let bias = weights.bias.as_ref().map(|b| b.data.as_slice());
            set_linear(&mut layer.dense.linear, &weights.weight.data, bias, &device);
            if let (Some(norm), Some(w)) = (layer.norm.as_mut(), weights.norm.as_ref()) {
                load_norm(norm, w, &device);
            }
        }
        load_linear(&mut mlp.output.linear, &case.output, &device);
        let y = mlp.forward(input::<2>(&case.x, &device)).unwrap();
        assert_close(
            &values(y),
            &case.y.data,
            TOL,
            TOL,
            &format!("mlp {:?}", case.norm),
        );
    }
}

/// The configs the generator's `transformer_ffn()` describes, by name.
fn ffn_config(name: &str, d_model: usize, d_ff: usize) -> TransformerFfnConfig {
    match name {
        "bert" => TransformerFfnConfig::bert(d_model, d_ff),
        "gpt2" => TransformerFfnConfig::gpt2(d_model, d_ff),
        "llama" => TransformerFfnConfig::llama(d_model, d_ff),
        "geglu_plain" => TransformerFfnConfig::new(d_model, d_ff).with_variant(FfnVariant::Gated),
        "reglu_post_rms" => TransformerFfnConfig::new(d_model, d_ff)
            .with_activation(Activation::Relu)
            .with_variant(FfnVariant::Gated)
            .with_norm(NormPlacement::Post)
            .with_norm_kind(NormKind::RmsNorm),
        other => panic!("fixture names an unknown block {other}"),
    }
}

#[test]
fn transformer_ffn_matches_pytorch() {
    let device = flex();
    let cases = reference().transformer_ffn;
    assert_eq!(cases.len(), 5);
    for case in cases {
        let mut ffn = ffn_config(&case.name, case.d_model, case.d_ff)
            .init(&device)
            .unwrap();
        load_linear(&mut ffn.up.linear, &case.up, &device);
        load_linear(&mut ffn.down.linear, &case.down, &device);
        if let (Some(gate), Some(w)) = (ffn.gate.as_mut(), case.gate.as_ref()) {
            load_linear(&mut gate.linear, w, &device);
        }
        if let (Some(norm), Some(w)) = (ffn.norm.as_mut(), case.norm.as_ref()) {
            load_norm(norm, w, &device);
        }
        assert_eq!(ffn.gate.is_some(), case.gate.is_some(), "{}", case.name);
        assert_eq!(ffn.norm.is_some(), case.norm.is_some(), "{}", case.name);
        let y = ffn.forward(input::<3>(&case.x, &device)).unwrap();
        assert_close(&values(y), &case.y.data, TOL, TOL, &case.name);
    }
}
