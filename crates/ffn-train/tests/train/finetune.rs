//! Fine-tuning: frozen layers stay bit-identical, the head learning rate applies to the head,
//! LoRA adapters round-trip through their small file onto the matching base only, a fine-tuning
//! run resumes exactly, and bad specs are clear errors.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use ffn_model::{DenseLayers, LoraConfig};
use ffn_train::{
    FinetuneSpec, LoraSpec, Network, Progress, SavedRun, ScheduleConfig, TrainConfig, TrainError,
    load_adapter,
};

use crate::{datasets, one_at_a_time, quiet};

fn iris_config(hidden: Vec<usize>, epochs: usize, seed: u64) -> TrainConfig {
    let mut config = TrainConfig {
        dataset: datasets().join("iris.csv"),
        epochs,
        early_stopping: None,
        seed,
        ..TrainConfig::default()
    };
    config.model.hidden = hidden;
    config
}

fn pretrain(dir: &Path, name: &str, hidden: Vec<usize>, seed: u64) -> PathBuf {
    let out = dir.join(name);
    ffn_train::train(&iris_config(hidden, 5, seed), &out, &mut quiet).unwrap();
    out
}

fn finetune(from: &Path, out: &Path, spec: FinetuneSpec, epochs: usize) -> ffn_train::Summary {
    let config = TrainConfig {
        finetune: Some(FinetuneSpec {
            from: from.to_path_buf(),
            ..spec
        }),
        ..iris_config(Vec::new(), epochs, 1)
    };
    ffn_train::finetune(&config, out, &mut quiet).unwrap()
}

/// Every dense layer's weight and bias values, by layer path.
fn layers(run: &Path) -> Vec<(String, Vec<f32>)> {
    let network = SavedRun::open(run).unwrap().model(&Device::flex()).unwrap();
    dense_values(&network)
}

fn dense_values(network: &Network) -> Vec<(String, Vec<f32>)> {
    network
        .dense_layers()
        .into_iter()
        .map(|(path, layer)| {
            let mut v = floats(layer.linear.weight.val());
            if let Some(b) = &layer.linear.bias {
                v.extend(floats(b.val()));
            }
            (path, v)
        })
        .collect()
}

fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

#[test]
fn frozen_layers_stay_bit_identical() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let base = pretrain(dir.path(), "base", vec![16, 16], 0);
    let source = layers(&base);

    let body = dir.path().join("body-frozen");
    let spec = FinetuneSpec {
        freeze: vec!["body".into()],
        ..FinetuneSpec::default()
    };
    let summary = finetune(&base, &body, spec, 4);
    let tuned = layers(&body);
    assert_eq!(tuned[0], source[0], "hidden.0 frozen");
    assert_eq!(tuned[1], source[1], "hidden.1 frozen");
    assert_ne!(tuned[2], source[2], "the head trains");
    assert_eq!(summary.trainable_params, 16 * 3 + 3);
    assert_eq!(summary.params, 4 * 16 + 16 + 16 * 16 + 16 + 16 * 3 + 3);

    // By index and by pattern: layer 0 and the head frozen, hidden.1 trains.
    let mixed = dir.path().join("mixed");
    let spec = FinetuneSpec {
        freeze: vec!["0".into(), "out*".into()],
        ..FinetuneSpec::default()
    };
    finetune(&base, &mixed, spec, 4);
    let tuned = layers(&mixed);
    assert_eq!(tuned[0], source[0]);
    assert_ne!(tuned[1], source[1]);
    assert_eq!(tuned[2], source[2]);

    // Only runs that train a part of the network keep that part in an adapter file.
    assert!(body.join("adapter.bpk").exists() && mixed.join("adapter.bpk").exists());
    let all = dir.path().join("all");
    let summary = finetune(&base, &all, FinetuneSpec::default(), 1);
    assert_eq!(summary.trainable_params, summary.params);
    assert!(!all.join("adapter.bpk").exists());
}

#[test]
fn head_learning_rate_drives_the_head() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let base = pretrain(dir.path(), "base", vec![8], 0);
    let run = |name: &str, lr: f64, head_lr: Option<f64>| {
        let config = TrainConfig {
            lr,
            schedule: ScheduleConfig::Constant,
            finetune: Some(FinetuneSpec {
                from: base.clone(),
                freeze: vec!["body".into()],
                head_lr,
                ..FinetuneSpec::default()
            }),
            ..iris_config(Vec::new(), 3, 1)
        };
        let out = dir.path().join(name);
        ffn_train::finetune(&config, &out, &mut quiet).unwrap();
        layers(&out)
    };
    let plain = run("plain", 2e-2, None);
    let split = run("split", 1e-3, Some(2e-2));
    let slow = run("slow", 1e-3, None);
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6);
    assert!(close(&plain[1].1, &split[1].1), "head at 2e-2 either way");
    assert!(
        !close(&slow[1].1, &split[1].1),
        "the head rate is not the body's"
    );
}

