//! Language models through the engine: an interrupted run resumes to identical losses, weights
//! and samples; the loss falls; cached generation equals recomputation; fine-tuning with LoRA on
//! the FFN leaves everything else untouched; bad settings are clear errors.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use ffn_data::TokenizerKind;
use ffn_model::{CausalLm, DenseLayers, LoraConfig};
use ffn_train::{
    LmConfig, LmFinetune, LmRun, LoraTargets, Progress, Sampling, TrainError, finetune_lm,
    generate, resume_lm, train_lm,
};

use crate::{datasets, one_at_a_time, quiet};

/// The first `chars` characters of a shipped text, in `dir`.
pub(crate) fn excerpt(dir: &Path, name: &str, chars: usize) -> PathBuf {
    let text = std::fs::read_to_string(datasets().join(name)).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text.chars().take(chars).collect::<String>()).unwrap();
    path
}

/// A small model and a short run: 3 rounds of 10 steps.
pub(crate) fn tiny(text: PathBuf) -> LmConfig {
    let mut config = LmConfig {
        text,
        batch: 4,
        steps: 30,
        eval_interval: 10,
        eval_batches: 3,
        final_eval_batches: 5,
        sample_tokens: 12,
        ..LmConfig::default()
    };
    let m = &mut config.model;
    (m.layers, m.heads, m.d_model, m.d_ff, m.block) = (2, 2, 16, 32, 16);
    config
}

fn weights(model: &CausalLm) -> Vec<(String, Vec<f32>)> {
    model
        .dense_layers()
        .into_iter()
        .map(|(path, layer)| {
            (
                path,
                layer
                    .linear
                    .weight
                    .val()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            )
        })
        .collect()
}

pub(crate) fn history(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect()
}

#[test]
fn interrupted_run_resumes_to_identical_losses_weights_and_samples() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let config = tiny(excerpt(dir.path(), "shakespeare.txt", 30_000));
    let straight = dir.path().join("straight");
    let summary = train_lm(&config, &straight, &mut quiet).unwrap();
    let resumed = dir.path().join("resumed");
    let mut stop_after_first = |event: Progress| match event {
        Progress::Epoch(record) if record.step == 10 => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    };
    let error = train_lm(&config, &resumed, &mut stop_after_first).unwrap_err();
    assert!(
        matches!(error, TrainError::Interrupted { epoch: 1, .. }),
        "{error}"
    );
    let again = resume_lm(&resumed, &Default::default(), &mut quiet).unwrap();
    assert_eq!(history(&straight), history(&resumed));
    assert_eq!(summary.valid, again.valid);
    let device = Device::flex();
    let (a, b) = (
        LmRun::open(&straight).unwrap(),
        LmRun::open(&resumed).unwrap(),
    );
    assert_eq!(
        weights(&a.model(&device).unwrap()),
        weights(&b.model(&device).unwrap())
    );
    // Every evaluation wrote a sample that starts with the validation text.
    let records = history(&straight);
    assert_eq!(records.len(), 3);
    assert!(
        records
            .iter()
            .all(|r| r["sample"].as_str().is_some_and(|s| s.len() >= 12))
    );
    assert_eq!(records.last().unwrap()["step"], 30);
    let error = resume_lm(&straight, &Default::default(), &mut quiet)
        .unwrap_err()
        .to_string();
    assert!(error.contains("already finished after 30 steps"), "{error}");
}

