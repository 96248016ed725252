//! A language-model run prepared for the engine, the same way whether it starts or resumes:
//! config, directory, device, tokenizer and tokens, and the model with what trains.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::Path;

use burn::module::{Module, ParamId};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use ffn_data::{Text, TokenSplit, Tokenizer};
use ffn_model::{CausalLm, gguf_llama_config, load_gguf_llama};

use super::objective::LanguageModeling;
use super::summary::{LmSummary, finish};
use super::weights::LmWeights;
use super::{LmConfig, LmFinetune};
use crate::device::open_run_devices;
use crate::engine::{
    CheckpointState, Engine, LoopSettings, ResumeOptions, Resumption, load_optimizer,
};
use crate::params::{param_ids, set_trainable, trainable_counts};
use crate::{OpenedDevice, Progress, RunDir, Schedule, TrainError};

/// The fixed parts of a language-model run while it trains.
pub(super) struct Prepared {
    pub config: LmConfig,
    pub run: RunDir,
    /// The main device: it holds the model and the optimiser.
    pub device: OpenedDevice,
    /// The other devices of a data-parallel run, computing shares of every batch.
    pub replicas: Vec<OpenedDevice>,
    pub tokenizer: Tokenizer,
    pub split: TokenSplit,
    /// Parameters that train, and all parameters (adapters included).
    pub trainable: (usize, usize),
    /// How the run was fine-tuned, if it was.
    pub finetune: Option<LmFinetune>,
}

impl Prepared {
    /// What the run's weight files hold.
    pub fn weights(&self) -> LmWeights {
        LmWeights::of(self.finetune.as_ref())
    }
}

/// A language-model run ready to train from `state`.
pub(super) struct Session {
    prepared: Prepared,
    model: CausalLm,
    optimizer: ModuleOptimizer,
    state: CheckpointState,
}

/// Where a new run's weights come from.
pub(super) enum Start {
    /// Drawn from the seed.
    Scratch,
    /// A pretrained model (on the CPU, adapters attached) and its tokenizer.
    Pretrained {
        model: Box<CausalLm>,
        tokenizer: Tokenizer,
        finetune: LmFinetune,
    },
}

impl Session {
    /// Prepares a new run of `config` in `out`. Unknown characters of the text (a `char`
    /// tokenizer from another text) are announced through `progress`.
    pub fn start(
        config: LmConfig,
        out: &Path,
        start: Start,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        let run = RunDir::new(out);
        run.ensure_vacant()?;
        let devices = open_run_devices(config.backend, config.device_index, &config.devices)?;
        let text = Text::read(&config.text)?;
        let cpu = Device::flex();
        cpu.seed(config.seed);
        let (initial, tokenizer, finetune) = match start {
            Start::Scratch => {
                let tokenizer = Tokenizer::train(config.tokenizer, &text)?;
                crate::memory::check_fits(config.model.approx_parameters(tokenizer.vocab_size()))?;
                let model = config
                    .model
                    .model_config(tokenizer.vocab_size())
                    .init(&cpu)?;
                (model, tokenizer, None)
            }
            Start::Pretrained {
                model,
                tokenizer,
                finetune,
            } => (*model, tokenizer, Some(finetune)),
        };
        let (split, encoded) = TokenSplit::new(&text, &tokenizer, config.valid_fraction)?;
        if !encoded.unknown.is_empty() {
            let listed: Vec<String> = encoded
                .unknown
                .iter()
                .map(|(c, n)| format!("{c:?} ×{n}"))
                .collect();
            let notice = format!(
                "{} characters of the text are not in the tokenizer's vocabulary and train as \
                 the unknown id: {}",
                encoded.unknown.values().sum::<usize>(),
                listed.join(", ")
            );
            let _ = progress(Progress::Notice(&notice));
        }
        let structure = training_model(
            &config,
            finetune.as_ref(),
            tokenizer.vocab_size(),
            &devices.0.device.clone().autodiff(),
            false,
        )?;
        let model = structure
            .try_load_record(initial.into_record())
            .map_err(|e| TrainError::Device(format!("cannot move the initial weights: {e}")))?;
        let state = CheckpointState::new(Schedule::new(
            config.schedule.clone(),
            config.lr,
            config.steps,
        ));
        let optimizer = super::optimizer(&config, &model);
        let session = Self::assemble(
            config, run, devices, tokenizer, split, model, optimizer, state, finetune,
        )?;
        let prepared = &session.prepared;
        let run = &prepared.run;
        run.create()?;
        run.write_json(&run.config(), &prepared.config)?;
        run.write_json(&run.tokenizer(), &prepared.tokenizer.to_json()?)?;
        if let Some(finetune) = &prepared.finetune {
            run.write_json(&run.lm_finetune(), finetune)?;
        }
        Ok(session)
    }

