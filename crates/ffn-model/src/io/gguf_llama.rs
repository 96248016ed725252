//! A LLaMA-architecture language model read from a GGUF file into a [`CausalLm`]: the sizes
//! come from the `llama.*` metadata, the weights from `token_embd`, `blk.N.*`, `output_norm`
//! and `output` (absent when the head is tied to the embedding).
//!
//! llama.cpp's converter permutes the rows of the query and key projections so that rotary
//! encoding rotates adjacent pairs of each head instead of its two halves (Hugging Face's
//! `rotate_half`); [`CausalSelfAttention`](crate::CausalSelfAttention)'s rotary encoding rotates
//! adjacent pairs, so the stored rows are used as they are.

use burn::module::Param;
use burn::prelude::*;

use super::gguf::Gguf;
use super::hf_import::{set_dense, weight_matrix};
use super::hf_layout::Stored;
use crate::{
    CausalLm, CausalLmConfig, FeedForward, FfnKind, FfnSpec, ModelError, Norm, NormKind, Positions,
};

/// The one architecture this loader builds.
pub const LLAMA: &str = "llama";

/// The [`CausalLmConfig`] of the LLaMA model in `file`, its context capped at `max_context`
/// when given. Fails naming the architecture when it is not LLaMA, or the missing key.
pub fn gguf_llama_config(
    file: &Gguf,
    max_context: Option<usize>,
) -> Result<CausalLmConfig, ModelError> {
    let arch = file.string("general.architecture")?;
    if arch != LLAMA {
        return Err(ModelError::Import {
            path: file.path().to_path_buf(),
            reason: format!(
                "the model's architecture is '{arch}'; only '{LLAMA}' models can be loaded"
            ),
        });
    }
    let key = |name: &str| format!("{LLAMA}.{name}");
    let embedding =
        file.tensors()
            .get("token_embd.weight")
            .ok_or_else(|| ModelError::MissingWeight {
                path: file.path().to_path_buf(),
                key: "token_embd.weight".into(),
            })?;
    let vocab_size = embedding.shape[0];
    let d_model = file.usize(&key("embedding_length"))?;
    let n_heads = file.usize(&key("attention.head_count"))?;
    let context = file.usize(&key("context_length"))?;
    let rope_dims = file.usize(&key("rope.dimension_count")).ok();
    if let Some(dims) = rope_dims.filter(|&d| n_heads == 0 || d != d_model / n_heads) {
        return Err(ModelError::Import {
            path: file.path().to_path_buf(),
            reason: format!("rotary encoding of {dims} of each head's dimensions is not supported"),
        });
    }
    Ok(CausalLmConfig::new(
        vocab_size,
        max_context.map_or(context, |cap| cap.min(context)),
    )
    .with_d_model(d_model)
    .with_n_layers(file.usize(&key("block_count"))?)
    .with_n_heads(n_heads)
    .with_n_kv_heads(Some(
        file.usize(&key("attention.head_count_kv"))
            .unwrap_or(n_heads),
    ))
    .with_d_ff(file.usize(&key("feed_forward_length"))?)
    .with_ffn(FfnSpec::Dense(FfnKind::Swiglu))
    .with_positions(Positions::Rope)
    .with_rope_theta(file.float(&key("rope.freq_base")).unwrap_or(10_000.0))
    .with_tied_head(!file.contains("output.weight"))
    .with_bias(false)
    .with_norm(NormKind::RmsNorm)
    .with_norm_epsilon(file.float(&key("attention.layer_norm_rms_epsilon"))?)
    .with_dropout(0.0))
}

