//! `--out` never writes over what is there: a non-empty directory is refused, an existing run
//! is replaced only with `--force` (and put back when the new run fails), and `--force` never
//! deletes a directory holding anything a run does not write.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{assert_fails_with, datasets, ffn, ffn_ok};

fn train(dir: &Path, dataset: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "--dataset",
        dataset,
        "--epochs",
        "3",
        "--out",
        "run",
    ];
    args.extend_from_slice(extra);
    ffn(&args, dir)
}

fn digest(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

#[test]
fn an_existing_directory_is_never_written_over() {
    let dir = tempfile::tempdir().unwrap();
    let iris = datasets().join("iris.csv");
    let iris = iris.to_str().unwrap();

    std::fs::create_dir(dir.path().join("run")).unwrap();
    std::fs::write(dir.path().join("run/notes.txt"), "mine").unwrap();
    assert_fails_with(&train(dir.path(), iris, &[]), "is not empty");
    let forced = train(dir.path(), iris, &["--force"]);
    assert_fails_with(&forced, "holds 'notes.txt', which no run writes");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("run")).unwrap().collect();
    assert_eq!(left.len(), 1, "only the user's file, untouched");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("run/notes.txt")).unwrap(),
        "mine"
    );

    std::fs::remove_dir_all(dir.path().join("run")).unwrap();
    assert!(train(dir.path(), iris, &[]).status.success());
    let model = dir.path().join("run/model.bpk");
    let before = digest(&model);
    assert_fails_with(
        &train(dir.path(), iris, &[]),
        "holds a run; continue it with --resume",
    );
    assert_eq!(digest(&model), before, "the run is untouched");
}

#[test]
fn force_replaces_a_run_only_when_the_new_one_starts() {
    let dir = tempfile::tempdir().unwrap();
    let iris = datasets().join("iris.csv");
    let iris = iris.to_str().unwrap();
    assert!(train(dir.path(), iris, &["--seed", "1"]).status.success());
    let model = dir.path().join("run/model.bpk");
    let first = digest(&model);

    // A new run that fails (a feature cell that is not a number) leaves the old one in place.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "a,b,label\n1,2,x\nthree,4,y\n5,6,x\n").unwrap();
    let failed = train(dir.path(), bad.to_str().unwrap(), &["--force"]);
    assert!(!failed.status.success());
    assert_eq!(digest(&model), first, "the old run is back");

    ffn_ok(
        &[
            "train",
            "--dataset",
            iris,
            "--epochs",
            "3",
            "--out",
            "run",
            "--seed",
            "2",
            "--force",
        ],
        dir.path(),
    );
    assert_ne!(digest(&model), first, "a new run took its place");
    let config = std::fs::read_to_string(dir.path().join("run/config.json")).unwrap();
    assert!(config.contains("\"seed\": 2"), "{config}");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("ffn-replaced")),
        "{names:?}"
    );
}
