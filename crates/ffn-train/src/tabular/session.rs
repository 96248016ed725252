//! A tabular run prepared for the engine, the same way whether it starts or resumes: its
//! config, directory, device, encoded data, and the network with what trains.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::Path;

use burn::module::{Module, ParamId};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use ffn_data::{Dataset, Examples, Preprocessor, Split};

use super::objective::Tabular;
use super::{build_network, load_dataset};
use crate::device::open_run_devices;
use crate::engine::{
    CheckpointState, Engine, LoopSettings, LrGroup, ResumeOptions, Resumption, load_optimizer,
};
use crate::finetune::{adapt_preprocessor, lr_groups, prepare_start};
use crate::params::{param_ids, set_trainable, trainable_counts};
use crate::{
    Artifact, DatasetRecord, Network, OpenedDevice, Progress, RunDir, Schedule, Summary,
    TrainConfig, TrainError,
};

/// The data of a run, encoded with its preprocessing.
pub(crate) struct Data {
    pub preprocessor: Preprocessor,
    pub train: Examples,
    pub valid: Examples,
    pub test: Examples,
}

/// The fixed parts of a run while it trains.
pub(super) struct Prepared {
    pub config: TrainConfig,
    pub run: RunDir,
    /// The main device: it holds the model and the optimiser.
    pub device: OpenedDevice,
    /// The other devices of a data-parallel run, computing shares of every batch.
    pub replicas: Vec<OpenedDevice>,
    pub data: Data,
    /// Parameters that train, and all parameters (adapters included).
    pub trainable: (usize, usize),
}

/// A run ready to train from `state`.
pub(super) struct Session {
    prepared: Prepared,
    /// The network on the autodiff device, with exactly its trainable parameters tracked.
    model: Network,
    optimizer: ModuleOptimizer,
    state: CheckpointState,
    groups: Vec<LrGroup>,
}

impl Session {
    /// Prepares a new run of `config` in `out`, fine-tuned from `source` when given.
    pub fn start(
        mut config: TrainConfig,
        out: &Path,
        source: Option<Artifact>,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        let run = RunDir::new(out);
        run.ensure_vacant()?;
        let devices = open_run_devices(config.backend, config.device_index, &config.devices)?;
        config.dataset = std::path::absolute(&config.dataset).unwrap_or(config.dataset);
        let dataset = load_dataset(&config)?;
        let record = DatasetRecord::of(&config.dataset, dataset.len())?;
        let split = config
            .split()
            .split(dataset.len(), dataset.class_indices())?;
        let mut preprocessor = Preprocessor::fit(&dataset, &split.train)?;
        if let (Some(source), Some(spec)) = (&source, config.finetune.as_mut()) {
            let notice = match adapt_preprocessor(source, &mut preprocessor, &dataset)? {
                Some(reason) => {
                    spec.new_head = true;
                    Some(format!(
                        "{reason}: a new head with {} outputs is created",
                        preprocessor.n_outputs()
                    ))
                }
                None => spec
                    .new_head
                    .then(|| "a new head is created (--new-head)".to_string()),
            };
            if let Some(notice) = notice {
                let _ = progress(Progress::Notice(&notice));
            }
        }
        let data = encode(&config, &dataset, &split, preprocessor)?;

        // Initialise on the CPU from the seed, then move: every backend starts from the same weights.
        let cpu = Device::flex();
        cpu.seed(config.seed);
        let n_outputs = data.preprocessor.n_outputs();
        let (initial, base_fingerprint) = match (&source, &config.finetune) {
            (Some(source), Some(spec)) => {
                let start = prepare_start(source, spec, n_outputs, &cpu)?;
                (start.network, Some(start.base_fingerprint))
            }
            _ => (build_network(&config, &data.preprocessor, &cpu)?, None),
        };
        let model = training_network(
            &config,
            &data.preprocessor,
            &devices.0.device.clone().autodiff(),
        )?
        .try_load_record(initial.into_record())
        .map_err(|e| TrainError::Device(format!("cannot move the initial weights: {e}")))?;
        let steps = total_steps(&config, data.train.len());
        let state = CheckpointState::new(Schedule::new(config.schedule.clone(), config.lr, steps));
        let optimizer = config.optimizer.init();
        // Everything that can fail on the user's settings has run: now the directory is written.
        let session = Self::assemble(config, run, devices, data, model, optimizer, state)?;
        let Prepared {
            config, run, data, ..
        } = &session.prepared;
        run.create()?;
        run.write_json(&run.config(), config)?;
        run.write_json(&run.preprocessor(), &data.preprocessor)?;
        run.write_json(&run.split(), &split)?;
        run.write_json(&run.dataset_record(), &record)?;
        if let Some(fingerprint) = base_fingerprint {
            run.write(&run.base_fingerprint(), fingerprint.as_bytes())?;
        }
        Ok(session)
    }

