//! The end of a tabular run: the final weights (`model.bpk`, with adapters merged, and
//! `adapter.bpk` when only part of the network trained), metrics of every split in
//! `summary.json`, and the plots.

use std::path::PathBuf;

use burn::module::Module;
use ffn_data::{Examples, Task};
use ffn_model::DenseLayers;
use serde::{Deserialize, Serialize};

use super::evaluate::{confusion, evaluate};
use super::session::Prepared;
use crate::engine::Finished;
use crate::finetune::save_adapter;
use crate::report::{Axis, write_plots};
use crate::{Metrics, Network, TrainError};

/// Final result of a run, also written to `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The run directory.
    pub run_dir: PathBuf,
    /// The dataset trained on.
    pub dataset: PathBuf,
    /// Classification or regression.
    pub task: Task,
    /// Backend used.
    pub backend: String,
    /// Parameters of the final model.
    pub params: usize,
    /// Parameters that trained (all of them unless fine-tuning froze some or used LoRA).
    #[serde(default)]
    pub trainable_params: usize,
    /// `trainable_params` over all parameters while training (LoRA factors included).
    #[serde(default)]
    pub trainable_fraction: f64,
    /// Epochs run.
    pub epochs_run: usize,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Seconds spent in training epochs (all sessions of a resumed run).
    pub train_seconds: f64,
    /// Metrics of the kept weights on the training split.
    pub train: Metrics,
    /// Metrics of the kept weights on the validation split.
    pub valid: Option<Metrics>,
    /// Metrics of the kept weights on the test split.
    pub test: Option<Metrics>,
    /// Classification: confusion matrix of the test split, `[actual][predicted]` counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_confusion: Option<Vec<Vec<usize>>>,
}

/// Writes the final model (and adapter), evaluates every split, and writes `summary.json` and
/// the plots.
pub(super) fn finish(
    prepared: &Prepared,
    finished: Finished<Network>,
) -> Result<Summary, TrainError> {
    let Prepared {
        config,
        run,
        device,
        replicas: _,
        data,
        trainable,
    } = prepared;
    let state = &finished.state;
    let snapshot = finished.model.valid();
    if let Some(spec) = &config.finetune
        && trainable.0 < trainable.1
    {
        let fingerprint =
            std::fs::read_to_string(run.base_fingerprint()).map_err(|e| TrainError::Run {
                path: run.base_fingerprint(),
                reason: format!("cannot read the base fingerprint: {e}"),
            })?;
        save_adapter(run, &snapshot, spec, fingerprint)?;
    }
    let snapshot = snapshot.merge_lora();
    run.save_weights(&snapshot, &run.model())?;
    let evaluate_on = |examples: &Examples| -> Result<Option<Metrics>, TrainError> {
        if examples.is_empty() {
            return Ok(None);
        }
        evaluate(
            &snapshot,
            examples,
            &data.preprocessor,
            &config.loss,
            &device.device,
        )
        .map(Some)
    };
    let summary = Summary {
        run_dir: run.root().to_path_buf(),
        dataset: config.dataset.clone(),
        task: data.preprocessor.task,
        backend: device.description.clone(),
        params: snapshot.num_params(),
        trainable_params: trainable.0,
        trainable_fraction: trainable.0 as f64 / trainable.1.max(1) as f64,
        epochs_run: state.epoch,
        best_epoch: if finished.restored {
            state.monitor.best_epoch
        } else {
            state.epoch
        },
        stopped_early: state.stopped_early,
        train_seconds: state.train_seconds,
        train: evaluate_on(&data.train)?.unwrap_or_default(),
        valid: evaluate_on(&data.valid)?,
        test: evaluate_on(&data.test)?,
        test_confusion: if data.test.is_empty() {
            None
        } else {
            confusion(&snapshot, &data.test, &device.device)?
        },
    };
    run.write_json(&run.summary(), &summary)?;
    let labels = data
        .preprocessor
        .labels
        .as_ref()
        .map(|l| l.classes().to_vec());
    write_plots(
        run,
        &state.history,
        Axis::Epochs,
        Some(&summary),
        labels.as_deref(),
    )?;
    Ok(summary)
}