#[test]
fn loss_falls_and_cached_generation_equals_recomputation() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let text = excerpt(dir.path(), "shakespeare.txt", 60_000);
    let mut config = tiny(text.clone());
    (config.steps, config.eval_interval, config.lr) = (200, 100, 3e-3);
    config.schedule = ffn_train::ScheduleConfig::Constant;
    let summary = train_lm(&config, &dir.path().join("run"), &mut quiet).unwrap();
    // Better than the best model without context: the characters' own entropy.
    let chars: Vec<char> = std::fs::read_to_string(&text).unwrap().chars().collect();
    let mut counts = std::collections::HashMap::new();
    for c in &chars {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = chars.len() as f64;
    let unigram: f64 = counts
        .values()
        .map(|&k| -(k as f64 / n) * (k as f64 / n).ln())
        .sum();
    assert!(
        summary.valid.loss < unigram,
        "{} vs unigram entropy {unigram}",
        summary.valid.loss
    );
    let bpc = summary.valid.loss / std::f64::consts::LN_2;
    assert!(
        (summary.valid.bits_per_char.unwrap() - bpc).abs() < 1e-9,
        "char tokens: bits/char"
    );
    assert!((summary.valid.perplexity.unwrap() - summary.valid.loss.exp()).abs() < 1e-9);

    let run = LmRun::open(&dir.path().join("run")).unwrap();
    let device = Device::flex();
    let model = run.model(&device).unwrap();
    let prompt = run.tokenizer.encode("ROMEO:").unwrap().ids;
    let greedy = Sampling::greedy();
    let mut streamed = Vec::new();
    let cached = generate(&model, &prompt, 10, &greedy, true, &device, &mut |t| {
        streamed.push(t);
        Ok(())
    })
    .unwrap();
    let recomputed = generate(
        &model,
        &prompt,
        10,
        &greedy,
        false,
        &device,
        &mut |_| Ok(()),
    )
    .unwrap();
    assert_eq!(cached, recomputed);
    assert_eq!(streamed, cached);
    // Past the context, decoding keeps going on the last `block` tokens.
    let long = generate(&model, &prompt, 30, &greedy, true, &device, &mut |_| Ok(())).unwrap();
    assert_eq!(long.len(), 30);
    assert_eq!(&long[..10], &cached[..]);
}

/// Ten steps of a small GPT on flex, ndarray and (where an adapter exists) wgpu from the same
/// initial weights and batches: the final training and validation losses agree within 1e-4.
#[test]
fn training_agrees_across_backends() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny(excerpt(dir.path(), "shakespeare.txt", 20_000));
    (config.steps, config.eval_interval, config.sample_tokens) = (10, 10, 0);
    let reference = train_lm(&config, &dir.path().join("flex"), &mut quiet).unwrap();
    for backend in crate::other_backends() {
        config.backend = backend;
        let summary = train_lm(&config, &dir.path().join(backend.to_string()), &mut quiet).unwrap();
        for (what, got, expected) in [
            ("train", summary.train.loss, reference.train.loss),
            ("valid", summary.valid.loss, reference.valid.loss),
        ] {
            assert!(
                (got - expected).abs() < 1e-4,
                "{backend} {what} loss {got} vs flex {expected}"
            );
        }
    }
}

