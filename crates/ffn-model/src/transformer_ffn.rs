//! The position-wise feed-forward block of Transformers, standard (BERT, GPT-2) or gated
//! (SwiGLU/GeGLU/ReGLU as in LLaMA and T5), with optional residual and pre- or post-norm.

use burn::nn::{Dropout, Initializer};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dense_layers::DenseMap;
use crate::validate::{check_size, dropout};
use crate::{Activation, DenseLayers, FeedForward, FeedForwardConfig, ModelError, Norm, NormKind};

/// Whether the hidden activation is gated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FfnVariant {
    /// `down(dropout(act(up(x))))` (BERT, GPT-2).
    Standard,
    /// `down(dropout(act(gate(x)) * up(x)))`: SwiGLU with silu, GeGLU with gelu, ReGLU with relu.
    Gated,
}

/// Where the block normalises, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormPlacement {
    /// No normalisation.
    None,
    /// `x + ffn(norm(x))` with a residual, `ffn(norm(x))` without (GPT-2, LLaMA).
    Pre,
    /// `norm(x + ffn(x))` with a residual, `norm(ffn(x))` without (BERT).
    Post,
}

/// Configuration of a [`TransformerFfn`].
#[derive(Config, Debug, PartialEq)]
pub struct TransformerFfnConfig {
    /// Model width: size of the input's and output's last axis.
    pub d_model: usize,
    /// Hidden width of the block (intermediate size).
    pub d_ff: usize,
    /// Hidden activation (the gate's activation in the gated variant).
    #[config(default = "Activation::Gelu")]
    pub activation: Activation,
    /// Standard or gated.
    #[config(default = "FfnVariant::Standard")]
    pub variant: FfnVariant,
    /// Whether the projections add a bias.
    #[config(default = true)]
    pub bias: bool,
    /// Dropout probability on the hidden activations.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Whether the block adds its input to its output.
    #[config(default = false)]
    pub residual: bool,
    /// Where the block normalises.
    #[config(default = "NormPlacement::None")]
    pub norm: NormPlacement,
    /// Which normalisation, when `norm` is not `None`.
    #[config(default = "NormKind::LayerNorm")]
    pub norm_kind: NormKind,
    /// Epsilon of the normalisation.
    #[config(default = 1e-5)]
    pub norm_epsilon: f64,
    /// Whether a LayerNorm adds its shift `beta`.
    #[config(default = true)]
    pub norm_bias: bool,
    /// Initialisation of the projections; defaults to PyTorch's `nn.Linear` scheme.
    #[config(default = "crate::pytorch_linear_init()")]
    pub initializer: Initializer,
    /// Initialisation of the `down` projection, when it differs (GPT-2 scales the projections
    /// back into the residual stream with depth).
    #[config(default = "None")]
    pub output_initializer: Option<Initializer>,
}

impl TransformerFfnConfig {
    /// BERT's block: GELU (erf), biases, residual, post-LayerNorm with epsilon 1e-12.
    pub fn bert(d_model: usize, d_ff: usize) -> Self {
        Self::new(d_model, d_ff)
            .with_residual(true)
            .with_norm(NormPlacement::Post)
            .with_norm_epsilon(1e-12)
    }

    /// GPT-2's block: GELU (tanh), biases, residual, pre-LayerNorm with epsilon 1e-5.
    pub fn gpt2(d_model: usize, d_ff: usize) -> Self {
        Self::new(d_model, d_ff)
            .with_activation(Activation::GeluTanh)
            .with_residual(true)
            .with_norm(NormPlacement::Pre)
    }

    /// LLaMA's block: SwiGLU without biases, residual, pre-RMSNorm with epsilon 1e-6.
    pub fn llama(d_model: usize, d_ff: usize) -> Self {
        Self::new(d_model, d_ff)
            .with_activation(Activation::Silu)
            .with_variant(FfnVariant::Gated)
            .with_bias(false)
            .with_residual(true)
            .with_norm(NormPlacement::Pre)
            .with_norm_kind(NormKind::RmsNorm)
            .with_norm_epsilon(1e-6)
    }

