//! Checkpoints: after every epoch the weights, the optimiser state and `state.json` (which
//! commits them), each written atomically, so a run killed at any moment resumes exactly.

use burn::optim::ModuleOptimizer;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use super::early_stopping::Monitor;
use super::{EpochRecord, Objective};
pub use crate::run::CheckpointPoint;
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
    /// Batches of round `epoch` already trained (a run interrupted in the middle of a round).
    #[serde(default)]
    pub round_batches: usize,
    /// Their losses' sum, as the device summed them in f32.
    #[serde(default)]
    pub round_loss: f32,
    /// Seconds they took.
    #[serde(default)]
    pub round_seconds: f64,
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
            round_batches: 0,
            round_loss: 0.0,
            round_seconds: 0.0,
        }
    }
}

impl CheckpointState {
    /// Which checkpoint files hold this state: after `epoch` rounds and `round_batches` batches.
    pub fn point(&self) -> CheckpointPoint {
        CheckpointPoint {
            epoch: self.epoch,
            batch: self.round_batches,
        }
    }
}

/// Writes the model and optimiser files of `state`'s point, then `state.json` (which commits
/// them), then removes the files of the checkpoint before and rewrites the metrics logs.
pub(crate) fn save<O: Objective>(
    run: &RunDir,
    objective: &O,
    model: &O::Model,
    optimizer: &ModuleOptimizer,
    state: &CheckpointState,
) -> Result<(), TrainError> {
    let point = state.point();
    let previous = run
        .state()
        .exists()
        .then(|| run.read_json::<CheckpointState>(&run.state()))
        .transpose()?
        .map(|s| s.point());
    objective.save_weights(run, model, &run.checkpoint_model(point))?;
    let bytes = optimizer.into_bytes().map_err(|e| TrainError::Run {
        path: run.checkpoint_optimizer(point),
        reason: format!("cannot serialise the optimiser: {e}"),
    })?;
    run.write_recorded(&run.checkpoint_optimizer(point), &bytes)?;
    run.write_json(&run.state(), state)?;
    if let Some(previous) = previous.filter(|p| *p != point) {
        let _ = std::fs::remove_file(run.checkpoint_model(previous));
        let _ = std::fs::remove_file(run.checkpoint_optimizer(previous));
    }
    crate::run::metrics_log::write(run, &state.history)
}

/// `optimizer` (freshly built, with its parameter groups) with the state saved at `point`.
/// Burn materialises the state on its default device before the next step moves it: see
/// [`crate::pin_default_device`].
pub(crate) fn load_optimizer(
    run: &RunDir,
    optimizer: ModuleOptimizer,
    point: CheckpointPoint,
) -> Result<ModuleOptimizer, TrainError> {
    let path = run.checkpoint_optimizer(point);
    let bytes = run.read_verified(&path)?;
    optimizer
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| TrainError::Run {
            path,
            reason: format!("corrupt optimiser checkpoint: {e}"),
        })
}
