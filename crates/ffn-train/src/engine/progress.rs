//! What the engine tells its caller while it trains; the library never prints.

use serde::{Deserialize, Serialize};

use crate::Metrics;

/// What happened in one epoch (one round of the engine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Learning rate of the epoch's last optimiser step.
    pub lr: f64,
    /// Metrics on the training data at the end of the epoch.
    pub train: Metrics,
    /// Metrics on the validation data, when there is some.
    pub valid: Option<Metrics>,
    /// Wall-clock seconds of the epoch, evaluation included.
    pub seconds: f64,
    /// Optimiser steps taken by the end of the epoch.
    #[serde(default)]
    pub step: usize,
    /// Language models: text generated after the epoch, for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
    /// Language models: the share of dead FFN neurons per dense block on the validation batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_neurons: Option<Vec<f64>>,
    /// Language models with mixture blocks: per block, the token choices each expert computed
    /// on the validation batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert_tokens: Option<Vec<Vec<usize>>>,
}

/// Progress events for a caller that wants to show them. Answering `ControlFlow::Break` stops
/// training at the end of the current epoch, after its checkpoint.
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
