//! What trains when a language model is fine-tuned: LoRA adapters on the FFN projections, the
//! attention projections or both, or every weight outside the frozen parts.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use burn::module::ParamId;
use burn::prelude::*;
use ffn_model::{CausalLm, DenseLayers, Gguf, LoraConfig};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::params::{parameters, path_matches};
use crate::run::file_sha256;

/// Fails, naming `path`, unless the file's SHA-256 is `saved` (what a fine-tune recorded of
/// its base).
pub(crate) fn check_base(path: &Path, saved: &str) -> Result<(), TrainError> {
    let now = file_sha256(path)?;
    if now == saved {
        return Ok(());
    }
    Err(TrainError::Run {
        path: path.to_path_buf(),
        reason: format!(
            "is not the model these adapters were trained on (SHA-256 {}…, the run recorded \
             {}…); adapters apply only to their own base: restore that file, or fine-tune again",
            &now[..12],
            saved.get(..12).unwrap_or(saved)
        ),
    })
}

/// The projections that get LoRA adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[derive(strum::Display, strum::EnumString, strum::VariantNames)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", ascii_case_insensitive)]
pub enum LoraTargets {
    /// Every FFN projection (`blocks.N.ffn.{up,gate,down}`, a mixture's experts'
    /// `blocks.N.ffn.experts.I.{up,gate,down}`; its router stays frozen).
    #[default]
    Ffn,
    /// Every attention projection (`blocks.N.attn.{q,k,v,o}`).
    Attn,
    /// Both.
    All,
}

impl LoraTargets {
    /// Whether the dense layer at `path` gets an adapter.
    fn accepts(self, path: &str) -> bool {
        let ffn = path.contains(".ffn.") && !path.ends_with(".router");
        let attn = path.contains(".attn.");
        match self {
            Self::Ffn => ffn,
            Self::Attn => attn,
            Self::All => ffn || attn,
        }
    }
}

/// How a language model is fine-tuned; saved as the run's `finetune.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LmFinetune {
    /// The language-model run whose weights and tokenizer start the run (empty with `gguf`).
    pub from: PathBuf,
    /// Or a pretrained model in a GGUF file: its weights stay in the file, and the run saves
    /// only its LoRA adapters, in PEFT's format.
    pub gguf: Option<PathBuf>,
    /// The SHA-256 of the `gguf` file, recorded when the run starts: its adapters apply to
    /// that file only.
    pub base_sha256: Option<String>,
    /// LoRA adapters, if any: then only they train.
    pub lora: Option<LoraConfig>,
    /// The projections that get adapters.
    pub lora_targets: LoraTargets,
    /// Without LoRA, the parameters that do not train, as dotted path patterns (`*` for any
    /// run of characters; a pattern also covers everything below it): `tokens`, `positions`,
    /// `blocks.0`, `blocks.*.attn`, `norm`, ...
    pub freeze: Vec<String>,
}

impl LmFinetune {
    /// Checks the values that do not need the model.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |msg: &str| Err(TrainError::InvalidConfig(msg.into()));
        match (self.from.as_os_str().is_empty(), &self.gguf) {
            (true, None) => return bad("give the model to fine-tune: a run (--from) or --gguf"),
            (false, Some(_)) => return bad("give --from or --gguf, not both"),
            (_, Some(_)) if self.lora.is_none() => {
                return bad(
                    "a pretrained model is fine-tuned through LoRA adapters: give --lora-rank",
                );
            }
            _ => {}
        }
        if let Some(lora) = &self.lora {
            lora.validate()?;
            if !self.freeze.is_empty() {
                return Err(TrainError::InvalidConfig(
                    "LoRA freezes every base weight already: give --lora-rank or --freeze, not both"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// The pretrained base of a fine-tune of a GGUF model, opened after checking that the file
    /// is the one the run started from (when the run recorded its hash); `None` for a run
    /// fine-tuned from another run.
    pub fn open_base(&self) -> Result<Option<Gguf>, TrainError> {
        self.base_file(true)
    }

    /// [`Self::open_base`], checking the file's hash only when `verify` holds.
    pub(crate) fn base_file(&self, verify: bool) -> Result<Option<Gguf>, TrainError> {
        let Some(path) = &self.gguf else {
            return Ok(None);
        };
        let file = Gguf::open(path)?;
        if let Some(saved) = self.base_sha256.as_ref().filter(|_| verify) {
            check_base(path, saved)?;
        }
        Ok(Some(file))
    }

    /// `model` with fresh adapters (drawn on `device`) on the targets; as it is without LoRA.
    pub fn attach_lora(&self, model: CausalLm, device: &Device) -> Result<CausalLm, TrainError> {
        self.validate()?;
        match &self.lora {
            Some(lora) => {
                Ok(model.with_lora(lora, |path| self.lora_targets.accepts(path), device)?)
            }
            None => Ok(model),
        }
    }

    /// The parameters that train: the adapters with LoRA, else all but the frozen ones. A
    /// pattern that matches no parameter is an error listing the model's parts.
    pub fn trainable_params(&self, model: &CausalLm) -> Result<HashSet<ParamId>, TrainError> {
        let all = parameters(model);
        if self.lora.is_some() {
            return Ok(all
                .into_iter()
                .filter(|p| p.path.split('.').any(|part| part == "lora"))
                .map(|p| p.id)
                .collect());
        }
        for pattern in &self.freeze {
            if !all.iter().any(|p| path_matches(pattern, &p.path)) {
                return Err(TrainError::InvalidConfig(format!(
                    "freeze pattern '{pattern}' matches no parameter; the model has tokens, \
                     positions, blocks.0..blocks.{} (each with attn_norm, attn.{{q,k,v,o}}, \
                     ffn.{{norm,up,gate,down}}), norm and, untied, head",
                    model.blocks.len().saturating_sub(1)
                )));
            }
        }
        Ok(all
            .into_iter()
            .filter(|p| {
                !self
                    .freeze
                    .iter()
                    .any(|pattern| path_matches(pattern, &p.path))
            })
            .map(|p| p.id)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::LoraTargets;

    #[test]
    fn ffn_targets_take_the_experts_and_leave_the_router() {
        let ffn = LoraTargets::Ffn;
        assert!(ffn.accepts("blocks.0.ffn.up"));
        assert!(ffn.accepts("blocks.1.ffn.experts.3.gate"));
        assert!(!ffn.accepts("blocks.1.ffn.router"));
        assert!(!ffn.accepts("blocks.0.attn.q"));
        assert!(LoraTargets::All.accepts("blocks.0.attn.q"));
        assert!(!LoraTargets::All.accepts("blocks.0.ffn.router"));
    }
}
