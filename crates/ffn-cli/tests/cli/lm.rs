//! `ffn lm`: train, generate, eval, finetune, info and report on a small language model, and
//! every bad input a one-line error.

use std::path::Path;
use std::sync::OnceLock;

use crate::{assert_fails_with, datasets, ffn, ffn_ok, iris_run};

/// The first 40,000 characters of the shipped Shakespeare, in `dir`.
pub(crate) fn excerpt(dir: &Path) -> String {
    let text = std::fs::read_to_string(datasets().join("shakespeare.txt")).unwrap();
    let path = dir.join("text.txt");
    std::fs::write(&path, text.chars().take(40_000).collect::<String>()).unwrap();
    path.to_str().unwrap().to_string()
}

/// Flags of a small, short run.
pub(crate) const SMALL: [&str; 18] = [
    "--layers",
    "1",
    "--heads",
    "2",
    "--d-model",
    "16",
    "--d-ff",
    "32",
    "--block",
    "16",
    "--batch",
    "4",
    "--steps",
    "20",
    "--eval-interval",
    "10",
    "--seed",
    "3",
];

/// A small language model trained once for the tests that use it.
pub(crate) fn lm_run() -> &'static Path {
    static RUN: OnceLock<tempfile::TempDir> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let text = excerpt(dir.path());
        let mut args = vec![
            "lm",
            "train",
            "--text",
            text.as_str(),
            "--out",
            "lm",
            "--json",
        ];
        args.extend(SMALL);
        let stdout = ffn_ok(&args, dir.path());
        assert!(stdout.contains("step     10"), "{stdout}");
        let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        assert_eq!(last["steps"], 20);
        assert!(last["valid"]["bits_per_char"].as_f64().unwrap() > 0.0);
        dir
    })
    .path()
}

#[test]
fn generate_eval_info_and_report_work_on_a_language_model() {
    let dir = lm_run();
    let out = ffn(
        &[
            "lm", "generate", "--run", "lm", "--prompt", "ROMEO", "--tokens", "12",
        ],
        dir,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("ROMEO") && stdout.chars().count() >= 5 + 12,
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("tokens/s"));
    let json = ffn_ok(
        &[
            "lm",
            "generate",
            "--run",
            "lm",
            "--prompt",
            "ROMEO",
            "--tokens",
            "12",
            "--temperature",
            "0",
            "--json",
        ],
        dir,
    );
    let greedy: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
    assert_eq!(greedy["tokens"], 12);
    let recomputed = ffn_ok(
        &[
            "lm",
            "generate",
            "--run",
            "lm",
            "--prompt",
            "ROMEO",
            "--tokens",
            "12",
            "--temperature",
            "0",
            "--no-cache",
            "--json",
        ],
        dir,
    );
    let recomputed: serde_json::Value =
        serde_json::from_str(recomputed.lines().last().unwrap()).unwrap();
    assert_eq!(
        greedy["text"], recomputed["text"],
        "the cache changes nothing"
    );

    let austen = datasets().join("austen.txt");
    let eval = ffn_ok(
        &[
            "lm",
            "eval",
            "--run",
            "lm",
            "--text",
            austen.to_str().unwrap(),
            "--batches",
            "4",
            "--json",
        ],
        dir,
    );
    let eval: serde_json::Value = serde_json::from_str(eval.lines().last().unwrap()).unwrap();
    assert!(
        eval["unknown_characters"].as_u64().unwrap() > 0,
        "Austen has characters the excerpt lacks"
    );
    assert!(eval["metrics"]["perplexity"].as_f64().unwrap() > 1.0);

    let info = ffn_ok(&["info", "--run", "lm"], dir);
    assert!(
        info.contains("(language model)") && info.contains("1 layers, 2 heads"),
        "{info}"
    );
    ffn_ok(&["report", "--run", "lm"], dir);
    let html = std::fs::read_to_string(dir.join("lm/report.html")).unwrap();
    assert!(html.contains("Samples after each evaluation") && html.contains("step 20"));
}

#[test]
fn language_model_fine_tunes_with_lora_on_the_ffn() {
    let dir = lm_run();
    let austen = datasets().join("austen.txt");
    let stdout = ffn_ok(
        &[
            "lm",
            "finetune",
            "--from",
            "lm",
            "--text",
            austen.to_str().unwrap(),
            "--lora-rank",
            "2",
            "--lora-targets",
            "ffn",
            "--steps",
            "10",
            "--eval-interval",
            "10",
            "--out",
            "tuned",
            "--json",
        ],
        dir,
    );
    assert!(
        stdout.contains("note:") && stdout.contains("not in the tokenizer's vocabulary"),
        "{stdout}"
    );
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["trainable_params"], 2 * (16 + 32 + 32 + 16));
    let info = ffn_ok(&["info", "--run", "tuned"], dir);
    assert!(info.contains("LoRA rank 2 alpha 4 on ffn"), "{info}");
    assert_fails_with(
        &ffn(
            &[
                "lm", "finetune", "--from", "lm", "--text", "x.txt", "--layers", "3",
            ],
            dir,
        ),
        "--layers does not apply",
    );
}