#[test]
fn lora_on_the_ffn_trains_adapters_only_and_keeps_attention() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let config = tiny(excerpt(dir.path(), "shakespeare.txt", 30_000));
    let base = dir.path().join("base");
    train_lm(&config, &base, &mut quiet).unwrap();
    let austen = tiny(excerpt(dir.path(), "austen.txt", 30_000));
    let spec = LmFinetune {
        from: base.clone(),
        lora: Some(LoraConfig {
            rank: 2,
            alpha: 4.0,
            dropout: 0.0,
        }),
        lora_targets: LoraTargets::Ffn,
        ..LmFinetune::default()
    };
    let mut notes = Vec::new();
    let summary = finetune_lm(&austen, &spec, &dir.path().join("tuned"), &mut |event| {
        if let Progress::Notice(text) = event {
            notes.push(text.to_string());
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    // Rank 2 on up (16 → 32) and down (32 → 16) of both blocks.
    assert_eq!(summary.trainable_params, 2 * 2 * (16 + 32 + 32 + 16));
    assert!(
        notes
            .iter()
            .any(|n| n.contains("not in the tokenizer's vocabulary")),
        "{notes:?}"
    );
    let device = Device::flex();
    let before = weights(&LmRun::open(&base).unwrap().model(&device).unwrap());
    let after = weights(
        &LmRun::open(&dir.path().join("tuned"))
            .unwrap()
            .model(&device)
            .unwrap(),
    );
    for ((path, a), (_, b)) in before.iter().zip(&after) {
        if path.contains(".attn.") {
            assert_eq!(a, b, "{path} is not a target");
        } else if path.contains(".ffn.") {
            assert_ne!(a, b, "{path} has a merged adapter");
        }
    }
}

#[test]
fn bad_settings_are_clear_errors() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.txt");
    std::fs::write(&short, "too short for a block").unwrap();
    let cases: [(LmConfig, &str); 4] = [
        (tiny(short.clone()), "too few for one window of 17"),
        (
            {
                let mut c = tiny(short.clone());
                c.model.heads = 3;
                c
            },
            "not divisible by the 3 heads",
        ),
        (
            {
                let mut c = tiny(short.clone());
                c.model.kv_heads = Some(3);
                c
            },
            "kv_heads 3 must divide",
        ),
        (
            {
                let mut c = tiny(dir.path().join("none.txt"));
                c.tokenizer = TokenizerKind::Byte;
                c
            },
            "none.txt",
        ),
    ];
    for (config, message) in cases {
        let out = dir.path().join("out");
        let error = train_lm(&config, &out, &mut quiet).unwrap_err().to_string();
        assert!(error.contains(message), "{message}: {error}");
        assert!(!out.exists(), "nothing written for: {message}");
    }
    let error = LmRun::open(dir.path()).unwrap_err().to_string();
    assert!(error.contains("is not a language-model run"), "{error}");
}

#[test]
fn a_mixture_of_experts_model_trains_logs_its_experts_and_decodes_with_the_cache() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny(excerpt(dir.path(), "shakespeare.txt", 60_000));
    config.model.ffn = "moe:4:2".parse().unwrap();
    (config.steps, config.eval_interval, config.lr) = (60, 20, 3e-3);
    let out = dir.path().join("run");
    let summary = train_lm(&config, &out, &mut quiet).unwrap();
    let records = history(&out);
    let first = records[0]["valid"]["loss"].as_f64().unwrap();
    assert!(
        summary.valid.loss < first - 0.05,
        "{} then {}",
        first,
        summary.valid.loss
    );
    // Every evaluation counts the experts' token choices on the same validation batches:
    // eval_batches × batch × block tokens, two choices each, in each of the two blocks.
    let choices = config.eval_batches * config.batch * config.model.block * 2;
    for record in &records {
        let blocks = record["expert_tokens"].as_array().unwrap();
        assert_eq!(blocks.len(), 2);
        for counts in blocks {
            let counts: Vec<u64> = counts
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap())
                .collect();
            assert_eq!(counts.len(), 4);
            assert_eq!(counts.iter().sum::<u64>() as usize, choices);
        }
        assert!(record.get("dead_neurons").is_none());
    }
    // The report draws the experts' shares: four more curves of three points.
    ffn_train::write_run_report(&out).unwrap();
    let curves = std::fs::read_to_string(out.join("curves.svg")).unwrap();
    assert!(curves.contains("expert utilisation"));
    let lines = crate::report::polylines(&curves);
    assert_eq!(lines.len(), 5 + 4);

    let run = LmRun::open(&out).unwrap();
    let device = Device::flex();
    let model = run.model(&device).unwrap();
    let prompt = run.tokenizer.encode("KING:").unwrap().ids;
    let greedy = Sampling::greedy();
    let cached = generate(&model, &prompt, 12, &greedy, true, &device, &mut |_| Ok(())).unwrap();
    let full = generate(
        &model,
        &prompt,
        12,
        &greedy,
        false,
        &device,
        &mut |_| Ok(()),
    )
    .unwrap();
    assert_eq!(cached, full);
}
