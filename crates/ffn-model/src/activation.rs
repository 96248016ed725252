//! Element-wise activation functions, named as Keras and Hugging Face name them.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Bool, Tensor, activation};
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::kernels::{self, activation_kernels_serve};

/// Default negative slope of `leaky_relu`, as in PyTorch's `nn.LeakyReLU`.
pub const DEFAULT_LEAKY_SLOPE: f64 = 0.01;
/// Default `alpha` of `elu`, as in PyTorch and Keras.
pub const DEFAULT_ELU_ALPHA: f64 = 1.0;

/// An element-wise activation; parsed case-insensitively from its name (`"relu"`, `"gelu_new"`,
/// `"leaky_relu(0.2)"`) and serialised as its canonical name.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Activation {
    /// `x` (aliases `linear`, `none`).
    Identity,
    /// `max(0, x)`; the default.
    #[default]
    Relu,
    /// `x` for `x >= 0`, `slope * x` otherwise.
    LeakyRelu {
        /// Slope for negative inputs.
        slope: f64,
    },
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// Exact GELU, `x * Φ(x)` with the Gaussian CDF via `erf` (BERT, PyTorch's default).
    Gelu,
    /// Tanh approximation of GELU (aliases `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`; GPT-2).
    GeluTanh,
    /// `x * sigmoid(1.702 x)` (CLIP's `quick_gelu`).
    QuickGelu,
    /// `x * sigmoid(x)` (alias `swish`; LLaMA's SwiGLU gate).
    Silu,
    /// `x * tanh(softplus(x))`.
    Mish,
    /// `log(1 + exp(x))`, computed without overflow.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `min(max(0, x), 6)`.
    Relu6,
    /// `x` for `x > 0`, `alpha * (exp(x) - 1)` otherwise.
    Elu {
        /// Scale of the negative part.
        alpha: f64,
    },
    /// Scaled ELU with the self-normalising constants of Klambauer et al. (2017).
    Selu,
}

impl Activation {
    /// Every activation with its default parameters, in the order error messages list them.
    pub fn all() -> [Activation; 15] {
        [
            Activation::Identity,
            Activation::Relu,
            Activation::LeakyRelu {
                slope: DEFAULT_LEAKY_SLOPE,
            },
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Gelu,
            Activation::GeluTanh,
            Activation::QuickGelu,
            Activation::Silu,
            Activation::Mish,
            Activation::Softplus,
            Activation::Softsign,
            Activation::Relu6,
            Activation::Elu {
                alpha: DEFAULT_ELU_ALPHA,
            },
            Activation::Selu,
        ]
    }

    /// The canonical name, without parameters (`"leaky_relu"`).
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
            Activation::QuickGelu => "quick_gelu",
            Activation::Silu => "silu",
            Activation::Mish => "mish",
            Activation::Softplus => "softplus",
            Activation::Softsign => "softsign",
            Activation::Relu6 => "relu6",
            Activation::Elu { .. } => "elu",
            Activation::Selu => "selu",
        }
    }

    /// Where units whose outputs are `a` count as active: for the two-sided squashing
    /// activations (sigmoid, tanh, softsign), where they are not saturated; for every other one,
    /// where the output is positive (for the ReLU family, GELU and SiLU: where the input is). A
    /// unit active on no input is dead.
    pub fn active_mask<const D: usize>(self, a: Tensor<D>) -> Tensor<D, Bool> {
        match self {
            Activation::Sigmoid | Activation::Tanh | Activation::Softsign => {
                self.saturated_mask(a).bool_not()
            }
            _ => a.greater_elem(0.0),
        }
    }

    /// Where outputs `a` lie in the outer 1 % of a bounded activation's range: at least 0.99 of
    /// the half-range from its centre (tanh: `|a| >= 0.99`), for ReLU6 at the top only (`a >=
    /// 5.97`). Unbounded activations never saturate.
    pub fn saturated_mask<const D: usize>(self, a: Tensor<D>) -> Tensor<D, Bool> {
        let (low, high) = match self {
            Activation::Sigmoid => (0.0, 1.0),
            Activation::Tanh | Activation::Softsign => (-1.0, 1.0),
            Activation::Relu6 => (0.0, 6.0),
            _ => return a.zeros_like().bool(),
        };
        let (centre, half) = ((low + high) / 2.0, (high - low) / 2.0);
        let outer = (a.clone() - centre).abs().greater_equal_elem(0.99 * half);
        match self {
            Activation::Relu6 => outer.bool_and(a.greater_elem(centre)),
            _ => outer,
        }
    }

    /// Applies the activation element-wise; any shape.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match *self {
            Activation::Identity => x,
            Activation::Relu => activation::relu(x),
            Activation::LeakyRelu { slope } => activation::leaky_relu(x, slope),
            Activation::Sigmoid => activation::sigmoid(x),
            Activation::Tanh => activation::tanh(x),
            Activation::Gelu => gelu_erf(x),
            Activation::GeluTanh => gelu_tanh(x),
            Activation::QuickGelu => x.clone() * activation::sigmoid(x * 1.702),
            Activation::Silu => silu(x),
            Activation::Mish => activation::mish(x),
            Activation::Softplus => activation::softplus(x, 1.0),
            Activation::Softsign => activation::softsign(x),
            Activation::Relu6 => activation::relu6(x),
            Activation::Elu { alpha } => exponential_linear(x, alpha),
            Activation::Selu => exponential_linear(x, SELU_ALPHA) * SELU_SCALE,
        }
    }
}

