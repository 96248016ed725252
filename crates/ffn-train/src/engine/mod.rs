//! The training engine every kind of run shares: rounds (epochs) of seeded batches, optimiser
//! steps with a schedule, global-norm clipping, gradient accumulation and learning-rate groups,
//! a divergence check, evaluation after every round, early stopping, atomic checkpoints and
//! exact resume. What is trained on, and how it is scored, comes from an [`Objective`].

mod checkpoint;
mod early_stopping;
mod parallel;
mod progress;
mod resume;

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use burn::module::{Module, ParamId};
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

pub(crate) use checkpoint::{CheckpointState, load_optimizer};
pub(crate) use parallel::Rows;
pub use progress::{EpochRecord, Progress};
pub use resume::ResumeOptions;
pub(crate) use resume::Resumption;

use crate::device::surviving_lost_devices;
use crate::params::take_grads;
use crate::{EarlyStoppingConfig, Metrics, OpenedDevice, RunDir, TrainError, clip_global_norm};

/// What a kind of run brings to the engine: its batches, its loss and its evaluation.
pub(crate) trait Objective {
    /// The module that trains.
    type Model: Module;
    /// One batch, on the autodiff device; data parallelism cuts it by rows.
    type Batch: Rows;

    /// Batches of round `round` (0-based).
    fn batches_per_round(&self, round: usize) -> usize;

    /// The batches of round `round` (0-based), in order, on `device`.
    fn batches<'s>(
        &'s self,
        round: usize,
        device: &'s Device,
    ) -> impl Iterator<Item = Self::Batch> + 's;

    /// The loss of `model` on `batch`, on the autodiff graph.
    fn loss(&self, model: &Self::Model, batch: Self::Batch) -> Result<Tensor<1>, TrainError>;

    /// Metrics of a snapshot of the model after a round: on the training data and, when there
    /// is some, the validation data.
    fn evaluate(&self, model: &Self::Model) -> Result<Evaluation, TrainError>;

    /// Writes the weights of `model` to `path` in `run` (checkpoints, best weights): all of
    /// them, as Burn's record, unless the objective keeps less.
    fn save_weights(
        &self,
        run: &RunDir,
        model: &Self::Model,
        path: &Path,
    ) -> Result<(), TrainError> {
        run.save_weights(model, path)
    }

    /// `structure` with the weights [`Self::save_weights`] wrote to `path` in `run`.
    fn load_weights(
        &self,
        run: &RunDir,
        structure: Self::Model,
        path: &Path,
    ) -> Result<Self::Model, TrainError> {
        run.load_weights(structure, path)
    }
}

/// What an evaluation after a round found.
#[derive(Debug, Clone)]
pub(crate) struct Evaluation {
    /// Metrics on the training data.
    pub train: Metrics,
    /// Metrics on the validation data, when there is some.
    pub valid: Option<Metrics>,
    /// Text the model generated, for language models.
    pub sample: Option<String>,
    /// Language models: the share of dead FFN neurons per dense block on the validation batches.
    pub dead_neurons: Option<Vec<f64>>,
    /// Language models with mixture blocks: per block, the token choices each expert computed
    /// on the validation batches.
    pub expert_tokens: Option<Vec<Vec<usize>>>,
}

/// Parameters stepped at `factor` times the scheduled learning rate (a fine-tuned head).
#[derive(Debug, Clone)]
pub(crate) struct LrGroup {
    /// The parameters of the group.
    pub params: HashSet<ParamId>,
    /// Their rate over the base rate.
    pub factor: f64,
}

/// How the loop runs.
#[derive(Debug, Clone)]
pub(crate) struct LoopSettings {
    /// Rounds (epochs) in all.
    pub rounds: usize,
    /// Batches whose gradients are averaged into each optimiser step.
    pub grad_accumulation: usize,
    /// Clip the global gradient norm to this value.
    pub grad_clip_norm: Option<f64>,
    /// Early stopping on the validation loss (the training loss without validation data).
    pub early_stopping: Option<EarlyStoppingConfig>,
    /// Seed of the run: each round's dropout masks derive from it.
    pub seed: u64,
    /// Learning-rate groups; parameters in none of them follow the schedule.
    pub groups: Vec<LrGroup>,
}

/// A run in progress: where it is written, where it computes, how it loops.
pub(crate) struct Engine<'a, O: Objective> {
    pub objective: O,
    pub settings: LoopSettings,
    pub run: &'a RunDir,
    /// The main device: it holds the model and the optimiser.
    pub device: &'a OpenedDevice,
    /// The other devices of a data-parallel run: each computes a share of every batch.
    pub replicas: &'a [OpenedDevice],
}

