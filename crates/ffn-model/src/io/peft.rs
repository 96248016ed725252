//! LoRA adapters of a LLaMA-architecture [`CausalLm`] in Hugging Face PEFT's format:
//! `adapter_model.safetensors`, keyed `base_model.model.model.layers.N.self_attn.{q,k,v,o}_proj`
//! and `base_model.model.model.layers.N.mlp.{gate,up,down}_proj` + `.lora_{A,B}.weight`
//! (`lora_A` `[rank, in]`, `lora_B` `[out, rank]`), beside `adapter_config.json`. Rotary
//! models keep the query and key rows in the interleaved order of GGUF files and Burn's
//! rotary encoding; the file holds them in Hugging Face's rotate-half order, so `peft` loads it
//! onto transformers' `LlamaForCausalLM`.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Param, ParamId};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::safetensors::{HostTensor, SafeTensors, safetensors_bytes};
use crate::{CausalLm, DenseLayers, FeedForward, LoraConfig, ModelError};

/// The adapter's weights file in a PEFT adapter directory.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// The adapter's config file in a PEFT adapter directory.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// Metadata key of the weights file: the Burn parameter id of every tensor, so that a training
/// checkpoint resumes with its optimiser state (`peft` ignores it).
const PARAM_IDS: &str = "ffn.param_ids";

/// `adapter_config.json`: the fields of peft's `LoraConfig` that the adapter's meaning depends
/// on. Other fields are ignored when read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeftLoraConfig {
    /// `LORA`.
    pub peft_type: String,
    /// `CAUSAL_LM`.
    pub task_type: Option<String>,
    /// The model the adapter was trained on.
    pub base_model_name_or_path: Option<String>,
    /// Rank of every adapter.
    pub r: usize,
    /// Scaling numerator: `lora_alpha / r` (rsLoRA: `/ sqrt(r)`).
    pub lora_alpha: f64,
    /// Dropout on the adapters' inputs while training.
    pub lora_dropout: f64,
    /// The adapted modules (`up_proj`, ...), as peft writes them: a list or a pattern.
    pub target_modules: Value,
    /// Which biases train: only `none` is supported.
    pub bias: String,
    /// Whether `lora_B` has a bias: not supported.
    pub lora_bias: bool,
    /// Whether weights are stored `[in, out]` (GPT-2's Conv1D): not supported.
    pub fan_in_fan_out: bool,
    /// rsLoRA scaling.
    pub use_rslora: bool,
    /// DoRA: not supported.
    pub use_dora: bool,
    /// Whether the adapter was saved for inference.
    pub inference_mode: bool,
    /// Per-module ranks: not supported.
    pub rank_pattern: BTreeMap<String, Value>,
    /// Per-module alphas: not supported.
    pub alpha_pattern: BTreeMap<String, Value>,
    /// Fully trained modules saved beside the adapters: not supported.
    pub modules_to_save: Option<Vec<String>>,
}

impl Default for PeftLoraConfig {
    fn default() -> Self {
        Self {
            peft_type: "LORA".into(),
            task_type: Some("CAUSAL_LM".into()),
            base_model_name_or_path: None,
            r: 8,
            lora_alpha: 8.0,
            lora_dropout: 0.0,
            target_modules: Value::Array(Vec::new()),
            bias: "none".into(),
            lora_bias: false,
            fan_in_fan_out: false,
            use_rslora: false,
            use_dora: false,
            inference_mode: true,
            rank_pattern: BTreeMap::new(),
            alpha_pattern: BTreeMap::new(),
            modules_to_save: None,
        }
    }
}

impl PeftLoraConfig {
    /// The config of `model`'s adapters, built by `lora`, trained on the base named `base`.
    pub fn for_model(model: &CausalLm, lora: &LoraConfig, base: Option<String>) -> Self {
        let mut targets: Vec<String> = model
            .dense_layers()
            .iter()
            .filter(|(_, layer)| layer.lora.is_some())
            .filter_map(|(path, _)| hf_module(path))
            .filter_map(|module| module.rsplit('.').next().map(str::to_string))
            .collect();
        targets.sort();
        targets.dedup();
        Self {
            base_model_name_or_path: base,
            r: lora.rank,
            lora_alpha: lora.alpha,
            lora_dropout: lora.dropout,
            target_modules: Value::from(targets),
            ..Self::default()
        }
    }

