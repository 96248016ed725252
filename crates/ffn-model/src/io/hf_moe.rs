//! Importing the sparse mixture-of-experts block of one layer from a Hugging Face
//! `.safetensors` checkpoint (Mixtral, OLMoE, Qwen2-MoE key layouts) into a [`MoeFfn`]: the
//! router, every expert's gate/up/down projections and Qwen2-MoE's shared expert and its gate.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::hf_import::{check_shape, hf_activation, set_dense, weight_matrix};
use super::hf_layout::Stored;
use super::safetensors::{HostTensor, SafeTensors};
use crate::{FfnKind, ModelError, MoeFfn, MoeFfnConfig, TransformerFfn};

/// The key layout of a mixture-of-experts checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[derive(strum::Display, strum::EnumString, strum::VariantNames)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", ascii_case_insensitive)]
#[strum(parse_err_ty = ModelError, parse_err_fn = unknown_layout)]
pub enum MoeLayout {
    /// `layers.N.block_sparse_moe.{gate, experts.I.{w1, w3, w2}}` (gate, up, down).
    Mixtral,
    /// `layers.N.mlp.{gate, experts.I.{gate_proj, up_proj, down_proj}}`.
    Olmoe,
    /// As OLMoE, with `mlp.shared_expert.{gate,up,down}_proj` and `mlp.shared_expert_gate`.
    Qwen2Moe,
}

fn unknown_layout(name: &str) -> ModelError {
    ModelError::InvalidConfig {
        layer: "MoeLayout",
        reason: format!(
            "unknown MoE layout '{name}'; valid: {}",
            <MoeLayout as strum::VariantNames>::VARIANTS.join(", ")
        ),
    }
}