/// The end of the loop: the kept model (the best round's when early stopping restores it) and
/// the final state.
pub(crate) struct Finished<M> {
    pub model: M,
    pub state: CheckpointState,
    /// Whether `model` holds the best round's weights rather than the last's.
    pub restored: bool,
}

/// Seed of the dropout masks of batch `batch` of round `round`, so a run resumed anywhere draws
/// the masks an uninterrupted one would.
fn batch_seed(seed: u64, round: usize, batch: usize) -> u64 {
    let stream = ((round as u64) << 32 | batch as u64).wrapping_add(1);
    ffn_data::SplitMix64::for_stream(seed, stream).next_u64()
}

/// How a round of training ended.
enum RoundEnd<M> {
    /// Every batch trained: the model, the rate of the last step and the mean loss.
    Done { model: M, lr: f64, mean_loss: f64 },
    /// The caller asked to stop; after a step, the round stands where `state` says.
    Stopped(M),
}

impl<O: Objective> Engine<'_, O> {
    /// Runs the rounds from `state` on: `model` and `optimizer` as `state` says (after a round,
    /// or in the middle of one). When `progress` answers `Break`, training stops after the
    /// current optimiser step, writes a checkpoint there and returns [`TrainError::Interrupted`].
    ///
    /// A remote device lost mid-run ends the run with [`TrainError::Remote`] naming it; the last
    /// checkpoint stays as it was written.
    pub fn run(
        &self,
        model: O::Model,
        optimizer: ModuleOptimizer,
        state: CheckpointState,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Finished<O::Model>, TrainError> {
        let devices: Vec<&OpenedDevice> =
            std::iter::once(self.device).chain(self.replicas).collect();
        let run_dir = self.run.root().display();
        surviving_lost_devices(
            &devices,
            || self.run_rounds(model, optimizer, state, progress),
            |device, message| TrainError::Remote {
                device,
                reason: format!(
                    "stopped answering during training ({}); the last checkpoint is intact: \
                     continue with --resume {run_dir} (--backend flex finishes it here)",
                    message.lines().last().unwrap_or_default().trim()
                ),
            },
        )
    }

    fn run_rounds(
        &self,
        mut model: O::Model,
        mut optimizer: ModuleOptimizer,
        mut state: CheckpointState,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Finished<O::Model>, TrainError> {
        let settings = &self.settings;
        let autodiff = self.device.device.clone().autodiff();
        let mut stop = progress(Progress::Start {
            epochs: settings.rounds,
            first_epoch: state.epoch,
            batches: self.objective.batches_per_round(state.epoch),
            device: &self.device.description,
        })
        .is_break();
        while state.epoch < settings.rounds && !state.stopped_early {
            let round = state.epoch;
            let started = Instant::now();
            let end =
                self.train_round(model, &mut optimizer, &mut state, &autodiff, &mut |batch| {
                    stop |= progress(Progress::Batch {
                        epoch: round,
                        batch,
                    })
                    .is_break();
                    stop
                })?;
            let (next, lr, mean_loss) = match end {
                RoundEnd::Done {
                    model,
                    lr,
                    mean_loss,
                } => (model, lr, mean_loss),
                RoundEnd::Stopped(model) => {
                    state.round_seconds += started.elapsed().as_secs_f64();
                    checkpoint::save(self.run, &self.objective, &model, &optimizer, &state)?;
                    return Err(self.interrupted(&state));
                }
            };
            model = next;
            if !mean_loss.is_finite() {
                return Err(TrainError::Diverged {
                    epoch: round + 1,
                    loss: mean_loss,
                    last_good: state.epoch,
                });
            }
            let snapshot = model.valid();
            let Evaluation {
                train,
                valid,
                sample,
                dead_neurons,
                expert_tokens,
            } = self.objective.evaluate(&snapshot)?;
            let monitored = valid.as_ref().unwrap_or(&train).loss;
            state.schedule.end_epoch(monitored);
            state.epoch += 1;
            early_stopping::update(
                settings.early_stopping.as_ref(),
                &mut state,
                monitored,
                &snapshot,
                self.run,
                &self.objective,
            )?;
            let record = EpochRecord {
                epoch: state.epoch,
                lr,
                train,
                valid,
                seconds: state.round_seconds + started.elapsed().as_secs_f64(),
                step: state.step,
                sample,
                dead_neurons,
                expert_tokens,
            };
            state.round_seconds = 0.0;
            state.train_seconds += record.seconds;
            state.history.push(record);
            checkpoint::save(self.run, &self.objective, &model, &optimizer, &state)?;
            if let Some(record) = state.history.last() {
                stop |= progress(Progress::Epoch(record)).is_break();
            }
            if stop && state.epoch < settings.rounds && !state.stopped_early {
                return Err(self.interrupted(&state));
            }
        }
        let restored = early_stopping::restores(settings.early_stopping.as_ref(), &state);
        let model = if restored {
            self.objective
                .load_weights(self.run, model, &self.run.best_model())?
        } else {
            model
        };
        Ok(Finished {
            model,
            state,
            restored,
        })
    }

    fn interrupted(&self, state: &CheckpointState) -> TrainError {
        TrainError::Interrupted {
            epoch: state.epoch,
            step: state.step,
            run_dir: self.run.root().to_path_buf(),
        }
    }

    /// The batches of round `state.epoch` from `state.round_batches` on (a resumed round skips
    /// the ones it trained). `on_batch` is told each batch and answers whether to stop: after
    /// the next optimiser step, the round then stops with `state` saying where it stands.
    fn train_round(
        &self,
        mut model: O::Model,
        optimizer: &mut ModuleOptimizer,
        state: &mut CheckpointState,
        autodiff: &Device,
        on_batch: &mut dyn FnMut(usize) -> bool,
    ) -> Result<RoundEnd<O::Model>, TrainError> {
        let settings = &self.settings;
        let round = state.epoch;
        let batches = self.objective.batches_per_round(round);
        let k = settings.grad_accumulation;
        // The losses are summed in f32 on the device; a resumed round starts from the saved sum.
        let mut loss_sum = Tensor::<1>::from_data([state.round_loss], &self.device.device);
        let mut accumulator = GradientsAccumulator::<O::Model>::new();
        let mut lr = state.schedule.lr(state.step, round);
        let batch_stream = self.objective.batches(round, autodiff).enumerate();
        for (index, batch) in batch_stream.skip(state.round_batches) {
            let seed = batch_seed(settings.seed, round, index);
            // Each batch's share of its accumulation group, so a group's gradient is the mean over
            // its batches (the last group of a round may be shorter).
            let group = k.min(batches - index / k * k);
            let (loss, grads) = self.gradients(&model, batch, group, seed)?;
            loss_sum = loss_sum + loss;
            accumulator.accumulate(&model, grads);
            let stepped = (index + 1) % k == 0 || index + 1 == batches;
            if stepped {
                let mut grads = accumulator.grads();
                if let Some(max_norm) = settings.grad_clip_norm {
                    clip_global_norm(&model, &mut grads, max_norm);
                }
                lr = state.schedule.lr(state.step, round);
                model = self.step(optimizer, lr, model, grads);
                state.step += 1;
            }
            if on_batch(index) && stepped && index + 1 < batches {
                state.round_batches = index + 1;
                state.round_loss = loss_sum.into_scalar::<f32>();
                return Ok(RoundEnd::Stopped(model));
            }
        }
        let mean_loss = f64::from(loss_sum.into_scalar::<f32>()) / batches as f64;
        state.round_batches = 0;
        state.round_loss = 0.0;
        Ok(RoundEnd::Done {
            model,
            lr,
            mean_loss,
        })
    }

    /// The loss of `batch` (without the autodiff graph) and the gradients of `loss / group`, on
    /// the main device; split across the devices in a data-parallel run. `seed` seeds the
    /// dropout masks.
    fn gradients(
        &self,
        model: &O::Model,
        batch: O::Batch,
        group: usize,
        seed: u64,
    ) -> Result<(Tensor<1>, GradientsParams), TrainError> {
        if !self.replicas.is_empty() {
            let devices = (self.device, self.replicas);
            return parallel::gradients(&self.objective, model, batch, group, devices, seed);
        }
        self.device.device.seed(seed);
        let loss = self.objective.loss(model, batch)?;
        let grads = GradientsParams::from_grads((loss.clone() / group as f64).backward(), model);
        Ok((loss.inner(), grads))
    }

    /// One optimiser step: the parameters of each learning-rate group at its multiple of `lr`,
    /// the rest at `lr`.
    fn step(
        &self,
        optimizer: &mut ModuleOptimizer,
        lr: f64,
        model: O::Model,
        mut grads: GradientsParams,
    ) -> O::Model {
        let grouped: Vec<(f64, GradientsParams)> = self
            .settings
            .groups
            .iter()
            .map(|group| (group.factor, take_grads(&model, &mut grads, &group.params)))
            .collect();
        let model = optimizer.step(lr, model, grads);
        grouped.into_iter().fold(model, |model, (factor, grads)| {
            optimizer.step(lr * factor, model, grads)
        })
    }
}