    /// Reopens the language-model run in `dir` at its last checkpoint.
    pub fn reopen(dir: &Path, options: &ResumeOptions) -> Result<Self, TrainError> {
        let run = RunDir::new(dir);
        let mut config: LmConfig = run.read_json(&run.config())?;
        run.lock()?;
        let tokenizer = Tokenizer::from_json(&run.read_json(&run.tokenizer())?)?;
        let finetune: Option<LmFinetune> = match run.lm_finetune().exists() {
            true => Some(run.read_json(&run.lm_finetune())?),
            false => None,
        };
        let mut state: CheckpointState = run.read_json(&run.state())?;
        let (old_steps, done) = (config.steps, state.step);
        let resumption = options.apply(
            &run,
            (&mut config.steps, "steps"),
            (
                &mut config.backend,
                &mut config.device_index,
                &mut config.devices,
            ),
            &mut state,
            done,
        )?;
        config.validate()?;
        if resumption == Resumption::Extend {
            if done == old_steps && done % config.eval_interval != 0 {
                return Err(TrainError::Run {
                    path: dir.to_path_buf(),
                    reason: format!(
                        "its {done} steps end in a round shorter than --eval-interval {}, so it \
                         cannot be extended exactly; train a new run with --steps",
                        config.eval_interval
                    ),
                });
            }
            state.schedule.stretch_to(config.steps);
        }
        let devices = open_run_devices(config.backend, config.device_index, &config.devices)?;
        let text = Text::read(&config.text)?;
        let (split, _) = TokenSplit::new(&text, &tokenizer, config.valid_fraction)?;
        let structure = training_model(
            &config,
            finetune.as_ref(),
            tokenizer.vocab_size(),
            &devices.0.device.clone().autodiff(),
            true,
        )?;
        let model = LmWeights::of(finetune.as_ref()).load(
            &run,
            structure,
            &run.checkpoint_model(state.point()),
        )?;
        let optimizer = load_optimizer(&run, super::optimizer(&config, &model), state.point())?;
        let session = Self::assemble(
            config, run, devices, tokenizer, split, model, optimizer, state, finetune,
        )?;
        let Prepared { run, config, .. } = &session.prepared;
        options.save_changes(run, config)?;
        Ok(session)
    }

    /// What start and resume share: which parameters train.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        config: LmConfig,
        run: RunDir,
        (device, replicas): (OpenedDevice, Vec<OpenedDevice>),
        tokenizer: Tokenizer,
        split: TokenSplit,
        model: CausalLm,
        optimizer: ModuleOptimizer,
        state: CheckpointState,
        finetune: Option<LmFinetune>,
    ) -> Result<Self, TrainError> {
        // The text must hold a window of the context in each part.
        LanguageModeling::new(&config, &split, None, &device.device)?;
        let trainable: HashSet<ParamId> = match &finetune {
            Some(finetune) => finetune.trainable_params(&model)?,
            None => param_ids(&model).into_iter().collect(),
        };
        let counts = trainable_counts(&model, &trainable)?;
        Ok(Self {
            prepared: Prepared {
                config,
                run,
                device,
                replicas,
                tokenizer,
                split,
                trainable: counts,
                finetune,
            },
            model: set_trainable(model, &trainable),
            optimizer,
            state,
        })
    }

    /// Trains the remaining steps, then writes the final model and summary.
    pub fn train(
        self,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<LmSummary, TrainError> {
        let Self {
            prepared,
            model,
            optimizer,
            state,
        } = self;
        let config = &prepared.config;
        let mut objective = LanguageModeling::new(
            config,
            &prepared.split,
            Some(&prepared.tokenizer),
            &prepared.device.device,
        )?;
        objective.weights = prepared.weights();
        let engine = Engine {
            objective,
            settings: LoopSettings {
                rounds: config.rounds(),
                grad_accumulation: 1,
                grad_clip_norm: config.grad_clip_norm,
                early_stopping: None,
                seed: config.seed,
                groups: Vec::new(),
            },
            run: &prepared.run,
            device: &prepared.device,
            replicas: &prepared.replicas,
        };
        let finished = engine.run(model, optimizer, state, progress)?;
        finish(&prepared, finished)
    }
}

/// The model as it trains: the configured structure, with a fine-tuning run's adapters. A
/// fine-tune of a pretrained model has that model's structure and, with `read_base` (its
/// checkpoints hold the adapters only), its weights, from the file checked to be the run's base.
fn training_model(
    config: &LmConfig,
    finetune: Option<&LmFinetune>,
    vocab_size: usize,
    device: &Device,
    read_base: bool,
) -> Result<CausalLm, TrainError> {
    let base = finetune.map(|f| f.base_file(read_base)).transpose()?;
    let context = Some(config.model.block);
    let model = match base.flatten() {
        Some(file) if read_base => load_gguf_llama(&file, context, device)?.0,
        Some(file) => gguf_llama_config(&file, context)?.init(device)?,
        None => config.model.model_config(vocab_size).init(device)?,
    };
    match finetune {
        Some(finetune) => finetune.attach_lora(model, device),
        None => Ok(model),
    }
}
