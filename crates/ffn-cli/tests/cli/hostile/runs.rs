//! Run directories: one writer, resuming (finishing, extending, flags that cannot apply),
//! integrity of weights, checkpoints and the dataset, corrupt run files, `--out` and `--force`.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::Expect::{Fails, Succeeds};
use super::{Case, checkpoint_file, edit_json, flip_byte, nothing, write};

/// Holds the run's writer lock as process 4242 would.
fn locked(dir: &Path) -> Option<File> {
    let mut file = File::options()
        .read(true)
        .write(true)
        .open(dir.join("run/.ffn-lock"))
        .unwrap();
    file.lock().unwrap();
    file.set_len(0).unwrap();
    writeln!(file, "4242").unwrap();
    Some(file)
}

fn unfinished(dir: &Path) -> Option<File> {
    std::fs::remove_file(dir.join("run/summary.json")).unwrap();
    std::fs::remove_file(dir.join("run/model.bpk")).unwrap();
    None
}

fn finished_again(dir: &Path, stdout: &str) {
    assert!(stdout.contains("trained 5 epochs"), "{stdout}");
    assert!(dir.join("run/summary.json").exists() && dir.join("run/model.bpk").exists());
}

fn extended(dir: &Path, stdout: &str) {
    assert!(stdout.contains("trained 7 epochs"), "{stdout}");
    let metrics = std::fs::read_to_string(dir.join("run/metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 7, "{metrics}");
    let config = std::fs::read_to_string(dir.join("run/config.json")).unwrap();
    assert!(config.contains("\"epochs\": 7"), "{config}");
}

fn shrunk_dataset(dir: &Path) -> Option<File> {
    let text = std::fs::read_to_string(dir.join("data.csv")).unwrap();
    let kept: Vec<&str> = text.lines().take(100).collect();
    write(dir, "data.csv", &(kept.join("\n") + "\n"));
    None
}

fn edited_dataset(dir: &Path) -> Option<File> {
    let text = std::fs::read_to_string(dir.join("data.csv")).unwrap();
    write(dir, "data.csv", &text.replacen("5.1,3.5", "5.2,3.5", 1));
    None
}

fn model_from_elsewhere(dir: &Path) -> Option<File> {
    let optimizer = checkpoint_file(dir, "optimizer-");
    std::fs::copy(dir.join("run/model.bpk"), dir.join(optimizer)).unwrap();
    None
}

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "a second writer while the run is locked",
            setup: locked,
            args: &["train", "--resume", "run", "--epochs", "9"],
            env: &[],
            expect: Fails("run: is in use by process 4242; wait for it"),
        },
        Case {
            name: "--force over a locked run",
            setup: locked,
            args: &["train", "--dataset", "data.csv", "--out", "run", "--force"],
            env: &[],
            expect: Fails("is in use by process 4242"),
        },
        Case {
            name: "a finished run resumed without a new length",
            setup: nothing,
            args: &["train", "--resume", "run"],
            env: &[],
            expect: Fails("the run already finished after 5 epochs; extend it with --resume"),
        },
        Case {
            name: "a run whose results were never written is finished by --resume",
            setup: unfinished,
            args: &["train", "--resume", "run"],
            env: &[],
            expect: Succeeds(finished_again),
        },
        Case {
            name: "--resume --epochs extends a finished run",
            setup: nothing,
            args: &["train", "--resume", "run", "--epochs", "7"],
            env: &[],
            expect: Succeeds(extended),
        },
        Case {
            name: "--resume --epochs fewer than trained",
            setup: nothing,
            args: &["train", "--resume", "run", "--epochs", "3"],
            env: &[],
            expect: Fails("--epochs 3 is fewer than the 5 epochs already trained"),
        },
        Case {
            name: "--resume with --lr",
            setup: nothing,
            args: &["train", "--resume", "run", "--lr", "0.1"],
            env: &[],
            expect: Fails("--lr cannot change a run being resumed"),
        },
        Case {
            name: "--resume with --dataset and --seed",
            setup: nothing,
            args: &[
                "train",
                "--resume",
                "run",
                "--dataset",
                "x.csv",
                "--seed",
                "3",
            ],
            env: &[],
            expect: Fails("--dataset, --seed cannot change a run being resumed"),
        },
        Case {
            name: "--resume with --out",
            setup: nothing,
            args: &["train", "--resume", "run", "--out", "other"],
            env: &[],
            expect: Fails("cannot be used with"),
        },
        Case {
            name: "finetune --resume with --lora-rank",
            setup: nothing,
            args: &["finetune", "--resume", "run", "--lora-rank", "2"],
            env: &[],
            expect: Fails("--lora-rank cannot change a run being resumed"),
        },
        Case {
            name: "lm train --resume with --layers",
            setup: nothing,
            args: &["lm", "train", "--resume", "run", "--layers", "2"],
            env: &[],
            expect: Fails("--layers cannot change a run being resumed"),
        },
        Case {
            name: "a flipped byte in model.bpk",
            setup: |dir| {
                flip_byte(dir, "run/model.bpk");
                None
            },
            args: &["eval", "--run", "run"],
            env: &[],
            expect: Fails("run/model.bpk: its SHA-256 differs from the run's manifest.json"),
        },
        Case {
            name: "a flipped byte in the optimiser checkpoint",
            setup: |dir| {
                let optimizer = checkpoint_file(dir, "optimizer-");
                flip_byte(dir, &optimizer);
                None
            },
            args: &["train", "--resume", "run", "--epochs", "8"],
            env: &[],
            expect: Fails("its SHA-256 differs from the run's manifest.json"),
        },
        Case {
            name: "an optimiser state that is another file",
            setup: model_from_elsewhere,
            args: &["train", "--resume", "run", "--epochs", "8"],
            env: &[],
            expect: Fails("comes from another run"),
        },
        Case {
            name: "a weight file the manifest does not list",
            setup: |dir| {
                edit_json(dir, "run/manifest.json", |m| {
                    m["sha256"].as_object_mut().unwrap().remove("model.bpk");
                });
                None
            },
            args: &["predict", "--run", "run", "--input", "data.csv"],
            env: &[],
            expect: Fails("not in the run's manifest.json"),
        },
        Case {
            name: "eval --split train after the dataset shrank",
            setup: shrunk_dataset,
            args: &["eval", "--run", "run", "--split", "train"],
            env: &[],
            expect: Fails("changed since the run trained on it (then 150 rows"),
        },
        Case {
            name: "eval after one cell of the dataset changed",
            setup: edited_dataset,
            args: &["eval", "--run", "run", "--split", "test"],
            env: &[],
            expect: Fails("evaluate a file with --dataset instead"),
        },
        Case {
            name: "resume after the dataset changed",
            setup: edited_dataset,
            args: &["train", "--resume", "run", "--epochs", "8"],
            env: &[],
            expect: Fails("changed since the run trained on it"),
        },
        Case {
            name: "split.json naming rows beyond the file",
            setup: |dir| {
                edit_json(dir, "run/split.json", |s| s["test"][0] = 9999.into());
                None
            },
            args: &["eval", "--run", "run"],
            env: &[],
            expect: Fails("row 9999 of the run's split is beyond its 150 rows"),
        },
        Case {
            name: "split.json evaluating training rows as test rows",
            setup: |dir| {
                edit_json(dir, "run/split.json", |s| s["test"] = s["train"].clone());
                None
            },
            args: &["eval", "--run", "run"],
            env: &[],
            expect: Fails("appears twice, so held-out rows would overlap the training rows"),
        },
        Case {
            name: "a corrupted model whose manifest was deleted",
            setup: |dir| {
                flip_byte(dir, "run/model.bpk");
                std::fs::remove_file(dir.join("run/manifest.json")).unwrap();
                None
            },
            args: &["eval", "--run", "run"],
            env: &[],
            expect: Fails("manifest.json: missing, so the run's weights cannot be checked"),
        },
        Case {
            name: "a standardiser scale of null",
            setup: |dir| {
                edit_json(dir, "run/preprocessor.json", |p| {
                    p["standardizer"]["scale"][1] = serde_json::Value::Null;
                });
                None
            },
            args: &["predict", "--run", "run", "--input", "data.csv"],
            env: &[],
            expect: Fails("preprocessor.json: corrupt file"),
        },
        Case {
            name: "a standardiser scale of zero",
            setup: |dir| {
                edit_json(dir, "run/preprocessor.json", |p| {
                    p["standardizer"]["scale"][0] = 0.0.into();
                });
                None
            },
            args: &["eval", "--run", "run"],
            env: &[],
            expect: Fails("has a mean or scale that is not a finite positive number"),
        },
        Case {
            name: "a standardiser shorter than the features",
            setup: |dir| {
                edit_json(dir, "run/preprocessor.json", |p| {
                    p["standardizer"]["mean"].as_array_mut().unwrap().pop();
                });
                None
            },
            args: &["predict", "--run", "run", "--input", "data.csv"],
            env: &[],
            expect: Fails("the standardiser has 3 means and 4 scales for 4 features"),
        },
        Case {
            name: "a checkpoint state that is not JSON",
            setup: |dir| {
                write(dir, "run/checkpoint/state.json", "{\"epoch\": 3,");
                None
            },
            args: &["train", "--resume", "run", "--epochs", "9"],
            env: &[],
            expect: Fails("state.json: corrupt file"),
        },
        Case {
            name: "a config with an unknown field",
            setup: |dir| {
                edit_json(dir, "run/config.json", |c| c["epochz"] = 3.into());
                None
            },
            args: &["info", "--run", "run"],
            env: &[],
            expect: Fails("unknown field `epochz`"),
        },
        Case {
            name: "--out over an existing run without --force",
            setup: nothing,
            args: &["train", "--dataset", "data.csv", "--out", "run"],
            env: &[],
            expect: Fails("holds a run; continue it with --resume, replace it with --force"),
        },
        Case {
            name: "--force over a directory of the user's files",
            setup: |dir| {
                std::fs::create_dir(dir.join("mine")).unwrap();
                write(dir, "mine/notes.txt", "keep me");
                None
            },
            args: &["train", "--dataset", "data.csv", "--out", "mine", "--force"],
            env: &[],
            expect: Fails("holds 'notes.txt', which no run writes"),
        },
        Case {
            name: "finetune from a run without its final model",
            setup: unfinished,
            args: &[
                "finetune",
                "--from",
                "run",
                "--dataset",
                "data.csv",
                "--out",
                "ft",
            ],
            env: &[],
            expect: Fails("no final model"),
        },
        Case {
            name: "finetune with every layer frozen",
            setup: nothing,
            args: &[
                "finetune",
                "--from",
                "run",
                "--dataset",
                "data.csv",
                "--freeze",
                "all",
                "--out",
                "ft",
            ],
            env: &[],
            expect: Fails("nothing would train"),
        },
        Case {
            name: "lm generate on a tabular run",
            setup: nothing,
            args: &["lm", "generate", "--run", "run", "--prompt", "a"],
            env: &[],
            expect: Fails("run: is not a language-model run"),
        },
    ]
}
