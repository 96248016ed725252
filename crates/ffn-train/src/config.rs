//! The training configuration: every choice of a run, with defaults, saved as JSON beside the run
//! so it can be reproduced exactly.

use std::path::PathBuf;

use ffn_data::{LoadOptions, SplitConfig, Task};
use ffn_model::{Activation, NormKind, TransformerFfnConfig};
use serde::{Deserialize, Serialize};

use crate::{
    Backend, DeviceSpec, FinetuneSpec, LossConfig, OptimizerConfig, ScheduleConfig, TrainError,
};

/// The network trained on a tabular dataset: an MLP from features to classes or values,
/// optionally after a Transformer FFN block (runs fine-tuned from an imported block).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSpec {
    /// Units of each hidden layer.
    pub hidden: Vec<usize>,
    /// Hidden activation.
    pub activation: Activation,
    /// Dropout after each hidden layer.
    pub dropout: f64,
    /// Optional normalisation of each hidden layer.
    pub norm: Option<NormKind>,
    /// Transformer FFN block before the MLP (its `d_model` is the number of features).
    pub block: Option<TransformerFfnConfig>,
}

impl Default for ModelSpec {
    /// One hidden layer of 128 ReLU units with dropout 0.3, no normalisation: the default that
    /// meets the accuracy targets on all shipped datasets (README, "Accuracy").
    fn default() -> Self {
        Self {
            hidden: vec![128],
            activation: Activation::Relu,
            dropout: 0.3,
            norm: None,
            block: None,
        }
    }
}

/// Stop when the validation loss has not improved for `patience` epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Smallest decrease of the loss that counts as an improvement.
    pub min_delta: f64,
    /// Whether to end with the weights of the best epoch rather than the last.
    pub restore_best: bool,
}

impl Default for EarlyStoppingConfig {
    /// Patience 30, any improvement counts, best weights restored.
    fn default() -> Self {
        Self {
            patience: 30,
            min_delta: 0.0,
            restore_best: true,
        }
    }
}

/// Everything that defines a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// CSV file to train on.
    pub dataset: PathBuf,
    /// Target column; `None` means the last column.
    pub target: Option<String>,
    /// Task; `None` infers it from the target column.
    pub task: Option<Task>,
    /// The CSV has no header row: its columns are named `x0`, `x1`, ...
    pub no_header: bool,
    /// Feature columns, in order; `None` means every column but the target and `drop`.
    pub features: Option<Vec<String>>,
    /// Columns left out.
    pub drop: Vec<String>,
    /// Fraction of rows held out for validation.
    pub valid_fraction: f64,
    /// Fraction of rows held out for the final test.
    pub test_fraction: f64,
    /// The network.
    pub model: ModelSpec,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Examples per batch.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Optimiser and its hyper-parameters.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule.
    pub schedule: ScheduleConfig,
    /// Loss options.
    pub loss: LossConfig,
    /// Clip the global L2 norm of the gradients to this value.
    pub grad_clip_norm: Option<f64>,
    /// Batches whose gradients are averaged into each optimiser step (1: a step per batch).
    pub grad_accumulation: usize,
    /// Early stopping on the validation loss; `None` trains all epochs.
    pub early_stopping: Option<EarlyStoppingConfig>,
    /// Seed of the split, the initialisation, the shuffling and dropout.
    pub seed: u64,
    /// Compute backend.
    pub backend: Backend,
    /// wgpu adapter index (discrete GPUs), when several exist.
    pub device_index: Option<usize>,
    /// Data parallelism: the devices that share every batch, the first holding the model and
    /// the optimiser (`backend` and `device_index` then do not apply); empty: one device.
    pub devices: Vec<DeviceSpec>,
    /// Fine-tuning: where the weights come from, what trains, adapters.
    pub finetune: Option<FinetuneSpec>,
}

impl TrainConfig {
    /// How to read the dataset: target, task and columns as configured.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            target: self.target.clone(),
            task: self.task,
            no_header: self.no_header,
            features: self.features.clone(),
            drop: self.drop.clone(),
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            dataset: PathBuf::from("datasets/iris.csv"),
            target: None,
            task: None,
            no_header: false,
            features: None,
            drop: Vec::new(),
            valid_fraction: 0.15,
            test_fraction: 0.15,
            model: ModelSpec::default(),
            epochs: 200,
            batch_size: 32,
            lr: 1e-3,
            optimizer: OptimizerConfig::default(),
            schedule: ScheduleConfig::default(),
            loss: LossConfig::default(),
            grad_clip_norm: None,
            grad_accumulation: 1,
            early_stopping: Some(EarlyStoppingConfig::default()),
            seed: 0,
            backend: Backend::Flex,
            device_index: None,
            devices: Vec::new(),
            finetune: None,
        }
    }
}

impl TrainConfig {
    /// Reads a config file; missing fields take their defaults, unknown fields are errors.
    pub fn load(path: &std::path::Path) -> Result<Self, TrainError> {
        crate::run::read_json_file(path, "config")
    }

    /// The split of the rows: train gets what validation and test leave.
    pub fn split(&self) -> SplitConfig {
        SplitConfig {
            train: 1.0 - self.valid_fraction - self.test_fraction,
            valid: self.valid_fraction,
            test: self.test_fraction,
            seed: self.seed,
        }
    }

    /// Checks every value's range, naming the first bad one and what is accepted.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |msg: String| Err(TrainError::InvalidConfig(msg));
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        crate::check_devices(&self.devices, self.batch_size)?;
        if self.devices.len() > 1 && self.loss.class_weights.is_some() {
            return bad(
                "class_weights with several --devices: the weighted cross-entropy is normalised \
                 by the batch's total weight, which a share of the batch does not know; train on \
                 one device or without class weights"
                    .into(),
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be a positive number, got {}", self.lr));
        }
        if self.model.hidden.is_empty() && self.model.block.is_none() {
            return bad("hidden must list at least one layer size, e.g. 64,64".into());
        }
        if self.model.hidden.contains(&0) {
            return bad(format!(
                "hidden layer sizes must be at least 1, got {:?}",
                self.model.hidden
            ));
        }
        if !(0.0..1.0).contains(&self.model.dropout) {
            return bad(format!(
                "dropout must be in [0, 1), got {}",
                self.model.dropout
            ));
        }
        for (name, f) in [
            ("valid_fraction", self.valid_fraction),
            ("test_fraction", self.test_fraction),
        ] {
            if !(0.0..1.0).contains(&f) {
                return bad(format!("{name} must be in [0, 1), got {f}"));
            }
        }
        if self.valid_fraction + self.test_fraction >= 1.0 {
            return bad("valid_fraction + test_fraction must leave rows for training".into());
        }
        if self.grad_accumulation == 0 {
            return bad("grad_accumulation must be at least 1".into());
        }
        if let Some(clip) = self.grad_clip_norm
            && !(clip.is_finite() && clip > 0.0)
        {
            return bad(format!(
                "grad_clip_norm must be a positive number, got {clip}"
            ));
        }
        if let Some(es) = &self.early_stopping
            && (es.patience == 0 || es.min_delta.is_nan() || es.min_delta < 0.0)
        {
            return bad("early_stopping needs patience >= 1 and min_delta >= 0".into());
        }
        if let Some(finetune) = &self.finetune {
            finetune.validate()?;
        }
        self.optimizer.validate()?;
        self.schedule.validate()?;
        self.loss.validate()
    }
}
