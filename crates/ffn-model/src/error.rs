//! Typed errors of the model crate.

use std::path::PathBuf;

/// Everything that can go wrong while building, running, saving or loading a layer.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// An activation name that is not known; `valid` lists the accepted names.
    #[error("unknown activation '{name}'; valid names: {valid}")]
    UnknownActivation {
        /// The name as given.
        name: String,
        /// Comma-separated list of accepted names.
        valid: String,
    },
    /// An input tensor whose shape does not fit the layer.
    #[error("{layer}: expected input of shape {expected}, got {actual:?}")]
    InputShape {
        /// The layer that rejected the input, with its sizes.
        layer: String,
        /// The accepted shape, e.g. `[.., 64]`.
        expected: String,
        /// The shape that was passed.
        actual: Vec<usize>,
    },
    /// A configuration value outside its valid range.
    #[error("invalid {layer} config: {reason}")]
    InvalidConfig {
        /// The layer whose config is wrong.
        layer: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// A module record (weights file) that could not be written or read.
    #[error("cannot {action} weights file {path}: {reason}")]
    Record {
        /// `save` or `load`.
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying cause.
        reason: String,
    },
    /// A weights file to import that is unreadable, malformed or of an unsupported kind.
    #[error("cannot import {path}: {reason}")]
    Import {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A tensor the import needs that the file does not hold.
    #[error("{path} has no tensor '{key}'; check the layout and the layer number")]
    MissingWeight {
        /// The file searched.
        path: PathBuf,
        /// The full key that was looked for.
        key: String,
    },
    /// A tensor whose shape does not fit where it is imported.
    #[error("tensor '{key}' has shape {actual:?}, expected {expected:?}")]
    WeightShape {
        /// The tensor's key in the file.
        key: String,
        /// The shape the layer needs (as stored in the file's convention).
        expected: Vec<usize>,
        /// The shape found.
        actual: Vec<usize>,
    },
}
