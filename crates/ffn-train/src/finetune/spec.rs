//! How a run is fine-tuned: where its weights come from, which layers freeze, LoRA adapters,
//! a new head and its learning rate; saved in the run's `config.json`.

use std::collections::HashSet;
use std::path::PathBuf;

use burn::module::ParamId;
use burn::prelude::*;
use ffn_model::{DenseLayers, LoraConfig};
use serde::{Deserialize, Serialize};

use super::select::{listing, select_layers};
use crate::params::param_ids;
use crate::{Network, TrainError};

/// How a run is fine-tuned from a pretrained one; saved in its `config.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneSpec {
    /// The run directory (trained run or imported block) whose weights start the run.
    pub from: PathBuf,
    /// Whether the head is replaced by a new one; forced when the label sets differ.
    pub new_head: bool,
    /// Layers that do not train: names (`mlp.hidden.0`, `hidden.0`, `output`), `*` patterns,
    /// indices into [`Network::layer_names`], `body` (all but the head) or `head`.
    pub freeze: Vec<String>,
    /// LoRA adapters, if any: then every base weight is frozen and only the adapters (and a new
    /// head) train.
    pub lora: Option<LoraSpec>,
    /// Learning rate of the head; `None` uses the run's `lr`. Scheduled like `lr`.
    pub head_lr: Option<f64>,
}

/// LoRA settings and the layers that get adapters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraSpec {
    /// Rank, alpha, dropout.
    #[serde(flatten)]
    pub config: LoraConfig,
    /// Layers that get adapters, in the syntax of [`FinetuneSpec::freeze`]; empty means every
    /// dense layer except a new head.
    pub targets: Vec<String>,
}

impl FinetuneSpec {
    /// Checks the values that do not need the network.
    pub fn validate(&self) -> Result<(), TrainError> {
        if let Some(lr) = self.head_lr
            && !(lr.is_finite() && lr > 0.0)
        {
            return Err(TrainError::InvalidConfig(format!(
                "head_lr must be a positive number, got {lr}"
            )));
        }
        if let Some(lora) = &self.lora {
            lora.config.validate()?;
        }
        Ok(())
    }

    /// Paths of the dense layers that get LoRA adapters (empty without LoRA).
    pub fn lora_targets(&self, network: &Network) -> Result<Vec<String>, TrainError> {
        let Some(lora) = &self.lora else {
            return Ok(Vec::new());
        };
        let layers = network.layers();
        let candidates = layers.iter().filter(|layer| layer.dense);
        if lora.targets.is_empty() {
            return Ok(candidates
                .filter(|layer| !(self.new_head && layer.head))
                .map(|layer| layer.name.clone())
                .collect());
        }
        let selected = select_layers(&lora.targets, network)?;
        let targets: Vec<String> = candidates
            .filter(|layer| selected.contains(&layer.name))
            .map(|layer| layer.name.clone())
            .collect();
        if targets.is_empty() {
            return Err(TrainError::InvalidConfig(format!(
                "LoRA targets {:?} select no dense layer; dense layers: {}",
                lora.targets,
                listing(network)
            )));
        }
        Ok(targets)
    }

    /// The parameters of `network` that train: with LoRA the adapters (and a new head's
    /// weights), else everything outside the frozen layers.
    pub fn trainable_params(&self, network: &Network) -> Result<HashSet<ParamId>, TrainError> {
        let layers = network.layers();
        if self.lora.is_some() {
            let head = layers
                .iter()
                .filter(|layer| self.new_head && layer.head)
                .flat_map(|layer| layer.params.iter().copied());
            return Ok(network.adapter_params().into_iter().chain(head).collect());
        }
        let frozen = select_layers(&self.freeze, network)?;
        let frozen: HashSet<ParamId> = layers
            .iter()
            .filter(|layer| frozen.contains(&layer.name))
            .flat_map(|layer| layer.params.iter().copied())
            .collect();
        Ok(param_ids(network)
            .into_iter()
            .filter(|id| !frozen.contains(id))
            .collect())
    }

    /// The head's parameters when it has a learning rate of its own.
    pub fn head_params(&self, network: &Network) -> HashSet<ParamId> {
        match self.head_lr {
            Some(_) => network
                .layers()
                .into_iter()
                .filter(|layer| layer.head)
                .flat_map(|layer| layer.params)
                .collect(),
            None => HashSet::new(),
        }
    }

    /// Attaches freshly drawn LoRA adapters (on `device`) to the spec's targets; a spec without
    /// LoRA returns the network as it is.
    pub fn attach_lora(&self, network: Network, device: &Device) -> Result<Network, TrainError> {
        let Some(lora) = &self.lora else {
            return Ok(network);
        };
        let targets = self.lora_targets(&network)?;
        Ok(network.with_lora(&lora.config, |p| targets.iter().any(|t| t == p), device)?)
    }
}
