//! A run killed with SIGKILL mid-training leaves a loadable checkpoint.

use burn::prelude::*;
use ffn_model::{DenseLayers, load_module};
use ffn_train::{SavedRun, build_network};

use crate::datasets;

#[test]
fn killed_run_leaves_a_loadable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ffn"))
        .args([
            "train",
            "--epochs",
            "100000",
            "--patience",
            "0",
            "--dataset",
        ])
        .arg(datasets().join("digits.csv"))
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = out.join("checkpoint/state.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let epoch = std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["epoch"].as_u64())
            .unwrap_or(0);
        if epoch >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint after 120 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(37));
    child.kill().unwrap();
    child.wait().unwrap();

    let text = std::fs::read_to_string(&state).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let epoch = value["epoch"].as_u64().unwrap();
    let file = out.join(format!("checkpoint/model-{epoch:05}.bpk"));
    let saved = SavedRun::open(&out).unwrap();
    let device = Device::flex();
    let structure = build_network(&saved.config, &saved.preprocessor, &device).unwrap();
    let model = load_module(structure, &file).unwrap();
    let weights: Vec<f32> = model
        .dense_layers()
        .into_iter()
        .flat_map(|(_, layer)| {
            layer
                .linear
                .weight
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        })
        .collect();
    assert!(!weights.is_empty() && weights.iter().all(|w| w.is_finite()));
    let leftovers: Vec<_> = std::fs::read_dir(out.join("checkpoint"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".ffn-"))
        .collect();
    assert!(
        leftovers.len() <= 1,
        "at most the file being written when killed: {leftovers:?}"
    );
}
