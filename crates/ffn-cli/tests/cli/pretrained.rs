//! `ffn lm generate --gguf` and `ffn lm eval --gguf` on SmolLM2-135M-Instruct: the chat answer,
//! streamed text equal to the JSON's, perplexity, and every bad input as a one-line error. The
//! model comes from `scripts/fetch-model.sh smollm2`; without it the tests that need it say so
//! and pass, unless `FFN_REQUIRE_MODELS` is set (CI).

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::{assert_fails_with, datasets, ffn, ffn_ok};

/// The model file, or `None` (with a note) when it has not been fetched.
fn model_file() -> Option<PathBuf> {
    ffn_train::fetched_smollm2(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

#[test]
fn chat_answers_and_the_stream_equals_the_json() {
    let Some(model) = model_file() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = model.to_str().unwrap();
    let args = [
        "lm",
        "generate",
        "--gguf",
        model,
        "--chat",
        "--prompt",
        "What is the capital of France?",
        "--tokens",
        "40",
        "--temperature",
        "0",
    ];
    let streamed = ffn_ok(&args, dir.path());
    assert!(streamed.contains("Paris"), "{streamed}");
    let json: Value =
        serde_json::from_str(&ffn_ok(&[&args[..], &["--json"]].concat(), dir.path())).unwrap();
    assert_eq!(streamed.trim_end(), json["text"].as_str().unwrap());
    // The answer ended at the end-of-turn token (id 2), before the 40-token budget.
    let ids: Vec<u32> = serde_json::from_value(json["token_ids"].clone()).unwrap();
    assert!(ids.len() < 40 && ids.last() == Some(&2), "{ids:?}");
}

/// `ffn lm eval --gguf MODEL` on the first `max_tokens` tokens of Shakespeare in windows of 128,
/// with `extra` flags, run in `dir`.
fn eval_shakespeare(model: &Path, max_tokens: &str, extra: &[&str], dir: &Path) -> Output {
    let text = datasets().join("shakespeare.txt");
    let args = [
        "lm",
        "eval",
        "--gguf",
        model.to_str().unwrap(),
        "--text",
        text.to_str().unwrap(),
        "--max-tokens",
        max_tokens,
        "--window",
        "128",
    ];
    ffn(&[&args[..], extra].concat(), dir)
}

#[test]
fn eval_reports_the_perplexity_of_consecutive_windows() {
    let Some(model) = model_file() else { return };
    let dir = tempfile::tempdir().unwrap();
    let output = eval_shakespeare(&model, "257", &["--json"], dir.path());
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let loss = json["metrics"]["loss"].as_f64().unwrap();
    let perplexity = json["metrics"]["perplexity"].as_f64().unwrap();
    assert!((perplexity - loss.exp()).abs() < 1e-9 * perplexity);
    // A pretrained model is far better than uniform over its 49,152 tokens (ln = 10.8).
    assert!(loss > 1.0 && loss < 6.0, "{loss}");
}

#[test]
fn bad_pretrained_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let iris = datasets().join("iris.csv");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ffn-model/tests/fixtures/gguf/types.gguf");
    let generate = |file: &str, extra: &[&str]| {
        let prompt: &[&str] = if extra.contains(&"--prompt") {
            &[]
        } else {
            &["--prompt", "x"]
        };
        ffn(
            &[&["lm", "generate", "--gguf", file], prompt, extra].concat(),
            dir.path(),
        )
    };
    assert_fails_with(&generate(iris.to_str().unwrap(), &[]), "not a GGUF file");
    assert_fails_with(&generate("absent.gguf", &[]), "cannot open");
    assert_fails_with(
        &generate(fixture.to_str().unwrap(), &[]),
        "architecture is 'gpt2'; only 'llama' models can be loaded",
    );
    let truncated = dir.path().join("truncated.gguf");
    let bytes = std::fs::read(&fixture).unwrap();
    std::fs::write(&truncated, &bytes[..1100]).unwrap();
    assert_fails_with(&generate(truncated.to_str().unwrap(), &[]), "truncated");
    assert_fails_with(
        &ffn(
            &["lm", "generate", "--run", "r", "--chat", "--prompt", "x"],
            dir.path(),
        ),
        "cannot be used with",
    );
    let one_line = generate("absent.gguf", &[]);
    assert_eq!(
        String::from_utf8_lossy(&one_line.stderr)
            .trim()
            .lines()
            .count(),
        1
    );
    let Some(model) = model_file() else { return };
    let model = model.to_str().unwrap();
    assert_fails_with(
        &generate(
            model,
            &["--context", "4", "--prompt", "one two three four five six"],
        ),
        "the model's context is 4",
    );
    assert_fails_with(&generate(model, &["--prompt", ""]), "the prompt is empty");
}

#[test]
fn finetune_writes_a_peft_adapter_that_generate_applies_to_its_own_base_only() {
    let Some(model) = model_file() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = model.to_str().unwrap();
    let text = datasets().join("shakespeare.txt");
    let text = text.to_str().unwrap();
    let config = dir.path().join("short.json");
    std::fs::write(
        &config,
        r#"{"model": {"block": 16}, "batch": 1, "steps": 2, "eval_interval": 2,
            "eval_batches": 1, "final_eval_batches": 1, "sample_tokens": 0}"#,
    )
    .unwrap();
    let finetune = |extra: &[&str]| {
        let base = ["lm", "finetune", "--gguf", model, "--text", text];
        ffn(&[&base[..], extra].concat(), dir.path())
    };
    let config = config.to_str().unwrap();
    let run = ["--config", config, "--lora-rank", "2", "--out", "tuned"];
    let output = finetune(&[&run[..], &["--json"]].concat());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    // Rank 2 on the FFN projections of 30 layers: 2·3·(576 + 1536)·30.
    assert_eq!(summary["trainable_params"], 380_160);
    assert!(dir.path().join("tuned/adapter_model.safetensors").exists());
    assert!(dir.path().join("tuned/adapter_config.json").exists());
    let generate = |run: &str| {
        let args = ["lm", "generate", "--run", run, "--prompt", "ROMEO:"];
        ffn(
            &[&args[..], &["--tokens", "3", "--temperature", "0"]].concat(),
            dir.path(),
        )
    };
    assert!(generate("tuned").status.success());
    let merged = |run: &str| {
        let args = [
            "lm",
            "generate",
            "--gguf",
            model,
            "--adapter",
            run,
            "--prompt",
            "ROMEO:",
        ];
        ffn(
            &[&args[..], &["--tokens", "3", "--temperature", "0"]].concat(),
            dir.path(),
        )
    };
    assert_eq!(merged("tuned").stdout, generate("tuned").stdout);

    assert_fails_with(&finetune(&["--steps", "2"]), "--lora-rank");
    assert_fails_with(
        &finetune(&["--lora-rank", "2", "--from", "tuned"]),
        "cannot be used with",
    );
    assert_fails_with(
        &finetune(&["--lora-rank", "2", "--block", "100000", "--out", "long"]),
        "longer than the model's context of 8192 tokens",
    );
    assert_fails_with(
        &ffn(
            &[
                "lm",
                "finetune",
                "--resume",
                "tuned",
                "--gguf",
                model,
                "--lora-rank",
                "2",
            ],
            dir.path(),
        ),
        "cannot be used with",
    );
    assert_fails_with(
        &finetune(&["--lora-rank", "2", "--layers", "2"]),
        "--layers does not apply: the model and its tokenizer come from --gguf",
    );
    let recorded = dir.path().join("tuned/finetune.json");
    let mut spec: Value =
        serde_json::from_str(&std::fs::read_to_string(&recorded).unwrap()).unwrap();
    spec["base_sha256"] = Value::from("f".repeat(64));
    std::fs::write(&recorded, spec.to_string()).unwrap();
    for output in [generate("tuned"), merged("tuned")] {
        assert_fails_with(&output, "is not the model these adapters were trained on");
    }
}

