//! Typed errors of the training library.

use std::path::PathBuf;

/// Everything that can go wrong while training, evaluating or predicting.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A backend name that is not known.
    #[error(
        "unknown backend '{0}'; valid backends: {names}",
        names = <crate::Backend as strum::VariantNames>::VARIANTS.join(", ")
    )]
    UnknownBackend(String),
    /// wgpu was requested but no adapter could be opened.
    #[error(
        "cannot open {requested}: {reason}. This machine can use the CPU backends: \
         --backend flex or --backend ndarray (or --backend auto to fall back by itself)"
    )]
    NoGpu {
        /// What was asked for.
        requested: String,
        /// What wgpu reported.
        reason: String,
    },
    /// A backend this build was compiled without.
    #[error(
        "this ffn was built without the {0} backend; rebuild with `--features {0}` (the default \
         build has it) or use --backend flex"
    )]
    NotBuilt(&'static str),
    /// A remote device that could not be connected, or that stopped answering.
    #[error("{device}: {reason}")]
    Remote {
        /// The device, as `--devices` names it.
        device: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// A server that could not start or stopped serving.
    #[error("cannot serve on {address}: {reason}")]
    Serve {
        /// The address it was to listen on.
        address: String,
        /// What Burn's server reported.
        reason: String,
    },
    /// A configuration value outside its valid range.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// A problem with the data.
    #[error(transparent)]
    Data(#[from] ffn_data::DataError),
    /// A problem with the model.
    #[error(transparent)]
    Model(#[from] ffn_model::ModelError),
    /// A run directory or file that is missing, unreadable or corrupt.
    #[error("{path}: {reason}")]
    Run {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The caller asked training to stop; the run can be resumed from its checkpoint.
    #[error(
        "training interrupted at epoch {epoch} (step {step}); continue with --resume {}",
        run_dir.display()
    )]
    Interrupted {
        /// Epochs (rounds) completed.
        epoch: usize,
        /// Optimiser steps taken and checkpointed.
        step: usize,
        /// The run directory.
        run_dir: PathBuf,
    },
    /// A plot or report could not be drawn.
    #[error("report: {0}")]
    Report(String),
    /// The compute device failed (for example while reading results back).
    #[error("device error: {0}")]
    Device(String),
    /// The loss stopped being a finite number.
    #[error(
        "training diverged: the mean training loss of epoch {epoch} is {loss}; {}. Lower the \
         learning rate or enable gradient clipping",
        match last_good {
            0 => "no epoch finished before it, so there is no checkpoint".to_string(),
            n => format!("the last good checkpoint (epoch {n}) is kept"),
        }
    )]
    Diverged {
        /// 1-based epoch whose loss was not finite.
        epoch: usize,
        /// The loss value.
        loss: f64,
        /// Last epoch with a saved checkpoint (0: none).
        last_good: usize,
    },
}