/// Builds the LLaMA model of `file` on `device` with the file's weights (converted to `f32`).
pub fn load_gguf_llama(
    file: &Gguf,
    max_context: Option<usize>,
    device: &Device,
) -> Result<(CausalLm, CausalLmConfig), ModelError> {
    let config = gguf_llama_config(file, max_context)?;
    // Every tensor is checked against the sizes before anything is allocated: sizes in damaged
    // metadata fail here, not in an allocation.
    for (name, shape) in stored_shapes(&config) {
        let info = file
            .tensors()
            .get(&name)
            .ok_or_else(|| ModelError::MissingWeight {
                path: file.path().to_path_buf(),
                key: name.clone(),
            })?;
        if info.shape != shape {
            return Err(ModelError::WeightShape {
                key: name,
                expected: shape,
                actual: info.shape.clone(),
            });
        }
    }
    let mut model = config.init(device)?;
    let d_model = config.d_model;
    let kv_width = config.n_kv_heads.unwrap_or(config.n_heads) * (d_model / config.n_heads);
    // Shapes were checked above; the tensors are only converted here.
    let vector = |name: &str| -> Result<Param<Tensor<1>>, ModelError> {
        let t = file.tensor(name)?;
        Ok(Param::from_data(
            TensorData::new(t.values, [d_model]),
            device,
        ))
    };
    let dense = |layer: &mut FeedForward, name: &str, d_in: usize, d_out: usize| {
        let t = file.tensor(name)?;
        set_dense(
            layer,
            weight_matrix(t, Stored::Linear, name, d_in, d_out)?,
            None,
            device,
        );
        Ok::<_, ModelError>(())
    };
    let embedding = file.tensor("token_embd.weight")?;
    model.tokens.weight = Param::from_data(
        TensorData::new(embedding.values, [config.vocab_size, d_model]),
        device,
    );
    for (i, block) in model.blocks.iter_mut().enumerate() {
        let name = |stem: &str| format!("blk.{i}.{stem}.weight");
        set_gamma(&mut block.attn_norm, vector(&name("attn_norm"))?);
        dense(&mut block.attn.q, &name("attn_q"), d_model, d_model)?;
        dense(&mut block.attn.k, &name("attn_k"), d_model, kv_width)?;
        dense(&mut block.attn.v, &name("attn_v"), d_model, kv_width)?;
        dense(&mut block.attn.o, &name("attn_output"), d_model, d_model)?;
        // gguf_llama_config builds dense, pre-normed SwiGLU blocks, so these are all present.
        let Some(ffn) = block.ffn.dense_mut() else {
            return Err(not_llama("a mixture-of-experts block"));
        };
        let (Some(norm), Some(gate)) = (ffn.norm.as_mut(), ffn.gate.as_mut()) else {
            return Err(not_llama("an FFN without its norm or gate"));
        };
        set_gamma(norm, vector(&name("ffn_norm"))?);
        dense(gate, &name("ffn_gate"), d_model, config.d_ff)?;
        dense(&mut ffn.up, &name("ffn_up"), d_model, config.d_ff)?;
        dense(&mut ffn.down, &name("ffn_down"), config.d_ff, d_model)?;
    }
    set_gamma(&mut model.norm, vector("output_norm.weight")?);
    if let Some(head) = model.head.as_mut() {
        dense(head, "output.weight", d_model, config.vocab_size)?;
    }
    Ok((model, config))
}

/// Every tensor a LLaMA model of `config` reads, with its row-major shape as GGUF stores it
/// (projections `[out, in]`).
fn stored_shapes(config: &CausalLmConfig) -> Vec<(String, Vec<usize>)> {
    let (d, ff, vocab) = (config.d_model, config.d_ff, config.vocab_size);
    let kv = config.n_kv_heads.unwrap_or(config.n_heads) * (d / config.n_heads.max(1));
    let mut shapes = vec![
        ("token_embd.weight".to_string(), vec![vocab, d]),
        ("output_norm.weight".to_string(), vec![d]),
    ];
    if !config.tied_head {
        shapes.push(("output.weight".to_string(), vec![vocab, d]));
    }
    for i in 0..config.n_layers {
        for (stem, shape) in [
            ("attn_norm", vec![d]),
            ("attn_q", vec![d, d]),
            ("attn_k", vec![kv, d]),
            ("attn_v", vec![kv, d]),
            ("attn_output", vec![d, d]),
            ("ffn_norm", vec![d]),
            ("ffn_gate", vec![ff, d]),
            ("ffn_up", vec![ff, d]),
            ("ffn_down", vec![d, ff]),
        ] {
            shapes.push((format!("blk.{i}.{stem}.weight"), shape));
        }
    }
    shapes
}

/// The error of a built block that is not the LLaMA block `gguf_llama_config` describes.
fn not_llama(what: &str) -> ModelError {
    ModelError::InvalidConfig {
        layer: "LLaMA (GGUF)",
        reason: format!("the configuration built {what}"),
    }
}

/// Sets the scale of an RMSNorm (the only norm LLaMA uses).
fn set_gamma(norm: &mut Norm, gamma: Param<Tensor<1>>) {
    match norm {
        Norm::Rms(norm) => norm.gamma = gamma,
        Norm::Layer(norm) => norm.gamma = gamma,
    }
}
