//! The `ffn` command: each bad input exits non-zero with a clear message and no panic; the
//! commands work end to end on a trained run.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::datasets;

fn ffn(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ffn"))
        .args(args)
        .current_dir(dir)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap()
}

#[track_caller]
fn assert_fails_with(output: &Output, message: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "should fail: {stderr}");
    assert!(
        stderr.contains(message),
        "expected '{message}' in: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
}

/// A small trained iris run shared by the tests (trained once).
fn iris_run() -> &'static Path {
    static RUN: OnceLock<tempfile::TempDir> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let iris = datasets().join("iris.csv");
        let out = ffn(
            &[
                "train",
                "--dataset",
                iris.to_str().unwrap(),
                "--epochs",
                "40",
                "--out",
                "run",
                "--json",
            ],
            dir.path(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        assert_eq!(last["epochs_run"], 40);
        assert!(last["test"]["accuracy"].as_f64().unwrap() > 0.8, "{last}");
        assert!(last["wall_seconds"].as_f64().unwrap() > 0.0);
        assert!(last["run_dir"].as_str().unwrap().ends_with("run"));
        dir
    })
    .path()
}

#[test]
fn invalid_values_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let iris = datasets().join("iris.csv");
    let iris = iris.to_str().unwrap();
    for (flags, message) in [
        (vec!["--epochs", "0"], "epochs must be at least 1"),
        (vec!["--batch-size", "0"], "batch_size must be at least 1"),
        (vec!["--lr=-0.1"], "lr must be a positive number"),
        (vec!["--lr", "0"], "lr must be a positive number"),
        (
            vec!["--hidden", ""],
            "--hidden needs at least one layer size",
        ),
        (vec!["--hidden", "64,x"], "'x' is not a size"),
        (
            vec!["--backend", "tpu"],
            "unknown backend 'tpu'; valid backends: flex, ndarray, wgpu, auto",
        ),
        (vec!["--activation", "relu7"], "unknown activation 'relu7'"),
        (vec!["--optimizer", "lbfgs"], "unknown optimizer 'lbfgs'"),
        (vec!["--task", "ranking"], "unknown task 'ranking'"),
        (vec!["--schedule", "cosine:x"], "unknown schedule"),
        (vec!["--target", "colour"], "no target column 'colour'"),
        (
            vec!["--backend", "wgpu", "--device", "7"],
            "cannot open wgpu (DiscreteGpu(7))",
        ),
    ] {
        let mut args = vec!["train", "--dataset", iris, "--out", "r"];
        args.extend(flags);
        assert_fails_with(&ffn(&args, dir.path()), message);
    }
    assert_fails_with(
        &ffn(&["train", "--dataset", "missing.csv"], dir.path()),
        "missing.csv",
    );
    let weights = r#"{"loss": {"class_weights": [1.0, 2.0]}}"#;
    std::fs::write(dir.path().join("weights.json"), weights).unwrap();
    let args = [
        "train",
        "--config",
        "weights.json",
        "--dataset",
        iris,
        "--out",
        "w",
    ];
    let out = ffn(&args, dir.path());
    assert_fails_with(
        &out,
        "class_weights has 2 entries but the target has 3 classes",
    );
    assert!(
        !dir.path().join("w").exists(),
        "no run directory for a rejected config"
    );
}

#[test]
fn missing_or_corrupt_runs_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    assert_fails_with(
        &ffn(&["eval", "--run", "nowhere"], dir.path()),
        "no such run directory",
    );
    assert_fails_with(
        &ffn(&["train", "--resume", "nowhere"], dir.path()),
        "config.json",
    );

    let copy = dir.path().join("copy");
    std::fs::create_dir_all(copy.join("checkpoint")).unwrap();
    for file in [
        "config.json",
        "preprocessor.json",
        "split.json",
        "summary.json",
        "model.bpk",
    ] {
        std::fs::copy(iris_run().join("run").join(file), copy.join(file)).unwrap();
    }
    std::fs::write(copy.join("model.bpk"), b"garbage").unwrap();
    assert_fails_with(&ffn(&["eval", "--run", "copy"], dir.path()), "model.bpk");
    std::fs::write(copy.join("preprocessor.json"), b"{ not json").unwrap();
    assert_fails_with(
        &ffn(&["info", "--run", "copy"], dir.path()),
        "preprocessor.json: corrupt file",
    );
}

#[test]
fn mismatched_dataset_is_reported() {
    let wine = datasets().join("wine.csv");
    let out = ffn(
        &["eval", "--run", "run", "--dataset", wine.to_str().unwrap()],
        iris_run(),
    );
    assert_fails_with(&out, "no target column 'species'");
    let rows = iris_run().join("rows.csv");
    std::fs::write(&rows, "sepal_length_cm,sepal_width_cm\n5.0,3.0\n").unwrap();
    let out = ffn(
        &["predict", "--run", "run", "--input", "rows.csv"],
        iris_run(),
    );
    assert_fails_with(&out, "missing feature column 'petal_length_cm'");
}

#[test]
fn eval_predict_and_info_work_on_a_run() {
    let dir = iris_run();
    let out = ffn(&["eval", "--run", "run", "--split", "all", "--json"], dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eval: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(eval["metrics"]["accuracy"].as_f64().unwrap() > 0.8);

    std::fs::write(
        dir.join("new.csv"),
        "petal_width_cm,petal_length_cm,sepal_width_cm,sepal_length_cm\n0.2,1.4,3.5,5.1\n2.3,6.0,3.2,6.9\n",
    )
    .unwrap();
    let out = ffn(
        &[
            "predict", "--run", "run", "--input", "new.csv", "--output", "pred.csv",
        ],
        dir,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let predictions = std::fs::read_to_string(dir.join("pred.csv")).unwrap();
    let lines: Vec<&str> = predictions.lines().collect();
    assert_eq!(lines[0], "species,p_setosa,p_versicolor,p_virginica");
    assert!(
        lines[1].starts_with("setosa,") && lines[2].starts_with("virginica,"),
        "{predictions}"
    );
    let probabilities: f64 = lines[1]
        .split(',')
        .skip(1)
        .map(|p| p.parse::<f64>().unwrap())
        .sum();
    assert!((probabilities - 1.0).abs() < 1e-4);

    let out = ffn(&["info", "--run", "run", "--json"], dir);
    assert!(out.status.success());
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["params"], 4 * 128 + 128 + 128 * 3 + 3);
    assert_eq!(info["classes"][2], "virginica");
    let out = ffn(&["info", "--run", "run"], dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("MLP 4 → 128 → 3 (relu, dropout 0.3)"),
        "{text}"
    );
}

#[test]
fn no_arguments_trains_iris_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("datasets")).unwrap();
    std::fs::copy(
        datasets().join("iris.csv"),
        dir.path().join("datasets/iris.csv"),
    )
    .unwrap();
    let out = ffn(&[], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("training on flex (CPU)"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("epoch ")),
        "plain epoch lines: {stdout}"
    );
    let saved = stdout
        .lines()
        .find_map(|l| l.strip_prefix("saved the run to "))
        .unwrap();
    assert!(dir.path().join(saved).join("model.bpk").exists());
}
