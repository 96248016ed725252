//! End-to-end training on the shipped datasets: accuracy, determinism, early stopping, resume
//! equivalence and divergence.

use std::ops::ControlFlow;
use std::path::Path;

use burn::prelude::*;
use ffn_data::Preprocessor;
use ffn_model::{DenseLayers, load_module};
use ffn_train::{
    EarlyStoppingConfig, Progress, ScheduleConfig, TrainConfig, TrainError, build_network,
};

use crate::{datasets, one_at_a_time, quiet};

fn iris(epochs: usize) -> TrainConfig {
    TrainConfig {
        dataset: datasets().join("iris.csv"),
        epochs,
        early_stopping: None,
        ..TrainConfig::default()
    }
}

/// Weights of the run's final model, flattened.
fn final_weights(dir: &Path) -> Vec<f32> {
    checkpoint_weights(dir, &dir.join("model.bpk"))
}

fn checkpoint_weights(dir: &Path, file: &Path) -> Vec<f32> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let config: TrainConfig = serde_json::from_str(&read("config.json")).unwrap();
    let pre: Preprocessor = serde_json::from_str(&read("preprocessor.json")).unwrap();
    let device = Device::flex();
    let model = load_module(build_network(&config, &pre, &device).unwrap(), file).unwrap();
    let mut weights = Vec::new();
    for (_, layer) in model.dense_layers() {
        weights.extend(
            layer
                .linear
                .weight
                .val()
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap(),
        );
    }
    weights
}

/// The metrics logged per epoch, without the timings.
fn history(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect()
}

#[test]
fn iris_trains_well_and_reproducibly() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let config = iris(60);
    let a = ffn_train::train(&config, &dir.path().join("a"), &mut quiet).unwrap();
    let b = ffn_train::train(&config, &dir.path().join("b"), &mut quiet).unwrap();
    let accuracy = a.test.as_ref().unwrap().accuracy.unwrap();
    assert!(accuracy >= 0.9, "test accuracy {accuracy}");
    assert_eq!((a.epochs_run, a.params), (60, 4 * 128 + 128 + 128 * 3 + 3));
    assert_eq!(a.test, b.test);
    assert_eq!(
        history(&dir.path().join("a")),
        history(&dir.path().join("b"))
    );
    assert_eq!(
        final_weights(&dir.path().join("a")),
        final_weights(&dir.path().join("b"))
    );
    for file in [
        "config.json",
        "preprocessor.json",
        "split.json",
        "model.bpk",
        "metrics.csv",
        "summary.json",
    ] {
        assert!(dir.path().join("a").join(file).exists(), "{file}");
    }
    let csv = std::fs::read_to_string(dir.path().join("a/metrics.csv")).unwrap();
    assert!(
        csv.starts_with("epoch,lr,seconds,train_loss,train_accuracy,train_macro_f1,valid_loss")
    );
    assert_eq!(csv.lines().count(), 61);

    let other_seed = TrainConfig {
        seed: 1,
        ..iris(60)
    };
    ffn_train::train(&other_seed, &dir.path().join("c"), &mut quiet).unwrap();
    assert_ne!(
        final_weights(&dir.path().join("a")),
        final_weights(&dir.path().join("c"))
    );
    assert!(
        ffn_train::train(&config, &dir.path().join("a"), &mut quiet).is_err(),
        "no overwrite"
    );
}

#[test]
fn gradient_accumulation_equals_a_larger_batch() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut whole = iris(3);
    whole.model.dropout = 0.0;
    whole.optimizer = ffn_train::OptimizerConfig::from_name("sgd").unwrap();
    whole.lr = 0.1;
    let accumulated = TrainConfig {
        batch_size: whole.batch_size / 2,
        grad_accumulation: 2,
        ..whole.clone()
    };
    ffn_train::train(&whole, &dir.path().join("whole"), &mut quiet).unwrap();
    ffn_train::train(&accumulated, &dir.path().join("acc"), &mut quiet).unwrap();
    let (a, b) = (
        final_weights(&dir.path().join("whole")),
        final_weights(&dir.path().join("acc")),
    );
    let max_diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(max_diff < 1e-5, "max |difference| {max_diff}");
}

