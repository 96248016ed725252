//! Losses with PyTorch's definitions and mean reductions.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// Loss used for regression targets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RegressionLoss {
    /// Mean squared error.
    #[default]
    Mse,
    /// Huber loss with threshold `delta` (PyTorch `HuberLoss`).
    Huber {
        /// Where the loss turns from quadratic to linear.
        delta: f64,
    },
}

/// Loss options of a run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// Label smoothing of the cross-entropy, in `[0, 1)`.
    pub label_smoothing: f64,
    /// Per-class weights of the cross-entropy, in class-index order.
    pub class_weights: Option<Vec<f64>>,
    /// Loss for regression.
    pub regression: RegressionLoss,
}

impl LossConfig {
    /// Checks the options' ranges.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |msg: String| Err(TrainError::InvalidConfig(msg));
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(format!(
                "label_smoothing must be in [0, 1), got {}",
                self.label_smoothing
            ));
        }
        if let Some(w) = &self.class_weights
            && (w.is_empty() || w.iter().any(|v| !(v.is_finite() && *v >= 0.0)))
        {
            return bad("class_weights must be finite and non-negative".into());
        }
        if let RegressionLoss::Huber { delta } = self.regression
            && (delta.is_nan() || delta <= 0.0)
        {
            return bad(format!("huber delta must be > 0, got {delta}"));
        }
        Ok(())
    }
}

/// Cross-entropy of `logits` `[batch, classes]` against class indices `targets` `[batch]`, as
/// PyTorch's `F.cross_entropy(weight=w, label_smoothing=ε)`: per row
/// `(1-ε)·w[y]·(-log p[y]) + ε/C·Σ_c w[c]·(-log p[c])`, summed and divided by `Σ w[y]`.
/// Returns a one-element tensor.
pub fn cross_entropy(
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    class_weights: Option<&[f64]>,
    label_smoothing: f64,
) -> Tensor<1> {
    let [batch, classes] = logits.dims();
    let device = logits.device();
    let log_probs = log_softmax(logits, 1);
    let one_hot = targets.one_hot::<2>(classes).float();
    let weights: Tensor<2> = match class_weights {
        Some(w) => {
            let w: Vec<f32> = w.iter().map(|&v| v as f32).collect();
            Tensor::<1>::from_data(TensorData::new(w, [classes]), &device).unsqueeze()
        }
        None => Tensor::ones([1, classes], &device),
    };
    let target_weight = (one_hot.clone() * weights.clone()).sum_dim(1);
    let nll = (log_probs.clone() * one_hot).sum_dim(1).neg() * target_weight.clone();
    let per_row = if label_smoothing > 0.0 {
        let smooth = (log_probs * weights).sum_dim(1).neg() / classes as f64;
        nll * (1.0 - label_smoothing) + smooth * label_smoothing
    } else {
        nll
    };
    let total = per_row.sum();
    match class_weights {
        Some(_) => total / target_weight.sum(),
        None => total / batch as f64,
    }
}

/// Binary cross-entropy on logits `[batch]` against 0/1 `targets` `[batch]`, computed stably as
/// `max(x, 0) - x·y + log(1 + exp(-|x|))` (PyTorch `binary_cross_entropy_with_logits`).
pub fn binary_cross_entropy_with_logits(logits: Tensor<1>, targets: Tensor<1>) -> Tensor<1> {
    let softplus_neg_abs = logits.clone().abs().neg().exp().log1p();
    (logits.clone().clamp_min(0.0) - logits * targets + softplus_neg_abs).mean()
}

/// Mean squared error of `predictions` against `targets`, both `[batch, outputs]`.
pub fn mse(predictions: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    (predictions - targets).square().mean()
}

/// Huber loss with threshold `delta` (PyTorch `HuberLoss`): `0.5·d²` where `|d| < delta`, else
/// `delta·(|d| - 0.5·delta)`, averaged.
pub fn huber(predictions: Tensor<2>, targets: Tensor<2>, delta: f64) -> Tensor<1> {
    let abs = (predictions - targets).abs();
    let quadratic = abs.clone().clamp_max(delta);
    let linear = abs - quadratic.clone();
    (quadratic.square() * 0.5 + linear * delta).mean()
}