    /// The block in one line: sizes, variant, activation, bias, residual and norm.
    pub fn describe(&self) -> String {
        let norm = match (self.norm, self.norm_kind) {
            (NormPlacement::None, _) => "no norm".to_string(),
            (placement, NormKind::LayerNorm) => format!("{placement:?}-LayerNorm"),
            (placement, NormKind::RmsNorm) => format!("{placement:?}-RMSNorm"),
        };
        format!(
            "d_model {}, d_ff {}, {:?}, {}, bias {}, residual {}, {norm} (eps {:e})",
            self.d_model,
            self.d_ff,
            self.variant,
            self.activation,
            self.bias,
            self.residual,
            self.norm_epsilon
        )
    }

    /// Builds the block on `device`; fails on a zero size, a bad dropout or epsilon.
    pub fn init(&self, device: &Device) -> Result<TransformerFfn, ModelError> {
        check_size("TransformerFfn", "d_model", self.d_model)?;
        check_size("TransformerFfn", "d_ff", self.d_ff)?;
        let linear = |d_input, d_output, initializer: &Initializer| {
            FeedForwardConfig::new(d_input, d_output, Activation::Identity)
                .with_bias(self.bias)
                .with_initializer(initializer.clone())
                .init(device)
        };
        let norm = match self.norm {
            NormPlacement::None => None,
            NormPlacement::Pre | NormPlacement::Post => Some(Norm::with_bias(
                self.norm_kind,
                self.d_model,
                self.norm_epsilon,
                self.norm_bias,
                device,
            )?),
        };
        let down_initializer = self
            .output_initializer
            .as_ref()
            .unwrap_or(&self.initializer);
        Ok(TransformerFfn {
            up: linear(self.d_model, self.d_ff, &self.initializer)?,
            gate: (self.variant == FfnVariant::Gated)
                .then(|| linear(self.d_model, self.d_ff, &self.initializer))
                .transpose()?,
            down: linear(self.d_ff, self.d_model, down_initializer)?,
            norm,
            dropout: dropout("TransformerFfn", self.dropout)?,
            activation: self.activation,
            residual: self.residual,
            norm_placement: self.norm,
        })
    }
}

/// What a block's hidden layer computed for one input, `[.., d_ff]` each: neuron `i` is a key
/// (column `i` of `up`, or of `gate` when gated) and a value (row `i` of `down`'s weight).
#[derive(Debug, Clone)]
pub struct FfnActivity<const D: usize> {
    /// The activation's output, `act(gate(x))` gated or `act(up(x))` standard: a neuron is
    /// active where [`Activation::is_active`] holds.
    pub activation: Tensor<D>,
    /// The coefficient of each neuron's value vector: `act(gate(x)) · up(x)` gated, the
    /// activation itself standard.
    pub hidden: Tensor<D>,
}

/// Position-wise feed-forward block on `[batch, seq, d_model]` or `[batch, d_model]`.
#[derive(Module, Debug)]
pub struct TransformerFfn {
    /// Projection `d_model → d_ff` (the value path in the gated variant); weight `[d_model, d_ff]`.
    /// The projections are un-activated [`FeedForward`] layers so they can carry LoRA adapters.
    pub up: FeedForward,
    /// Gate projection `d_model → d_ff`, present in the gated variant only.
    pub gate: Option<FeedForward>,
    /// Projection `d_ff → d_model`; weight `[d_ff, d_model]`.
    pub down: FeedForward,
    /// Normalisation, present unless the placement is `None`.
    pub norm: Option<Norm>,
    /// Dropout on the hidden activations.
    pub dropout: Dropout,
    /// Hidden activation.
    #[module(skip)]
    pub activation: Activation,
    /// Whether the input is added to the output.
    pub residual: bool,
    /// Where `norm` is applied.
    #[module(skip)]
    pub norm_placement: NormPlacement,
}