/// Two epochs on flex, ndarray and (where an adapter exists) wgpu from the same initial weights:
/// losses agree within 1e-4 and accuracies within one validation row.
#[test]
fn training_agrees_across_backends() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let backends = crate::other_backends();
    let mut config = iris(2);
    config.model.dropout = 0.0;
    let reference = ffn_train::train(&config, &dir.path().join("flex"), &mut quiet).unwrap();
    let reference = reference.valid.unwrap();
    for backend in backends {
        config.backend = backend;
        let summary =
            ffn_train::train(&config, &dir.path().join(backend.to_string()), &mut quiet).unwrap();
        let valid = summary.valid.unwrap();
        assert!(
            (valid.loss - reference.loss).abs() < 1e-4,
            "{backend}: {valid:?} vs {reference:?}"
        );
        let rows = 23.0;
        let accuracy_gap = (valid.accuracy.unwrap() - reference.accuracy.unwrap()).abs();
        assert!(
            accuracy_gap <= 1.0 / rows + 1e-9,
            "{backend}: {valid:?} vs {reference:?}"
        );
    }
}

#[test]
fn early_stopping_restores_the_best_epoch() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        lr: 0.05,
        early_stopping: Some(EarlyStoppingConfig {
            patience: 3,
            min_delta: 0.0,
            restore_best: true,
        }),
        ..iris(500)
    };
    let summary = ffn_train::train(&config, dir.path(), &mut quiet).unwrap();
    assert!(
        summary.stopped_early && summary.epochs_run < 500,
        "{summary:?}"
    );
    assert_eq!(summary.best_epoch + 3, summary.epochs_run);
    let logged = history(dir.path());
    let losses: Vec<f64> = logged
        .iter()
        .map(|r| r["valid"]["loss"].as_f64().unwrap())
        .collect();
    let best = losses.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(losses[summary.best_epoch - 1], best);
    let kept = summary.valid.unwrap().loss;
    assert!((kept - best).abs() < 1e-6, "kept {kept}, best {best}");
}

#[test]
fn resumed_run_ends_with_the_same_weights() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = iris(6);
    config.model.dropout = 0.2;
    config.schedule = ScheduleConfig::Cosine { min_lr: 0.0 };
    config.optimizer = ffn_train::OptimizerConfig::from_name("adamw").unwrap();
    let straight = dir.path().join("straight");
    let resumed = dir.path().join("resumed");
    ffn_train::train(&config, &straight, &mut quiet).unwrap();

    let mut stop_after_three = |event: Progress| match event {
        Progress::Epoch(record) if record.epoch == 3 => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    };
    let error = ffn_train::train(&config, &resumed, &mut stop_after_three).unwrap_err();
    assert!(
        matches!(error, TrainError::Interrupted { epoch: 3, .. }),
        "{error}"
    );
    assert!(!resumed.join("model.bpk").exists());
    ffn_train::resume(&resumed, &Default::default(), &mut quiet).unwrap();

    let (a, b) = (history(&straight), history(&resumed));
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "epoch histories differ");
    }
    let (a, b) = (final_weights(&straight), final_weights(&resumed));
    let max_diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert_eq!(max_diff, 0.0, "final weights differ");
    let error = ffn_train::resume(&resumed, &Default::default(), &mut quiet).unwrap_err();
    assert!(error.to_string().contains("already finished"), "{error}");
}

#[test]
fn divergence_stops_with_a_message_and_keeps_the_last_checkpoint() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        dataset: datasets().join("diabetes.csv"),
        lr: 1e4,
        optimizer: ffn_train::OptimizerConfig::from_name("sgd").unwrap(),
        epochs: 50,
        early_stopping: None,
        ..TrainConfig::default()
    };
    let error = ffn_train::train(&config, dir.path(), &mut quiet).unwrap_err();
    let TrainError::Diverged {
        epoch, last_good, ..
    } = error
    else {
        panic!("expected divergence, got {error}");
    };
    assert_eq!(last_good + 1, epoch);
    if last_good > 0 {
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("checkpoint/state.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(state["epoch"].as_u64(), Some(last_good as u64));
        let file = dir
            .path()
            .join(format!("checkpoint/model-{last_good:05}.bpk"));
        assert!(
            checkpoint_weights(dir.path(), &file)
                .iter()
                .all(|w| w.is_finite())
        );
    }
}
