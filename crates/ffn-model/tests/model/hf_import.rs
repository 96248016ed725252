//! Importing Hugging Face FFN sub-layers: outputs equal the transformers modules' (fixtures from
//! `tests/fixtures/make_hf_fixtures.py`), and every malformed input is a clear error.

use std::path::{Path, PathBuf};

use ffn_model::{HfLayout, HostTensor, ModelError, SafeTensors, import_hf_ffn, write_safetensors};
use serde_json::Value;

use crate::{assert_close, flex, floats, tensor, values};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn checkpoint(layout: &str) -> SafeTensors {
    SafeTensors::open(&fixtures().join(format!("hf/{layout}/model.safetensors"))).unwrap()
}

fn hf_config(layout: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(format!("hf/{layout}/config.json")));
    serde_json::from_str(&text.unwrap()).unwrap()
}

fn reference(layout: &str) -> (Vec<f64>, [usize; 3], Vec<f64>, usize) {
    let text = std::fs::read_to_string(fixtures().join("hf_fixtures.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    let case = &all[layout];
    let shape: Vec<usize> = case["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    (
        floats(&case["x"]),
        [shape[0], shape[1], shape[2]],
        floats(&case["y"]),
        case["layer"].as_u64().unwrap() as usize,
    )
}

#[test]
fn imported_blocks_match_the_transformers_modules() {
    let device = flex();
    for (name, layout, prefix) in [
        ("bert", HfLayout::Bert, "bert."),
        ("gpt2", HfLayout::Gpt2, ""),
        ("llama", HfLayout::Llama, ""),
    ] {
        let (x, shape, y, layer) = reference(name);
        let config = hf_config(name);
        let imported =
            import_hf_ffn(&checkpoint(name), layout, layer, Some(&config), &device).unwrap();
        assert_eq!(imported.prefix, prefix, "{name}");
        assert_eq!(
            (imported.config.d_model, imported.config.d_ff),
            (8, 12),
            "{name}"
        );
        let out = imported.block.forward(tensor(&x, shape, &device)).unwrap();
        assert_close(&values(out), &y, 1e-5, 0.0, name);
    }
}

#[test]
fn config_json_sets_epsilon_and_activation_and_defaults_apply_without_it() {
    let device = flex();
    let llama = checkpoint("llama");
    let without = import_hf_ffn(&llama, HfLayout::Llama, 1, None, &device).unwrap();
    assert_eq!(without.config.norm_epsilon, 1e-6);
    let with = import_hf_ffn(
        &llama,
        HfLayout::Llama,
        1,
        Some(&hf_config("llama")),
        &device,
    );
    assert_eq!(with.unwrap().config.norm_epsilon, 1e-5);
    assert!(!without.config.bias, "LLaMA projections have no bias");

    // GPT-2's and BERT's defaults are what their configs say, so importing without
    // config.json gives the same outputs.
    for (name, layout) in [("gpt2", HfLayout::Gpt2), ("bert", HfLayout::Bert)] {
        let (x, shape, y, layer) = reference(name);
        let imported = import_hf_ffn(&checkpoint(name), layout, layer, None, &device).unwrap();
        let out = imported.block.forward(tensor(&x, shape, &device)).unwrap();
        assert_close(&values(out), &y, 1e-5, 0.0, name);
    }

    let mut relu = hf_config("bert");
    relu["hidden_act"] = "relu".into();
    let imported = import_hf_ffn(&checkpoint("bert"), HfLayout::Bert, 1, Some(&relu), &device);
    assert_eq!(imported.unwrap().config.activation.to_string(), "relu");
    relu["hidden_act"] = "quick_gelu".into();
    let error = import_hf_ffn(&checkpoint("bert"), HfLayout::Bert, 1, Some(&relu), &device)
        .unwrap_err()
        .to_string();
    assert!(error.contains("quick_gelu"), "{error}");
}

/// Rewrites the GPT-2 fixture with `edit` applied to its header and data.
fn edited_gpt2(edit: impl FnOnce(&mut serde_json::Map<String, Value>, &mut Vec<u8>)) -> Vec<u8> {
    let bytes = std::fs::read(fixtures().join("hf/gpt2/model.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut data = bytes[8 + n..].to_vec();
    edit(&mut header, &mut data);
    let header = serde_json::to_vec(&header).unwrap();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out.extend(data);
    out
}

fn import_gpt2_bytes(bytes: Vec<u8>, layer: usize) -> ModelError {
    let path = Path::new("edited.safetensors");
    let file = match SafeTensors::from_bytes(path, bytes) {
        Ok(file) => file,
        Err(error) => return error,
    };
    import_hf_ffn(&file, HfLayout::Gpt2, layer, None, &flex()).unwrap_err()
}

#[test]
fn import_errors_name_the_key_and_the_shapes() {
    // A checkpoint without one tensor (rewritten whole, so that its byte ranges stay valid).
    let gpt2 = checkpoint("gpt2");
    let kept: Vec<(String, HostTensor)> = gpt2
        .names()
        .filter(|name| *name != "h.1.mlp.c_proj.weight")
        .map(|name| (name.to_string(), gpt2.tensor(name).unwrap()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.safetensors");
    write_safetensors(&path, &kept, Default::default()).unwrap();
    let missing = SafeTensors::open(&path).unwrap();
    let error = import_hf_ffn(&missing, HfLayout::Gpt2, 1, None, &flex()).unwrap_err();
    assert!(
        matches!(&error, ModelError::MissingWeight { key, .. } if key == "h.1.mlp.c_proj.weight"),
        "{error}"
    );

    // A transposed c_proj (stored [out, in] as if it were nn.Linear) is rejected by name.
    let transposed = edited_gpt2(|header, _| {
        header["h.1.mlp.c_proj.weight"]["shape"] = serde_json::json!([8, 12]);
    });
    let error = import_gpt2_bytes(transposed, 1);
    assert!(
        matches!(&error, ModelError::WeightShape { key, expected, actual }
            if key == "h.1.mlp.c_proj.weight" && expected == &[12, 8] && actual == &[8, 12]),
        "{error}"
    );

    let error = import_gpt2_bytes(edited_gpt2(|_, _| {}), 7).to_string();
    assert!(
        error.contains("layer 7") && error.contains("0..=1"),
        "{error}"
    );

    let error = import_gpt2_bytes(edited_gpt2(|_, data| data.truncate(100)), 1).to_string();
    assert!(error.contains("truncated"), "{error}");

    let error = import_gpt2_bytes(b"not a safetensors file".to_vec(), 1).to_string();
    assert!(error.contains("not safetensors"), "{error}");

    let device = flex();
    let error = import_hf_ffn(&checkpoint("gpt2"), HfLayout::Llama, 1, None, &device)
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a Llama checkpoint"), "{error}");

    let mut wrong = hf_config("bert");
    wrong["intermediate_size"] = 3072.into();
    let error = import_hf_ffn(
        &checkpoint("bert"),
        HfLayout::Bert,
        1,
        Some(&wrong),
        &device,
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("intermediate_size = 3072"), "{error}");
    assert!("mistral".parse::<HfLayout>().is_err());
}