    /// Reopens the run in `dir` at its last checkpoint, with the changes `options` allow.
    pub fn reopen(dir: &Path, options: &ResumeOptions) -> Result<Self, TrainError> {
        let run = RunDir::new(dir);
        let mut config: TrainConfig = run.read_json(&run.config())?;
        run.lock()?;
        let preprocessor = run.read_preprocessor()?;
        let split = run.read_split()?;
        let mut state: CheckpointState = run.read_json(&run.state())?;
        let done = state.epoch;
        let resumption = options.apply(
            &run,
            (&mut config.epochs, "epochs"),
            (
                &mut config.backend,
                &mut config.device_index,
                &mut config.devices,
            ),
            &mut state,
            done,
        )?;
        config.validate()?;
        let devices = open_run_devices(config.backend, config.device_index, &config.devices)?;
        let dataset = load_dataset(&config)?;
        run.check_dataset(&config.dataset, dataset.len())?;
        let data = encode(&config, &dataset, &split, preprocessor)?;
        if resumption == Resumption::Extend {
            state
                .schedule
                .stretch_to(total_steps(&config, data.train.len()));
        }
        let structure = training_network(
            &config,
            &data.preprocessor,
            &devices.0.device.clone().autodiff(),
        )?;
        let model = run.load_weights(structure, &run.checkpoint_model(state.point()))?;
        let optimizer = load_optimizer(&run, config.optimizer.init(), state.point())?;
        let session = Self::assemble(config, run, devices, data, model, optimizer, state)?;
        let Prepared { run, config, .. } = &session.prepared;
        options.save_changes(run, config)?;
        Ok(session)
    }

    /// What start and resume share: which parameters train and the learning-rate groups, both
    /// from the fine-tuning spec (everything at the base rate without one).
    fn assemble(
        config: TrainConfig,
        run: RunDir,
        (device, replicas): (OpenedDevice, Vec<OpenedDevice>),
        data: Data,
        model: Network,
        optimizer: ModuleOptimizer,
        state: CheckpointState,
    ) -> Result<Self, TrainError> {
        let (trainable, groups): (HashSet<ParamId>, _) = match &config.finetune {
            Some(spec) => (
                spec.trainable_params(&model)?,
                lr_groups(spec, &model, config.lr),
            ),
            None => (param_ids(&model).into_iter().collect(), Vec::new()),
        };
        let counts = trainable_counts(&model, &trainable)?;
        Ok(Self {
            prepared: Prepared {
                config,
                run,
                device,
                replicas,
                data,
                trainable: counts,
            },
            model: set_trainable(model, &trainable),
            optimizer,
            state,
            groups,
        })
    }

    /// Trains the remaining epochs, then writes the final model, summary and plots.
    pub fn train(
        self,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Summary, TrainError> {
        let Self {
            prepared,
            model,
            optimizer,
            state,
            groups,
        } = self;
        let config = &prepared.config;
        let engine = Engine {
            objective: Tabular::new(config, &prepared.data, &prepared.device.device)?,
            settings: LoopSettings {
                rounds: config.epochs,
                grad_accumulation: config.grad_accumulation,
                grad_clip_norm: config.grad_clip_norm,
                early_stopping: config.early_stopping.clone(),
                seed: config.seed,
                groups,
            },
            run: &prepared.run,
            device: &prepared.device,
            replicas: &prepared.replicas,
        };
        let finished = engine.run(model, optimizer, state, progress)?;
        super::summary::finish(&prepared, finished)
    }
}

/// The network as it trains: [`build_network`] plus the LoRA adapters a fine-tuning config asks
/// for (freshly drawn; load weights over them).
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
) -> Result<Data, TrainError> {
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
    Ok(Data {
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
