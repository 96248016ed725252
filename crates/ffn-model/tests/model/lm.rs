//! The language model against PyTorch (fixtures from `tests/fixtures/make_lm_reference.py`):
//! the peer's own GPT class, and a LLaMA-style model with RMSNorm, rotary positions,
//! grouped-query attention and SwiGLU. Also: causality, the key/value cache against full
//! recomputation, and configurations that do not fit together.

use std::path::Path;

use burn::module::Param;
use burn::prelude::*;
use ffn_model::{
    CausalLm, CausalLmConfig, FeedForward, FfnKind, KvCache, Norm, NormKind, Positions, SafeTensors,
};
use serde_json::Value;

use crate::{assert_close, flex, floats, values};

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn reference() -> (SafeTensors, Value) {
    let weights = SafeTensors::open(&fixtures().join("lm_reference.safetensors")).unwrap();
    let text = std::fs::read_to_string(fixtures().join("lm_reference.json")).unwrap();
    (weights, serde_json::from_str(&text).unwrap())
}

/// Loads tensor `name` of `weights` as a parameter; `rows` picks rows of a matrix, which is then
/// transposed from PyTorch's `[out, in]` into Burn's `[in, out]`.
struct Loader<'a> {
    weights: &'a SafeTensors,
    prefix: &'a str,
    device: Device,
}

impl Loader<'_> {
    fn vector(&self, name: &str) -> Param<Tensor<1>> {
        let t = self
            .weights
            .tensor(&format!("{}.{name}", self.prefix))
            .unwrap();
        Param::from_data(TensorData::new(t.values, t.shape), &self.device)
    }

    fn matrix(&self, name: &str, transpose: bool) -> Param<Tensor<2>> {
        let t = self
            .weights
            .tensor(&format!("{}.{name}", self.prefix))
            .unwrap();
        let m = Tensor::<2>::from_data(TensorData::new(t.values, t.shape), &self.device);
        Param::from_tensor(if transpose { m.transpose() } else { m })
    }

    /// A linear layer from rows `rows` of the `[out, in]` weight `name`.
    fn linear(&self, layer: &mut FeedForward, name: &str, rows: Option<std::ops::Range<usize>>) {
        let full = self.matrix(name, false).val();
        let picked = match rows {
            Some(rows) => full.slice([rows]),
            None => full,
        };
        layer.linear.weight = Param::from_tensor(picked.transpose());
    }

    fn norm(&self, norm: &mut Norm, name: &str) {
        match norm {
            Norm::Layer(ln) => ln.gamma = self.vector(name),
            Norm::Rms(rms) => rms.gamma = self.vector(name),
        }
    }
}

