//! The dense layer `y = act(x·W + b)`, Keras' `Dense(units, activation)`.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;

use crate::kernels::linear_rows;
use crate::shape::{check_last_dim, map_rows};
use crate::validate::check_size;
use crate::{Activation, LoraAdapter, LoraConfig, ModelError};

/// PyTorch's `nn.Linear` initialisation: weight and bias uniform in `±1/sqrt(d_input)`
/// (Kaiming-uniform with gain `1/sqrt(3)`).
pub fn pytorch_linear_init() -> Initializer {
    Initializer::KaimingUniform {
        gain: 1.0 / 3f64.sqrt(),
        fan_out_only: false,
    }
}

/// Configuration of a [`FeedForward`] layer.
#[derive(Config, Debug)]
pub struct FeedForwardConfig {
    /// Size of the input's last axis.
    pub d_input: usize,
    /// Number of output units.
    pub units: usize,
    /// Activation applied to `x·W + b`.
    pub activation: Activation,
    /// Whether the layer adds a bias.
    #[config(default = true)]
    pub bias: bool,
    /// Initialisation of weight and bias; defaults to PyTorch's `nn.Linear` scheme.
    #[config(default = "crate::pytorch_linear_init()")]
    pub initializer: Initializer,
}

impl FeedForwardConfig {
    /// Builds the layer on `device`; fails on a zero size.
    pub fn init(&self, device: &Device) -> Result<FeedForward, ModelError> {
        check_size("FeedForward", "d_input", self.d_input)?;
        check_size("FeedForward", "units", self.units)?;
        let linear = LinearConfig::new(self.d_input, self.units)
            .with_bias(self.bias)
            .with_initializer(self.initializer.clone())
            .init(device);
        Ok(FeedForward {
            linear,
            lora: None,
            activation: self.activation,
        })
    }
}

/// Dense layer mapping `[.., d_input]` to `[.., units]` as `act(x·W + b)`; `W` is `[d_input, units]`.
/// With a LoRA adapter attached it computes `act(x·W + b + scale·x·A·B)`.
#[derive(Module, Debug)]
pub struct FeedForward {
    /// The affine map `x·W + b`.
    pub linear: Linear,
    /// Optional low-rank adapter added to the affine map.
    pub lora: Option<LoraAdapter>,
    /// The activation after the affine map.
    #[module(skip)]
    pub activation: Activation,
}

impl FeedForward {
    /// `act(x·W + b)` for `x` of shape `[.., d_input]`; fails if the last axis is not `d_input`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<D>, ModelError> {
        check_last_dim(|| self.describe(), &x, self.d_input())?;
        Ok(self.forward_unchecked(x))
    }

    /// `act(x·W + b)` for callers that have already checked the input shape.
    pub(crate) fn forward_unchecked<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.activation.forward(self.affine(x))
    }

    /// `x·W + b` (plus the adapter's update) without the activation, for callers that normalise
    /// before activating or combine projections themselves.
    pub(crate) fn affine<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        map_rows(x, |rows| match &self.lora {
            Some(lora) => linear_rows(rows.clone(), &self.linear) + lora.forward(rows),
            None => linear_rows(rows, &self.linear),
        })
    }

    /// Freezes `W` and `b` and attaches a new trainable adapter built by `config` on `device`;
    /// fails on a bad config or if an adapter is already attached.
    pub fn with_lora(self, config: &LoraConfig, device: &Device) -> Result<Self, ModelError> {
        if self.lora.is_some() {
            return Err(ModelError::InvalidConfig {
                layer: "LoRA",
                reason: format!("{} already has an adapter; merge it first", self.describe()),
            });
        }
        let adapter = config.init(self.d_input(), self.units(), device)?;
        Ok(Self {
            linear: Linear {
                weight: self.linear.weight.set_require_grad(false),
                bias: self.linear.bias.map(|b| b.set_require_grad(false)),
            },
            lora: Some(adapter),
            activation: self.activation,
        })
    }

    /// Folds the adapter into `W` (`W + scale·A·B`) and removes it; the outputs are unchanged
    /// up to rounding. A layer without an adapter is returned as it is.
    pub fn merge_lora(self) -> Self {
        let Some(lora) = self.lora else {
            return self;
        };
        let delta = lora.delta();
        Self {
            linear: Linear {
                weight: self.linear.weight.map(|w| w + delta),
                bias: self.linear.bias,
            },
            lora: None,
            activation: self.activation,
        }
    }

    /// Size of the input's last axis.
    pub fn d_input(&self) -> usize {
        self.linear.weight.shape().dims::<2>()[0]
    }

    /// Number of output units.
    pub fn units(&self) -> usize {
        self.linear.weight.shape().dims::<2>()[1]
    }

    fn describe(&self) -> String {
        format!(
            "FeedForward(d_input={}, units={}, activation={})",
            self.d_input(),
            self.units(),
            self.activation
        )
    }
}