#[test]
fn bad_language_model_input_is_a_one_line_error() {
    let dir = lm_run();
    let tmp = tempfile::tempdir().unwrap();
    let text = excerpt(tmp.path());
    std::fs::write(tmp.path().join("latin1.txt"), b"caf\xe9 au lait").unwrap();
    std::fs::write(tmp.path().join("blank.txt"), b"  \n ").unwrap();
    let train = |extra: &[&str]| {
        let mut args = vec!["lm", "train", "--out", "never"];
        args.extend(extra);
        ffn(&args, tmp.path())
    };
    for (args, message) in [
        (
            vec!["--text", "latin1.txt"],
            "the byte at offset 3 does not decode",
        ),
        (vec!["--text", "blank.txt"], "holds no text"),
        (
            vec!["--text", text.as_str(), "--tokenizer", "words"],
            "valid tokenizers: char, byte, bpe:N",
        ),
        (
            vec!["--text", text.as_str(), "--ffn", "moe"],
            "valid: relu, gelu, swiglu, geglu, reglu, or moe:E:K[:KIND]",
        ),
        (
            vec!["--text", text.as_str(), "--pos", "alibi"],
            "[possible values: learned, rope]",
        ),
        (
            vec!["--text", text.as_str(), "--d-model", "30", "--heads", "4"],
            "not divisible by the 4 heads",
        ),
        (
            vec!["--text", text.as_str(), "--heads", "4", "--kv-heads", "3"],
            "kv_heads 3 must divide the 4 heads",
        ),
        (
            vec!["--text", text.as_str(), "--block", "100000"],
            "too few for one window",
        ),
    ] {
        assert_fails_with(&train(&args), message);
        assert!(
            !tmp.path().join("never").exists(),
            "nothing written: {message}"
        );
    }
    for (args, message) in [
        (
            vec![
                "lm", "generate", "--run", "lm", "--prompt", "ROMEO", "--tokens", "0",
            ],
            "--tokens must be at least 1",
        ),
        (
            vec!["lm", "generate", "--run", "lm", "--prompt", "Ωmega"],
            "characters the model's vocabulary lacks: 'Ω'",
        ),
        (
            vec!["lm", "generate", "--run", "lm", "--prompt", ""],
            "--prompt is empty",
        ),
        (
            vec![
                "lm",
                "generate",
                "--run",
                "lm",
                "--prompt",
                "x",
                "--temperature=-1",
            ],
            "temperature must be >= 0",
        ),
        (
            vec!["lm", "eval", "--run", "lm", "--text", "missing.txt"],
            "missing.txt",
        ),
    ] {
        assert_fails_with(&ffn(&args, dir), message);
    }
    let tabular = iris_run().join("run");
    let out = ffn(
        &[
            "lm",
            "generate",
            "--run",
            tabular.to_str().unwrap(),
            "--prompt",
            "x",
        ],
        dir,
    );
    assert_fails_with(&out, "is not a language-model run");
    assert_fails_with(
        &ffn(&["eval", "--run", "lm"], dir),
        "holds a language model",
    );
    // A prompt longer than the context is cropped to its last `block` tokens, with a note.
    let long = "a".repeat(40);
    let out = ffn(
        &[
            "lm", "generate", "--run", "lm", "--prompt", &long, "--tokens", "2",
        ],
        dir,
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only its last 16"));
}

#[test]
fn a_mixture_of_experts_trains_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = excerpt(dir.path());
    let mut args = vec![
        "lm",
        "train",
        "--text",
        text.as_str(),
        "--out",
        "moe",
        "--json",
    ];
    args.extend(SMALL);
    args.extend(["--ffn", "MOE:4:2:gelu"]);
    let stdout = ffn_ok(&args, dir.path());
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["steps"], 20);
    let config = std::fs::read_to_string(dir.path().join("moe/config.json")).unwrap();
    assert!(config.contains("\"ffn\": \"moe:4:2:gelu\""), "{config}");
    let info = ffn_ok(&["info", "--run", "moe"], dir.path());
    assert!(info.contains("moe:4:2:gelu"), "{info}");
    let inspect = ffn(&["inspect", "--run", "moe"], dir.path());
    assert_fails_with(&inspect, "mixture-of-experts blocks");
    for (ffn_flag, message) in [
        ("moe:2:3", "1 <= K <= E"),
        ("moe:4", "write moe:E:K or moe:E:K:KIND"),
        ("moe:4:2:tanh", "unknown FFN 'tanh'"),
    ] {
        let mut args = vec!["lm", "train", "--text", text.as_str(), "--out", "bad"];
        args.extend(["--ffn", ffn_flag]);
        assert_fails_with(&ffn(&args, dir.path()), message);
    }
}
