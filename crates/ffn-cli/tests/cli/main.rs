//! The `ffn` command end to end: each bad input exits non-zero with a clear message and no
//! panic; the commands work on a trained run. One test binary, so Burn is linked once.

mod commands;
mod distributed;
mod errors;
mod export;
mod finetune;
mod help;
mod hostile;
mod inspect;
mod interrupt;
mod lm;
mod out_dir;
mod output;
mod pretrained;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository's `datasets/` folder.
pub fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

/// Asserts `|a - e| <= tol * (1 + |e|)` element-wise.
#[track_caller]
pub fn assert_close(actual: &[f32], expected: &[f64], tol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (f64::from(a) - e).abs() <= tol * (1.0 + e.abs()),
            "{what}[{i}]: got {a}, expected {e}"
        );
    }
}

pub fn ffn(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ffn"))
        .args(args)
        .current_dir(dir)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap()
}

/// Runs `ffn` and returns its stdout, failing the test (with stderr) if it did not succeed.
#[track_caller]
pub fn ffn_ok(args: &[&str], dir: &Path) -> String {
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
pub fn assert_fails_with(output: &Output, message: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "should fail: {stderr}");
    assert!(
        stderr.contains(message),
        "expected '{message}' in: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
}

/// A small trained iris run shared by the tests (trained once).
pub fn iris_run() -> &'static Path {
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

/// One CSV line of `cells`, newline included.
pub fn csv_line(cells: impl Iterator<Item = String>) -> String {
    cells.collect::<Vec<_>>().join(",") + "\n"
}

/// The model crate's Hugging Face fixtures (see its `make_hf_fixtures.py`).
pub fn hf_fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ffn-model/tests/fixtures")
}
