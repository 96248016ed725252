//! Learning-rate schedules. Step-based schedules count optimiser steps; `step` and
//! `reduce_on_plateau` act on epochs, as PyTorch's `StepLR` and `ReduceLROnPlateau` usually do.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::TrainError;

/// A learning-rate schedule, tagged by `kind` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleConfig {
    /// The peak rate throughout.
    Constant,
    /// Multiply by `gamma` every `step_size` epochs (PyTorch `StepLR`).
    Step {
        /// Epochs between decays.
        step_size: usize,
        /// Decay factor.
        gamma: f64,
    },
    /// Cosine decay from the peak to `min_lr` over all steps (PyTorch `CosineAnnealingLR`).
    Cosine {
        /// Final rate.
        #[serde(default)]
        min_lr: f64,
    },
    /// Linear warm-up from 0 over `warmup_steps`, then cosine decay to `min_lr`
    /// (Hugging Face `get_cosine_schedule_with_warmup` when `min_lr` is 0).
    WarmupCosine {
        /// Optimiser steps of warm-up.
        warmup_steps: usize,
        /// Final rate.
        #[serde(default)]
        min_lr: f64,
    },
    /// Linear warm-up from 0 over `warmup_steps`, then linear decay to 0
    /// (Hugging Face `get_linear_schedule_with_warmup`).
    WarmupLinear {
        /// Optimiser steps of warm-up.
        warmup_steps: usize,
    },
    /// Linear warm-up reaching `(step + 1) / (warmup_steps + 1)` of the peak, then cosine decay
    /// to `min_lr` at the last step (nanoGPT's `get_lr`, used by its character-level recipe).
    GptCosine {
        /// Optimiser steps of warm-up.
        warmup_steps: usize,
        /// Final rate.
        #[serde(default)]
        min_lr: f64,
    },
    /// Multiply by `factor` when the validation loss has not improved by a relative `threshold`
    /// for more than `patience` epochs (PyTorch `ReduceLROnPlateau`, mode `min`, threshold `rel`).
    ReduceOnPlateau {
        /// Decay factor.
        factor: f64,
        /// Epochs without improvement tolerated.
        patience: usize,
        /// Relative improvement that counts.
        #[serde(default = "default_threshold")]
        threshold: f64,
        /// Lower bound of the rate.
        #[serde(default)]
        min_lr: f64,
    },
}

fn default_threshold() -> f64 {
    1e-4
}

impl Default for ScheduleConfig {
    /// Halve the rate after 10 epochs without improvement of the validation loss.
    fn default() -> Self {
        ScheduleConfig::ReduceOnPlateau {
            factor: 0.5,
            patience: 10,
            threshold: default_threshold(),
            min_lr: 0.0,
        }
    }
}

impl ScheduleConfig {
    /// Parses the command-line form: `constant`, `step:SIZE:GAMMA`, `cosine`, `warmup-cosine:STEPS`,
    /// `warmup-linear:STEPS`, `plateau:FACTOR:PATIENCE`.
    pub fn parse(spec: &str) -> Result<Self, TrainError> {
        let parts: Vec<&str> = spec.trim().split(':').collect();
        let bad = || {
            TrainError::InvalidConfig(format!(
                "unknown schedule '{spec}'; valid: constant, step:SIZE:GAMMA, cosine, \
                 warmup-cosine:STEPS, warmup-linear:STEPS, gpt-cosine:WARMUP:MIN_LR, \
                 plateau:FACTOR:PATIENCE"
            ))
        };
        let num = |i: usize| {
            parts
                .get(i)
                .and_then(|p| p.parse::<f64>().ok())
                .ok_or_else(bad)
        };
        let count = |i: usize| {
            parts
                .get(i)
                .and_then(|p| p.parse::<usize>().ok())
                .ok_or_else(bad)
        };
        let name = parts[0].to_ascii_lowercase().replace('_', "-");
        let config = match (name.as_str(), parts.len()) {
            ("constant", 1) => ScheduleConfig::Constant,
            ("step", 3) => ScheduleConfig::Step {
                step_size: count(1)?,
                gamma: num(2)?,
            },
            ("cosine", 1) => ScheduleConfig::Cosine { min_lr: 0.0 },
            ("warmup-cosine", 2) => ScheduleConfig::WarmupCosine {
                warmup_steps: count(1)?,
                min_lr: 0.0,
            },
            ("gpt-cosine", 3) => ScheduleConfig::GptCosine {
                warmup_steps: count(1)?,
                min_lr: num(2)?,
            },
            ("warmup-linear", 2) => ScheduleConfig::WarmupLinear {
                warmup_steps: count(1)?,
            },
            ("plateau", 3) => ScheduleConfig::ReduceOnPlateau {
                factor: num(1)?,
                patience: count(2)?,
                threshold: default_threshold(),
                min_lr: 0.0,
            },
            _ => return Err(bad()),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the parameters' ranges.
    pub fn validate(&self) -> Result<(), TrainError> {
        let ok = match *self {
            ScheduleConfig::Constant | ScheduleConfig::WarmupLinear { .. } => true,
            ScheduleConfig::Step { step_size, gamma } => {
                step_size > 0 && gamma > 0.0 && gamma <= 1.0
            }
            ScheduleConfig::Cosine { min_lr }
            | ScheduleConfig::WarmupCosine { min_lr, .. }
            | ScheduleConfig::GptCosine { min_lr, .. } => min_lr >= 0.0,
            ScheduleConfig::ReduceOnPlateau {
                factor,
                threshold,
                min_lr,
                ..
            } => factor > 0.0 && factor < 1.0 && threshold >= 0.0 && min_lr >= 0.0,
        };
        if ok {
            Ok(())
        } else {
            Err(TrainError::InvalidConfig(format!(
                "schedule parameters out of range: {self:?} (gamma in (0, 1], factor in (0, 1), \
                 step_size >= 1, rates >= 0)"
            )))
        }
    }
}

/// A schedule in progress: the config, the run's length and the plateau state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    config: ScheduleConfig,
    peak: f64,
    total_steps: usize,
    plateau: PlateauState,
}

/// What `reduce_on_plateau` remembers between epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlateauState {
    best: Option<f64>,
    bad_epochs: usize,
    lr: f64,
}

