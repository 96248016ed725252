//! SmolLM2-135M-Instruct read from its GGUF file against transformers' `LlamaForCausalLM` and
//! tokenizer loaded from the same file (`fixtures/smollm2/make_reference.py`): logits of every
//! position, the greedy continuation, the chat template and the tokenizer. The model comes from
//! `scripts/fetch-model.sh smollm2`; without it these tests say so and pass, unless
//! `FFN_REQUIRE_MODELS` is set (CI sets it after fetching the model).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use ffn_model::{CausalLm, Gguf};
use ffn_train::{PretrainedLm, PretrainedText, Sampling, generate};
use serde_json::Value;

use crate::one_at_a_time;

/// The model file, or `None` (with a note) when it has not been fetched.
pub(crate) fn model_file() -> Option<PathBuf> {
    ffn_train::fetched_smollm2(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

fn reference() -> Value {
    fixture_json("reference.json")
}

/// The JSON fixture `name` of `tests/fixtures/smollm2/`.
pub(crate) fn fixture_json(name: &str) -> Value {
    let path = fixtures().join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `tests/fixtures/smollm2/`.
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2")
}

pub(crate) fn numbers<T: serde::de::DeserializeOwned>(value: &Value) -> T {
    serde_json::from_value(value.clone()).unwrap()
}

#[test]
fn logits_and_greedy_continuation_match_transformers() {
    let Some(path) = model_file() else { return };
    let _turn = one_at_a_time();
    let reference = reference();
    let device = Device::flex();
    let lm = PretrainedLm::open(&path, None, &device).unwrap();
    assert_eq!(lm.config.n_layers, 30);
    assert_eq!(lm.config.n_kv_heads, Some(3));
    assert!(lm.config.tied_head);
    let prompt: Vec<u32> = numbers(&reference["prompt_ids"]);
    assert_eq!(
        lm.text
            .prompt_ids(numbers::<String>(&reference["prompt"]).as_str(), false)
            .unwrap(),
        prompt
    );
    let worst = worst_logit_error(&lm.model, &prompt, &reference, &device);
    eprintln!(
        "SmolLM2 logits vs transformers: max |Δ| = {worst:.2e} over {} positions",
        prompt.len()
    );
    assert!(worst < 1e-3, "max |Δ| {worst}");

    let greedy = Sampling {
        stop: lm.text.eos,
        ..Sampling::greedy()
    };
    let continuation = generate(&lm.model, &prompt, 64, &greedy, true, &device, &mut |_| {
        Ok(())
    })
    .unwrap();
    assert_eq!(continuation, numbers::<Vec<u32>>(&reference["greedy"]));
    assert_eq!(
        lm.text.tokenizer.decode(&continuation).unwrap(),
        numbers::<String>(&reference["greedy_text"])
    );
}

/// The largest |Δ| between `model`'s logits for `prompt` and `reference`'s (each position's 64
/// largest logits, 512 fixed ids and the log-sum-exp), after checking each position's argmax.
pub(crate) fn worst_logit_error(
    model: &CausalLm,
    prompt: &[u32],
    reference: &Value,
    device: &Device,
) -> f32 {
    let input: Vec<i64> = prompt.iter().map(|&t| i64::from(t)).collect();
    let logits = model
        .forward(Tensor::from_data(
            TensorData::new(input, [1, prompt.len()]),
            device,
        ))
        .unwrap();
    let vocab = model.vocab_size();
    let logits: Vec<f32> = logits.into_data().convert::<f32>().try_to_vec().unwrap();
    let top_ids: Vec<Vec<usize>> = numbers(&reference["top_ids"]);
    let top_logits: Vec<Vec<f32>> = numbers(&reference["top_logits"]);
    let probe_ids: Vec<usize> = numbers(&reference["probe_ids"]);
    let probe_logits: Vec<Vec<f32>> = numbers(&reference["probe_logits"]);
    let logsumexp: Vec<f64> = numbers(&reference["logsumexp"]);
    let mut worst = 0.0f32;
    for position in 0..prompt.len() {
        let row = &logits[position * vocab..(position + 1) * vocab];
        let pairs = top_ids[position]
            .iter()
            .zip(&top_logits[position])
            .chain(probe_ids.iter().zip(&probe_logits[position]));
        for (&id, &want) in pairs {
            worst = worst.max((row[id] - want).abs());
        }
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let lse = f64::from(max)
            + row
                .iter()
                .map(|&v| f64::from(v - max).exp())
                .sum::<f64>()
                .ln();
        worst = worst.max((lse - logsumexp[position]).abs() as f32);
        let argmax = (0..vocab)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap();
        assert_eq!(argmax, top_ids[position][0], "position {position}");
    }
    worst
}

#[test]
fn tokenizer_and_chat_template_match_transformers() {
    let Some(path) = model_file() else { return };
    let reference = reference();
    let text = PretrainedText::from_gguf(&Gguf::open(&path).unwrap()).unwrap();
    let cases = reference["tokenizer"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let string: String = numbers(&case["text"]);
        let ids: Vec<u32> = numbers(&case["ids"]);
        assert_eq!(
            text.tokenizer.encode(&string).unwrap().ids,
            ids,
            "{string:?}"
        );
        assert_eq!(
            text.tokenizer.decode(&ids).unwrap(),
            numbers::<String>(&case["decoded"]),
            "{string:?}"
        );
    }
    let question: String = numbers(&reference["chat_question"]);
    let template = text.chat_template.as_ref().unwrap();
    let rendered = template
        .render(
            &[ffn_data::ChatMessage::user(&question)],
            true,
            "<|im_start|>",
            "<|im_end|>",
        )
        .unwrap();
    assert_eq!(rendered, numbers::<String>(&reference["chat_text"]));
    assert_eq!(
        text.prompt_ids(&question, true).unwrap(),
        numbers::<Vec<u32>>(&reference["chat_ids"])
    );
    assert_eq!(text.eos, Some(numbers::<u32>(&reference["eos"])));
}
