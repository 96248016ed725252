//! `--help` lists the allowed values of every closed-set flag, and clap rejects anything else
//! with the list.

use crate::{assert_fails_with, ffn, ffn_ok};

/// Subcommands, a closed-set flag of each, and the values its help must list.
const CLOSED_SETS: [(&str, &str, &str); 5] = [
    ("train", "--task", "classification, regression"),
    ("train", "--optimizer", "sgd, adam, adamw"),
    ("eval", "--split", "test, valid, train, all"),
    ("import", "--layout", "bert, gpt2, llama"),
    (
        "bench",
        "--workload",
        "w1, w2, w3, w4, w5, w5-forward, decode, all",
    ),
];

#[test]
fn help_lists_the_values_of_every_closed_set() {
    let dir = tempfile::tempdir().unwrap();
    let top = ffn_ok(&["--help"], dir.path());
    for command in [
        "train", "finetune", "import", "export", "eval", "predict", "info", "report", "bench",
    ] {
        assert!(top.contains(command), "{command} in: {top}");
    }
    for (command, flag, values) in CLOSED_SETS {
        let help = ffn_ok(&[command, "--help"], dir.path());
        let listed = format!("[possible values: {values}]");
        let section = help
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{flag} <")))
            .unwrap_or_else(|| panic!("{command} --help has no {flag}: {help}"));
        assert!(section.contains(&listed), "{command} {flag}: {section}");
    }
}

/// `--backend` takes a local backend or a remote server's address, an open set: its help names
/// the forms, and a value of none of them is rejected naming them.
#[test]
fn device_flags_name_their_forms() {
    let dir = tempfile::tempdir().unwrap();
    for command in [
        &["train"][..],
        &["finetune"],
        &["eval"],
        &["predict"],
        &["lm", "train"],
    ] {
        let help = ffn_ok(&[command, &["--help"]].concat(), dir.path());
        assert!(
            help.contains("flex, ndarray, wgpu, wgpu:N, auto, or remote:ws://HOST:PORT"),
            "{command:?}: {help}"
        );
    }
    let train = ffn_ok(&["train", "--help"], dir.path());
    assert!(train.contains("--devices <DEVICES>"), "{train}");
    let out = ffn(&["train", "--backend", "tpu"], dir.path());
    assert_fails_with(
        &out,
        "a device is one of flex, ndarray, wgpu, wgpu:N, auto or remote:ws://HOST:PORT",
    );
}

#[test]
fn bad_closed_set_values_are_rejected_with_the_list() {
    let dir = tempfile::tempdir().unwrap();
    for (command, flag, values) in CLOSED_SETS {
        let mut args = vec![command, flag, "nonsense"];
        // Commands with a required flag get it, so that the closed set is what fails.
        match command {
            "eval" | "predict" => args.extend(["--run", "r", "--input", "x.csv"]),
            "import" => args.extend(["--safetensors", "m", "--out", "o"]),
            _ => {}
        }
        if command == "eval" {
            args.retain(|a| *a != "--input" && *a != "x.csv");
        }
        let out = ffn(&args, dir.path());
        assert_fails_with(&out, &format!("[possible values: {values}]"));
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "nothing written for {command} {flag}"
        );
    }
    // Names are accepted in any case, as the library's parsers accept them.
    let out = ffn(&["eval", "--split", "TEST", "--run", "nowhere"], dir.path());
    assert_fails_with(&out, "no such run directory");
}
