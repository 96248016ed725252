//! Importing a Hugging Face FFN block and fine-tuning runs and blocks from the command line.

use ffn_model::DenseLayers;

use crate::{assert_fails_with, csv_line, datasets, ffn, ffn_ok, hf_fixtures, iris_run};

#[test]
fn imported_block_predicts_vectors_and_fine_tunes_with_a_frozen_body() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = hf_fixtures();
    let text = std::fs::read_to_string(fixtures.join("hf_fixtures.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (x, y) = (
        floats(&reference["gpt2"]["x"]),
        floats(&reference["gpt2"]["y"]),
    );
    let model = fixtures.join("hf/gpt2/model.safetensors");
    let config = fixtures.join("hf/gpt2/config.json");
    let stdout = ffn_ok(
        &[
            "import",
            "--safetensors",
            model.to_str().unwrap(),
            "--layout",
            "gpt2",
            "--layer",
            "1",
            "--config",
            config.to_str().unwrap(),
            "--out",
            "block",
        ],
        dir.path(),
    );
    assert!(stdout.contains("h.1.mlp.c_proj.weight"));

    // Each row of the input CSV is one d_model = 8 vector.
    let mut csv = csv_line((0..8).map(|i| format!("x{i}")));
    for row in x.chunks(8) {
        csv += &csv_line(row.iter().map(|v| v.to_string()));
    }
    std::fs::write(dir.path().join("x.csv"), &csv).unwrap();
    ffn_ok(
        &[
            "predict", "--run", "block", "--input", "x.csv", "--output", "y.csv",
        ],
        dir.path(),
    );
    let written = std::fs::read_to_string(dir.path().join("y.csv")).unwrap();
    let mut lines = written.lines();
    assert_eq!(lines.next().unwrap(), "y0,y1,y2,y3,y4,y5,y6,y7");
    let got: Vec<f32> = lines
        .flat_map(|l| {
            l.split(',')
                .map(|v| v.parse::<f32>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    crate::assert_close(&got, &y, 1e-5, "block outputs");

    assert_fails_with(
        &ffn(&["eval", "--run", "block"], dir.path()),
        "holds an imported block",
    );
    let info = ffn_ok(&["info", "--run", "block"], dir.path());
    assert!(info.contains("d_model 8, d_ff 12"));

    // A classification dataset of 8-value rows: the class is the sign of the first value.
    let mut data = csv_line((0..8).map(|i| format!("x{i}")).chain(["label".to_string()]));
    let mut rng = ffn_data::SplitMix64::new(5);
    for _ in 0..120 {
        let row: Vec<f64> = (0..8)
            .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
            .collect();
        let label = if row[0] > 0.0 { "pos" } else { "neg" };
        data += &csv_line(
            row.iter()
                .map(|v| format!("{v:.4}"))
                .chain([label.to_string()]),
        );
    }
    std::fs::write(dir.path().join("signs.csv"), data).unwrap();
    let stdout = ffn_ok(
        &[
            "finetune",
            "--from",
            "block",
            "--dataset",
            "signs.csv",
            "--freeze",
            "body",
            "--epochs",
            "3",
            "--out",
            "tuned",
            "--json",
        ],
        dir.path(),
    );
    assert!(
        stdout.contains("note: the imported block has no head"),
        "{stdout}"
    );
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["trainable_params"], 8 * 2 + 2);

    // The frozen block is bit-identical to the imported one.
    let device = burn::prelude::Device::flex();
    let imported = ffn_train::ImportedBlock::open(&dir.path().join("block"))
        .unwrap()
        .block(&device)
        .unwrap();
    let tuned = ffn_train::SavedRun::open(&dir.path().join("tuned"))
        .unwrap()
        .model(&device)
        .unwrap()
        .block
        .unwrap();
    for ((name, a), (_, b)) in imported.dense_layers().iter().zip(tuned.dense_layers()) {
        assert!(
            a.linear
                .weight
                .val()
                .equal(b.linear.weight.val())
                .all()
                .into_scalar::<bool>(),
            "{name} changed"
        );
    }
    let info = ffn_ok(&["info", "--run", "tuned"], dir.path());
    assert!(
        info.contains("block:") && info.contains("0=block.norm"),
        "{info}"
    );
    assert_fails_with(
        &ffn(
            &["export", "--run", "tuned", "--out", "t.safetensors"],
            dir.path(),
        ),
        "cannot be exported as a torch.nn.Sequential",
    );
    assert!(!dir.path().join("t.safetensors").exists());

    assert_fails_with(
        &ffn(
            &[
                "import",
                "--safetensors",
                model.to_str().unwrap(),
                "--layout",
                "bert",
                "--out",
                "b2",
            ],
            dir.path(),
        ),
        "not a Bert checkpoint",
    );
    assert_fails_with(
        &ffn(
            &[
                "finetune",
                "--from",
                "block",
                "--dataset",
                "signs.csv",
                "--hidden",
                "4",
            ],
            dir.path(),
        ),
        "the architecture comes from --from",
    );
}

#[test]
fn finetuned_run_works_with_eval_predict_and_info() {
    let dir = tempfile::tempdir().unwrap();
    let run = iris_run().join("run");
    let iris = datasets().join("iris.csv");
    let stdout = ffn_ok(
        &[
            "finetune",
            "--from",
            run.to_str().unwrap(),
            "--dataset",
            iris.to_str().unwrap(),
            "--lora-rank",
            "2",
            "--lora-targets",
            "hidden.0",
            "--epochs",
            "3",
            "--out",
            "tuned",
            "--json",
        ],
        dir.path(),
    );
    // Same labels: the head is kept (and frozen); rank-2 adapters on hidden.0 only.
    assert!(!stdout.contains("new head"), "{stdout}");
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["trainable_params"], 2 * (4 + 128));
    assert!(stdout.contains("trainable parameters: 264 ("), "{stdout}");

    ffn_ok(&["eval", "--run", "tuned", "--json"], dir.path());
    let info = ffn_ok(&["info", "--run", "tuned"], dir.path());
    assert!(info.contains("LoRA rank 2 alpha 4"), "{info}");
    assert!(dir.path().join("tuned/adapter.bpk").exists());

    // The run's own config.json, given back without flags, trains exactly the same parameters:
    // the file's LoRA section is kept, not replaced by the flags' defaults.
    let config = dir.path().join("tuned/config.json");
    let stdout = ffn_ok(
        &[
            "finetune",
            "--config",
            config.to_str().unwrap(),
            "--out",
            "again",
            "--json",
        ],
        dir.path(),
    );
    let again: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(again["trainable_params"], last["trainable_params"]);
    assert_eq!(
        again["test"], last["test"],
        "same file, same seed, same run"
    );
    // A flag given with the file overrides only its field: rank 4 on the same target.
    let stdout = ffn_ok(
        &[
            "finetune",
            "--config",
            config.to_str().unwrap(),
            "--lora-rank",
            "4",
            "--out",
            "rank4",
            "--json",
        ],
        dir.path(),
    );
    let rank4: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(rank4["trainable_params"], 4 * (4 + 128));
    // `ffn train` does not silently fine-tune: the file says to use `ffn finetune`.
    assert_fails_with(
        &ffn(&["train", "--config", config.to_str().unwrap()], dir.path()),
        "ffn finetune --config",
    );

    assert_fails_with(
        &ffn(
            &[
                "finetune",
                "--from",
                run.to_str().unwrap(),
                "--dataset",
                iris.to_str().unwrap(),
                "--freeze",
                "hidden.9",
            ],
            dir.path(),
        ),
        "'hidden.9' matches no layer",
    );
    assert_fails_with(
        &ffn(&["finetune", "--from", run.to_str().unwrap()], dir.path()),
        "--dataset is needed",
    );
}
