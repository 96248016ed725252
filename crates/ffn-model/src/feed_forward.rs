//! The dense layer `y = act(x·W + b)`, Keras' `Dense(units, activation)`.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;

use crate::shape::check_last_dim;
use crate::validate::check_size;
use crate::{Activation, ModelError};

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
            activation: self.activation,
        })
    }
}

/// Dense layer mapping `[.., d_input]` to `[.., units]` as `act(x·W + b)`; `W` is `[d_input, units]`.
#[derive(Module, Debug)]
pub struct FeedForward {
    /// The affine map `x·W + b`.
    pub linear: Linear,
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

    /// `x·W + b` without the activation, for callers that normalise before activating.
    pub(crate) fn affine<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.linear.forward(x)
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
