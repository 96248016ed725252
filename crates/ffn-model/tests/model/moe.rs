//! Mixture-of-experts FFN: imported Mixtral, OLMoE and Qwen2-MoE blocks match the transformers
//! modules (fixtures from `tests/fixtures/make_moe_fixtures.py`); the sparse dispatch equals a
//! dense computation of every expert; capacity limits drop the right tokens; bad configs and
//! checkpoints are clear errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::softmax;
use ffn_model::{
    FfnKind, ModelError, MoeFfnConfig, MoeLayout, SafeTensors, import_hf_moe, write_safetensors,
};
use serde_json::Value;

use crate::{assert_close, flex, floats, tensor, values};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf_moe")
}

fn hf_config(family: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(family).join("config.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn imported_blocks_match_transformers() {
    let text = std::fs::read_to_string(fixtures().join("moe_fixtures.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    let device = flex();
    for (family, layout) in [
        ("mixtral", MoeLayout::Mixtral),
        ("olmoe", MoeLayout::Olmoe),
        ("qwen2_moe", MoeLayout::Qwen2Moe),
    ] {
        let file = SafeTensors::open(&fixtures().join(family).join("model.safetensors")).unwrap();
        let imported = import_hf_moe(&file, layout, 0, &hf_config(family), &device).unwrap();
        let case = &all[family];
        let x = tensor(&floats(&case["x"]), [2, 5, 8], &device);
        let (y, stats) = imported.block.forward(x).unwrap();
        let what = format!("{family} ({})", case["class"]);
        assert_close(&values(y), &floats(&case["y"]), 1e-5, 1e-5, &what);
        let aux = f64::from(values(stats.load_balancing)[0]);
        let expected = case["load_balancing"].as_f64().unwrap();
        assert!(
            (aux - expected).abs() < 1e-5,
            "{what}: load balancing {aux} against {expected}"
        );
        assert_eq!(stats.tokens_per_expert.iter().sum::<usize>(), 10 * 2);
        assert_eq!(
            imported.config.norm_topk_prob,
            family == "mixtral",
            "{family}"
        );
        assert_eq!(imported.block.shared.is_some(), family == "qwen2_moe");
    }
}

/// The block's output computed densely on the host side of the test: every expert on every
/// token, combined with the top-k probabilities.
#[test]
fn sparse_dispatch_equals_every_expert_computed_densely() {
    let device = flex();
    device.seed(5);
    for norm_topk_prob in [true, false] {
        let block = MoeFfnConfig::new(8, 12, 5, 2)
            .with_expert(FfnKind::Geglu)
            .with_norm_topk_prob(norm_topk_prob)
            .with_shared_d_ff(Some(6))
            .with_bias(true)
            .init(&device)
            .unwrap();
        let x = Tensor::<2>::random([7, 8], Distribution::Normal(0.0, 1.0), &device);
        let (y, stats) = block.forward(x.clone()).unwrap();
        let probs = values(softmax(block.router.forward(x.clone()).unwrap(), 1));
        let outputs: Vec<Vec<f32>> = block
            .experts
            .iter()
            .map(|e| values(e.forward(x.clone()).unwrap()))
            .collect();
        let shared = values(block.shared.as_ref().unwrap().forward(x.clone()).unwrap());
        let mut expected = vec![0.0f64; 7 * 8];
        let mut counts = vec![0usize; 5];
        for t in 0..7 {
            let row = &probs[t * 5..(t + 1) * 5];
            let mut order: Vec<usize> = (0..5).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            let top = &order[..2];
            let total: f32 = top.iter().map(|&e| row[e]).sum();
            for &e in top {
                counts[e] += 1;
                let w = if norm_topk_prob {
                    row[e] / total
                } else {
                    row[e]
                };
                for d in 0..8 {
                    expected[t * 8 + d] += f64::from(w * outputs[e][t * 8 + d]);
                }
            }
            for d in 0..8 {
                expected[t * 8 + d] += f64::from(shared[t * 8 + d]);
            }
        }
        assert_close(&values(y), &expected, 1e-5, 1e-5, "sparse against dense");
        assert_eq!(stats.tokens_per_expert, counts);
        assert_eq!(stats.dropped, 0);
    }
}

#[test]
fn capacity_drops_the_tokens_past_it_and_the_residual_carries_them() {
    let device = flex();
    device.seed(9);
    let config = MoeFfnConfig::new(4, 8, 2, 1).with_residual(true);
    let block = config
        .clone()
        .with_capacity_factor(Some(0.5))
        .init(&device)
        .unwrap();
    let free = config.init(&device).unwrap();
    let free = ffn_model::MoeFfn {
        router: block.router.clone(),
        experts: block.experts.clone(),
        ..free
    };
    let x = Tensor::<2>::random([12, 4], Distribution::Normal(0.0, 1.0), &device);
    let (limited, stats) = block.forward(x.clone()).unwrap();
    let (unlimited, all) = free.forward(x.clone()).unwrap();
    // Capacity ceil(0.5 · 12 · 1 / 2) = 3 tokens per expert, the first routed to it.
    assert!(stats.tokens_per_expert.iter().all(|&n| n <= 3));
    let sent: usize = all.tokens_per_expert.iter().map(|&n| n.min(3)).sum();
    assert_eq!(stats.tokens_per_expert.iter().sum::<usize>(), sent);
    assert_eq!(stats.dropped, 12 - sent);
    let (limited, unlimited, x) = (values(limited), values(unlimited), values(x));
    let chosen = values(
        block
            .router
            .forward(tensor(
                &x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
                [12, 4],
                &device,
            ))
            .unwrap(),
    );
    let mut taken = [0usize; 2];
    for t in 0..12 {
        let expert = usize::from(chosen[t * 2 + 1] > chosen[t * 2]);
        taken[expert] += 1;
        let row = t * 4..(t + 1) * 4;
        let want = if taken[expert] <= 3 {
            &unlimited[row.clone()]
        } else {
            &x[row.clone()]
        };
        let got: Vec<f64> = want.iter().map(|&v| f64::from(v)).collect();
        assert_close(&limited[row], &got, 1e-6, 1e-6, &format!("token {t}"));
    }
}

#[test]
fn bad_configs_are_errors() {
    let device = flex();
    let cases = [
        (
            MoeFfnConfig::new(4, 8, 0, 1),
            "n_experts must be at least 1",
        ),
        (MoeFfnConfig::new(4, 8, 4, 0), "top_k must be at least 1"),
        (
            MoeFfnConfig::new(4, 8, 2, 3),
            "top_k 3 is more than the 2 experts",
        ),
        (
            MoeFfnConfig::new(4, 8, 2, 1).with_capacity_factor(Some(0.0)),
            "capacity_factor must be positive",
        ),
        (
            MoeFfnConfig::new(4, 8, 2, 1).with_jitter(1.5),
            "jitter must be in [0, 1)",
        ),
    ];
    for (config, message) in cases {
        let error = config.init(&device).unwrap_err().to_string();
        assert!(error.contains(message), "{error}");
    }
}

#[test]
fn inconsistent_checkpoints_are_errors_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let source = SafeTensors::open(&fixtures().join("mixtral/model.safetensors")).unwrap();
    let all: Vec<(String, ffn_model::HostTensor)> = source
        .names()
        .map(|n| (n.to_string(), source.tensor(n).unwrap()))
        .collect();
    let write = |name: &str, keep: &dyn Fn(&str) -> bool| {
        let path = dir.path().join(name);
        let kept: Vec<_> = all.iter().filter(|(n, _)| keep(n)).cloned().collect();
        write_safetensors(&path, &kept, BTreeMap::new()).unwrap();
        SafeTensors::open(&path).unwrap()
    };
    let config = hf_config("mixtral");
    let device = flex();
    let missing = write("missing.safetensors", &|n| {
        !n.ends_with("experts.2.w2.weight")
    });
    let error = import_hf_moe(&missing, MoeLayout::Mixtral, 0, &config, &device).unwrap_err();
    assert!(
        matches!(&error, ModelError::MissingWeight { key, .. } if key.ends_with("experts.2.w2.weight")),
        "{error}"
    );
    let fewer = write("fewer.safetensors", &|n| !n.contains("experts.3."));
    let error = import_hf_moe(&fewer, MoeLayout::Mixtral, 0, &config, &device)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the router has 4 rows but the file holds 3 experts"),
        "{error}"
    );
    let error = import_hf_moe(&fewer, MoeLayout::Olmoe, 0, &config, &device)
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a olmoe checkpoint"), "{error}");
}

#[test]
fn jitter_perturbs_the_router_only_while_it_trains() {
    let device = flex();
    device.seed(4);
    // Without renormalisation the weight of the one chosen expert is its probability, which
    // the noise moves on every token.
    let config = MoeFfnConfig::new(8, 12, 4, 1)
        .with_jitter(0.5)
        .with_norm_topk_prob(false);
    let x = Tensor::<2>::random([64, 8], Distribution::Normal(0.0, 1.0), &device);
    let plain = config.init(&device).unwrap();
    let same = |a: Tensor<2>, b: Tensor<2>| values(a) == values(b);
    // Without autodiff (evaluation, generation) the router sees the input as it is.
    assert!(same(
        plain.forward(x.clone()).unwrap().0,
        plain.forward(x.clone()).unwrap().0
    ));
    // On the training device the noise changes the routing weights from one pass to the next.
    let training = device.clone().autodiff();
    let tracked = config.init(&training).unwrap();
    let x = Tensor::<2>::from_data(x.into_data(), &training);
    let first = tracked.forward(x.clone()).unwrap().0.inner();
    let second = tracked.forward(x.clone()).unwrap().0.inner();
    assert!(!same(first, second));
    // A frozen router (fine-tuning the experts only) is not jittered either.
    let frozen = ffn_model::MoeFfn {
        router: tracked.router.clone().no_grad(),
        ..tracked
    };
    let a = frozen.forward(x.clone()).unwrap().0.inner();
    let b = frozen.forward(x).unwrap().0.inner();
    assert!(same(a, b));
}