impl Schedule {
    /// A schedule peaking at `peak` over a run of `total_steps` optimiser steps.
    pub fn new(config: ScheduleConfig, peak: f64, total_steps: usize) -> Self {
        Self {
            config,
            peak,
            total_steps: total_steps.max(1),
            plateau: PlateauState {
                best: None,
                bad_epochs: 0,
                lr: peak,
            },
        }
    }

    /// Makes the schedule end at `total_steps` instead (a resumed run extended to a new length).
    pub(crate) fn stretch_to(&mut self, total_steps: usize) {
        self.total_steps = total_steps.max(1);
    }

    /// The rate of optimiser step `step` (0-based) in epoch `epoch` (0-based).
    pub fn lr(&self, step: usize, epoch: usize) -> f64 {
        let total = self.total_steps as f64;
        let t = step as f64;
        let warmup = |warmup: usize| (step < warmup).then(|| self.peak * t / warmup as f64);
        let cosine = |progress: f64, min: f64| {
            min + (self.peak - min) * 0.5 * (1.0 + (PI * progress.clamp(0.0, 1.0)).cos())
        };
        match self.config {
            ScheduleConfig::Constant => self.peak,
            ScheduleConfig::Step { step_size, gamma } => {
                self.peak * gamma.powi((epoch / step_size) as i32)
            }
            ScheduleConfig::Cosine { min_lr } => cosine(t / total, min_lr),
            ScheduleConfig::WarmupCosine {
                warmup_steps,
                min_lr,
            } => warmup(warmup_steps).unwrap_or_else(|| {
                let span = (total - warmup_steps as f64).max(1.0);
                cosine((t - warmup_steps as f64) / span, min_lr)
            }),
            ScheduleConfig::GptCosine {
                warmup_steps,
                min_lr,
            } => {
                if step < warmup_steps {
                    self.peak * (t + 1.0) / (warmup_steps as f64 + 1.0)
                } else {
                    let span = (total - warmup_steps as f64).max(1.0);
                    cosine((t - warmup_steps as f64) / span, min_lr)
                }
            }
            ScheduleConfig::WarmupLinear { warmup_steps } => {
                warmup(warmup_steps).unwrap_or_else(|| {
                    let span = (total - warmup_steps as f64).max(1.0);
                    self.peak * ((total - t) / span).max(0.0)
                })
            }
            ScheduleConfig::ReduceOnPlateau { .. } => self.plateau.lr,
        }
    }

    /// Tells the schedule the validation loss at the end of an epoch (only `reduce_on_plateau`
    /// listens).
    pub fn end_epoch(&mut self, valid_loss: f64) {
        let ScheduleConfig::ReduceOnPlateau {
            factor,
            patience,
            threshold,
            min_lr,
        } = self.config
        else {
            return;
        };
        let state = &mut self.plateau;
        match state.best {
            Some(best) if valid_loss.is_nan() || valid_loss >= best * (1.0 - threshold) => {
                state.bad_epochs += 1;
                if state.bad_epochs > patience {
                    state.lr = (state.lr * factor).max(min_lr);
                    state.bad_epochs = 0;
                }
            }
            _ => {
                state.best = Some(valid_loss);
                state.bad_epochs = 0;
            }
        }
    }
}
