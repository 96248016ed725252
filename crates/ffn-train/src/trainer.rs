//! The training loop: epochs of seeded mini-batches, optimiser steps with schedule, clipping and
//! accumulation, per-epoch evaluation, early stopping, atomic checkpoints and exact resume.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Bytes;
use ffn_data::{DataLoader, Dataset, Examples, LoadOptions, Preprocessor, Split, Task};
use ffn_model::{MlpConfig, load_module, save_module};
use serde::{Deserialize, Serialize};

use crate::evaluate::{confusion, evaluate, task_loss};
use crate::finetune::{Pretrained, fingerprint, initial_network, save_adapter};
use crate::report::write_plots;
use crate::{
    Metrics, Network, OpenedDevice, RunDir, Schedule, TrainConfig, TrainError, clip_global_norm,
    open_device,
};

/// What happened in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Learning rate of the epoch's last optimiser step.
    pub lr: f64,
    /// Metrics on the training split at the end of the epoch.
    pub train: Metrics,
    /// Metrics on the validation split, when there is one.
    pub valid: Option<Metrics>,
    /// Wall-clock seconds of the epoch, evaluation included.
    pub seconds: f64,
}

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

/// Progress events for a caller that wants to show them; the library never prints. Answering
/// `ControlFlow::Break` stops training at the end of the current epoch, after its checkpoint.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Training (re)starts at `first_epoch` (0-based) of `epochs`.
    Start {
        /// Total epochs configured.
        epochs: usize,
        /// Epochs already done (resume) or 0.
        first_epoch: usize,
        /// Batches per epoch.
        batches: usize,
        /// The device, in words.
        device: &'a str,
    },
    /// A batch of `epoch` (0-based) finished.
    Batch {
        /// 0-based epoch.
        epoch: usize,
        /// 0-based batch index.
        batch: usize,
    },
    /// An epoch finished.
    Epoch(&'a EpochRecord),
    /// Something the user should know before training starts, e.g. that a new head was made.
    Notice(&'a str),
}

/// Early-stopping bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Monitor {
    best_loss: Option<f64>,
    best_epoch: usize,
    bad_epochs: usize,
}

/// Everything needed to continue a run, saved after every epoch in `checkpoint/state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CheckpointState {
    epoch: usize,
    step: usize,
    schedule: Schedule,
    monitor: Monitor,
    history: Vec<EpochRecord>,
    train_seconds: f64,
    stopped_early: bool,
}

/// The data of a run, encoded with its preprocessing.
struct Prepared {
    preprocessor: Preprocessor,
    train: Examples,
    valid: Examples,
    test: Examples,
}

/// The fixed parts of a run while it trains.
struct Context<'a> {
    config: &'a TrainConfig,
    run: RunDir,
    data: Prepared,
    device: OpenedDevice,
    /// Parameters that train, and all parameters (adapters included).
    trainable: (usize, usize),
}

