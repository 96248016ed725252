//! `ffn serve` and remote devices on loopback: two servers as two data-parallel devices give the
//! losses of one local device with the same global batch; a wrong or missing token is refused
//! while the server serves others; a server lost mid-run ends the run with an error naming it,
//! and `--resume` on the local CPU finishes it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use crate::lm::{SMALL, excerpt};
use crate::{assert_fails_with, datasets, ffn, ffn_ok};

const TOKEN: &str = "loopback-test-token";

/// One loopback test at a time: the servers and the training clients share the two cores.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An `ffn serve` process on a free loopback port, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let token = dir.join("token");
        std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ffn"))
            .args(["serve", "--backend", "flex", "--listen", "127.0.0.1:0"])
            .arg("--token-file")
            .arg(&token)
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .split_whitespace()
            .find(|word| word.starts_with("ws://"))
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_string();
        Server { child, url }
    }

    fn device(&self) -> String {
        format!("remote:{}", self.url)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `ffn` with the servers' token in the environment.
fn ffn_with_token(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ffn"))
        .args(args)
        .current_dir(dir)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env("FFN_REMOTE_TOKEN", TOKEN)
        .output()
        .unwrap()
}

#[track_caller]
fn ok(output: std::process::Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The losses of every record of `RUN/metrics.jsonl`: training, then validation.
fn losses(run: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let mut losses = Vec::new();
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        for part in ["train", "valid"] {
            losses.push(record[part]["loss"].as_f64().unwrap());
        }
    }
    losses
}

#[track_caller]
fn assert_losses_match(local: &[f64], parallel: &[f64], what: &str) {
    assert_eq!(local.len(), parallel.len(), "{what}: records");
    for (i, (a, b)) in local.iter().zip(parallel).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4,
            "{what}[{i}]: local {a}, two servers {b}"
        );
    }
}

/// Tabular flags: iris, 104 training rows in batches of 16 (7 steps per epoch), `epochs` epochs.
fn iris_flags(epochs: usize) -> Vec<String> {
    let iris = datasets().join("iris.csv");
    [
        "--dataset",
        iris.to_str().unwrap(),
        "--hidden",
        "16",
        "--epochs",
        &epochs.to_string(),
        "--batch-size",
        "16",
        "--patience",
        "0",
        "--lr",
        "0.01",
        // Dropout masks are drawn per device: without dropout the results are comparable.
        "--dropout",
        "0",
    ]
    .map(String::from)
    .to_vec()
}

/// `command` (`train`, `lm train`) writing to `out`, with `flags` and then `extra`.
fn args<'a>(
    command: &[&'a str],
    out: &'a str,
    flags: &'a [String],
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = command.to_vec();
    args.extend(["--out", out]);
    args.extend(with(flags, extra));
    args
}

fn with<'a>(base: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    base.iter()
        .map(String::as_str)
        .chain(extra.iter().copied())
        .collect()
}

#[test]
fn two_loopback_servers_train_like_one_local_device() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Server::start(dir.path()), Server::start(dir.path()));
    let devices = format!("{},{}", a.device(), b.device());
    let flags = iris_flags(3);
    ffn_ok(&args(&["train"], "local", &flags, &[]), dir.path());
    ok(
        ffn_with_token(
            &args(&["train"], "two", &flags, &["--devices", &devices]),
            dir.path(),
        ),
        "train on two servers",
    );
    let local = losses(&dir.path().join("local"));
    assert_eq!(local.len(), 6, "3 epochs of train and valid losses");
    assert_losses_match(&local, &losses(&dir.path().join("two")), "iris");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("two/config.json")).unwrap())
            .unwrap();
    assert_eq!(config["devices"][1], b.device().as_str());

    // The language model: 20 steps of 4 windows, two per server.
    let text = excerpt(dir.path());
    let lm: Vec<String> = ["--text", text.as_str(), "--dropout", "0"]
        .into_iter()
        .chain(SMALL)
        .map(String::from)
        .collect();
    ffn_ok(&args(&["lm", "train"], "lm-local", &lm, &[]), dir.path());
    ok(
        ffn_with_token(
            &args(&["lm", "train"], "lm-two", &lm, &["--devices", &devices]),
            dir.path(),
        ),
        "lm train on two servers",
    );
    let local = losses(&dir.path().join("lm-local"));
    assert_eq!(local.len(), 4, "2 evaluations of train and valid losses");
    assert_losses_match(
        &local,
        &losses(&dir.path().join("lm-two")),
        "language model",
    );
}

#[test]
fn a_wrong_or_missing_token_is_refused_and_the_server_serves_others() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let flags = iris_flags(1);
    let remote = ["--backend", &server.device()];
    let missing = ffn(&args(&["train"], "a", &flags, &remote), dir.path());
    assert_fails_with(&missing, "no token to present");
    std::fs::write(dir.path().join("wrong"), "not-the-token").unwrap();
    let wrong = ffn(
        &args(&["train", "--token-file", "wrong"], "b", &flags, &remote),
        dir.path(),
    );
    assert_fails_with(&wrong, "refused the token");
    assert_eq!(
        String::from_utf8_lossy(&wrong.stderr).lines().count(),
        1,
        "one line"
    );
    assert!(
        !dir.path().join("b").exists(),
        "a refused run writes nothing"
    );
    let stdout = ok(
        ffn_with_token(&args(&["train"], "c", &flags, &remote), dir.path()),
        "the right token",
    );
    assert!(stdout.contains("remote ws://127.0.0.1:"), "{stdout}");
}

#[test]
fn a_lost_server_ends_the_run_and_resume_finishes_it_locally() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let flags = iris_flags(400);
    let long = ["--backend", &server.device()];
    let long = args(&["train"], "run", &flags, &long);
    let client = Command::new(env!("CARGO_BIN_EXE_ffn"))
        .args(&long)
        .current_dir(dir.path())
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env("FFN_REMOTE_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let state = dir.path().join("run/checkpoint/state.json");
    let started = std::time::Instant::now();
    while !state.exists() {
        assert!(
            started.elapsed().as_secs() < 120,
            "no checkpoint within 2 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server.kill();
    let output = client.wait_with_output().unwrap();
    assert_fails_with(&output, &server.device());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    let resumed = ffn_ok(
        &["train", "--resume", "run", "--backend", "flex"],
        dir.path(),
    );
    assert!(resumed.contains("flex"), "{resumed}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("run/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["epochs_run"], 400);
}

#[test]
fn bad_devices_are_one_line_errors() {
    // The port found free below must stay free: no server of another test may take it.
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let flags = iris_flags(3);
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let unreachable = format!("remote:ws://127.0.0.1:{port}");
    for (devices, message) in [
        ("remote:http://127.0.0.1:1", "speaks WebSocket"),
        ("tpu,flex", "names no backend"),
        ("flex,flex", "listed twice"),
        (unreachable.as_str(), "`ffn serve`"),
    ] {
        let output = ffn_with_token(
            &args(&["train"], "x", &flags, &["--devices", devices]),
            dir.path(),
        );
        assert_fails_with(&output, message);
        assert!(!dir.path().join("x").exists(), "{devices}: nothing written");
    }
    let mut one_row = flags.clone();
    let at = one_row.iter().position(|f| f == "--batch-size").unwrap();
    one_row[at + 1] = "1".into();
    let rows = ffn_with_token(
        &args(&["train"], "x", &one_row, &["--devices", "flex,ndarray"]),
        dir.path(),
    );
    assert_fails_with(&rows, "at least one row");
    let serve = ffn(&["serve", "--listen", "127.0.0.1:0"], dir.path());
    assert_fails_with(&serve, "needs a token");
}
