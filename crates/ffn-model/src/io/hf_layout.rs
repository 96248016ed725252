//! The key layouts of Hugging Face checkpoints whose FFN sub-layers can be imported: where each
//! tensor of layer `N` is, how its weights are stored, and the block it makes.

use serde::{Deserialize, Serialize};

use crate::{ModelError, TransformerFfnConfig};

/// The key layout (and block semantics) of a Hugging Face checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[derive(strum::Display, strum::EnumString, strum::VariantNames)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", ascii_case_insensitive)]
#[strum(parse_err_ty = ModelError, parse_err_fn = unknown_layout)]
pub enum HfLayout {
    /// `encoder.layer.N.{intermediate.dense, output.dense, output.LayerNorm}`: residual,
    /// post-LayerNorm, GELU (erf).
    Bert,
    /// `h.N.{ln_2, mlp.c_fc, mlp.c_proj}` with Conv1D weights stored `[in, out]`: residual,
    /// pre-LayerNorm, GELU (tanh).
    #[strum(to_string = "gpt2", serialize = "gpt-2")]
    Gpt2,
    /// `model.layers.N.{post_attention_layernorm, mlp.gate_proj, mlp.up_proj, mlp.down_proj}`:
    /// residual, pre-RMSNorm, SwiGLU, no bias.
    Llama,
}

/// Where a weight comes from and how it is stored.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stored {
    /// `nn.Linear` weight `[out, in]`: transposed into Burn's `[in, out]`.
    Linear,
    /// GPT-2 `Conv1D` weight, already `[in, out]`.
    Conv1d,
}

impl HfLayout {
    /// Key stems (without prefix) of layer `n`: (norm, up, gate, down).
    pub(crate) fn stems(self, n: usize) -> (String, String, Option<String>, String) {
        match self {
            Self::Bert => (
                format!("encoder.layer.{n}.output.LayerNorm"),
                format!("encoder.layer.{n}.intermediate.dense"),
                None,
                format!("encoder.layer.{n}.output.dense"),
            ),
            Self::Gpt2 => (
                format!("h.{n}.ln_2"),
                format!("h.{n}.mlp.c_fc"),
                None,
                format!("h.{n}.mlp.c_proj"),
            ),
            Self::Llama => (
                format!("model.layers.{n}.post_attention_layernorm"),
                format!("model.layers.{n}.mlp.up_proj"),
                Some(format!("model.layers.{n}.mlp.gate_proj")),
                format!("model.layers.{n}.mlp.down_proj"),
            ),
        }
    }

    pub(crate) fn stored(self) -> Stored {
        match self {
            Self::Gpt2 => Stored::Conv1d,
            Self::Bert | Self::Llama => Stored::Linear,
        }
    }

    /// The block's config for the given sizes with this layout's defaults (epsilon, activation).
    pub(crate) fn block_config(self, d_model: usize, d_ff: usize) -> TransformerFfnConfig {
        match self {
            Self::Bert => TransformerFfnConfig::bert(d_model, d_ff),
            Self::Gpt2 => TransformerFfnConfig::gpt2(d_model, d_ff),
            Self::Llama => TransformerFfnConfig::llama(d_model, d_ff),
        }
    }

    /// Names of the Hugging Face `config.json` fields: (epsilon, activation).
    pub(crate) fn config_fields(self) -> (&'static str, &'static str) {
        match self {
            Self::Bert => ("layer_norm_eps", "hidden_act"),
            Self::Gpt2 => ("layer_norm_epsilon", "activation_function"),
            Self::Llama => ("rms_norm_eps", "hidden_act"),
        }
    }
}

/// The error of a layout name that is not one of [`HfLayout`]'s.
fn unknown_layout(name: &str) -> ModelError {
    ModelError::InvalidConfig {
        layer: "import",
        reason: format!(
            "unknown layout '{name}'; valid layouts: {}",
            <HfLayout as strum::VariantNames>::VARIANTS.join(", ")
        ),
    }
}
