//! Multi-layer perceptron: a stack of dense layers with an un-activated output layer.

use burn::nn::{Dropout, Initializer};
use burn::prelude::*;

use crate::dense_layers::DenseMap;
use crate::shape::check_last_dim;
use crate::validate::{check_size, dropout};
use crate::{Activation, DenseLayers, FeedForward, FeedForwardConfig, ModelError, Norm, NormKind};

/// Epsilon of an [`Mlp`]'s hidden-layer normalisation unless configured otherwise.
pub const DEFAULT_NORM_EPSILON: f64 = 1e-5;

/// Configuration of an [`Mlp`], like torchvision's `MLP` or a Keras `Sequential` of `Dense` layers.
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Size of the input's last axis.
    pub d_input: usize,
    /// Units of each hidden layer, in order; empty gives a single linear layer.
    pub hidden: Vec<usize>,
    /// Size of the output (number of classes or regression targets).
    pub d_output: usize,
    /// Activation of every hidden layer.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Dropout probability after each hidden activation.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Normalisation applied to each hidden layer before its activation, if any.
    #[config(default = "None")]
    pub norm: Option<NormKind>,
    /// Epsilon of the hidden-layer normalisation.
    #[config(default = "DEFAULT_NORM_EPSILON")]
    pub norm_epsilon: f64,
    /// Whether every layer adds a bias.
    #[config(default = true)]
    pub bias: bool,
    /// Initialisation of every layer; defaults to PyTorch's `nn.Linear` scheme.
    #[config(default = "crate::pytorch_linear_init()")]
    pub initializer: Initializer,
}

impl MlpConfig {
    /// Builds the network on `device`; fails on a zero size, a bad dropout or epsilon.
    pub fn init(&self, device: &Device) -> Result<Mlp, ModelError> {
        check_size("Mlp", "d_input", self.d_input)?;
        check_size("Mlp", "d_output", self.d_output)?;
        let dense = |d_input, units, activation| {
            FeedForwardConfig::new(d_input, units, activation)
                .with_bias(self.bias)
                .with_initializer(self.initializer.clone())
                .init(device)
        };
        let mut hidden = Vec::with_capacity(self.hidden.len());
        let mut width = self.d_input;
        for (index, &units) in self.hidden.iter().enumerate() {
            check_size("Mlp", &format!("hidden[{index}]"), units)?;
            let norm = self
                .norm
                .map(|kind| Norm::new(kind, units, self.norm_epsilon, device))
                .transpose()?;
            hidden.push(HiddenLayer {
                dense: dense(width, units, self.activation)?,
                norm,
            });
            width = units;
        }
        Ok(Mlp {
            hidden,
            dropout: dropout("Mlp", self.dropout)?,
            output: dense(width, self.d_output, Activation::Identity)?,
        })
    }
}

/// One hidden layer of an [`Mlp`]: `act(norm(x·W + b))`.
#[derive(Module, Debug)]
pub struct HiddenLayer {
    /// Affine map and activation.
    pub dense: FeedForward,
    /// Optional normalisation between the affine map and the activation.
    pub norm: Option<Norm>,
}

impl HiddenLayer {
    fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match &self.norm {
            Some(norm) => self
                .dense
                .activation
                .forward(norm.forward(self.dense.affine(x))),
            None => self.dense.forward_unchecked(x),
        }
    }
}

/// Multi-layer perceptron mapping `[.., d_input]` to `[.., d_output]` (logits or regression values).
/// Its dense layers are `hidden.0`, `hidden.1`, …, and `output` ([`DenseLayers`]).
#[derive(Module, Debug)]
pub struct Mlp {
    /// Hidden layers, input side first.
    pub hidden: Vec<HiddenLayer>,
    /// Dropout after each hidden layer (active only in training on an autodiff device).
    pub dropout: Dropout,
    /// Output layer, without activation.
    pub output: FeedForward,
}

impl Mlp {
    /// The path of the output layer among the dense layers.
    pub const OUTPUT: &'static str = "output";
    /// The path prefix of the hidden layers (`hidden.0`, …).
    pub const HIDDEN: &'static str = "hidden";

    /// Runs the network on `[.., d_input]`; fails if the last axis is not `d_input`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<D>, ModelError> {
        self.run(x, None)
    }

    /// [`Self::forward`] that also returns each hidden layer's activations `[.., units]`, input
    /// side first (before dropout), for inspection.
    pub fn forward_probed<const D: usize>(
        &self,
        x: Tensor<D>,
    ) -> Result<(Tensor<D>, Vec<Tensor<D>>), ModelError> {
        let mut activations = Vec::with_capacity(self.hidden.len());
        let output = self.run(x, Some(&mut activations))?;
        Ok((output, activations))
    }

    fn run<const D: usize>(
        &self,
        x: Tensor<D>,
        mut probe: Option<&mut Vec<Tensor<D>>>,
    ) -> Result<Tensor<D>, ModelError> {
        check_last_dim(|| self.describe(), &x, self.d_input())?;
        let hidden = self.hidden.iter().fold(x, |h, layer| {
            let activation = layer.forward(h);
            if let Some(probe) = probe.as_deref_mut() {
                probe.push(activation.clone());
            }
            self.dropout.forward(activation)
        });
        Ok(self.output.forward_unchecked(hidden))
    }

    /// Size of the input's last axis.
    pub fn d_input(&self) -> usize {
        self.hidden
            .first()
            .map_or(self.output.d_input(), |layer| layer.dense.d_input())
    }

    /// Size of the output's last axis.
    pub fn d_output(&self) -> usize {
        self.output.units()
    }

    fn describe(&self) -> String {
        let widths: Vec<usize> = self.hidden.iter().map(|l| l.dense.units()).collect();
        format!(
            "Mlp(d_input={}, hidden={widths:?}, d_output={})",
            self.d_input(),
            self.d_output()
        )
    }
}

impl DenseLayers for Mlp {
    fn map_dense<E>(self, f: &mut DenseMap<'_, E>) -> Result<Self, E> {
        let hidden = self
            .hidden
            .into_iter()
            .enumerate()
            .map(|(i, layer)| {
                Ok(HiddenLayer {
                    dense: f(&format!("{}.{i}", Self::HIDDEN), layer.dense)?,
                    norm: layer.norm,
                })
            })
            .collect::<Result<_, E>>()?;
        Ok(Self {
            hidden,
            dropout: self.dropout,
            output: f(Self::OUTPUT, self.output)?,
        })
    }
}
