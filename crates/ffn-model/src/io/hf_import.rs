//! Importing the feed-forward sub-layer of one Transformer layer from a Hugging Face
//! `.safetensors` checkpoint (BERT, GPT-2 or LLaMA key layout) into a [`TransformerFfn`].

use burn::module::Param;
use burn::prelude::*;

use super::hf_layout::{HfLayout, Stored};
use super::safetensors::{HostTensor, SafeTensors};
use crate::{Activation, FeedForward, ModelError, Norm, TransformerFfn, TransformerFfnConfig};

/// What an import produced: the block, its config, and the keys it was read from.
#[derive(Debug, Clone)]
pub struct ImportedFfn {
    /// The block with the checkpoint's weights.
    pub block: TransformerFfn,
    /// Its configuration (sizes from the tensors, epsilon and activation from `config.json`
    /// or the layout's defaults).
    pub config: TransformerFfnConfig,
    /// The model prefix found before the layout's keys (e.g. `bert.`), possibly empty.
    pub prefix: String,
    /// Every tensor key that was read.
    pub keys: Vec<String>,
}

/// Reads layer `layer`'s feed-forward sub-layer of a `layout` checkpoint onto `device`.
/// `hf_config` is the parsed Hugging Face `config.json`, when available. Fails naming the key
/// on a missing tensor or a shape that does not fit.
pub fn import_hf_ffn(
    file: &SafeTensors,
    layout: HfLayout,
    layer: usize,
    hf_config: Option<&serde_json::Value>,
    device: &Device,
) -> Result<ImportedFfn, ModelError> {
    let (norm, up, gate, down) = layout.stems(layer);
    let prefix = find_prefix(file, layout, layer, &format!("{up}.weight"))?;
    let mut keys = Vec::new();
    let mut read = |stem: &str, names: &[&str]| -> Result<Option<HostTensor>, ModelError> {
        for name in names {
            let key = format!("{prefix}{stem}.{name}");
            if file.contains(&key) {
                let tensor = file.tensor(&key)?;
                keys.push(key);
                return Ok(Some(tensor));
            }
        }
        Ok(None)
    };
    let require = |tensor: Option<HostTensor>, stem: &str| {
        tensor.ok_or_else(|| ModelError::MissingWeight {
            path: file.path().to_path_buf(),
            key: format!("{prefix}{stem}.weight"),
        })
    };
    let up_weight = require(read(&up, &["weight"])?, &up)?;
    let [d_model, d_ff] = in_out(
        layout.stored(),
        &up_weight,
        &format!("{prefix}{up}.weight"),
        file,
    )?;
    let mut config = layout.block_config(d_model, d_ff);
    apply_hf_config(&mut config, layout, hf_config, d_model, d_ff, file)?;

    let stored = layout.stored();
    let linear_weights = |t: HostTensor, stem: &str, d_in: usize, d_out: usize| {
        weight_matrix(t, stored, &format!("{prefix}{stem}.weight"), d_in, d_out)
    };
    let up_w = linear_weights(up_weight, &up, d_model, d_ff)?;
    let up_b = read(&up, &["bias"])?;
    let gate_w = match &gate {
        Some(stem) => Some(linear_weights(
            require(read(stem, &["weight"])?, stem)?,
            stem,
            d_model,
            d_ff,
        )?),
        None => None,
    };
    let gate_b = match &gate {
        Some(stem) => read(stem, &["bias"])?,
        None => None,
    };
    let down_w = linear_weights(
        require(read(&down, &["weight"])?, &down)?,
        &down,
        d_ff,
        d_model,
    )?;
    let down_b = read(&down, &["bias"])?;
    let norm_w = require(read(&norm, &["weight", "gamma"])?, &norm)?;
    let norm_b = read(&norm, &["bias", "beta"])?;
    config.bias = up_b.is_some();

    let mut block = config.init(device)?;
    let vector = |t: Option<HostTensor>, stem: &str, len: usize| -> Result<_, ModelError> {
        t.map(|t| {
            check_shape(&t, &format!("{prefix}{stem}.bias"), &[len])?;
            Ok(Param::from_data(TensorData::new(t.values, [len]), device))
        })
        .transpose()
    };
    set_dense(&mut block.up, up_w, vector(up_b, &up, d_ff)?, device);
    if let (Some(layer), Some(w), Some(stem)) = (block.gate.as_mut(), gate_w, &gate) {
        set_dense(layer, w, vector(gate_b, stem, d_ff)?, device);
    }
    set_dense(
        &mut block.down,
        down_w,
        vector(down_b, &down, d_model)?,
        device,
    );
    check_shape(&norm_w, &format!("{prefix}{norm}.weight"), &[d_model])?;
    let gamma = Param::from_data(TensorData::new(norm_w.values, [d_model]), device);
    let beta = vector(norm_b, &norm, d_model)?;
    block.norm = match block.norm {
        Some(Norm::Layer(mut ln)) => {
            ln.gamma = gamma;
            ln.beta = beta;
            Some(Norm::Layer(ln))
        }
        Some(Norm::Rms(mut rms)) => {
            rms.gamma = gamma;
            Some(Norm::Rms(rms))
        }
        None => None,
    };
    Ok(ImportedFfn {
        block,
        config,
        prefix,
        keys,
    })
}

