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

/// The per-round records of a run, without their wall-clock seconds.
fn records(run: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect()
}

/// Starts `ffn args` in `dir`, waits until its checkpoint reaches `step` optimiser steps, then
/// sends `signal`; returns the exit status and stderr.
fn interrupt_after(dir: &std::path::Path, args: &[&str], step: u64, signal: i32) -> (i32, String) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ffn"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let state = dir.join("run/checkpoint/state.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::fs::read_to_string(&state)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["step"].as_u64())
        .is_none_or(|s| s < step)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint after 120 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // SAFETY: sends a signal to the child this test spawned and still owns.
    unsafe { libc::kill(child.id() as i32, signal) };
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// SIGINT in the middle of a round: a checkpoint at the current step, the command to continue,
/// status 130; the resumed run equals an uninterrupted one record for record.
#[test]
fn sigint_checkpoints_the_current_step_and_resume_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let text = datasets().join("shakespeare.txt");
    let args = |out: &'static str| {
        vec![
            "lm",
            "train",
            "--text",
            text.to_str().unwrap(),
            "--layers",
            "2",
            "--d-model",
            "64",
            "--d-ff",
            "256",
            "--steps",
            "400",
            "--eval-interval",
            "200",
            "--out",
            out,
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    let straight = args("straight");
    let straight: Vec<&str> = straight.iter().map(String::as_str).collect();
    crate::ffn_ok(&straight, dir.path());
    let interrupted = args("run");
    let interrupted: Vec<&str> = interrupted.iter().map(String::as_str).collect();
    // A first checkpoint ends round 1 at step 200; the signal comes during round 2.
    let (code, stderr) = interrupt_after(dir.path(), &interrupted, 200, libc::SIGINT);
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("interrupted at step ")
            && stderr.contains("continue with: ffn lm train --resume run"),
        "{stderr}"
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("run/checkpoint/state.json")).unwrap(),
    )
    .unwrap();
    let step = state["step"].as_u64().unwrap();
    assert!(
        step > 200 && step < 400,
        "stopped in round 2 at step {step}"
    );
    crate::ffn_ok(&["lm", "train", "--resume", "run"], dir.path());
    assert_eq!(
        records(&dir.path().join("straight")),
        records(&dir.path().join("run"))
    );
}

/// SIGTERM ends a tabular run the same way, with status 143, and the run resumes to the end.
#[test]
fn sigterm_stops_a_tabular_run_resumably() {
    let dir = tempfile::tempdir().unwrap();
    let digits = datasets().join("digits.csv");
    let args = [
        "train",
        "--dataset",
        digits.to_str().unwrap(),
        "--epochs",
        "150",
        "--patience",
        "0",
        "--out",
        "run",
    ];
    let (code, stderr) = interrupt_after(dir.path(), &args, 1, libc::SIGTERM);
    assert_eq!(code, 143, "{stderr}");
    assert!(
        stderr.contains("interrupted at epoch") && stderr.contains("ffn train --resume run"),
        "{stderr}"
    );
    let stdout = crate::ffn_ok(&["train", "--resume", "run", "--json"], dir.path());
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["epochs_run"], 150);
}
