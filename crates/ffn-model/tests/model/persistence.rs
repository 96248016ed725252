//! Config JSON round trips, parameter counts, and save → load giving bit-identical outputs.

use std::path::PathBuf;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use ffn_model::{
    Activation, FeedForwardConfig, FfnVariant, MlpConfig, ModelError, NormKind, NormPlacement,
    TransformerFfnConfig, load_module, save_module,
};

use crate::{flex, values};

fn scratch(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    (dir, path)
}

/// Saves a module built with seed 1, loads it into one built with seed 2, and compares outputs bit
/// for bit; the two initialisations must differ before loading.
fn assert_round_trip<M: Module, const D: usize>(
    name: &str,
    build: impl Fn(&Device) -> M,
    forward: impl Fn(&M, Tensor<D>) -> Tensor<D>,
    input_shape: [usize; D],
) {
    let device = flex();
    device.seed(1);
    let original = build(&device);
    let x = Tensor::<D>::random(input_shape, Distribution::Normal(0.0, 1.0), &device);
    let expected = values(forward(&original, x.clone()));
    let (_dir, path) = scratch(&format!("{name}.bpk"));
    save_module(&original, &path).unwrap();

    device.seed(2);
    let fresh = build(&device);
    assert_ne!(
        values(forward(&fresh, x.clone())),
        expected,
        "{name}: seeds differ"
    );
    let loaded = load_module(fresh, &path).unwrap();
    assert_eq!(values(forward(&loaded, x)), expected, "{name}");
    assert_eq!(loaded.num_params(), original.num_params());
}

#[test]
fn every_variant_round_trips_bit_identically() {
    assert_round_trip(
        "dense",
        |d| {
            FeedForwardConfig::new(5, 4, Activation::Gelu)
                .init(d)
                .unwrap()
        },
        |m, x| m.forward(x).unwrap(),
        [3, 5],
    );
    for norm in [None, Some(NormKind::LayerNorm), Some(NormKind::RmsNorm)] {
        assert_round_trip(
            "mlp",
            |d| {
                MlpConfig::new(4, vec![6, 5], 3)
                    .with_norm(norm)
                    .init(d)
                    .unwrap()
            },
            |m, x| m.forward(x).unwrap(),
            [4, 4],
        );
    }
    let ffns = [
        TransformerFfnConfig::bert(8, 16),
        TransformerFfnConfig::gpt2(8, 16),
        TransformerFfnConfig::llama(8, 16),
        TransformerFfnConfig::new(8, 16)
            .with_variant(FfnVariant::Gated)
            .with_norm(NormPlacement::Post)
            .with_norm_kind(NormKind::RmsNorm),
    ];
    for config in ffns {
        assert_round_trip(
            "ffn",
            |d| config.init(d).unwrap(),
            |m, x| m.forward(x).unwrap(),
            [2, 3, 8],
        );
    }
}

#[test]
fn gated_weights_and_norms_are_in_the_record() {
    let device = flex();
    let llama = TransformerFfnConfig::llama(8, 16).init(&device).unwrap();
    // gate, up, down and the RMSNorm scale.
    assert_eq!(llama.clone().into_record().len(), 4);
    assert_eq!(llama.num_params(), 3 * 8 * 16 + 8);
}

#[test]
fn parameter_counts() {
    let device = flex();
    let dense = |bias| {
        FeedForwardConfig::new(5, 4, Activation::Relu)
            .with_bias(bias)
            .init(&device)
            .unwrap()
            .num_params()
    };
    assert_eq!((dense(true), dense(false)), (24, 20));
    let mlp = |norm| {
        MlpConfig::new(4, vec![6, 5], 3)
            .with_norm(norm)
            .init(&device)
            .unwrap()
            .num_params()
    };
    assert_eq!(mlp(None), 4 * 6 + 6 + 6 * 5 + 5 + 5 * 3 + 3);
    assert_eq!(mlp(Some(NormKind::LayerNorm)), 83 + 2 * (6 + 5));
    assert_eq!(mlp(Some(NormKind::RmsNorm)), 83 + 6 + 5);
    let bert = TransformerFfnConfig::bert(8, 16).init(&device).unwrap();
    assert_eq!(bert.num_params(), 8 * 16 + 16 + 16 * 8 + 8 + 2 * 8);
}

#[test]
fn configs_round_trip_through_json() {
    let dense = FeedForwardConfig::new(5, 4, Activation::LeakyRelu { slope: 0.2 }).with_bias(false);
    let json = serde_json::to_string(&dense).unwrap();
    assert!(json.contains("\"leaky_relu(0.2)\""), "{json}");
    let back: FeedForwardConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);

    let mlp = MlpConfig::new(4, vec![64, 32], 3)
        .with_dropout(0.1)
        .with_norm(Some(NormKind::RmsNorm));
    let json = serde_json::to_string(&mlp).unwrap();
    assert!(json.contains("\"rms_norm\""), "{json}");
    let back: MlpConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back.hidden, vec![64, 32]);
    assert_eq!(serde_json::to_string(&back).unwrap(), json);

    let llama = TransformerFfnConfig::llama(16, 48);
    let json = serde_json::to_string(&llama).unwrap();
    assert!(
        json.contains("\"gated\"") && json.contains("\"pre\""),
        "{json}"
    );
    let back: TransformerFfnConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back.variant, FfnVariant::Gated);
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
}

#[test]
fn loading_bad_files_is_an_error() {
    let device = flex();
    let build = || MlpConfig::new(4, vec![6], 3).init(&device).unwrap();
    let (dir, missing) = scratch("missing.bpk");
    let error = load_module(build(), &missing).unwrap_err();
    assert!(matches!(error, ModelError::Record { action: "load", .. }));
    assert!(error.to_string().contains("missing.bpk"), "{error}");

    let corrupt = dir.path().join("corrupt.bpk");
    std::fs::write(&corrupt, b"not a burnpack file at all").unwrap();
    assert!(load_module(build(), &corrupt).is_err());

    let other = dir.path().join("other.bpk");
    save_module(
        &MlpConfig::new(4, vec![7], 3).init(&device).unwrap(),
        &other,
    )
    .unwrap();
    let error = load_module(build(), &other).unwrap_err();
    assert!(error.to_string().contains("other.bpk"), "{error}");
}

#[test]
fn save_leaves_no_temporary_file() {
    let device = flex();
    let (dir, path) = scratch("m.bpk");
    let mlp = MlpConfig::new(2, vec![3], 1).init(&device).unwrap();
    save_module(&mlp, &path).unwrap();
    save_module(&mlp, &path).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("m.bpk")]);
}