    /// Reads `dir/adapter_config.json`.
    pub fn read(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join(ADAPTER_CONFIG);
        let text = std::fs::read_to_string(&path).map_err(|e| import_error(&path, e))?;
        serde_json::from_str(&text).map_err(|e| import_error(&path, e))
    }

    /// The adapters' rank, scale and dropout; fails, naming the field, on what this model's
    /// adapters cannot express (DoRA, biases, per-module ranks, other PEFT methods).
    pub fn lora_config(&self, path: &Path) -> Result<LoraConfig, ModelError> {
        let unsupported = [
            (self.peft_type != "LORA", "peft_type is not LORA"),
            (self.use_dora, "use_dora (DoRA)"),
            (self.bias != "none", "bias other than \"none\""),
            (self.lora_bias, "lora_bias"),
            (self.fan_in_fan_out, "fan_in_fan_out"),
            (!self.rank_pattern.is_empty(), "rank_pattern"),
            (!self.alpha_pattern.is_empty(), "alpha_pattern"),
            (
                self.modules_to_save.as_ref().is_some_and(|m| !m.is_empty()),
                "modules_to_save",
            ),
        ];
        if let Some((_, what)) = unsupported.iter().find(|(bad, _)| *bad) {
            return Err(import_error(
                path,
                format!("the adapter uses {what}, which ffn's LoRA does not support"),
            ));
        }
        // rsLoRA scales by alpha / sqrt(r): the same update as alpha·sqrt(r) / r.
        let rank = self.r as f64;
        let alpha = match self.use_rslora {
            true => self.lora_alpha * rank.sqrt(),
            false => self.lora_alpha,
        };
        let lora = LoraConfig {
            rank: self.r,
            alpha,
            dropout: self.lora_dropout,
        };
        lora.validate()?;
        Ok(lora)
    }
}

/// The Hugging Face module (`model.layers.N.mlp.up_proj`) of the dense layer at `path` of a
/// LLaMA-architecture model; `None` for layers PEFT's LLaMA names do not cover.
fn hf_module(path: &str) -> Option<String> {
    let mut parts = path.split('.');
    let (Some("blocks"), Some(layer), Some(part), Some(name), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let module = match (part, name) {
        ("attn", "q" | "k" | "v" | "o") => "self_attn",
        ("ffn", "up" | "gate" | "down") => "mlp",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{module}.{name}_proj"))
}

/// The file key of `module`'s factor `factor` (`A` or `B`).
fn key(module: &str, factor: char) -> String {
    format!("base_model.model.{module}.lora_{factor}.weight")
}

/// How many heads a projection's output rows are grouped in for the rotate-half reordering:
/// the query's heads, the key's key/value heads, none for the others or without rotary
/// positions.
fn rope_heads(model: &CausalLm, path: &str) -> Option<usize> {
    let attn = &model.blocks.first()?.attn;
    attn.rope.as_ref()?;
    match path.rsplit('.').next() {
        Some("q") if path.contains(".attn.") => Some(attn.n_heads),
        Some("k") if path.contains(".attn.") => Some(attn.n_kv_heads),
        _ => None,
    }
}

/// The row `i` of `rows` rows in `heads` heads in interleaved order (`[head, pair, 2]`) as a row
/// of rotate-half order (`[head, 2, pair]`).
fn rotate_half_row(i: usize, rows: usize, heads: usize) -> usize {
    let half = rows / heads / 2;
    let (head, within) = (i / (2 * half), i % (2 * half));
    let (pair, side) = (within / 2, within % 2);
    head * 2 * half + side * half + pair
}

/// The `[rows, cols]` values with row `i` moved to `to(i)`.
fn move_rows(values: &[f32], rows: usize, cols: usize, to: impl Fn(usize) -> usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for i in 0..rows {
        let j = to(i);
        out[j * cols..(j + 1) * cols].copy_from_slice(&values[i * cols..(i + 1) * cols]);
    }
    out
}

/// The `[rows, cols]` values transposed to `[cols, rows]`.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for i in 0..rows {
        for j in 0..cols {
            out[j * rows + i] = values[i * cols + j];
        }
    }
    out
}

