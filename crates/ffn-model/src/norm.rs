//! Normalisation over the last axis: LayerNorm or RMSNorm, chosen by configuration.

use burn::nn::{LayerNorm, LayerNormConfig, RmsNorm, RmsNormConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// Which normalisation a layer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormKind {
    /// `(x - mean) / sqrt(var + eps) * gamma + beta` (BERT, GPT-2).
    LayerNorm,
    /// `x / sqrt(mean(x²) + eps) * gamma` (LLaMA, T5).
    RmsNorm,
}

/// A LayerNorm or RMSNorm over the last axis of `[.., d_model]`.
#[derive(Module, Debug)]
pub enum Norm {
    /// Layer normalisation with scale and shift.
    Layer(LayerNorm),
    /// Root-mean-square normalisation with scale only.
    Rms(RmsNorm),
}

impl Norm {
    /// Builds a norm of `kind` over `d_model` features with `epsilon` added to the variance
    /// (a LayerNorm with its shift `beta`).
    pub fn new(
        kind: NormKind,
        d_model: usize,
        epsilon: f64,
        device: &Device,
    ) -> Result<Self, ModelError> {
        Self::with_bias(kind, d_model, epsilon, true, device)
    }

    /// [`Norm::new`], choosing whether a LayerNorm has its shift `beta` (GPT-style language
    /// models often drop it); an RMSNorm never has one.
    pub fn with_bias(
        kind: NormKind,
        d_model: usize,
        epsilon: f64,
        bias: bool,
        device: &Device,
    ) -> Result<Self, ModelError> {
        check_epsilon(epsilon)?;
        Ok(match kind {
            NormKind::LayerNorm => Norm::Layer(
                LayerNormConfig::new(d_model)
                    .with_epsilon(epsilon)
                    .with_bias(bias)
                    .init(device),
            ),
            NormKind::RmsNorm => Norm::Rms(
                RmsNormConfig::new(d_model)
                    .with_epsilon(epsilon)
                    .init(device),
            ),
        })
    }

    /// Normalises `[.., d_model]` along its last axis.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Norm::Layer(norm) => norm.forward(x),
            Norm::Rms(norm) => norm.forward(x),
        }
    }
}

/// Fails unless `epsilon` is finite and positive.
fn check_epsilon(epsilon: f64) -> Result<(), ModelError> {
    if epsilon.is_finite() && epsilon > 0.0 {
        Ok(())
    } else {
        Err(ModelError::InvalidConfig {
            layer: "Norm",
            reason: format!("norm epsilon must be a finite number > 0, got {epsilon}"),
        })
    }
}
