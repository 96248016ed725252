//! The hostile-input suite: each case runs `ffn` in a fresh directory holding `data.csv` (Iris)
//! and `run/`, a copy of a run trained on it, and asserts what the hardening promises: a failure
//! exits non-zero with a one-line `error:` naming the problem, never a panic, and leaves every
//! file there byte-identical (SHA-256 before and after; the lock file `.ffn-lock` only records
//! the last writer's PID); a documented success is checked by its own assertions.

mod flags;
mod inputs;
mod runs;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::datasets;

/// What a case must end in.
#[derive(Clone, Copy)]
pub enum Expect {
    /// A non-zero exit whose `error:` line contains this text; nothing changed.
    Fails(&'static str),
    /// As `Fails`, with `--json`: stdout's last line is `{"error": .., "kind": KIND}` and the
    /// error holds the text.
    FailsJson(&'static str, &'static str),
    /// Success, checked by the function (given the case directory and stdout).
    Succeeds(fn(&Path, &str)),
}

/// One hostile invocation.
#[derive(Clone, Copy)]
pub struct Case {
    /// What it tries.
    pub name: &'static str,
    /// Prepares the directory (writes inputs, tampers with `run/`); what it returns (a held
    /// lock, say) lives until the command ended.
    pub setup: fn(&Path) -> Option<File>,
    /// The arguments, relative to the case directory.
    pub args: &'static [&'static str],
    /// Extra environment.
    pub env: &'static [(&'static str, &'static str)],
    /// The outcome.
    pub expect: Expect,
}

/// A setup that changes nothing.
pub fn nothing(_: &Path) -> Option<File> {
    None
}

/// Runs every case, then fails listing all cases that broke their promise.
pub fn run_all(cases: &[Case]) {
    let failures: Vec<String> = cases.iter().filter_map(|case| run(case).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn run(case: &Case) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    place_run(dir.path());
    let guard = (case.setup)(dir.path());
    let before = snapshot(dir.path());
    let output = ffn_in(dir.path(), case.args, case.env);
    drop(guard);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let fail = |why: String| {
        Err(format!(
            "[{}] ffn {}: {why}",
            case.name,
            case.args.join(" ")
        ))
    };
    if stderr.contains("panicked") || output.status.code() == Some(101) {
        return fail(format!("panicked: {stderr}"));
    }
    match case.expect {
        Expect::FailsJson(message, kind) => {
            let last: serde_json::Value = stdout
                .lines()
                .last()
                .and_then(|l| serde_json::from_str(l).ok())
                .unwrap_or_default();
            if !last["error"].as_str().is_some_and(|e| e.contains(message)) || last["kind"] != kind
            {
                return fail(format!(
                    "expected a JSON error of kind {kind}, stdout: {stdout}"
                ));
            }
            return run(&Case {
                expect: Expect::Fails(message),
                ..*case
            });
        }
        Expect::Fails(message) => {
            if output.status.success() {
                return fail(format!("succeeded; stdout: {stdout}"));
            }
            let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
            if errors.len() != 1 || !errors[0].contains(message) {
                return fail(format!(
                    "expected one error line with '{message}', got: {stderr}"
                ));
            }
            if errors[0].len() > 600 {
                return fail(format!("error line of {} bytes", errors[0].len()));
            }
            if stderr.contains('\u{1b}') {
                return fail("raw escape character on stderr".into());
            }
            let after = snapshot(dir.path());
            if after != before {
                return fail(format!("files changed: {}", changed(&before, &after)));
            }
        }
        Expect::Succeeds(check) => {
            if !output.status.success() {
                return fail(format!("failed: {stderr}"));
            }
            check(dir.path(), &stdout);
        }
    }
    Ok(())
}

/// `ffn ARGS` in `dir` with `env`.
pub fn ffn_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ffn"))
        .args(args)
        .current_dir(dir)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env("RUST_BACKTRACE", "0")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// The shared run: `run/`, trained for 5 epochs on `data.csv` (Iris), trained once.
fn trained() -> &'static Path {
    static TRAINED: OnceLock<tempfile::TempDir> = OnceLock::new();
    TRAINED
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            std::fs::copy(datasets().join("iris.csv"), dir.path().join("data.csv")).unwrap();
            let args = [
                "train",
                "--dataset",
                "data.csv",
                "--epochs",
                "5",
                "--out",
                "run",
            ];
            let out = ffn_in(dir.path(), &args, &[]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            dir
        })
        .path()
}

/// Copies the shared run and its dataset into `dir`, pointing the run at the copy.
fn place_run(dir: &Path) {
    let from = trained();
    copy_tree(from, dir);
    for file in ["run/config.json", "run/dataset.json"] {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let moved = text.replace(from.to_str().unwrap(), dir.to_str().unwrap());
        std::fs::write(path, moved).unwrap();
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `dir` (but lock files) and the SHA-256 of its contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path.clone());
                files.insert(path, "dir".to_string());
            } else if entry.file_name() != ".ffn-lock" {
                let hash = std::fs::read(&path).map_or("unreadable".into(), |bytes| {
                    format!("{:x}", Sha256::digest(bytes))
                });
                files.insert(path, hash);
            }
        }
    }
    files
}

fn changed(before: &BTreeMap<PathBuf, String>, after: &BTreeMap<PathBuf, String>) -> String {
    let keys: std::collections::BTreeSet<_> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| k.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rewrites the JSON file `file` of the case directory with `edit`.
pub fn edit_json(dir: &Path, file: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(file);
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

/// Flips one byte in the middle of `file`.
pub fn flip_byte(dir: &Path, file: &str) {
    let path = dir.join(file);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

/// Writes `text` to `file` in the case directory.
pub fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

/// The checkpoint file of the run whose name starts with `prefix`.
pub fn checkpoint_file(dir: &Path, prefix: &str) -> String {
    let name = std::fs::read_dir(dir.join("run/checkpoint"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with(prefix))
        .unwrap();
    format!("run/checkpoint/{name}")
}

#[test]
fn run_directories_hold_up() {
    run_all(&runs::cases());
}

#[test]
fn input_files_hold_up() {
    run_all(&inputs::cases());
}

#[test]
fn flags_and_outputs_hold_up() {
    run_all(&flags::cases());
}

#[test]
fn the_suite_has_sixty_cases() {
    let total = runs::cases().len() + inputs::cases().len() + flags::cases().len();
    assert!(total >= 60, "{total} cases");
}