fn host(tensor: Tensor<2>, what: &str) -> Result<HostTensor, ModelError> {
    let shape = tensor.shape().dims::<2>().to_vec();
    let values = tensor
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| ModelError::Record {
            action: "save",
            path: what.into(),
            reason: format!("{e:?}"),
        })?;
    Ok(HostTensor { shape, values })
}

/// The bytes of `adapter_model.safetensors` for `model`'s adapters (meant for `path`, named in
/// errors), with the parameter ids in the metadata. Fails when an adapter sits on a layer
/// PEFT's LLaMA names do not cover (a mixture's experts, an untied head).
pub fn peft_adapter_bytes(model: &CausalLm, path: &Path) -> Result<Vec<u8>, ModelError> {
    let mut tensors = Vec::new();
    let mut ids = BTreeMap::new();
    for (layer_path, layer) in model.dense_layers() {
        let Some(lora) = &layer.lora else { continue };
        let module = hf_module(&layer_path).ok_or_else(|| ModelError::Record {
            action: "save",
            path: path.to_path_buf(),
            reason: format!(
                "{layer_path} has an adapter, but a PEFT adapter of a LLaMA model covers only \
                 the attention and dense FFN projections"
            ),
        })?;
        let (d_input, units, rank) = (layer.d_input(), layer.units(), lora.rank());
        let a = host(lora.a.val(), &layer_path)?;
        let b = host(lora.b.val(), &layer_path)?;
        let b_rows = transpose(&b.values, rank, units);
        let b_rows = match rope_heads(model, &layer_path) {
            Some(heads) => move_rows(&b_rows, units, rank, |i| rotate_half_row(i, units, heads)),
            None => b_rows,
        };
        for (factor, id, shape, values) in [
            (
                'A',
                lora.a.id,
                [rank, d_input],
                transpose(&a.values, d_input, rank),
            ),
            ('B', lora.b.id, [units, rank], b_rows),
        ] {
            let name = key(&module, factor);
            ids.insert(name.clone(), id.val());
            let shape = shape.to_vec();
            tensors.push((name, HostTensor { shape, values }));
        }
    }
    let metadata = BTreeMap::from([
        ("format".to_string(), "pt".to_string()),
        (
            PARAM_IDS.to_string(),
            serde_json::to_string(&ids).unwrap_or_default(),
        ),
    ]);
    safetensors_bytes(path, &tensors, metadata)
}