/// Trains a new run into `out` (created; it must not already hold a run).
pub fn train(
    config: &TrainConfig,
    out: &Path,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<Summary, TrainError> {
    if config.finetune.is_some() {
        return finetune(config, out, progress);
    }
    start(config.clone(), out, None, progress)
}

/// Fine-tunes the pretrained run named by `config.finetune` on `config.dataset` into `out`.
/// The model spec is taken from the source; a new head is made (and announced through
/// `progress`) when the source's head does not fit the dataset's labels or when asked for.
pub fn finetune(
    config: &TrainConfig,
    out: &Path,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<Summary, TrainError> {
    let spec = config.finetune.as_ref().ok_or_else(|| {
        TrainError::InvalidConfig("fine-tuning needs `finetune.from`, the pretrained run".into())
    })?;
    let source = Pretrained::open(&spec.from)?;
    let mut config = config.clone();
    config.model = source.model_spec();
    start(config, out, Some(source), progress)
}

fn start(
    mut config: TrainConfig,
    out: &Path,
    source: Option<Pretrained>,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<Summary, TrainError> {
    config.validate()?;
    let run = RunDir::new(out);
    if run.state().exists() || run.summary().exists() {
        return Err(TrainError::Run {
            path: out.to_path_buf(),
            reason: "already holds a run; resume it with --resume or choose another --out".into(),
        });
    }
    let device = open_device(config.backend, config.device_index)?;
    let dataset = load_dataset(&config)?;
    let split = config
        .split()
        .split(dataset.len(), dataset.class_indices())?;
    let mut preprocessor = Preprocessor::fit(&dataset, &split.train);
    if let (Some(source), Some(spec)) = (&source, config.finetune.as_mut()) {
        if let Some(reason) = source.adapt_preprocessor(&mut preprocessor, &dataset)? {
            spec.new_head = true;
            let notice = format!(
                "{reason}: a new head with {} outputs is created",
                preprocessor.n_outputs()
            );
            let _ = progress(Progress::Notice(&notice));
        } else if spec.new_head {
            let _ = progress(Progress::Notice("a new head is created (--new-head)"));
        }
    }
    let data = encode(&config, &dataset, &split, preprocessor)?;

    // Initialise on the CPU from the seed, then move: every backend starts from the same weights.
    let cpu = Device::flex();
    cpu.seed(config.seed);
    let n_outputs = data.preprocessor.n_outputs();
    let (initial, fingerprint) = match &source {
        Some(source) => {
            let base = source.network(&cpu)?;
            let fingerprint = fingerprint(&base);
            (
                initial_network(base, &config, n_outputs, &cpu)?,
                Some(fingerprint),
            )
        }
        None => (training_network(&config, &data.preprocessor, &cpu)?, None),
    };
    let model = training_network(
        &config,
        &data.preprocessor,
        &device.device.clone().autodiff(),
    )?
    .try_load_record(initial.into_record())
    .map_err(|e| TrainError::Device(format!("cannot move the initial weights: {e}")))?;
    let (model, trainable) = trainability(&config, model)?;
    run.create()?;
    run.write_json(&run.config(), &config)?;
    run.write_json(&run.preprocessor(), &data.preprocessor)?;
    run.write_json(&run.split(), &split)?;
    if let Some(fingerprint) = fingerprint {
        run.write(&run.base_fingerprint(), fingerprint.as_bytes())?;
    }
    let steps = total_steps(&config, data.train.len());
    let state = CheckpointState {
        epoch: 0,
        step: 0,
        schedule: Schedule::new(config.schedule.clone(), config.lr, steps),
        monitor: Monitor::default(),
        history: Vec::new(),
        train_seconds: 0.0,
        stopped_early: false,
    };
    let context = Context {
        config: &config,
        run,
        data,
        device,
        trainable,
    };
    context.run_epochs(model, config.optimizer.init(), state, progress)
}

/// Freezes what a fine-tuning config says should not train; returns the network and its
/// (trainable, total) parameter counts.
fn trainability(
    config: &TrainConfig,
    model: Network,
) -> Result<(Network, (usize, usize)), TrainError> {
    match &config.finetune {
        Some(spec) => {
            let (model, trainable, total) = spec.apply_trainability(model)?;
            Ok((model, (trainable, total)))
        }
        None => {
            let total = model.parameters().iter().map(|p| p.numel).sum();
            Ok((model, (total, total)))
        }
    }
}

/// Continues the run in `dir` from its last checkpoint; the result equals an uninterrupted run.
/// Burn materialises loaded optimiser state on its default device before moving it: on a machine
/// without a wgpu adapter, set `BURN_DEVICE=flex` (the `ffn` binary does this itself).
pub fn resume(
    dir: &Path,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<Summary, TrainError> {
    let run = RunDir::new(dir);
    let config: TrainConfig = run.read_json(&run.config())?;
    config.validate()?;
    let preprocessor: Preprocessor = run.read_json(&run.preprocessor())?;
    let split: Split = run.read_json(&run.split())?;
    let state: CheckpointState = run.read_json(&run.state())?;
    if state.stopped_early || state.epoch >= config.epochs {
        return Err(TrainError::Run {
            path: dir.to_path_buf(),
            reason: format!("the run already finished after {} epochs", state.epoch),
        });
    }
    let device = open_device(config.backend, config.device_index)?;
    let dataset = load_dataset(&config)?;
    let data = encode(&config, &dataset, &split, preprocessor)?;
    let autodiff = device.device.clone().autodiff();
    let model = training_network(&config, &data.preprocessor, &autodiff)?;
    let model = load_module(model, &run.checkpoint_model(state.epoch))?;
    let (model, trainable) = trainability(&config, model)?;
    let optimizer_path = run.checkpoint_optimizer(state.epoch);
    let bytes = std::fs::read(&optimizer_path).map_err(|e| TrainError::Run {
        path: optimizer_path.clone(),
        reason: format!("cannot read the optimiser checkpoint: {e}"),
    })?;
    let optimizer = config
        .optimizer
        .init()
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| TrainError::Run {
            path: optimizer_path,
            reason: format!("corrupt optimiser checkpoint: {e}"),
        })?;
    let context = Context {
        config: &config,
        run,
        data,
        device,
        trainable,
    };
    context.run_epochs(model, optimizer, state, progress)
}

/// Loads the dataset a config names.
pub fn load_dataset(config: &TrainConfig) -> Result<Dataset, TrainError> {
    let options = LoadOptions {
        target: config.target.clone(),
        task: config.task,
    };
    Ok(Dataset::from_csv(&config.dataset, &options)?)
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

/// The network as it trains: [`build_network`] plus the LoRA adapters a fine-tuning config
/// asks for (freshly drawn; load weights over them).
fn training_network(
    config: &TrainConfig,
    preprocessor: &Preprocessor,
    device: &Device,
) -> Result<Network, TrainError> {
    let network = build_network(config, preprocessor, device)?;
    match &config.finetune {
        Some(spec) => spec.attach_lora(network, device),
        None => Ok(network),
    }
}

fn encode(
    config: &TrainConfig,
    dataset: &Dataset,
    split: &Split,
    preprocessor: Preprocessor,
) -> Result<Prepared, TrainError> {
    if let Some(weights) = &config.loss.class_weights
        && weights.len() != preprocessor.n_outputs()
    {
        return Err(TrainError::InvalidConfig(format!(
            "class_weights has {} entries but the target has {} classes ({})",
            weights.len(),
            preprocessor.n_outputs(),
            preprocessor
                .labels
                .as_ref()
                .map_or("regression".to_string(), |l| l.classes().join(", "))
        )));
    }
    Ok(Prepared {
        train: preprocessor.encode(dataset, &split.train)?,
        valid: preprocessor.encode(dataset, &split.valid)?,
        test: preprocessor.encode(dataset, &split.test)?,
        preprocessor,
    })
}

fn total_steps(config: &TrainConfig, train_rows: usize) -> usize {
    let batches = train_rows.div_ceil(config.batch_size);
    config.epochs * batches.div_ceil(config.grad_accumulation)
}

/// Seed of epoch `epoch`'s dropout masks, so a resumed run draws the same masks.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    ffn_data::SplitMix64::for_stream(seed, epoch as u64 + 1).next_u64()
}

impl Context<'_> {
    fn run_epochs(
        &self,
        mut model: Network,
        mut optimizer: ModuleOptimizer,
        mut state: CheckpointState,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Summary, TrainError> {
        let config = self.config;
        let loader = DataLoader::new(&self.data.train, config.batch_size, Some(config.seed))?;
        let autodiff = self.device.device.clone().autodiff();
        let batches = loader.num_batches();
        let mut stop = progress(Progress::Start {
            epochs: config.epochs,
            first_epoch: state.epoch,
            batches,
            device: &self.device.description,
        })
        .is_break();
        while state.epoch < config.epochs && !state.stopped_early {
            let epoch = state.epoch;
            let started = Instant::now();
            self.device.device.seed(epoch_seed(config.seed, epoch));
            let mut loss_sum: Option<Tensor<1>> = None;
            let mut accumulator = GradientsAccumulator::<Network>::new();
            let mut lr = state.schedule.lr(state.step, epoch);
            for (index, batch) in loader.batches(epoch as u64, &autodiff).enumerate() {
                let output = model.forward(batch.features)?;
                let loss = task_loss(output, batch.targets, &config.loss);
                let detached = loss.clone().inner();
                loss_sum = Some(loss_sum.map_or(detached.clone(), |sum| sum + detached));
                // Each batch's share of its accumulation group, so a group's gradient is the mean
                // over its batches (the last group of an epoch may be shorter).
                let k = config.grad_accumulation;
                let group = k.min(batches - index / k * k);
                let scaled = loss / group as f64;
                let grads = GradientsParams::from_grads(scaled.backward(), &model);
                accumulator.accumulate(&model, grads);
                let last = index + 1 == batches;
                if (index + 1) % k == 0 || last {
                    let mut grads = accumulator.grads();
                    if let Some(max_norm) = config.grad_clip_norm {
                        clip_global_norm(&model, &mut grads, max_norm);
                    }
                    lr = state.schedule.lr(state.step, epoch);
                    model = self.step(&mut optimizer, lr, model, grads);
                    state.step += 1;
                }
                stop |= progress(Progress::Batch {
                    epoch,
                    batch: index,
                })
                .is_break();
            }
            let mean_loss =
                loss_sum.map_or(0.0, |s| f64::from(s.into_scalar::<f32>()) / batches as f64);
            if !mean_loss.is_finite() {
                return Err(TrainError::Diverged {
                    epoch: epoch + 1,
                    loss: mean_loss,
                    last_good: state.epoch,
                });
            }

            let snapshot = model.valid();
            let evaluate_on = |examples: &Examples| {
                evaluate(
                    &snapshot,
                    examples,
                    &self.data.preprocessor,
                    &config.loss,
                    &self.device.device,
                )
            };
            let train_metrics = evaluate_on(&self.data.train)?;
            let valid_metrics = if self.data.valid.is_empty() {
                None
            } else {
                Some(evaluate_on(&self.data.valid)?)
            };
            let monitored = valid_metrics.as_ref().unwrap_or(&train_metrics).loss;
            state.schedule.end_epoch(monitored);
            state.epoch += 1;
            self.update_monitor(&mut state, monitored, &snapshot)?;

            let record = EpochRecord {
                epoch: state.epoch,
                lr,
                train: train_metrics,
                valid: valid_metrics,
                seconds: started.elapsed().as_secs_f64(),
            };
            state.train_seconds += record.seconds;
            state.history.push(record);
            self.save_checkpoint(&model, &optimizer, &state)?;
            if let Some(record) = state.history.last() {
                stop |= progress(Progress::Epoch(record)).is_break();
            }
            if stop && state.epoch < config.epochs && !state.stopped_early {
                return Err(TrainError::Interrupted {
                    epoch: state.epoch,
                    run_dir: self.run.root().to_path_buf(),
                });
            }
        }
        self.finish(model, &state)
    }

    /// One optimiser step; with a separate head learning rate, the head's gradients are
    /// stepped at `lr · head_lr / config.lr` (so the schedule scales both).
    fn step(
        &self,
        optimizer: &mut ModuleOptimizer,
        lr: f64,
        model: Network,
        mut grads: GradientsParams,
    ) -> Network {
        let head_lr = self.config.finetune.as_ref().and_then(|f| f.head_lr);
        let head = model.mlp.as_ref().map(|m| m.output.clone());
        let (Some(head_lr), Some(head)) = (head_lr, head) else {
            return optimizer.step(lr, model, grads);
        };
        let mut split = HeadGrads {
            from: &mut grads,
            to: GradientsParams::new(),
        };
        head.visit(&mut split);
        let head_grads = split.to;
        let model = optimizer.step(lr, model, grads);
        optimizer.step(lr * head_lr / self.config.lr, model, head_grads)
    }

    /// Early stopping: remembers the best loss (and its weights) and flags the stop.
    fn update_monitor(
        &self,
        state: &mut CheckpointState,
        loss: f64,
        model: &Network,
    ) -> Result<(), TrainError> {
        let Some(early) = &self.config.early_stopping else {
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
                save_module(model, &self.run.best_model())?;
            }
        } else {
            monitor.bad_epochs += 1;
            state.stopped_early = monitor.bad_epochs >= early.patience;
        }
        Ok(())
    }

    /// Writes the epoch's model and optimiser files, then `state.json` (which commits them), then
    /// removes the previous epoch's files and rewrites the metrics logs.
    fn save_checkpoint(
        &self,
        model: &Network,
        optimizer: &ModuleOptimizer,
        state: &CheckpointState,
    ) -> Result<(), TrainError> {
        let run = &self.run;
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
        crate::metrics_log::write(run, &state.history)
    }

    /// Picks the final weights, evaluates every split and writes `model.bpk` and `summary.json`.
    fn finish(&self, model: Network, state: &CheckpointState) -> Result<Summary, TrainError> {
        let restore = self
            .config
            .early_stopping
            .as_ref()
            .is_some_and(|e| e.restore_best)
            && state.monitor.best_epoch > 0;
        let model = if restore {
            load_module(model, &self.run.best_model())?
        } else {
            model
        };
        let snapshot = model.valid();
        // The trained parameters alone, when they are a part of the network (LoRA, freezing).
        if let Some(spec) = &self.config.finetune
            && self.trainable.0 < self.trainable.1
        {
            let fingerprint =
                std::fs::read_to_string(self.run.base_fingerprint()).map_err(|e| {
                    TrainError::Run {
                        path: self.run.base_fingerprint(),
                        reason: format!("cannot read the base fingerprint: {e}"),
                    }
                })?;
            save_adapter(&self.run, &snapshot, spec, fingerprint)?;
        }
        let snapshot = snapshot.merge_lora();
        save_module(&snapshot, &self.run.model())?;
        let data = &self.data;
        let evaluate_on = |examples: &Examples| -> Result<Option<Metrics>, TrainError> {
            if examples.is_empty() {
                return Ok(None);
            }
            evaluate(
                &snapshot,
                examples,
                &data.preprocessor,
                &self.config.loss,
                &self.device.device,
            )
            .map(Some)
        };
        let summary = Summary {
            run_dir: self.run.root().to_path_buf(),
            dataset: self.config.dataset.clone(),
            task: data.preprocessor.task,
            backend: self.device.description.clone(),
            params: snapshot.num_params(),
            trainable_params: self.trainable.0,
            trainable_fraction: self.trainable.0 as f64 / self.trainable.1.max(1) as f64,
            epochs_run: state.epoch,
            best_epoch: if restore {
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
                confusion(&snapshot, &data.test, &self.device.device)?
            },
        };
        self.run.write_json(&self.run.summary(), &summary)?;
        let labels = data
            .preprocessor
            .labels
            .as_ref()
            .map(|l| l.classes().to_vec());
        write_plots(&self.run, &state.history, Some(&summary), labels.as_deref())?;
        Ok(summary)
    }
}

/// Moves the gradients of the visited (head) parameters from one set to another.
struct HeadGrads<'a> {
    from: &'a mut GradientsParams,
    to: GradientsParams,
}

impl ModuleVisitor for HeadGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.from.remove::<D>(param.id) {
            self.to.register(param.id, grad);
        }
    }
}