impl MoeLayout {
    /// The block's stem in layer `n` and the names of an expert's gate, up and down.
    fn stems(self, n: usize) -> (String, [&'static str; 3]) {
        match self {
            Self::Mixtral => (format!("layers.{n}.block_sparse_moe"), ["w1", "w3", "w2"]),
            Self::Olmoe | Self::Qwen2Moe => (
                format!("layers.{n}.mlp"),
                ["gate_proj", "up_proj", "down_proj"],
            ),
        }
    }

    /// Whether the selected probabilities are renormalised unless `config.json` says.
    fn default_norm_topk_prob(self) -> bool {
        self == Self::Mixtral
    }
}

/// What an MoE import produced.
#[derive(Debug, Clone)]
pub struct ImportedMoe {
    /// The block (no norm, no residual: the checkpoint's sparse MoE block alone).
    pub block: MoeFfn,
    /// Its configuration.
    pub config: MoeFfnConfig,
    /// Every tensor key that was read.
    pub keys: Vec<String>,
}

/// Reads layer `layer`'s MoE block of a `layout` checkpoint onto `device`; `hf_config` (the
/// parsed `config.json`) gives `num_experts_per_tok`, `norm_topk_prob` and `hidden_act`.
/// Fails naming the first missing key, or when the experts found disagree with the router.
pub fn import_hf_moe(
    file: &SafeTensors,
    layout: MoeLayout,
    layer: usize,
    hf_config: &serde_json::Value,
    device: &Device,
) -> Result<ImportedMoe, ModelError> {
    let (stem, [gate_name, up_name, down_name]) = layout.stems(layer);
    let router_key = format!("{stem}.gate.weight");
    let prefix = file
        .names()
        .filter_map(|name| name.strip_suffix(router_key.as_str()))
        .filter(|p| p.is_empty() || p.ends_with('.'))
        .min_by_key(|p| p.len())
        .map(str::to_string)
        .ok_or_else(|| ModelError::Import {
            path: file.path().to_path_buf(),
            reason: format!(
                "no key ends with '{router_key}': not a {layout} checkpoint with a layer {layer} \
                 (first keys: {})",
                file.names().take(4).collect::<Vec<_>>().join(", ")
            ),
        })?;
    let mut keys = Vec::new();
    let mut read = |key: String| -> Result<HostTensor, ModelError> {
        if !file.contains(&key) {
            return Err(ModelError::MissingWeight {
                path: file.path().to_path_buf(),
                key,
            });
        }
        let tensor = file.tensor(&key)?;
        keys.push(key);
        Ok(tensor)
    };
    let router = read(format!("{prefix}{router_key}"))?;
    let [experts, d_model] = match router.shape[..] {
        [e, d] => [e, d],
        _ => {
            return Err(ModelError::WeightShape {
                key: format!("{prefix}{router_key}"),
                expected: vec![0, 0],
                actual: router.shape.clone(),
            });
        }
    };
    let expert_key = |i: usize, name: &str| format!("{prefix}{stem}.experts.{i}.{name}.weight");
    let found = (0..)
        .take_while(|&i| file.contains(&expert_key(i, gate_name)))
        .count();
    if found != experts {
        return Err(ModelError::Import {
            path: file.path().to_path_buf(),
            reason: format!(
                "the router has {experts} rows but the file holds {found} experts \
                 ({stem}.experts.0..{found}); the checkpoint is inconsistent"
            ),
        });
    }
    let d_ff = file.tensor(&expert_key(0, gate_name))?.shape[0];
    let number = |field: &str| hf_config.get(field).and_then(serde_json::Value::as_u64);
    let top_k = number("num_experts_per_tok").unwrap_or(2) as usize;
    let shared_stem = format!("{prefix}{stem}.shared_expert");
    let shared_d_ff = match layout {
        MoeLayout::Qwen2Moe => Some(read(format!("{shared_stem}.{gate_name}.weight"))?.shape[0]),
        _ => None,
    };
    if let Some(name) = hf_config
        .get("hidden_act")
        .and_then(serde_json::Value::as_str)
        && hf_activation(name)? != FfnKind::Swiglu.activation()
    {
        return Err(ModelError::Import {
            path: file.path().to_path_buf(),
            reason: format!("experts with hidden_act '{name}' are not supported; silu is"),
        });
    }
    let config = MoeFfnConfig::new(d_model, d_ff, experts, top_k)
        .with_norm_topk_prob(
            hf_config
                .get("norm_topk_prob")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(layout.default_norm_topk_prob()),
        )
        .with_shared_d_ff(shared_d_ff)
        .with_shared_gate(shared_d_ff.is_some());
    let mut block = config.init(device)?;
    let matrix = |t: HostTensor, key: &str, d_in: usize, d_out: usize| {
        weight_matrix(t, Stored::Linear, key, d_in, d_out)
    };
    let mut fill = |ffn: &mut TransformerFfn,
                    key: &dyn Fn(&str) -> String,
                    d_ff: usize|
     -> Result<(), ModelError> {
        let names = [gate_name, up_name, down_name];
        let [gate, up, down] = names.map(key);
        let gate_w = matrix(read(gate.clone())?, &gate, d_model, d_ff)?;
        let up_w = matrix(read(up.clone())?, &up, d_model, d_ff)?;
        let down_w = matrix(read(down.clone())?, &down, d_ff, d_model)?;
        if let Some(layer) = ffn.gate.as_mut() {
            set_dense(layer, gate_w, None, device);
        }
        set_dense(&mut ffn.up, up_w, None, device);
        set_dense(&mut ffn.down, down_w, None, device);
        Ok(())
    };
    for (i, expert) in block.experts.iter_mut().enumerate() {
        fill(expert, &|name| expert_key(i, name), d_ff)?;
    }
    if let (Some(shared), Some(width)) = (block.shared.as_mut(), shared_d_ff) {
        fill(
            shared,
            &|name| format!("{shared_stem}.{name}.weight"),
            width,
        )?;
    }
    let router_key = format!("{prefix}{router_key}");
    set_dense(
        &mut block.router,
        matrix(router, &router_key, d_model, experts)?,
        None,
        device,
    );
    if let Some(gate) = block.shared_gate.as_mut() {
        let key = format!("{prefix}{stem}.shared_expert_gate.weight");
        let weight = read(key.clone())?;
        check_shape(&weight, &key, &[1, d_model])?;
        set_dense(gate, matrix(weight, &key, d_model, 1)?, None, device);
    }
    Ok(ImportedMoe {
        block,
        config,
        keys,
    })
}
