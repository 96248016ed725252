//! Training on tabular data: the entry points ([`train`], [`finetune`], [`resume`]), the session
//! they prepare for the engine, and the evaluation and prediction of trained networks.

mod evaluate;
mod objective;
mod session;
mod summary;

use std::ops::ControlFlow;
use std::path::Path;

use burn::prelude::*;
use ffn_data::{Dataset, Preprocessor};
use ffn_model::MlpConfig;

pub use evaluate::{Prediction, evaluate, forward_all, predict, task_loss};
pub(crate) use evaluate::{argmax, forward_rows, row_chunks, to_f32};
pub use summary::Summary;

use crate::{Artifact, Network, Progress, ResumeOptions, TrainConfig, TrainError};
use session::Session;

/// Trains a new run of `config` into `out` (created; it must not already hold a run). A config
/// that fine-tunes (`finetune` set) belongs to [`finetune`].
pub fn train(
    config: &TrainConfig,
    out: &Path,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<Summary, TrainError> {
    if let Some(spec) = &config.finetune {
        return Err(TrainError::InvalidConfig(format!(
            "this config fine-tunes {} (it has a finetune section): run it with `ffn finetune \
             --config` (ffn_train::finetune)",
            spec.from.display()
        )));
    }
    Session::start(config.clone(), out, None, progress)?.train(progress)
}

/// Fine-tunes the pretrained run or imported block named by `config.finetune` on
/// `config.dataset` into `out`. The model spec is taken from the source; a new head is made (and
/// announced through `progress`) when the source's head does not fit the dataset's labels or
/// when asked for.
pub fn finetune(
    config: &TrainConfig,
    out: &Path,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<Summary, TrainError> {
    let spec = config.finetune.as_ref().ok_or_else(|| {
        TrainError::InvalidConfig("fine-tuning needs `finetune.from`, the pretrained run".into())
    })?;
    let source = Artifact::open(&spec.from)?;
    let mut config = config.clone();
    config.model = source.model_spec()?;
    Session::start(config, out, Some(source), progress)?.train(progress)
}

/// Continues the run in `dir` from its last checkpoint, with the changes `options` allow; the
/// result equals an uninterrupted run. A run whose loop ended before it wrote its results is
/// finished.
/// Burn materialises loaded optimiser state on its default device: on a machine without a
/// wgpu adapter, call [`crate::pin_default_device`] first.
pub fn resume(
    dir: &Path,
    options: &ResumeOptions,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<Summary, TrainError> {
    Session::reopen(dir, options)?.train(progress)
}

/// Loads the dataset a config names.
pub fn load_dataset(config: &TrainConfig) -> Result<Dataset, TrainError> {
    Ok(Dataset::from_csv(&config.dataset, &config.load_options())?)
}

/// The network `config.model` describes for the preprocessed data, on `device`, without
/// adapters: the structure of a run's final `model.bpk`.
pub fn build_network(
    config: &TrainConfig,
    preprocessor: &Preprocessor,
    device: &Device,
) -> Result<Network, TrainError> {
    let spec = &config.model;
    let block = spec
        .block
        .as_ref()
        .map(|block| block.init(device))
        .transpose()?;
    let d_input = block
        .as_ref()
        .map_or(preprocessor.feature_names.len(), |b| b.d_model());
    let widths: Vec<usize> = std::iter::once(d_input)
        .chain(spec.hidden.iter().copied())
        .chain([preprocessor.n_outputs()])
        .collect();
    crate::memory::check_fits(crate::memory::dense_parameters(&widths))?;
    let mlp = MlpConfig::new(d_input, spec.hidden.clone(), preprocessor.n_outputs())
        .with_activation(spec.activation)
        .with_dropout(spec.dropout)
        .with_norm(spec.norm)
        .init(device)?;
    Ok(Network {
        block,
        mlp: Some(mlp),
    })
}
