//! Optimisers with PyTorch's update rules and defaults, built on Burn's implementations.
//!
//! Burn's own defaults differ from PyTorch's (Adam/AdamW epsilon 1e-5, AdamW weight decay 1e-4,
//! SGD momentum dampening 0.1), so every value is set here explicitly:
//! SGD: momentum 0, dampening 0, Nesterov off, weight decay 0 (L2, added to the gradient).
//! Adam: betas (0.9, 0.999), epsilon 1e-8, weight decay 0 (L2, added to the gradient).
//! AdamW: betas (0.9, 0.999), epsilon 1e-8, weight decay 0.01 (decoupled: `p *= 1 - lr·wd`).

use burn::module::{ParamGroup, ParamId};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{Adam, AdamConfig, AdamW, AdamWConfig, ModuleOptimizer, SgdConfig};
use ffn_model::AdamHyper;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::fused_adam::FusedAdam;

/// SGD hyper-parameters (PyTorch's `torch.optim.SGD`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SgdParams {
    /// Momentum factor; 0 disables momentum.
    pub momentum: f64,
    /// Dampening of the momentum.
    pub dampening: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
}

impl Default for SgdParams {
    fn default() -> Self {
        Self {
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

/// Adam or AdamW hyper-parameters (PyTorch's `torch.optim.Adam` / `AdamW`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamParams {
    /// Decay of the first moment.
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// Decay of the second moment.
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    /// Added to the denominator.
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Weight decay: an L2 penalty for Adam, decoupled for AdamW.
    pub weight_decay: f64,
    /// AMSGrad variant.
    #[serde(default)]
    pub amsgrad: bool,
}

fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}

impl AdamParams {
    /// PyTorch's defaults with the given weight decay (0 for Adam, 0.01 for AdamW).
    pub fn with_weight_decay(weight_decay: f64) -> Self {
        Self {
            beta1: default_beta1(),
            beta2: default_beta2(),
            eps: default_eps(),
            weight_decay,
            amsgrad: false,
        }
    }
}

/// The optimiser of a run, tagged by `kind` in JSON (`{"kind": "adamw", "weight_decay": 0.01}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// Stochastic gradient descent.
    Sgd(#[serde(default)] SgdParams),
    /// Adam with L2 weight decay.
    Adam(#[serde(default = "adam_defaults")] AdamParams),
    /// Adam with decoupled weight decay.
    Adamw(#[serde(default = "adamw_defaults")] AdamParams),
}

fn adam_defaults() -> AdamParams {
    AdamParams::with_weight_decay(0.0)
}
fn adamw_defaults() -> AdamParams {
    AdamParams::with_weight_decay(0.01)
}

/// The optimisers by name, as the command line gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[derive(strum::Display, strum::EnumString, strum::VariantNames)]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
#[strum(parse_err_ty = TrainError, parse_err_fn = unknown_optimizer)]
pub enum OptimizerKind {
    /// Stochastic gradient descent.
    Sgd,
    /// Adam.
    Adam,
    /// AdamW.
    Adamw,
}

impl OptimizerKind {
    /// The optimiser with PyTorch's defaults.
    pub fn defaults(self) -> OptimizerConfig {
        match self {
            OptimizerKind::Sgd => OptimizerConfig::Sgd(SgdParams::default()),
            OptimizerKind::Adam => OptimizerConfig::Adam(adam_defaults()),
            OptimizerKind::Adamw => OptimizerConfig::Adamw(adamw_defaults()),
        }
    }
}

/// The error of an optimiser name that is not one of [`OptimizerKind`]'s.
fn unknown_optimizer(name: &str) -> TrainError {
    TrainError::InvalidConfig(format!(
        "unknown optimizer '{name}'; valid optimizers: {}",
        <OptimizerKind as strum::VariantNames>::VARIANTS.join(", ")
    ))
}

impl Default for OptimizerConfig {
    /// Adam with PyTorch's defaults.
    fn default() -> Self {
        OptimizerConfig::Adam(adam_defaults())
    }
}

impl OptimizerConfig {
    /// The optimiser named `sgd`, `adam` or `adamw`, with PyTorch's defaults.
    pub fn from_name(name: &str) -> Result<Self, TrainError> {
        Ok(name.parse::<OptimizerKind>()?.defaults())
    }

    /// Checks the hyper-parameters' ranges.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |msg: String| Err(TrainError::InvalidConfig(msg));
        match self {
            OptimizerConfig::Sgd(p) => {
                if !(0.0..1.0).contains(&p.momentum) || !(0.0..=1.0).contains(&p.dampening) {
                    return bad("sgd needs momentum in [0, 1) and dampening in [0, 1]".into());
                }
                if p.nesterov && (p.momentum == 0.0 || p.dampening != 0.0) {
                    return bad("Nesterov momentum needs momentum > 0 and dampening 0".into());
                }
                if p.weight_decay.is_nan() || p.weight_decay < 0.0 {
                    return bad("weight_decay must be >= 0".into());
                }
            }
            OptimizerConfig::Adam(p) | OptimizerConfig::Adamw(p) => {
                if !(0.0..1.0).contains(&p.beta1) || !(0.0..1.0).contains(&p.beta2) {
                    return bad(format!(
                        "betas must be in [0, 1), got {} and {}",
                        p.beta1, p.beta2
                    ));
                }
                if p.eps.is_nan() || p.eps <= 0.0 || p.weight_decay.is_nan() || p.weight_decay < 0.0
                {
                    return bad("eps must be > 0 and weight_decay >= 0".into());
                }
            }
        }
        Ok(())
    }

    /// Builds the Burn optimiser with exactly these hyper-parameters.
    pub fn init(&self) -> ModuleOptimizer {
        match self {
            OptimizerConfig::Sgd(p) => sgd(p).init(),
            OptimizerConfig::Adam(p) => ModuleOptimizer::from(fused_adam(p)),
            OptimizerConfig::Adamw(p) => ModuleOptimizer::from(fused_adamw(p)),
        }
    }

    /// [`Self::init`], with no weight decay for the parameters in `undecayed` (the gains and
    /// biases of language models, in nanoGPT's recipe).
    pub fn init_with_undecayed(&self, undecayed: Vec<ParamId>) -> ModuleOptimizer {
        let group = ParamGroup::from_ids(undecayed);
        match self {
            OptimizerConfig::Sgd(p) if p.weight_decay > 0.0 => {
                let plain = SgdParams {
                    weight_decay: 0.0,
                    ..p.clone()
                };
                self.init().with_group(group, sgd(&plain).build(), None)
            }
            OptimizerConfig::Adam(p) if p.weight_decay > 0.0 => {
                let plain = AdamParams {
                    weight_decay: 0.0,
                    ..p.clone()
                };
                self.init().with_group(group, fused_adam(&plain), None)
            }
            OptimizerConfig::Adamw(p) if p.weight_decay > 0.0 => {
                let plain = AdamParams {
                    weight_decay: 0.0,
                    ..p.clone()
                };
                self.init().with_group(group, fused_adamw(&plain), None)
            }
            _ => self.init(),
        }
    }
}

/// `WeightDecayConfig` of an L2 penalty, none at 0.
fn decay(weight_decay: f64) -> Option<WeightDecayConfig> {
    (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32))
}

fn sgd(p: &SgdParams) -> SgdConfig {
    let momentum = (p.momentum > 0.0).then(|| {
        MomentumConfig::new()
            .with_momentum(p.momentum)
            .with_dampening(p.dampening)
            .with_nesterov(p.nesterov)
    });
    SgdConfig::new()
        .with_momentum(momentum)
        .with_weight_decay(decay(p.weight_decay))
}

/// Adam with the fused step on flex.
fn fused_adam(p: &AdamParams) -> FusedAdam<Adam> {
    FusedAdam::new(adam(p).build(), hyper(p, false), p.amsgrad)
}

/// AdamW with the fused step on flex.
fn fused_adamw(p: &AdamParams) -> FusedAdam<AdamW> {
    FusedAdam::new(adamw(p).build(), hyper(p, true), p.amsgrad)
}

/// The fused step's hyper-parameters, converted as Burn's configs convert them.
fn hyper(p: &AdamParams, decoupled: bool) -> AdamHyper {
    AdamHyper {
        beta1: p.beta1 as f32,
        beta2: p.beta2 as f32,
        eps: p.eps as f32,
        weight_decay: p.weight_decay as f32,
        decoupled,
    }
}

fn adam(p: &AdamParams) -> AdamConfig {
    AdamConfig::new()
        .with_beta_1(p.beta1 as f32)
        .with_beta_2(p.beta2 as f32)
        .with_epsilon(p.eps as f32)
        .with_amsgrad(p.amsgrad)
        .with_weight_decay(decay(p.weight_decay))
}

fn adamw(p: &AdamParams) -> AdamWConfig {
    AdamWConfig::new()
        .with_beta_1(p.beta1 as f32)
        .with_beta_2(p.beta2 as f32)
        .with_epsilon(p.eps as f32)
        .with_amsgrad(p.amsgrad)
        .with_weight_decay(p.weight_decay as f32)
}
