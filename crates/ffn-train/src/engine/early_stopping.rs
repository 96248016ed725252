//! Early stopping: the best monitored loss so far, its weights, and when patience runs out.

use serde::{Deserialize, Serialize};

use super::{CheckpointState, Objective};
use crate::{EarlyStoppingConfig, RunDir, TrainError};

/// Early-stopping bookkeeping, saved with every checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Monitor {
    pub best_loss: Option<f64>,
    pub best_epoch: usize,
    pub bad_epochs: usize,
}

/// Records the monitored `loss` of the epoch just ended (`state.epoch`): an improvement saves
/// `model` as the best weights (when they are to be restored); patience running out sets
/// `state.stopped_early`.
pub(crate) fn update<O: Objective>(
    config: Option<&EarlyStoppingConfig>,
    state: &mut CheckpointState,
    loss: f64,
    model: &O::Model,
    run: &RunDir,
    objective: &O,
) -> Result<(), TrainError> {
    let Some(early) = config else {
        return Ok(());
    };
    let monitor = &mut state.monitor;
    let improved = monitor
        .best_loss
        .is_none_or(|best| loss < best - early.min_delta);
    if improved {
        monitor.best_loss = Some(loss);
        monitor.best_epoch = state.epoch;
        monitor.bad_epochs = 0;
        if early.restore_best {
            objective.save_weights(run, model, &run.best_model())?;
        }
    } else {
        monitor.bad_epochs += 1;
        state.stopped_early = monitor.bad_epochs >= early.patience;
    }
    Ok(())
}

/// Whether the run ends with the best epoch's weights rather than the last's.
pub(crate) fn restores(config: Option<&EarlyStoppingConfig>, state: &CheckpointState) -> bool {
    config.is_some_and(|e| e.restore_best) && state.monitor.best_epoch > 0
}
