//! How a language-model run writes its weight files (checkpoints and the final model): Burn's
//! record of every weight, or, for a fine-tune of a pretrained GGUF model (whose base weights
//! stay in that file), the LoRA adapters alone in Hugging Face PEFT's format (the checkpoints
//! keep their `.bpk` names).

use std::path::Path;

use ffn_model::{CausalLm, LoraConfig, SafeTensors, load_peft_adapter, peft_adapter_bytes};

use super::LmFinetune;
use crate::{RunDir, TrainError};

/// What a language-model run's weight files hold.
#[derive(Debug, Clone, Default)]
pub(crate) enum LmWeights {
    /// Every weight, as Burn's record.
    #[default]
    Full,
    /// The adapters only, made by this config, in PEFT's `adapter_model.safetensors` layout.
    Adapters(LoraConfig),
}

impl LmWeights {
    /// The weights a run fine-tuned as `finetune` says (none: a run from scratch) writes.
    pub fn of(finetune: Option<&LmFinetune>) -> Self {
        match finetune {
            Some(LmFinetune {
                gguf: Some(_),
                lora: Some(lora),
                ..
            }) => Self::Adapters(lora.clone()),
            _ => Self::Full,
        }
    }

    /// Writes `model`'s weights to `path` in `run`, recording their hash.
    pub fn save(&self, run: &RunDir, model: &CausalLm, path: &Path) -> Result<(), TrainError> {
        match self {
            Self::Full => run.save_weights(model, path),
            Self::Adapters(_) => run.write_recorded(path, &peft_adapter_bytes(model, path)?),
        }
    }

    /// `structure` (the base model, with adapters or not) with the weights at `path` in `run`,
    /// after checking their hash.
    pub fn load(
        &self,
        run: &RunDir,
        structure: CausalLm,
        path: &Path,
    ) -> Result<CausalLm, TrainError> {
        match self {
            Self::Full => run.load_weights(structure, path),
            Self::Adapters(lora) => {
                let file = SafeTensors::from_bytes(path, run.read_verified(path)?)?;
                Ok(load_peft_adapter(structure, lora, &file)?)
            }
        }
    }
}