#[test]
fn lora_adapter_round_trips_onto_its_base_only() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let base = pretrain(dir.path(), "base", vec![64, 64], 0);
    let other = pretrain(dir.path(), "other", vec![64, 64], 7);
    let out = dir.path().join("lora");
    let spec = FinetuneSpec {
        lora: Some(LoraSpec {
            config: LoraConfig {
                rank: 2,
                alpha: 4.0,
                dropout: 0.1,
            },
            targets: Vec::new(),
        }),
        ..FinetuneSpec::default()
    };
    let summary = finetune(&base, &out, spec, 4);
    // Same labels: the head is kept and, like every base weight, frozen; adapters on all three
    // layers: 2 × (4 + 64) + 2 × (64 + 64) + 2 × (64 + 3).
    let adapters = 2 * (4 + 64) + 2 * (64 + 64) + 2 * (64 + 3);
    assert_eq!(summary.trainable_params, adapters);
    let base_params = 4 * 64 + 64 + 64 * 64 + 64 + 64 * 3 + 3;
    assert_eq!(summary.params, base_params);
    let fraction = adapters as f64 / (base_params + adapters) as f64;
    assert!((summary.trainable_fraction - fraction).abs() < 1e-12);

    let size = |p: PathBuf| std::fs::metadata(p).unwrap().len();
    let (adapter_bytes, model_bytes) = (size(out.join("adapter.bpk")), size(out.join("model.bpk")));
    assert!(
        adapter_bytes * 5 < model_bytes,
        "adapter {adapter_bytes} B vs model {model_bytes} B"
    );

    // The merged model equals base + adapter file, and differs from the base.
    let device = Device::flex();
    let rebuilt = load_adapter(&base, &out, &device).unwrap();
    let saved = layers(&out);
    assert_eq!(dense_values(&rebuilt), saved);
    assert_ne!(saved, layers(&base));

    let error = load_adapter(&other, &out, &device).unwrap_err().to_string();
    assert!(error.contains("fingerprint"), "{error}");

    // The same weights elsewhere are the same base.
    let moved = dir.path().join("moved");
    std::fs::create_dir_all(&moved).unwrap();
    for file in [
        "config.json",
        "preprocessor.json",
        "split.json",
        "model.bpk",
    ] {
        std::fs::copy(base.join(file), moved.join(file)).unwrap();
    }
    assert_eq!(
        dense_values(&load_adapter(&moved, &out, &device).unwrap()),
        saved
    );
}

#[test]
fn lora_finetune_resumes_exactly() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let base = pretrain(dir.path(), "base", vec![16], 0);
    let config = TrainConfig {
        finetune: Some(FinetuneSpec {
            from: base.clone(),
            new_head: true,
            lora: Some(LoraSpec::default()),
            head_lr: Some(3e-3),
            ..FinetuneSpec::default()
        }),
        ..iris_config(Vec::new(), 6, 1)
    };
    let straight = dir.path().join("straight");
    ffn_train::finetune(&config, &straight, &mut quiet).unwrap();
    let resumed = dir.path().join("resumed");
    let mut stop = |event: Progress| match event {
        Progress::Epoch(record) if record.epoch == 3 => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    };
    let error = ffn_train::finetune(&config, &resumed, &mut stop).unwrap_err();
    assert!(matches!(error, TrainError::Interrupted { epoch: 3, .. }));
    ffn_train::resume(&resumed, &Default::default(), &mut quiet).unwrap();
    assert_eq!(layers(&straight), layers(&resumed));
    let rebuilt = |run: &Path| dense_values(&load_adapter(&base, run, &Device::flex()).unwrap());
    assert_eq!(rebuilt(&straight), rebuilt(&resumed));
    assert_eq!(rebuilt(&resumed), layers(&resumed));
}

#[test]
fn bad_fine_tuning_specs_are_clear_errors() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let base = pretrain(dir.path(), "base", vec![8], 0);
    let attempt = |spec: FinetuneSpec, dataset: Option<PathBuf>| {
        let mut config = TrainConfig {
            finetune: Some(spec),
            ..iris_config(Vec::new(), 1, 1)
        };
        if let Some(d) = dataset {
            config.dataset = d;
        }
        ffn_train::finetune(&config, &dir.path().join("out"), &mut quiet)
            .unwrap_err()
            .to_string()
    };
    let error = attempt(
        FinetuneSpec {
            from: base.clone(),
            freeze: vec!["hidden.5".into()],
            ..FinetuneSpec::default()
        },
        None,
    );
    assert!(
        error.contains("'hidden.5' matches no layer") && error.contains("0=mlp.hidden.0"),
        "{error}"
    );
    let error = attempt(
        FinetuneSpec {
            from: base.clone(),
            ..FinetuneSpec::default()
        },
        Some(datasets().join("wine.csv")),
    );
    assert!(
        error.contains("differ from the pretrained run's"),
        "{error}"
    );
    let error = attempt(
        FinetuneSpec {
            from: dir.path().join("nowhere"),
            ..FinetuneSpec::default()
        },
        None,
    );
    assert!(error.contains("no such run directory"), "{error}");
    let error = attempt(
        FinetuneSpec {
            from: base.clone(),
            head_lr: Some(-1.0),
            ..FinetuneSpec::default()
        },
        None,
    );
    assert!(error.contains("head_lr"), "{error}");
    assert!(
        !dir.path().join("out").exists(),
        "no run directory is left behind"
    );
}
