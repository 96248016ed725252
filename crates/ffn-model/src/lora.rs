//! Low-rank adapters (LoRA, Hu et al. 2021, arXiv:2106.09685) on dense layers: the frozen map
//! `x·W + b` gains a trainable `scale · dropout(x)·A·B` with `A` `[d_input, rank]` and
//! `B` `[rank, units]`, `scale = alpha / rank`.

use burn::module::Param;
use burn::nn::Dropout;
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::validate::{check_size, dropout};

/// Rank, scaling and dropout of the adapters, as in peft's `LoraConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank `r` of the update `A·B`.
    pub rank: usize,
    /// Scaling numerator: the update is multiplied by `alpha / rank`.
    pub alpha: f64,
    /// Dropout on the adapter's input (training only).
    pub dropout: f64,
}

impl Default for LoraConfig {
    /// Rank 8, alpha 16, no dropout.
    fn default() -> Self {
        Self {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
        }
    }
}

impl LoraConfig {
    /// The factor `alpha / rank` applied to `A·B`.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    /// Checks the rank, alpha and dropout, naming the first bad value.
    pub fn validate(&self) -> Result<(), ModelError> {
        check_size("LoRA", "rank", self.rank)?;
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(ModelError::InvalidConfig {
                layer: "LoRA",
                reason: format!("alpha must be a positive number, got {}", self.alpha),
            });
        }
        dropout("LoRA", self.dropout).map(|_| ())
    }

    /// Builds an adapter for a `[d_input, units]` weight on `device`: `A` drawn from PyTorch's
    /// `nn.Linear` (Kaiming-uniform) scheme as peft does, `B` zero, so the layer's output is
    /// unchanged until training moves `B`.
    pub fn init(
        &self,
        d_input: usize,
        units: usize,
        device: &Device,
    ) -> Result<LoraAdapter, ModelError> {
        self.validate()?;
        // Past the larger side the factors only grow: a rank up to the smaller side already
        // spans every update (a rank between the two, as a default rank on a narrow layer, is
        // allowed, as peft allows it).
        if self.rank > d_input.max(units) {
            return Err(ModelError::InvalidConfig {
                layer: "LoRA",
                reason: format!(
                    "rank {} is more than the larger side of the [{d_input}, {units}] weight it \
                     adapts; a rank up to {} covers every update",
                    self.rank,
                    d_input.min(units)
                ),
            });
        }
        let bound = 1.0 / (d_input as f64).sqrt();
        let a = Tensor::<2>::random(
            [d_input, self.rank],
            Distribution::Uniform(-bound, bound),
            device,
        );
        Ok(LoraAdapter {
            a: Param::from_tensor(a),
            b: Param::from_tensor(Tensor::zeros([self.rank, units], device)),
            dropout: dropout("LoRA", self.dropout)?,
            scale: self.scale(),
        })
    }
}

/// The trainable low-rank update of one dense layer.
#[derive(Module, Debug)]
pub struct LoraAdapter {
    /// Down-projection `[d_input, rank]`.
    pub a: Param<Tensor<2>>,
    /// Up-projection `[rank, units]`, zero at creation.
    pub b: Param<Tensor<2>>,
    /// Dropout on the adapter's input.
    pub dropout: Dropout,
    /// `alpha / rank`.
    #[module(skip)]
    pub scale: f64,
}

impl LoraAdapter {
    /// The update `scale · dropout(x)·A·B` for `x` `[.., d_input]`, shaped `[.., units]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let low = self.dropout.forward(x).matmul(unsqueeze(self.a.val()));
        low.matmul(unsqueeze(self.b.val())).mul_scalar(self.scale)
    }

    /// The dense update `scale · A·B` `[d_input, units]` that merging adds to the weight.
    pub fn delta(&self) -> Tensor<2> {
        self.a.val().matmul(self.b.val()).mul_scalar(self.scale)
    }

    /// Rank of the update.
    pub fn rank(&self) -> usize {
        self.a.shape().dims::<2>()[1]
    }
}

/// A `[rows, cols]` matrix as a rank-`D` tensor broadcastable against `[.., rows]` inputs.
fn unsqueeze<const D: usize>(matrix: Tensor<2>) -> Tensor<D> {
    matrix.unsqueeze()
}