/// The prefix (e.g. `bert.`, `transformer.`, or empty) under which `stem` exists in `file`;
/// fails listing the layers of this layout the file does have.
fn find_prefix(
    file: &SafeTensors,
    layout: HfLayout,
    layer: usize,
    stem: &str,
) -> Result<String, ModelError> {
    let found = file
        .names()
        .filter_map(|name| name.strip_suffix(stem))
        .filter(|prefix| prefix.is_empty() || prefix.ends_with('.'))
        .min_by_key(|prefix| prefix.len());
    if let Some(prefix) = found {
        return Ok(prefix.to_string());
    }
    let layers: Vec<usize> = (0..4096)
        .filter(|&n| {
            let anchor = format!("{}.weight", layout.stems(n).1);
            file.names().any(|name| name.ends_with(&anchor))
        })
        .collect();
    Err(ModelError::Import {
        path: file.path().to_path_buf(),
        reason: if layers.is_empty() {
            format!(
                "no key ends with '{stem}': this is not a {layout:?} checkpoint (first keys: {})",
                file.names().take(4).collect::<Vec<_>>().join(", ")
            )
        } else {
            format!(
                "no key ends with '{stem}': layer {layer} is not in the file; it has layers {}..={}",
                layers[0],
                layers[layers.len() - 1]
            )
        },
    })
}

/// Overrides epsilon and activation from `config.json` and checks its sizes against the tensors.
fn apply_hf_config(
    config: &mut TransformerFfnConfig,
    layout: HfLayout,
    hf_config: Option<&serde_json::Value>,
    d_model: usize,
    d_ff: usize,
    file: &SafeTensors,
) -> Result<(), ModelError> {
    let Some(hf) = hf_config else {
        return Ok(());
    };
    let (eps_field, act_field) = layout.config_fields();
    if let Some(eps) = hf.get(eps_field).and_then(serde_json::Value::as_f64) {
        config.norm_epsilon = eps;
    }
    if let Some(name) = hf.get(act_field).and_then(serde_json::Value::as_str) {
        config.activation = hf_activation(name)?;
    }
    for (field, tensors) in [
        ("hidden_size", d_model),
        ("n_embd", d_model),
        ("intermediate_size", d_ff),
        ("n_inner", d_ff),
    ] {
        if let Some(value) = hf.get(field).and_then(serde_json::Value::as_u64)
            && value as usize != tensors
        {
            return Err(ModelError::Import {
                path: file.path().to_path_buf(),
                reason: format!(
                    "config.json says {field} = {value} but the tensors have {tensors}; \
                     is it the config of another model?"
                ),
            });
        }
    }
    Ok(())
}

/// Our activation for a Hugging Face `hidden_act` / `activation_function` name.
pub(super) fn hf_activation(name: &str) -> Result<Activation, ModelError> {
    Ok(match name {
        "gelu" => Activation::Gelu,
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
        "silu" | "swish" => Activation::Silu,
        "relu" => Activation::Relu,
        "tanh" => Activation::Tanh,
        "sigmoid" => Activation::Sigmoid,
        other => {
            return Err(ModelError::InvalidConfig {
                layer: "import",
                reason: format!(
                    "config.json activation '{other}' is not supported; supported: gelu, \
                     gelu_new, gelu_pytorch_tanh, gelu_fast, silu, swish, relu, tanh, sigmoid"
                ),
            });
        }
    })
}

/// `[d_in, d_out]` of a stored weight; fails unless it is a matrix of sizes from 1 to
/// [`crate::validate::MAX_SIZE`].
fn in_out(
    stored: Stored,
    t: &HostTensor,
    key: &str,
    file: &SafeTensors,
) -> Result<[usize; 2], ModelError> {
    let fail = |what: &str| ModelError::Import {
        path: file.path().to_path_buf(),
        reason: format!("tensor '{key}' has shape {:?}; {what}", t.shape),
    };
    let [d_in, d_out] = match (stored, t.shape.as_slice()) {
        (Stored::Linear, &[out, inp]) => [inp, out],
        (Stored::Conv1d, &[inp, out]) => [inp, out],
        _ => return Err(fail("a projection weight is a matrix")),
    };
    let sizes = 1..=crate::validate::MAX_SIZE;
    if !sizes.contains(&d_in) || !sizes.contains(&d_out) {
        return Err(fail(&format!(
            "each side of a projection must be 1 to {}",
            crate::validate::MAX_SIZE
        )));
    }
    Ok([d_in, d_out])
}

/// The weight as Burn's row-major `[d_in, d_out]` values, after checking its stored shape.
pub(super) fn weight_matrix(
    t: HostTensor,
    stored: Stored,
    key: &str,
    d_in: usize,
    d_out: usize,
) -> Result<TensorData, ModelError> {
    let values = match stored {
        Stored::Conv1d => {
            check_shape(&t, key, &[d_in, d_out])?;
            t.values
        }
        Stored::Linear => {
            check_shape(&t, key, &[d_out, d_in])?;
            let mut transposed = vec![0.0; t.values.len()];
            for (o, row) in t.values.chunks_exact(d_in).enumerate() {
                for (i, &v) in row.iter().enumerate() {
                    transposed[i * d_out + o] = v;
                }
            }
            transposed
        }
    };
    Ok(TensorData::new(values, [d_in, d_out]))
}

pub(super) fn check_shape(t: &HostTensor, key: &str, expected: &[usize]) -> Result<(), ModelError> {
    if t.shape == expected {
        Ok(())
    } else {
        Err(ModelError::WeightShape {
            key: key.to_string(),
            expected: expected.to_vec(),
            actual: t.shape.clone(),
        })
    }
}

pub(super) fn set_dense(
    layer: &mut FeedForward,
    weight: TensorData,
    bias: Option<Param<Tensor<1>>>,
    device: &Device,
) {
    layer.linear.weight = Param::from_data(weight, device);
    layer.linear.bias = bias;
}