fn tokens(case: &Value, device: &Device) -> Tensor<2, Int> {
    let ids: Vec<i64> = case["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let block = ids.len() / 2;
    Tensor::from_data(TensorData::new(ids, [2, block]), device)
}

/// The peer's GPT (torch_char_gpt.py's class): our CausalLm with its weights gives its logits.
fn gpt() -> (CausalLm, Value) {
    let (weights, all) = reference();
    let device = flex();
    let mut model = CausalLmConfig::new(11, 8)
        .with_d_model(16)
        .with_n_layers(2)
        .with_n_heads(2)
        .with_d_ff(64)
        .init(&device)
        .unwrap();
    let load = Loader {
        weights: &weights,
        prefix: "gpt",
        device: device.clone(),
    };
    model.tokens.weight = load.matrix("tok.weight", false);
    model.positions.as_mut().unwrap().weight = load.matrix("pos.weight", false);
    for (i, block) in model.blocks.iter_mut().enumerate() {
        let name = |n: &str| format!("blocks.{i}.{n}");
        load.norm(&mut block.attn_norm, &name("ln1.weight"));
        load.linear(&mut block.attn.q, &name("qkv.weight"), Some(0..16));
        load.linear(&mut block.attn.k, &name("qkv.weight"), Some(16..32));
        load.linear(&mut block.attn.v, &name("qkv.weight"), Some(32..48));
        load.linear(&mut block.attn.o, &name("proj.weight"), None);
        let ffn = block.ffn.dense_mut().unwrap();
        load.norm(ffn.norm.as_mut().unwrap(), &name("ln2.weight"));
        load.linear(&mut ffn.up, &name("up.weight"), None);
        load.linear(&mut ffn.down, &name("down.weight"), None);
    }
    load.norm(&mut model.norm, "ln.weight");
    (model, all["cases"]["gpt"].clone())
}

#[test]
fn gpt_matches_the_pytorch_peer() {
    let (model, case) = gpt();
    let logits = model.forward(tokens(&case, &flex())).unwrap();
    assert_eq!(logits.dims().to_vec(), vec![2, 8, 11]);
    assert_close(
        &values(logits),
        &floats(&case["logits"]),
        1e-5,
        1e-5,
        "gpt logits",
    );
}

#[test]
fn llama_style_model_matches_pytorch() {
    let (weights, all) = reference();
    let case = &all["cases"]["llama"];
    let device = flex();
    let mut model = CausalLmConfig::new(11, 8)
        .with_d_model(16)
        .with_n_layers(2)
        .with_n_heads(4)
        .with_n_kv_heads(Some(2))
        .with_d_ff(48)
        .with_ffn(FfnKind::Swiglu.into())
        .with_positions(Positions::Rope)
        .with_norm(NormKind::RmsNorm)
        .with_tied_head(false)
        .init(&device)
        .unwrap();
    let load = Loader {
        weights: &weights,
        prefix: "llama",
        device: device.clone(),
    };
    model.tokens.weight = load.matrix("tok.weight", false);
    for (i, block) in model.blocks.iter_mut().enumerate() {
        let name = |n: &str| format!("blocks.{i}.{n}");
        load.norm(&mut block.attn_norm, &name("attn_norm.weight"));
        let ffn = block.ffn.dense_mut().unwrap();
        for (layer, key) in [
            (&mut block.attn.q, "q"),
            (&mut block.attn.k, "k"),
            (&mut block.attn.v, "v"),
            (&mut block.attn.o, "o"),
            (&mut ffn.up, "up"),
            (&mut ffn.down, "down"),
        ] {
            load.linear(layer, &name(&format!("{key}.weight")), None);
        }
        load.linear(ffn.gate.as_mut().unwrap(), &name("gate.weight"), None);
        load.norm(ffn.norm.as_mut().unwrap(), &name("ffn_norm.weight"));
    }
    load.norm(&mut model.norm, "norm.weight");
    load.linear(model.head.as_mut().unwrap(), "head.weight", None);
    let logits = model.forward(tokens(case, &device)).unwrap();
    assert_close(
        &values(logits),
        &floats(&case["logits"]),
        1e-5,
        1e-5,
        "llama logits",
    );
}

/// Changing a later token never changes the logits of the positions before it.
#[test]
fn predictions_depend_only_on_earlier_tokens() {
    let (model, case) = gpt();
    let device = flex();
    let ids = tokens(&case, &device);
    let changed = ids
        .clone()
        .slice_assign([0..2, 5..6], Tensor::from_data([[3i64], [4]], &device));
    let (a, b) = (
        values(model.forward(ids).unwrap().slice([0..2, 0..5, 0..11])),
        values(model.forward(changed).unwrap().slice([0..2, 0..5, 0..11])),
    );
    assert_eq!(a, b);
}

/// Feeding the tokens through the key/value cache, first three then one at a time, gives the
/// logits of the full forward pass, for both position schemes.
#[test]
fn cached_decoding_equals_the_full_forward() {
    let device = flex();
    let (gpt, case) = gpt();
    let rope = CausalLmConfig::new(11, 8)
        .with_d_model(16)
        .with_n_heads(4)
        .with_n_kv_heads(Some(1))
        .with_positions(Positions::Rope)
        .init(&device)
        .unwrap();
    for model in [gpt, rope] {
        let ids = tokens(&case, &device);
        let full = values(model.forward(ids.clone()).unwrap());
        let mut cache = KvCache::default();
        let mut pieces = vec![
            model
                .forward_cached(ids.clone().slice([0..2, 0..3]), &mut cache)
                .unwrap(),
        ];
        for t in 3..8 {
            pieces.push(
                model
                    .forward_cached(ids.clone().slice([0..2, t..t + 1]), &mut cache)
                    .unwrap(),
            );
        }
        assert_eq!(cache.len(), 8);
        let cached = values(Tensor::cat(pieces, 1));
        let full: Vec<f64> = full.iter().map(|&v| f64::from(v)).collect();
        assert_close(&cached, &full, 1e-5, 1e-5, "cached logits");
        // Next-token logits: the last position's, from the whole window or after a cached prefix.
        let vocab = model.vocab_size();
        let last: Vec<f64> = (0..2)
            .flat_map(|row| full[(row * 8 + 7) * vocab..(row * 8 + 8) * vocab].to_vec())
            .collect();
        let whole = model.next_token_logits(ids.clone(), None).unwrap();
        assert_close(&values(whole), &last, 1e-5, 1e-5, "next-token logits");
        let mut prefix = KvCache::default();
        model
            .next_token_logits(ids.clone().slice([0..2, 0..5]), Some(&mut prefix))
            .unwrap();
        let step = model
            .next_token_logits(ids.clone().slice([0..2, 5..8]), Some(&mut prefix))
            .unwrap();
        assert_eq!(prefix.len(), 8);
        assert_close(&values(step), &last, 1e-5, 1e-5, "cached next-token logits");
        // The context is full: one more position is an error, not a panic.
        let error = model
            .forward_cached(ids.slice([0..2, 0..1]), &mut cache)
            .unwrap_err();
        assert!(error.to_string().contains("at most 8 positions"), "{error}");
    }
}

#[test]
fn configurations_that_do_not_fit_are_errors() {
    let device = flex();
    for (config, message) in [
        (
            CausalLmConfig::new(11, 8).with_d_model(10).with_n_heads(4),
            "not divisible by the 4 heads",
        ),
        (
            CausalLmConfig::new(11, 8).with_n_kv_heads(Some(3)),
            "do not divide the 4 query heads",
        ),
        (CausalLmConfig::new(0, 8), "vocab_size must be at least 1"),
        (
            CausalLmConfig::new(11, 8)
                .with_d_model(12)
                .with_n_heads(4)
                .with_positions(Positions::Rope),
            "even head width",
        ),
    ] {
        let error = config.init(&device).unwrap_err().to_string();
        assert!(error.contains(message), "{error}");
    }
    assert!(
        "moe"
            .parse::<FfnKind>()
            .unwrap_err()
            .to_string()
            .contains("relu, gelu, swiglu, geglu, reglu")
    );
}