/// `model` with the adapters of the PEFT weights `file` on the layers it names: a layer without
/// an adapter gets one built by `lora` (on the layer's device), then takes the file's values
/// (and the parameter ids its metadata records). Fails on a key that is no adapter factor of this
/// model, a factor of the wrong shape, or a missing half of a pair.
pub fn load_peft_adapter(
    model: CausalLm,
    lora: &LoraConfig,
    file: &SafeTensors,
) -> Result<CausalLm, ModelError> {
    let path = file.path().to_path_buf();
    let ids: BTreeMap<String, u64> = file
        .metadata()
        .get(PARAM_IDS)
        .and_then(|ids| serde_json::from_str(ids).ok())
        .unwrap_or_default();
    let mut used = 0;
    let heads: BTreeMap<String, usize> = model
        .dense_layers()
        .into_iter()
        .filter_map(|(p, _)| rope_heads(&model, &p).map(|h| (p, h)))
        .collect();
    let model = model.map_dense(&mut |layer_path, layer| {
        let Some(module) = hf_module(layer_path) else {
            return Ok(layer);
        };
        let (key_a, key_b) = (key(&module, 'A'), key(&module, 'B'));
        match (file.contains(&key_a), file.contains(&key_b)) {
            (false, false) => return Ok(layer),
            (true, true) => used += 2,
            _ => {
                return Err(import_error(
                    &path,
                    format!("{module} has only one of lora_A and lora_B"),
                ));
            }
        }
        let device = &layer.linear.weight.val().device();
        let layer = match layer.lora {
            Some(_) => layer,
            None => layer.with_lora(lora, device)?,
        };
        let (d_input, units) = (layer.d_input(), layer.units());
        let rank = lora.rank;
        let a = checked(file, &key_a, [rank, d_input])?;
        let b = checked(file, &key_b, [units, rank])?;
        let b_rows = match heads.get(layer_path) {
            Some(&heads) => {
                let mut interleaved = vec![0; units];
                for i in 0..units {
                    interleaved[rotate_half_row(i, units, heads)] = i;
                }
                move_rows(&b.values, units, rank, |j| interleaved[j])
            }
            None => b.values,
        };
        let param = |name: &str, fallback: ParamId, values: Vec<f32>, shape: [usize; 2]| {
            let id = ids.get(name).map_or(fallback, |&id| ParamId::from(id));
            Param::initialized(
                id,
                Tensor::<2>::from_data(TensorData::new(values, shape), device),
            )
        };
        let FeedForward {
            linear,
            lora,
            activation,
        } = layer;
        let Some(adapter) = lora else {
            return Err(import_error(&path, format!("{layer_path} took no adapter")));
        };
        let adapter = crate::LoraAdapter {
            a: param(
                &key_a,
                adapter.a.id,
                transpose(&a.values, rank, d_input),
                [d_input, rank],
            ),
            b: param(
                &key_b,
                adapter.b.id,
                transpose(&b_rows, units, rank),
                [rank, units],
            ),
            ..adapter
        };
        Ok(FeedForward {
            linear,
            lora: Some(adapter),
            activation,
        })
    })?;
    let total = file.names().count();
    if used != total {
        let expected: Vec<String> = model
            .dense_layers()
            .iter()
            .filter_map(|(p, _)| hf_module(p))
            .flat_map(|module| [key(&module, 'A'), key(&module, 'B')])
            .collect();
        let stray = file
            .names()
            .find(|name| !expected.iter().any(|k| k == name))
            .unwrap_or_default()
            .to_string();
        return Err(import_error(
            &path,
            format!(
                "'{stray}' is not a LoRA factor of this {}-layer LLaMA model (adapters of \
                 another architecture or size, or with biases or DoRA, do not apply)",
                model.blocks.len()
            ),
        ));
    }
    Ok(model)
}

/// The tensor `name` of `file`, which must be shaped `shape`.
fn checked(file: &SafeTensors, name: &str, shape: [usize; 2]) -> Result<HostTensor, ModelError> {
    let tensor = file.tensor(name)?;
    if tensor.shape != shape {
        return Err(import_error(
            file.path(),
            format!(
                "'{name}' is {:?}, but this model needs {shape:?} (rank and layer sizes must \
                 match the base model)",
                tensor.shape
            ),
        ));
    }
    Ok(tensor)
}

fn import_error(path: &Path, reason: impl ToString) -> ModelError {
    ModelError::Import {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{hf_module, rotate_half_row};

    #[test]
    fn layer_paths_map_to_llama_modules() {
        assert_eq!(
            hf_module("blocks.3.ffn.gate").as_deref(),
            Some("model.layers.3.mlp.gate_proj")
        );
        assert_eq!(
            hf_module("blocks.0.attn.o").as_deref(),
            Some("model.layers.0.self_attn.o_proj")
        );
        assert_eq!(hf_module("blocks.0.ffn.experts.1.up"), None);
        assert_eq!(hf_module("head"), None);
    }

    #[test]
    fn interleaved_rows_become_rotate_half_rows() {
        // One head of 4 rows: pairs (0, 1) and (2, 3) become halves [0, 2] and [1, 3].
        let order: Vec<usize> = (0..4).map(|i| rotate_half_row(i, 4, 1)).collect();
        assert_eq!(order, [0, 2, 1, 3]);
        // Two heads of 6 rows each: the second head keeps its own block.
        assert_eq!(rotate_half_row(6 + 1, 12, 2), 6 + 3);
        assert_eq!(rotate_half_row(6 + 4, 12, 2), 6 + 2);
    }
}
