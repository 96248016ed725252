//! Bad input to the commands: a one-line error, a non-zero exit, no panic, nothing written.

use crate::{assert_fails_with, datasets, ffn, iris_run};

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
        (vec!["--backend", "tpu"], "device `tpu` names no backend"),
        (vec!["--activation", "relu7"], "unknown activation 'relu7'"),
        (
            vec!["--optimizer", "lbfgs"],
            "invalid value 'lbfgs' for '--optimizer <OPTIMIZER>'",
        ),
        (
            vec!["--task", "ranking"],
            "[possible values: classification, regression]",
        ),
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
