//! Checkpoints: after every epoch the weights, the optimiser state and `state.json` (which
//! commits them), each written atomically, so a run killed at any moment resumes exactly.

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::Bytes;
use ffn_model::save_module;
use serde::{Deserialize, Serialize};

use super::EpochRecord;
use super::early_stopping::Monitor;
use crate::{RunDir, Schedule, TrainError};

/// Everything needed to continue a run, saved after every epoch in `checkpoint/state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CheckpointState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps taken.
    pub step: usize,
    /// The learning-rate schedule and its plateau state.
    pub schedule: Schedule,
    /// Early-stopping bookkeeping.
    pub monitor: Monitor,
    /// One record per completed epoch.
    pub history: Vec<EpochRecord>,
    /// Seconds spent in epochs, over all sessions of the run.
    pub train_seconds: f64,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

impl CheckpointState {
    /// The state of a run before its first epoch.
    pub fn new(schedule: Schedule) -> Self {
        Self {
            epoch: 0,
            step: 0,
            schedule,
            monitor: Monitor::default(),
            history: Vec::new(),
            train_seconds: 0.0,
            stopped_early: false,
        }
    }
}

/// Writes the epoch's model and optimiser files, then `state.json` (which commits them), then
/// removes the previous epoch's files and rewrites the metrics logs.
pub(crate) fn save<M: Module>(
    run: &RunDir,
    model: &M,
    optimizer: &ModuleOptimizer,
    state: &CheckpointState,
) -> Result<(), TrainError> {
    save_module(model, &run.checkpoint_model(state.epoch))?;
    let bytes = optimizer.into_bytes().map_err(|e| TrainError::Run {
        path: run.checkpoint_optimizer(state.epoch),
        reason: format!("cannot serialise the optimiser: {e}"),
    })?;
    run.write(&run.checkpoint_optimizer(state.epoch), &bytes)?;
    run.write_json(&run.state(), state)?;
    if state.epoch > 1 {
        let _ = std::fs::remove_file(run.checkpoint_model(state.epoch - 1));
        let _ = std::fs::remove_file(run.checkpoint_optimizer(state.epoch - 1));
    }
    crate::run::metrics_log::write(run, &state.history)
}

/// `optimizer` (freshly built, with its parameter groups) with the state saved at `epoch`.
/// Burn materialises the state on its default device before the next step moves it: see
/// [`crate::pin_default_device`].
pub(crate) fn load_optimizer(
    run: &RunDir,
    optimizer: ModuleOptimizer,
    epoch: usize,
) -> Result<ModuleOptimizer, TrainError> {
    let path = run.checkpoint_optimizer(epoch);
    let bytes = std::fs::read(&path).map_err(|e| TrainError::Run {
        path: path.clone(),
        reason: format!("cannot read the optimiser checkpoint: {e}"),
    })?;
    optimizer
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| TrainError::Run {
            path,
            reason: format!("corrupt optimiser checkpoint: {e}"),
        })
}
