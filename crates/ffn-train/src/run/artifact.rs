//! What a run directory holds, opened once: a trained run (from `ffn train` or `ffn finetune`)
//! or a Transformer FFN block imported from a checkpoint (`ffn import`).

use std::path::Path;

use burn::prelude::*;

use crate::{ImportedBlock, ModelSpec, Network, RunDir, SavedRun, TrainError};

/// The contents of a run directory.
#[derive(Debug, Clone)]
pub enum Artifact {
    /// A run trained by `ffn train` or `ffn finetune`.
    Trained(Box<SavedRun>),
    /// A block imported by `ffn import`.
    Block(ImportedBlock),
}

impl Artifact {
    /// Opens the run directory `dir`: an imported block when it has `block.json`, else a
    /// trained run; fails naming a missing or corrupt file.
    pub fn open(dir: &Path) -> Result<Self, TrainError> {
        if !dir.is_dir() {
            return Err(TrainError::Run {
                path: dir.to_path_buf(),
                reason: "no such run directory; pass the --out directory of `ffn train`".into(),
            });
        }
        if RunDir::new(dir).block().exists() {
            Ok(Self::Block(ImportedBlock::open(dir)?))
        } else {
            Ok(Self::Trained(Box::new(SavedRun::open(dir)?)))
        }
    }

    /// The trained run, or an error saying that an imported block has no task to `what`
    /// (`"evaluate"`) and how to give it one.
    pub fn into_trained(self, what: &str) -> Result<SavedRun, TrainError> {
        match self {
            Self::Trained(run) => Ok(*run),
            Self::Block(block) => Err(TrainError::Run {
                path: block.run.root().to_path_buf(),
                reason: format!(
                    "holds an imported block, which has no task to {what}; fine-tune it first: \
                     ffn finetune --from {} --dataset DATA.csv",
                    block.run.root().display()
                ),
            }),
        }
    }

    /// Its directory.
    pub fn dir(&self) -> &RunDir {
        match self {
            Self::Trained(run) => &run.run,
            Self::Block(block) => &block.run,
        }
    }

    /// Its network with the final weights on `device`: a trained run's model, or the bare block.
    pub fn network(&self, device: &Device) -> Result<Network, TrainError> {
        match self {
            Self::Trained(run) => run.model(device),
            Self::Block(block) => Ok(Network {
                block: Some(block.block(device)?),
                mlp: None,
            }),
        }
    }

    /// The model spec of a run fine-tuned from this one (a block gets a linear head).
    pub fn model_spec(&self) -> ModelSpec {
        match self {
            Self::Trained(run) => run.config.model.clone(),
            Self::Block(block) => ModelSpec {
                hidden: Vec::new(),
                dropout: 0.0,
                block: Some(block.info.config.clone()),
                ..ModelSpec::default()
            },
        }
    }
}
