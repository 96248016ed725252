//! Which FFN a language model's blocks use, as `--ffn` names it: a dense kind (`gelu`,
//! `swiglu`, ...) or a mixture of experts (`moe:E:K[:KIND]`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Activation, FfnVariant, ModelError};

/// A dense FFN kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[derive(strum::Display, strum::EnumString, strum::VariantNames)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", ascii_case_insensitive)]
#[strum(parse_err_ty = ModelError, parse_err_fn = unknown_ffn)]
pub enum FfnKind {
    /// `down(relu(up(x)))`.
    Relu,
    /// `down(gelu(up(x)))`, GELU with erf (GPT-2 used its tanh approximation).
    Gelu,
    /// `down(silu(gate(x)) · up(x))` (LLaMA).
    Swiglu,
    /// `down(gelu(gate(x)) · up(x))`.
    Geglu,
    /// `down(relu(gate(x)) · up(x))`.
    Reglu,
}

fn unknown_ffn(name: &str) -> ModelError {
    ModelError::InvalidConfig {
        layer: "CausalLm",
        reason: format!(
            "unknown FFN '{name}'; valid: {}",
            <FfnKind as strum::VariantNames>::VARIANTS.join(", ")
        ),
    }
}

impl FfnKind {
    /// Gated (three projections) or standard (two).
    pub fn variant(self) -> FfnVariant {
        match self {
            Self::Relu | Self::Gelu => FfnVariant::Standard,
            Self::Swiglu | Self::Geglu | Self::Reglu => FfnVariant::Gated,
        }
    }

    /// The hidden (or gate) activation.
    pub fn activation(self) -> Activation {
        match self {
            Self::Relu | Self::Reglu => Activation::Relu,
            Self::Gelu | Self::Geglu => Activation::Gelu,
            Self::Swiglu => Activation::Silu,
        }
    }
}

/// The FFN of every block: a dense kind, or a mixture of `experts` FFNs of one kind of which
/// each token uses `top_k`. Written `gelu`, `swiglu`, ... or `moe:8:2` (SwiGLU experts) and
/// `moe:8:2:gelu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FfnSpec {
    /// One dense FFN.
    Dense(FfnKind),
    /// A mixture of experts.
    Moe {
        /// Experts, `E`.
        experts: usize,
        /// Experts per token, `k`.
        top_k: usize,
        /// The FFN of each expert.
        expert: FfnKind,
    },
}

impl Default for FfnSpec {
    fn default() -> Self {
        Self::Dense(FfnKind::Gelu)
    }
}

impl From<FfnKind> for FfnSpec {
    fn from(kind: FfnKind) -> Self {
        Self::Dense(kind)
    }
}

impl FfnSpec {
    /// The FFN kind of the block, or of each expert.
    pub fn kind(self) -> FfnKind {
        match self {
            Self::Dense(kind) | Self::Moe { expert: kind, .. } => kind,
        }
    }
}

impl fmt::Display for FfnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dense(kind) => write!(f, "{kind}"),
            Self::Moe {
                experts,
                top_k,
                expert,
            } => write!(f, "moe:{experts}:{top_k}:{expert}"),
        }
    }
}

impl FromStr for FfnSpec {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some(rest) = text.trim().strip_prefix("moe:") else {
            return text
                .trim()
                .parse()
                .map(Self::Dense)
                .map_err(|_| ModelError::InvalidConfig {
                    layer: "CausalLm",
                    reason: format!(
                        "unknown FFN '{text}'; valid: {}, or moe:E:K[:KIND] for a mixture of \
                         experts",
                        <FfnKind as strum::VariantNames>::VARIANTS.join(", ")
                    ),
                });
        };
        let invalid = || ModelError::InvalidConfig {
            layer: "CausalLm",
            reason: format!(
                "'{text}' is not a mixture of experts; write moe:E:K or moe:E:K:KIND, e.g. \
                 moe:8:2 or moe:8:2:gelu (KIND one of {})",
                <FfnKind as strum::VariantNames>::VARIANTS.join(", ")
            ),
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let count = |part: &str| part.parse::<usize>().map_err(|_| invalid());
        let (experts, top_k, expert) = match parts[..] {
            [e, k] => (count(e)?, count(k)?, FfnKind::Swiglu),
            [e, k, kind] => (count(e)?, count(k)?, kind.parse()?),
            _ => return Err(invalid()),
        };
        if experts == 0 || top_k == 0 || top_k > experts {
            return Err(ModelError::InvalidConfig {
                layer: "CausalLm",
                reason: format!(
                    "'{text}': a mixture needs 1 <= K <= E experts per token, got E = {experts}, \
                     K = {top_k}"
                ),
            });
        }
        Ok(Self::Moe {
            experts,
            top_k,
            expert,
        })
    }
}

impl TryFrom<String> for FfnSpec {
    type Error = ModelError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<FfnSpec> for String {
    fn from(value: FfnSpec) -> Self {
        value.to_string()
    }
}
