//! LoRA adapters of SmolLM2-135M in Hugging Face PEFT's format: an adapter the real `peft` wrote
//! (`fixtures/smollm2/make_peft_reference.py`) gives transformers' logits on our model and is
//! written back tensor for tensor; a LoRA fine-tune of the GGUF model saves only its adapters,
//! resumes exactly, and refuses a base whose file changed.

use std::ops::ControlFlow;

use burn::prelude::*;
use ffn_model::{
    ADAPTER_CONFIG, ADAPTER_WEIGHTS, DenseLayers, LoraConfig, PeftLoraConfig, SafeTensors,
    load_peft_adapter, peft_adapter_bytes,
};
use ffn_train::{
    LmConfig, LmFinetune, LmRun, LoraTargets, PretrainedLm, Progress, TrainError, finetune_lm,
    resume_lm,
};

use crate::lm::{excerpt, history};
use crate::pretrained::{fixture_json, fixtures, model_file, numbers, worst_logit_error};
use crate::{one_at_a_time, quiet};

#[test]
fn a_peft_adapter_gives_peft_logits_and_is_written_back_tensor_for_tensor() {
    let Some(path) = model_file() else { return };
    let _turn = one_at_a_time();
    let device = Device::flex();
    let reference = fixture_json("peft_reference.json");
    let prompt: Vec<u32> = numbers(&fixture_json("reference.json")["prompt_ids"]);
    let dir = fixtures().join("peft_adapter");
    let lora = PeftLoraConfig::read(&dir)
        .unwrap()
        .lora_config(&dir)
        .unwrap();
    assert_eq!((lora.rank, lora.alpha), (2, 4.0));
    let file = SafeTensors::open(&dir.join(ADAPTER_WEIGHTS)).unwrap();
    let base = PretrainedLm::open(&path, None, &device).unwrap().model;
    let adapted = load_peft_adapter(base, &lora, &file).unwrap();
    let adapters = adapted
        .dense_layers()
        .iter()
        .filter(|(_, layer)| layer.lora.is_some())
        .count();
    assert_eq!(adapters, 3 * 7);
    // The adapter moves the top logits by up to 0.32, so a misplaced factor cannot pass.
    assert!(reference["max_change_of_top_logits"].as_f64().unwrap() > 0.1);
    let worst = worst_logit_error(&adapted, &prompt, &reference, &device);
    eprintln!("SmolLM2 + PEFT adapter vs transformers + peft: max |Δ| = {worst:.2e}");
    assert!(worst < 1e-3, "max |Δ| {worst}");
    let merged = worst_logit_error(&adapted.clone().merge_lora(), &prompt, &reference, &device);
    assert!(merged < 1e-3, "merged: max |Δ| {merged}");

    let written = peft_adapter_bytes(&adapted, &dir).unwrap();
    let written = SafeTensors::from_bytes(&dir, written).unwrap();
    let mut names: Vec<&str> = written.names().collect();
    let mut want: Vec<&str> = file.names().collect();
    names.sort_unstable();
    want.sort_unstable();
    assert_eq!(names, want);
    for name in want {
        assert_eq!(
            written.tensor(name).unwrap(),
            file.tensor(name).unwrap(),
            "{name}"
        );
    }
}

/// A fine-tune of SmolLM2 small enough for CI: windows of 16 tokens, one per step.
fn short_recipe(text: std::path::PathBuf) -> LmConfig {
    let mut config = LmConfig::pretrained_lora();
    config.text = text;
    config.model.block = 16;
    config.batch = 1;
    config.steps = 4;
    config.eval_interval = 2;
    config.eval_batches = 1;
    config.final_eval_batches = 2;
    config.sample_tokens = 0;
    config.lr = 1e-3;
    config
}

#[test]
fn a_lora_fine_tune_of_the_gguf_model_saves_its_adapters_and_resumes_exactly() {
    let Some(path) = model_file() else { return };
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let config = short_recipe(excerpt(dir.path(), "shakespeare.txt", 20_000));
    let finetune = LmFinetune {
        gguf: Some(path.clone()),
        lora: Some(LoraConfig {
            rank: 2,
            alpha: 4.0,
            dropout: 0.0,
        }),
        lora_targets: LoraTargets::All,
        ..LmFinetune::default()
    };
    let straight = dir.path().join("straight");
    let summary = finetune_lm(&config, &finetune, &straight, &mut quiet).unwrap();
    // Rank 2 on the 7 projections of 30 layers: 2·(3·(576+1536) + 2·(576+576) + 2·(576+192))·30.
    assert_eq!(summary.trainable_params, 610_560);
    let adapter = std::fs::metadata(straight.join(ADAPTER_WEIGHTS))
        .unwrap()
        .len();
    // 2.4 MB of factors and the header, against the 98 MB base.
    assert!(adapter < 2_700_000, "{adapter} bytes");
    assert!(!straight.join("model.bpk").exists());
    let peft = PeftLoraConfig::read(&straight).unwrap();
    assert_eq!(peft.r, 2);
    assert_eq!(peft.target_modules.as_array().unwrap().len(), 7);
    assert!(straight.join(ADAPTER_CONFIG).exists());

    let resumed = dir.path().join("resumed");
    let mut stop_after_first = |event: Progress| match event {
        Progress::Epoch(record) if record.step == 2 => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    };
    let error = finetune_lm(&config, &finetune, &resumed, &mut stop_after_first).unwrap_err();
    assert!(matches!(error, TrainError::Interrupted { .. }), "{error}");
    let again = resume_lm(&resumed, &Default::default(), &mut quiet).unwrap();
    assert_eq!(history(&straight), history(&resumed));
    assert_eq!(summary.valid, again.valid);
    let (a, b) = (
        SafeTensors::open(&straight.join(ADAPTER_WEIGHTS)).unwrap(),
        SafeTensors::open(&resumed.join(ADAPTER_WEIGHTS)).unwrap(),
    );
    for name in a.names() {
        let trained = a.tensor(name).unwrap();
        assert_eq!(trained, b.tensor(name).unwrap(), "{name}");
        if name.contains("lora_B") {
            assert!(
                trained.values.iter().any(|&v| v != 0.0),
                "{name} did not train"
            );
        }
    }

    // A finished run stays finished, and its adapters do not stack under another fine-tune.
    let error = resume_lm(&straight, &Default::default(), &mut quiet)
        .unwrap_err()
        .to_string();
    assert!(error.contains("already finished"), "{error}");
    let stacked = LmFinetune {
        from: straight.clone(),
        gguf: None,
        ..finetune.clone()
    };
    let error = finetune_lm(&config, &stacked, &dir.path().join("stacked"), &mut quiet)
        .unwrap_err()
        .to_string();
    assert!(error.contains("do not stack"), "{error}");

    // The run's model is the base with its adapters; a changed base is refused.
    let run = LmRun::open(&straight).unwrap();
    assert!(run.model(&Device::flex()).is_ok());
    let recorded = straight.join("finetune.json");
    let mut spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&recorded).unwrap()).unwrap();
    spec["base_sha256"] = serde_json::Value::from("0".repeat(64));
    std::fs::write(&recorded, spec.to_string()).unwrap();
    let error = LmRun::open(&straight)
        .unwrap()
        .model(&Device::flex())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("is not the model these adapters were trained on"),
        "{error}"
    );
}