impl TransformerFfn {
    /// Runs the block; `x` is `[batch, seq, d_model]` or `[batch, d_model]`, the output has the
    /// same shape. Fails on another rank or a last axis other than `d_model`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<D>, ModelError> {
        self.run(x, None)
    }

    /// [`Self::forward`] that also returns what the hidden layer computed, for inspection.
    pub fn forward_probed<const D: usize>(
        &self,
        x: Tensor<D>,
    ) -> Result<(Tensor<D>, FfnActivity<D>), ModelError> {
        let mut slot = None;
        let output = self.run(x, Some(&mut slot))?;
        let activity = slot.ok_or_else(|| ModelError::InvalidConfig {
            layer: "TransformerFfn",
            reason: "the probe saw no hidden layer".into(),
        })?;
        Ok((output, activity))
    }

    fn run<const D: usize>(
        &self,
        x: Tensor<D>,
        probe: Option<&mut Option<FfnActivity<D>>>,
    ) -> Result<Tensor<D>, ModelError> {
        let sublayer = Sublayer {
            d_model: self.d_model(),
            norm: self.norm.as_ref(),
            placement: self.norm_placement,
            residual: self.residual,
        };
        sublayer.wrap(x, || self.describe(), |x| Ok(self.inner(x, probe)))
    }

    /// The projections alone: `down(dropout(act(up(x))))` or its gated form; `probe`, when
    /// given, receives the hidden layer's activity.
    fn inner<const D: usize>(
        &self,
        x: Tensor<D>,
        probe: Option<&mut Option<FfnActivity<D>>>,
    ) -> Tensor<D> {
        let (pre, up) = match &self.gate {
            Some(gate) => (gate.affine(x.clone()), Some(self.up.affine(x))),
            None => (self.up.affine(x), None),
        };
        let activation = self.activation.forward(pre);
        let kept = probe.is_some().then(|| activation.clone());
        let hidden = match up {
            Some(up) => activation * up,
            None => activation,
        };
        if let (Some(slot), Some(activation)) = (probe, kept) {
            *slot = Some(FfnActivity {
                activation,
                hidden: hidden.clone(),
            });
        }
        self.down.affine(self.dropout.forward(hidden))
    }

    /// Model width.
    pub fn d_model(&self) -> usize {
        self.up.d_input()
    }

    /// Hidden width.
    pub fn d_ff(&self) -> usize {
        self.up.units()
    }

    fn describe(&self) -> String {
        format!(
            "TransformerFfn(d_model={}, d_ff={}, gated={})",
            self.d_model(),
            self.d_ff(),
            self.gate.is_some()
        )
    }
}

/// How a Transformer sub-layer sits in the residual stream: its width, its norm and where it
/// applies, and whether the input is added back.
pub(crate) struct Sublayer<'a> {
    pub d_model: usize,
    pub norm: Option<&'a Norm>,
    pub placement: NormPlacement,
    pub residual: bool,
}

impl Sublayer<'_> {
    /// `inner` on `x` (`[batch, seq, d_model]` or `[batch, d_model]`): `x + inner(norm(x))`
    /// pre-norm, `norm(x + inner(x))` post-norm, without the sum when there is no residual.
    /// Fails on another rank or width, naming the layer `describe` gives.
    pub fn wrap<const D: usize>(
        &self,
        x: Tensor<D>,
        describe: impl FnOnce() -> String,
        inner: impl FnOnce(Tensor<D>) -> Result<Tensor<D>, ModelError>,
    ) -> Result<Tensor<D>, ModelError> {
        let dims = x.dims();
        if !(2..=3).contains(&D) || dims[D - 1] != self.d_model {
            return Err(ModelError::InputShape {
                layer: describe(),
                expected: format!("[batch, seq, {d}] or [batch, {d}]", d = self.d_model),
                actual: dims.to_vec(),
            });
        }
        let normalise = |t: Tensor<D>, at: NormPlacement| match self.norm {
            Some(norm) if self.placement == at => norm.forward(t),
            _ => t,
        };
        let inner = inner(normalise(x.clone(), NormPlacement::Pre))?;
        let summed = if self.residual { x + inner } else { inner };
        Ok(normalise(summed, NormPlacement::Post))
    }
}

impl DenseLayers for TransformerFfn {
    /// The projections are `up`, `gate` (gated variant) and `down`.
    fn map_dense<E>(self, f: &mut DenseMap<'_, E>) -> Result<Self, E> {
        Ok(Self {
            up: f("up", self.up)?,
            gate: self.gate.map(|g| f("gate", g)).transpose()?,
            down: f("down", self.down)?,
            ..self
        })
    }
}
