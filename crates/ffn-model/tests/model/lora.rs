//! LoRA adapters: hand-computed update, frozen bases, merge equivalence on every layer kind.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use ffn_model::{
    Activation, DenseLayers, FeedForward, FeedForwardConfig, LoraConfig, MlpConfig,
    TransformerFfnConfig,
};

use crate::{assert_close, flex, set_linear, tensor, values};

fn lora(rank: usize, alpha: f64) -> LoraConfig {
    LoraConfig {
        rank,
        alpha,
        dropout: 0.0,
    }
}

/// Gives the adapter a non-zero `B` so that it changes the output.
fn perturb(layer: FeedForward, device: &Device) -> Result<FeedForward, ()> {
    let mut layer = layer;
    if let Some(adapter) = layer.lora.as_mut() {
        let shape = adapter.b.shape();
        adapter.b = Param::from_tensor(Tensor::random(
            shape,
            Distribution::Normal(0.0, 0.5),
            device,
        ));
    }
    Ok(layer)
}

#[test]
fn adapter_adds_scaled_low_rank_update() {
    let device = flex();
    let mut layer = FeedForwardConfig::new(2, 1, Activation::Identity)
        .init(&device)
        .unwrap();
    set_linear(&mut layer.linear, &[1.0, 1.0], Some(&[0.5]), &device);
    let mut layer = layer.with_lora(&lora(1, 4.0), &device).unwrap();
    let adapter = layer.lora.as_mut().unwrap();
    adapter.a = Param::from_tensor(tensor(&[2.0, -1.0], [2, 1], &device));
    adapter.b = Param::from_tensor(tensor(&[0.25], [1, 1], &device));
    // x = [1, 3]: base 1 + 3 + 0.5 = 4.5; update (4/1) * ((1*2 + 3*-1) * 0.25) = -1.
    let y = layer.forward(tensor(&[1.0, 3.0], [1, 2], &device)).unwrap();
    assert_close(&values(y), &[3.5], 1e-6, 0.0, "lora output");
    let merged = layer.merge_lora();
    assert!(merged.lora.is_none());
    assert_close(
        &values(merged.linear.weight.val()),
        &[3.0, 0.0],
        1e-6,
        0.0,
        "W + ΔW",
    );
}

#[test]
fn new_adapter_leaves_outputs_unchanged_and_only_factors_get_gradients() {
    let device = flex().autodiff();
    let layer = FeedForwardConfig::new(4, 3, Activation::Tanh)
        .init(&device)
        .unwrap();
    let x = Tensor::<2>::random([5, 4], Distribution::Normal(0.0, 1.0), &device);
    let before = values(layer.forward(x.clone()).unwrap());
    let adapted = layer.with_lora(&lora(2, 4.0), &device).unwrap();
    let after = values(adapted.forward(x.clone()).unwrap());
    assert_eq!(before, after, "B starts at zero");
    assert!(adapted.clone().with_lora(&lora(2, 4.0), &device).is_err());

    let grads = adapted.forward(x).unwrap().sum().backward();
    assert!(
        adapted.linear.weight.grad(&grads).is_none(),
        "base weight frozen"
    );
    assert!(
        adapted.linear.bias.as_ref().unwrap().grad(&grads).is_none(),
        "bias frozen"
    );
    let adapter = adapted.lora.as_ref().unwrap();
    assert!(adapter.a.grad(&grads).is_some() && adapter.b.grad(&grads).is_some());
}

#[test]
fn merging_keeps_outputs_of_every_layer_kind() {
    let device = flex();
    device.seed(3);
    let x = Tensor::<3>::random([2, 5, 16], Distribution::Normal(0.0, 1.0), &device);
    let adapt = |layer: FeedForward| -> Result<FeedForward, ()> {
        perturb(layer.with_lora(&lora(4, 8.0), &device).unwrap(), &device)
    };

    let mlp = MlpConfig::new(16, vec![32, 24], 16)
        .with_activation(Activation::Gelu)
        .init(&device)
        .unwrap()
        .map_dense(&mut |_, layer| adapt(layer))
        .unwrap();
    assert_eq!(mlp.dense_layers().len(), 3);
    let merged = mlp
        .clone()
        .map_dense(&mut |_, l| Ok::<_, ()>(l.merge_lora()));
    let merged = merged.unwrap();
    assert!(merged.dense_layers().iter().all(|(_, l)| l.lora.is_none()));
    assert_close(
        &values(merged.forward(x.clone()).unwrap()),
        &values(mlp.forward(x.clone()).unwrap())
            .iter()
            .map(|&v| f64::from(v))
            .collect::<Vec<_>>(),
        1e-5,
        0.0,
        "mlp",
    );

    for (name, config) in [
        ("bert", TransformerFfnConfig::bert(16, 48)),
        ("llama", TransformerFfnConfig::llama(16, 48)),
    ] {
        let block = config.init(&device).unwrap();
        let names: Vec<String> = block.dense_layers().into_iter().map(|(n, _)| n).collect();
        let block = block.map_dense(&mut |_, layer| adapt(layer)).unwrap();
        let adapted = values(block.forward(x.clone()).unwrap());
        let base_changed = {
            let plain = block.clone().map_dense(&mut |_, mut l| {
                l.lora = None;
                Ok::<_, ()>(l)
            });
            values(plain.unwrap().forward(x.clone()).unwrap()) != adapted
        };
        assert!(
            base_changed,
            "{name}: the perturbed adapters change the output"
        );
        let merged = block
            .map_dense(&mut |_, l| Ok::<_, ()>(l.merge_lora()))
            .unwrap();
        let expected: Vec<f64> = adapted.iter().map(|&v| f64::from(v)).collect();
        assert_close(
            &values(merged.forward(x.clone()).unwrap()),
            &expected,
            1e-5,
            0.0,
            name,
        );
        let expected_names = if name == "llama" {
            vec!["up", "gate", "down"]
        } else {
            vec!["up", "down"]
        };
        assert_eq!(names, expected_names);
    }
    assert!(lora(0, 1.0).validate().is_err());
    assert!(lora(2, -1.0).validate().is_err());
    assert!(
        LoraConfig {
            dropout: 1.0,
            ..lora(2, 1.0)
        }
        .validate()
        .is_err()
    );
}
