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

/// Runs `ffn` and returns its stdout, failing the test (with stderr) if it did not succeed.
#[track_caller]
fn ffn_ok(args: &[&str], dir: &Path) -> String {
    let out = ffn(args, dir);
    assert!(
        out.status.success(),
        "ffn {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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

/// One CSV line of `cells`, newline included.
fn csv_line(cells: impl Iterator<Item = String>) -> String {
    cells.collect::<Vec<_>>().join(",") + "\n"
}

/// The model crate's Hugging Face fixtures (see its `make_hf_fixtures.py`).
fn hf_fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ffn-model/tests/fixtures")
}

#[test]
fn imported_block_predicts_vectors_and_fine_tunes_with_a_frozen_body() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = hf_fixtures();
    let text = std::fs::read_to_string(fixtures.join("hf_fixtures.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (x, y) = (
        floats(&reference["gpt2"]["x"]),
        floats(&reference["gpt2"]["y"]),
    );
    let model = fixtures.join("hf/gpt2/model.safetensors");
    let config = fixtures.join("hf/gpt2/config.json");
    let stdout = ffn_ok(
        &[
            "import",
            "--safetensors",
            model.to_str().unwrap(),
            "--layout",
            "gpt2",
            "--layer",
            "1",
            "--config",
            config.to_str().unwrap(),
            "--out",
            "block",
        ],
        dir.path(),
    );
    assert!(stdout.contains("h.1.mlp.c_proj.weight"));

    // Each row of the input CSV is one d_model = 8 vector.
    let mut csv = csv_line((0..8).map(|i| format!("x{i}")));
    for row in x.chunks(8) {
        csv += &csv_line(row.iter().map(|v| v.to_string()));
    }
    std::fs::write(dir.path().join("x.csv"), &csv).unwrap();
    ffn_ok(
        &[
            "predict", "--run", "block", "--input", "x.csv", "--output", "y.csv",
        ],
        dir.path(),
    );
    let written = std::fs::read_to_string(dir.path().join("y.csv")).unwrap();
    let mut lines = written.lines();
    assert_eq!(lines.next().unwrap(), "y0,y1,y2,y3,y4,y5,y6,y7");
    let got: Vec<f32> = lines
        .flat_map(|l| {
            l.split(',')
                .map(|v| v.parse::<f32>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    crate::assert_close(&got, &y, 1e-5, "block outputs");

    assert_fails_with(
        &ffn(&["eval", "--run", "block"], dir.path()),
        "holds an imported block",
    );
    let info = ffn_ok(&["info", "--run", "block"], dir.path());
    assert!(info.contains("d_model 8, d_ff 12"));

    // A classification dataset of 8-value rows: the class is the sign of the first value.
    let mut data = csv_line((0..8).map(|i| format!("x{i}")).chain(["label".to_string()]));
    let mut rng = ffn_data::SplitMix64::new(5);
    for _ in 0..120 {
        let row: Vec<f64> = (0..8)
            .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
            .collect();
        let label = if row[0] > 0.0 { "pos" } else { "neg" };
        data += &csv_line(
            row.iter()
                .map(|v| format!("{v:.4}"))
                .chain([label.to_string()]),
        );
    }
    std::fs::write(dir.path().join("signs.csv"), data).unwrap();
    let stdout = ffn_ok(
        &[
            "finetune",
            "--from",
            "block",
            "--dataset",
            "signs.csv",
            "--freeze",
            "body",
            "--epochs",
            "3",
            "--out",
            "tuned",
            "--json",
        ],
        dir.path(),
    );
    assert!(
        stdout.contains("note: the imported block has no head"),
        "{stdout}"
    );
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["trainable_params"], 8 * 2 + 2);

    // The frozen block is bit-identical to the imported one.
    let device = burn::prelude::Device::flex();
    let imported = ffn_train::ImportedBlock::open(&dir.path().join("block"))
        .unwrap()
        .block(&device)
        .unwrap();
    let tuned = ffn_train::SavedRun::open(&dir.path().join("tuned"))
        .unwrap()
        .model(&device)
        .unwrap()
        .block
        .unwrap();
    for ((name, a), (_, b)) in imported.dense_layers().iter().zip(tuned.dense_layers()) {
        assert!(
            a.linear
                .weight
                .val()
                .equal(b.linear.weight.val())
                .all()
                .into_scalar::<bool>(),
            "{name} changed"
        );
    }
    let info = ffn_ok(&["info", "--run", "tuned"], dir.path());
    assert!(
        info.contains("block:") && info.contains("0=block.norm"),
        "{info}"
    );

    assert_fails_with(
        &ffn(
            &[
                "import",
                "--safetensors",
                model.to_str().unwrap(),
                "--layout",
                "bert",
                "--out",
                "b2",
            ],
            dir.path(),
        ),
        "not a Bert checkpoint",
    );
    assert_fails_with(
        &ffn(
            &[
                "finetune",
                "--from",
                "block",
                "--dataset",
                "signs.csv",
                "--hidden",
                "4",
            ],
            dir.path(),
        ),
        "the architecture comes from --from",
    );
}

#[test]
fn finetuned_run_works_with_eval_predict_and_info() {
    let dir = tempfile::tempdir().unwrap();
    let run = iris_run().join("run");
    let iris = datasets().join("iris.csv");
    let stdout = ffn_ok(
        &[
            "finetune",
            "--from",
            run.to_str().unwrap(),
            "--dataset",
            iris.to_str().unwrap(),
            "--lora-rank",
            "2",
            "--lora-targets",
            "hidden.0",
            "--epochs",
            "3",
            "--out",
            "tuned",
            "--json",
        ],
        dir.path(),
    );
    // Same labels: the head is kept (and frozen); rank-2 adapters on hidden.0 only.
    assert!(!stdout.contains("new head"), "{stdout}");
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["trainable_params"], 2 * (4 + 128));
    assert!(stdout.contains("trainable parameters: 264 ("), "{stdout}");

    ffn_ok(&["eval", "--run", "tuned", "--json"], dir.path());
    let info = ffn_ok(&["info", "--run", "tuned"], dir.path());
    assert!(info.contains("LoRA rank 2 alpha 4"), "{info}");
    assert!(dir.path().join("tuned/adapter.bpk").exists());

    assert_fails_with(
        &ffn(
            &[
                "finetune",
                "--from",
                run.to_str().unwrap(),
                "--dataset",
                iris.to_str().unwrap(),
                "--freeze",
                "hidden.9",
            ],
            dir.path(),
        ),
        "'hidden.9' matches no layer",
    );
    assert_fails_with(
        &ffn(&["finetune", "--from", run.to_str().unwrap()], dir.path()),
        "--dataset is needed",
    );
}

#[test]
fn report_command_writes_html_and_comparisons() {
    let dir = tempfile::tempdir().unwrap();
    let run = iris_run().join("run");
    let copy = dir.path().join("run");
    std::fs::create_dir_all(&copy).unwrap();
    for file in [
        "config.json",
        "preprocessor.json",
        "split.json",
        "summary.json",
        "metrics.jsonl",
        "model.bpk",
    ] {
        std::fs::copy(run.join(file), copy.join(file)).unwrap();
    }
    let stdout = ffn_ok(&["report", "--run", "run", "--json"], dir.path());
    let written: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(written["report"].as_str().unwrap().ends_with("report.html"));
    for file in ["curves.svg", "confusion.svg", "report.html"] {
        assert!(copy.join(file).exists(), "{file}");
    }
    let stdout = ffn_ok(
        &[
            "report",
            "--compare",
            "run",
            run.to_str().unwrap(),
            "--out",
            "cmp",
        ],
        dir.path(),
    );
    assert!(stdout.contains("compare.svg") && dir.path().join("cmp/compare.svg").exists());
    assert_fails_with(&ffn(&["report"], dir.path()), "--run");
    assert_fails_with(
        &ffn(&["report", "--run", "nowhere"], dir.path()),
        "no such run directory",
    );
}
