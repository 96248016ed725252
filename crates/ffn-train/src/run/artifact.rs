//! What a run directory holds, opened once: a trained run (from `ffn train` or `ffn finetune`),
//! a Transformer FFN block imported from a checkpoint (`ffn import`), or a language model
//! (`ffn lm train`, `ffn lm finetune`).

use std::path::Path;

use burn::prelude::*;

use crate::{ImportedBlock, LmRun, ModelSpec, Network, RunDir, SavedRun, TrainError};

/// The contents of a run directory.
#[derive(Debug, Clone)]
pub enum Artifact {
    /// A run trained by `ffn train` or `ffn finetune`.
    Trained(Box<SavedRun>),
    /// A block imported by `ffn import`.
    Block(Box<ImportedBlock>),
    /// A language model trained by `ffn lm train` or `ffn lm finetune`.
    Lm(Box<LmRun>),
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
            Ok(Self::Block(Box::new(ImportedBlock::open(dir)?)))
        } else if LmRun::is_lm_dir(dir) {
            Ok(Self::Lm(Box::new(LmRun::open(dir)?)))
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
            Self::Lm(lm) => Err(lm_refusal(&lm, what)),
        }
    }

    /// Its directory.
    pub fn dir(&self) -> &RunDir {
        match self {
            Self::Trained(run) => &run.run,
            Self::Block(block) => &block.run,
            Self::Lm(lm) => &lm.run,
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
            Self::Lm(lm) => Err(lm_refusal(lm, "use as a tabular network")),
        }
    }

    /// The model spec of a tabular run fine-tuned from this one (a block gets a linear head).
    pub fn model_spec(&self) -> Result<ModelSpec, TrainError> {
        match self {
            Self::Trained(run) => Ok(run.config.model.clone()),
            Self::Block(block) => Ok(ModelSpec {
                hidden: Vec::new(),
                dropout: 0.0,
                block: Some(block.info.config.clone()),
                ..ModelSpec::default()
            }),
            Self::Lm(lm) => Err(lm_refusal(lm, "fine-tune on a table")),
        }
    }
}

/// The error of a tabular command given a language-model run.
fn lm_refusal(lm: &LmRun, what: &str) -> TrainError {
    TrainError::Run {
        path: lm.run.root().to_path_buf(),
        reason: format!(
            "holds a language model, which tabular commands cannot {what}; use `ffn lm eval`, \
             `ffn lm generate` or `ffn lm finetune` with it"
        ),
    }
}
