//! `ffn export`: a committed run exported for PyTorch gives what PyTorch loaded when the
//! fixture was made (every tensor bit for bit, the same metadata), and PyTorch's outputs from it
//! equal the run's own.

use burn::prelude::*;
use ffn_model::SafeTensors;
use ffn_train::{SavedRun, forward_all, load_dataset};
use sha2::{Digest, Sha256};

use crate::{assert_close, assert_fails_with, datasets, ffn, ffn_ok, iris_run};

fn fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/export")
}

#[test]
fn export_matches_what_pytorch_loaded_and_computed() {
    let dir = tempfile::tempdir().unwrap();
    let run = fixture().join("run");
    let out = ffn_ok(
        &[
            "export",
            "--run",
            run.to_str().unwrap(),
            "--out",
            "run.safetensors",
            "--json",
        ],
        dir.path(),
    );
    let info: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let modules: Vec<&str> = info["sequential"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["module"].as_str().unwrap())
        .collect();
    assert_eq!(
        modules,
        [
            "Linear",
            "LayerNorm",
            "GELU",
            "Dropout",
            "Linear",
            "LayerNorm",
            "GELU",
            "Dropout",
            "Linear"
        ]
    );
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture().join("torch_outputs.json")).unwrap(),
    )
    .unwrap();
    // The file holds what PyTorch loaded: the same tensors, bit for bit, and metadata.
    let exported = SafeTensors::open(&dir.path().join("run.safetensors")).unwrap();
    let loaded = reference["tensors_sha256"].as_object().unwrap();
    assert_eq!(exported.names().count(), loaded.len());
    for (name, sha) in loaded {
        let values = exported.tensor(name).unwrap().values;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(&format!("{:x}", Sha256::digest(&bytes)), sha, "{name}");
    }
    let metadata: serde_json::Value = serde_json::to_value(exported.metadata()).unwrap();
    assert_eq!(metadata, reference["metadata"]);

    // The run's own outputs on its test rows, against PyTorch's.
    let saved = SavedRun::open(&run).unwrap();
    let mut config = saved.config.clone();
    config.dataset = datasets().join("iris.csv");
    let dataset = load_dataset(&config).unwrap();
    let examples = saved
        .preprocessor
        .encode(&dataset, &saved.split.test)
        .unwrap();
    let device = Device::flex();
    let model = saved.model(&device).unwrap();
    let ours = forward_all(&model, &examples.features, examples.n_features, &device).unwrap();
    let torch: Vec<f64> = reference["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_close(&ours, &torch, 1e-5, "logits");
}

#[test]
fn export_refuses_what_has_no_sequential_form() {
    let dir = tempfile::tempdir().unwrap();
    assert_fails_with(
        &ffn(
            &["export", "--run", "nowhere", "--out", "x.safetensors"],
            dir.path(),
        ),
        "no such run directory",
    );
    let run = iris_run().join("run");
    ffn_ok(
        &[
            "export",
            "--run",
            run.to_str().unwrap(),
            "--out",
            "iris.safetensors",
        ],
        dir.path(),
    );
    assert!(dir.path().join("iris.safetensors").exists());
}
