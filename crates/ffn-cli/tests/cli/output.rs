//! Where output goes: a device or FIFO given as `--output` is written in place, never replaced;
//! new files follow the umask and rewritten ones keep their mode; `-` is stdout; labels that need
//! quoting come out as valid CSV; a reader that closes the pipe early does not lose the run.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{datasets, ffn, ffn_ok, iris_run};

fn iris_input() -> String {
    datasets().join("iris.csv").to_str().unwrap().to_string()
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// Predicts into `target` (a FIFO, or a link to one) while a thread reads the FIFO.
fn predict_into_fifo(fifo: &Path, target: &Path) -> String {
    let reader = {
        let fifo = fifo.to_path_buf();
        std::thread::spawn(move || {
            let mut text = String::new();
            std::fs::File::open(fifo)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            text
        })
    };
    let run = iris_run().join("run");
    ffn_ok(
        &[
            "predict",
            "--run",
            run.to_str().unwrap(),
            "--input",
            &iris_input(),
            "--output",
            target.to_str().unwrap(),
        ],
        fifo.parent().unwrap(),
    );
    // Checked before joining: a reader of a replaced FIFO would wait forever.
    assert!(std::fs::metadata(fifo).unwrap().file_type().is_fifo());
    reader.join().unwrap()
}

#[test]
fn a_fifo_and_a_link_to_one_are_written_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let text = predict_into_fifo(&fifo, &fifo);
    assert_eq!(text.lines().count(), 151, "header and 150 rows");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());

    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let text = predict_into_fifo(&fifo, &link);
    assert!(text.starts_with("species,p_setosa,"), "{text}");
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_symlink(), "the link stays a link");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn new_files_follow_the_umask_and_rewritten_files_keep_their_mode() {
    let dir = tempfile::tempdir().unwrap();
    let run = iris_run().join("run");
    let predict = |umask: &str, out: &str| {
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask {umask} && exec \"$0\" predict --run \"$1\" --input \"$2\" --output \"$3\""
            ))
            .arg(env!("CARGO_BIN_EXE_ffn"))
            .args([run.to_str().unwrap(), &iris_input(), out])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::metadata(dir.path().join(out))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(predict("027", "a.csv"), 0o640);
    assert_eq!(predict("022", "b.csv"), 0o644);
    std::fs::set_permissions(dir.path().join("b.csv"), PermissionsExt::from_mode(0o604)).unwrap();
    assert_eq!(
        predict("077", "b.csv"),
        0o604,
        "an existing file keeps its mode"
    );

    // A link to a regular file is followed: the target is rewritten, the link stays.
    std::os::unix::fs::symlink("b.csv", dir.path().join("c.csv")).unwrap();
    std::fs::write(dir.path().join("b.csv"), "old").unwrap();
    predict("022", "c.csv");
    assert!(
        std::fs::symlink_metadata(dir.path().join("c.csv"))
            .unwrap()
            .is_symlink()
    );
    let text = std::fs::read_to_string(dir.path().join("b.csv")).unwrap();
    assert!(text.starts_with("species,"), "{text}");
}

#[test]
fn dash_is_stdout_and_labels_are_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(datasets().join("iris.csv")).unwrap();
    let quoted = text.replace(",setosa", ",\"set,osa\"");
    std::fs::write(dir.path().join("iris.csv"), quoted).unwrap();
    ffn_ok(
        &[
            "train",
            "--dataset",
            "iris.csv",
            "--epochs",
            "40",
            "--out",
            "run",
        ],
        dir.path(),
    );
    let stdout = ffn_ok(
        &[
            "predict", "--run", "run", "--input", "iris.csv", "--output", "-",
        ],
        dir.path(),
    );
    assert!(!dir.path().join("-").exists(), "'-' is stdout, not a file");
    let mut reader = csv::Reader::from_reader(stdout.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[1], "p_set,osa");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 150);
    assert!(rows.iter().all(|r| r.len() == 4), "every row has 4 fields");
    assert!(rows.iter().any(|r| &r[0] == "set,osa"));
}

#[test]
fn a_closed_pipe_does_not_lose_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ffn"))
        .args(["train", "--dataset", &iris_input(), "--epochs", "30"])
        .args(["--out", "run", "--json"])
        .current_dir(dir.path())
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(stderr.contains("stdout was closed"), "{stderr}");
    assert!(dir.path().join("run/model.bpk").exists());
    assert!(dir.path().join("run/summary.json").exists());
    let info = ffn(&["info", "--run", "run"], dir.path());
    assert!(info.status.success());
}