#[test]
fn a_peft_adapter_merged_into_the_gguf_model_gives_peft_s_loss() {
    let Some(model) = model_file() else { return };
    let dir = tempfile::tempdir().unwrap();
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ffn-train/tests/fixtures/smollm2");
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("peft_reference.json")).unwrap(),
    )
    .unwrap();
    let adapter = fixtures.join("peft_adapter");
    let eval = |extra: &[&str]| eval_shakespeare(&model, "129", extra, dir.path());
    let loss = |extra: &[&str]| {
        let output = eval(&[extra, &["--json"]].concat());
        assert!(output.status.success(), "{output:?}");
        let json: Value = serde_json::from_slice(&output.stdout).unwrap();
        json["metrics"]["loss"].as_f64().unwrap()
    };
    // transformers + peft: 3.0097 with the adapter, 3.0032 without.
    let want = &reference["shakespeare_window_loss"];
    let adapted = loss(&["--adapter", adapter.to_str().unwrap()]);
    let base = loss(&[]);
    for (ours, theirs) in [(adapted, &want["adapted"]), (base, &want["base"])] {
        let theirs = theirs.as_f64().unwrap();
        assert!((ours - theirs).abs() < 1e-4, "{ours} vs {theirs}");
    }
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    assert_fails_with(&eval(&["--adapter", "empty"]), "adapter_config.json");
    assert_fails_with(
        &ffn(
            &[
                "lm",
                "eval",
                "--run",
                "r",
                "--adapter",
                "empty",
                "--text",
                "t",
            ],
            dir.path(),
        ),
        "cannot be used with",
    );
}