/// `x · sigmoid(x)`: this crate's fused kernel on flex and wgpu, Burn's `silu` elsewhere.
fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if activation_kernels_serve(&x) {
        return kernels::silu(x);
    }
    activation::silu(x)
}

/// `0.5 x (1 + erf(x / sqrt(2)))`. On flex and wgpu, this crate's fused kernel (one pass forward,
/// one backward, exact derivative); elsewhere composed from `erf`, because Burn 0.22's default
/// GELU derivative, which ndarray uses, is the tanh approximation's (off by up to 1e-3).
fn gelu_erf<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if activation_kernels_serve(&x) {
        return kernels::gelu_erf(x);
    }
    let cdf = ((x.clone() * std::f64::consts::FRAC_1_SQRT_2).erf() + 1.0) * 0.5;
    x * cdf
}

/// `0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³)))`, with the cube as two products so that
/// negative inputs never go through a fractional power.
fn gelu_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let sqrt_2_over_pi = (2.0 / std::f64::consts::PI).sqrt();
    let cube = x.clone() * x.clone() * x.clone();
    let inner = (x.clone() + cube * 0.044715) * sqrt_2_over_pi;
    x * (inner.tanh() + 1.0) * 0.5
}

/// SELU's `alpha` (Klambauer et al., 2017).
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
/// SELU's `scale` (Klambauer et al., 2017).
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

/// ELU as `relu(x) + alpha (exp(min(x, 0)) - 1)`: the exponential never sees a positive input,
/// so neither the value nor the gradient overflows for large `x`.
fn exponential_linear<const D: usize>(x: Tensor<D>, alpha: f64) -> Tensor<D> {
    let negative = (x.clone().clamp_max(0.0).exp() - 1.0) * alpha;
    activation::relu(x) + negative
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Activation::LeakyRelu { slope } if slope != DEFAULT_LEAKY_SLOPE => {
                write!(f, "leaky_relu({slope})")
            }
            Activation::Elu { alpha } if alpha != DEFAULT_ELU_ALPHA => write!(f, "elu({alpha})"),
            other => f.write_str(other.name()),
        }
    }
}

impl FromStr for Activation {
    type Err = ModelError;

    /// Parses `name` or `name(param)`; names are case-insensitive and `-` equals `_`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || ModelError::UnknownActivation {
            name: text.to_string(),
            valid: format!(
                "{} (aliases: linear, none, leakyrelu, gelu_new, gelu_pytorch_tanh, gelu_fast, \
                 swish; leaky_relu and elu take a parameter, e.g. leaky_relu(0.2))",
                Activation::all().map(|a| a.name()).join(", ")
            ),
        };
        let normalised = text.trim().to_ascii_lowercase().replace('-', "_");
        let (name, param) = match normalised.split_once('(') {
            Some((name, rest)) => {
                let value = rest.strip_suffix(')').ok_or_else(unknown)?;
                let value: f64 = value.trim().parse().map_err(|_| unknown())?;
                if !value.is_finite() {
                    return Err(unknown());
                }
                (name.trim().to_string(), Some(value))
            }
            None => (normalised, None),
        };
        let activation = match name.as_str() {
            "leaky_relu" | "leakyrelu" => Activation::LeakyRelu {
                slope: param.unwrap_or(DEFAULT_LEAKY_SLOPE),
            },
            "elu" => Activation::Elu {
                alpha: param.unwrap_or(DEFAULT_ELU_ALPHA),
            },
            _ if param.is_some() => return Err(unknown()),
            "identity" | "linear" | "none" => Activation::Identity,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "gelu" => Activation::Gelu,
            "gelu_tanh" | "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "quick_gelu" => Activation::QuickGelu,
            "silu" | "swish" => Activation::Silu,
            "mish" => Activation::Mish,
            "softplus" => Activation::Softplus,
            "softsign" => Activation::Softsign,
            "relu6" => Activation::Relu6,
            "selu" => Activation::Selu,
            _ => return Err(unknown()),
        };
        Ok(activation)
    }
}

impl TryFrom<String> for Activation {
    type Error = ModelError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Activation> for String {
    fn from(value: Activation) -> Self {
        value.to_string()
    }
}
