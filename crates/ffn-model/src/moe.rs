//! Mixture-of-experts FFN: a router picks the top-k of E expert FFNs per token and only those
//! compute (Switch Transformer's top-1, Mixtral's and Qwen-MoE's top-k), with optional shared
//! experts, capacity-limited dispatch and router jitter, and the auxiliary losses that keep the
//! experts in use.

use burn::nn::Initializer;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::IndexingUpdateOp;
use burn::tensor::activation::{log_softmax, sigmoid, softmax};

use crate::dense_layers::DenseMap;
use crate::transformer_ffn::Sublayer;
use crate::validate::check_size;
use crate::{
    Activation, DenseLayers, FeedForward, FeedForwardConfig, FfnKind, ModelError, Norm, NormKind,
    NormPlacement, TransformerFfn, TransformerFfnConfig, map_dense_at,
};

/// Configuration of a [`MoeFfn`].
#[derive(Config, Debug, PartialEq)]
pub struct MoeFfnConfig {
    /// Model width.
    pub d_model: usize,
    /// Hidden width of each expert.
    pub d_ff: usize,
    /// Experts, `E`.
    pub n_experts: usize,
    /// Experts per token, `k`.
    pub top_k: usize,
    /// The FFN of every expert (SwiGLU as in Mixtral).
    #[config(default = "FfnKind::Swiglu")]
    pub expert: FfnKind,
    /// Whether the `k` selected probabilities are renormalised to sum to one (Mixtral: yes, the
    /// softmax over the selected logits; Switch, OLMoE and Qwen-MoE by default: no, the softmax
    /// over all logits).
    #[config(default = true)]
    pub norm_topk_prob: bool,
    /// Hidden width of a shared expert that every token goes through (Qwen2-MoE, DeepSeek);
    /// `None`: no shared expert.
    #[config(default = "None")]
    pub shared_d_ff: Option<usize>,
    /// Whether the shared expert's output is scaled by `sigmoid(x · w)` (Qwen2-MoE).
    #[config(default = false)]
    pub shared_gate: bool,
    /// Each expert takes at most `ceil(capacity_factor · tokens · k / E)` tokens, the first in
    /// order (Switch); the rest skip it. `None`: no limit.
    #[config(default = "None")]
    pub capacity_factor: Option<f64>,
    /// During training the router's input is multiplied by noise uniform in `1 ± jitter`
    /// (Switch); 0 turns it off.
    #[config(default = 0.0)]
    pub jitter: f64,
    /// Whether the expert projections add a bias.
    #[config(default = false)]
    pub bias: bool,
    /// Whether the block adds its input to its output.
    #[config(default = false)]
    pub residual: bool,
    /// Where the block normalises.
    #[config(default = "NormPlacement::None")]
    pub norm: NormPlacement,
    /// Which normalisation, when `norm` is not `None`.
    #[config(default = "NormKind::RmsNorm")]
    pub norm_kind: NormKind,
    /// Epsilon of the normalisation.
    #[config(default = 1e-6)]
    pub norm_epsilon: f64,
    /// Whether a LayerNorm adds its shift `beta`.
    #[config(default = true)]
    pub norm_bias: bool,
    /// Initialisation of the router and the experts.
    #[config(default = "crate::pytorch_linear_init()")]
    pub initializer: Initializer,
}

impl MoeFfnConfig {
    /// Builds the block on `device`; fails on `E = 0`, `k = 0`, `k > E`, a capacity factor
    /// that is not positive or a jitter outside `[0, 1)`.
    pub fn init(&self, device: &Device) -> Result<MoeFfn, ModelError> {
        let invalid = |reason: String| ModelError::InvalidConfig {
            layer: "MoeFfn",
            reason,
        };
        check_size("MoeFfn", "n_experts", self.n_experts)?;
        check_size("MoeFfn", "top_k", self.top_k)?;
        if self.top_k > self.n_experts {
            return Err(invalid(format!(
                "top_k {} is more than the {} experts",
                self.top_k, self.n_experts
            )));
        }
        if let Some(factor) = self.capacity_factor
            && !(factor.is_finite() && factor > 0.0)
        {
            return Err(invalid(format!(
                "capacity_factor must be positive, got {factor}"
            )));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(invalid(format!(
                "jitter must be in [0, 1), got {}",
                self.jitter
            )));
        }
        let ffn = |d_ff: usize| {
            TransformerFfnConfig::new(self.d_model, d_ff)
                .with_variant(self.expert.variant())
                .with_activation(self.expert.activation())
                .with_bias(self.bias)
                .with_initializer(self.initializer.clone())
                .init(device)
        };
        let linear = |d_output: usize| {
            FeedForwardConfig::new(self.d_model, d_output, Activation::Identity)
                .with_bias(false)
                .with_initializer(self.initializer.clone())
                .init(device)
        };
        Ok(MoeFfn {
            router: linear(self.n_experts)?,
            experts: (0..self.n_experts)
                .map(|_| ffn(self.d_ff))
                .collect::<Result<_, _>>()?,
            shared: self.shared_d_ff.map(ffn).transpose()?,
            shared_gate: match (self.shared_d_ff, self.shared_gate) {
                (Some(_), true) => Some(linear(1)?),
                _ => None,
            },
            norm: match self.norm {
                NormPlacement::None => None,
                _ => Some(Norm::with_bias(
                    self.norm_kind,
                    self.d_model,
                    self.norm_epsilon,
                    self.norm_bias,
                    device,
                )?),
            },
            top_k: self.top_k,
            norm_topk_prob: self.norm_topk_prob,
            capacity_factor: self.capacity_factor,
            jitter: self.jitter,
            residual: self.residual,
            norm_placement: self.norm,
        })
    }
}

/// What the router did on one forward pass: the auxiliary losses (scalars on the autodiff
/// graph) and how many tokens each expert computed.
#[derive(Debug, Clone)]
pub struct RouterStats {
    /// Switch's load-balancing loss `E · Σ_i f_i · P_i`: `f_i` the share of tokens sent to
    /// expert `i` (summed over the `k` choices, as transformers computes it), `P_i` the mean
    /// router probability of `i`. 1 when perfectly balanced with `k = 1`.
    pub load_balancing: Tensor<1>,
    /// ST-MoE's router z-loss, the mean over tokens of `logsumexp(logits)²`.
    pub z_loss: Tensor<1>,
    /// Tokens each expert computed (after any capacity limit).
    pub tokens_per_expert: Vec<usize>,
    /// Token choices dropped by the capacity limit.
    pub dropped: usize,
}

/// A mixture-of-experts FFN on `[batch, seq, d_model]` or `[batch, d_model]`.
#[derive(Module, Debug)]
pub struct MoeFfn {
    /// The router `d_model → E`, without bias.
    pub router: FeedForward,
    /// The experts, each an FFN without norm or residual.
    pub experts: Vec<TransformerFfn>,
    /// The shared expert every token goes through, if any.
    pub shared: Option<TransformerFfn>,
    /// The shared expert's gate `d_model → 1`, if any.
    pub shared_gate: Option<FeedForward>,
    /// Normalisation, present unless the placement is `None`.
    pub norm: Option<Norm>,
    /// Experts per token.
    pub top_k: usize,
    /// Whether the selected probabilities are renormalised.
    pub norm_topk_prob: bool,
    /// Capacity factor, if dispatch is limited.
    #[module(skip)]
    pub capacity_factor: Option<f64>,
    /// Router input noise during training.
    pub jitter: f64,
    /// Whether the input is added to the output.
    pub residual: bool,
    /// Where `norm` is applied.
    #[module(skip)]
    pub norm_placement: NormPlacement,
}

impl MoeFfn {
    /// Runs the block on `x` (`[batch, seq, d_model]` or `[batch, d_model]`); returns the
    /// output, of the same shape, and what the router did.
    pub fn forward<const D: usize>(
        &self,
        x: Tensor<D>,
    ) -> Result<(Tensor<D>, RouterStats), ModelError> {
        let sublayer = Sublayer {
            d_model: self.d_model(),
            norm: self.norm.as_ref(),
            placement: self.norm_placement,
            residual: self.residual,
        };
        let mut stats = None;
        let output = sublayer.wrap(
            x,
            || self.describe(),
            |x| {
                let dims = x.dims();
                let tokens = dims[..D - 1].iter().product::<usize>();
                let (mixed, found) = self.mix(x.reshape([tokens, self.d_model()]))?;
                stats = Some(found);
                Ok(mixed.reshape(dims))
            },
        )?;
        let stats = stats.ok_or_else(|| ModelError::InvalidConfig {
            layer: "MoeFfn",
            reason: "the router did not run".into(),
        })?;
        Ok((output, stats))
    }

    /// The mixture on `[tokens, d_model]` rows: each token through its top-k experts only,
    /// weighted by its router probabilities, plus the shared expert.
    fn mix(&self, x: Tensor<2>) -> Result<(Tensor<2>, RouterStats), ModelError> {
        let [tokens, _] = x.dims();
        let device = x.device();
        let experts = self.experts.len();
        let logits = self.router.forward(self.jittered(x.clone()))?;
        let probs = softmax(logits.clone(), 1);
        let (mut weights, chosen) = probs.clone().topk_with_indices(self.top_k, 1);
        if self.norm_topk_prob {
            weights = weights.clone() / weights.sum_dim(1);
        }
        let chosen: Vec<i64> = chosen
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .map_err(|e| ModelError::InvalidConfig {
                layer: "MoeFfn",
                reason: format!("cannot read the router's choices: {e:?}"),
            })?;
        let capacity = self
            .capacity_factor
            .map(|f| (f * (tokens * self.top_k) as f64 / experts as f64).ceil() as usize);
        // Per expert: the tokens routed to it, and the flat index of each choice's weight.
        let mut routed = vec![(Vec::new(), Vec::new()); experts];
        let mut dropped = 0;
        for (slot, &expert) in chosen.iter().enumerate() {
            let (token_ids, weight_ids) = &mut routed[expert as usize];
            if capacity.is_some_and(|c| token_ids.len() >= c) {
                dropped += 1;
                continue;
            }
            token_ids.push((slot / self.top_k) as i64);
            weight_ids.push(slot as i64);
        }
        let flat_weights = weights.reshape([tokens * self.top_k, 1]);
        let mut out = Tensor::<2>::zeros([tokens, self.d_model()], &device);
        let index = |ids: &[i64]| {
            Tensor::<1, Int>::from_data(TensorData::new(ids.to_vec(), [ids.len()]), &device)
        };
        for (expert, (token_ids, weight_ids)) in self.experts.iter().zip(&routed) {
            if token_ids.is_empty() {
                continue;
            }
            let ids = index(token_ids);
            let computed = expert.forward(x.clone().select(0, ids.clone()))?;
            let scale = flat_weights.clone().select(0, index(weight_ids));
            out = out.select_assign(0, ids, computed * scale, IndexingUpdateOp::Add);
        }
        if let Some(shared) = &self.shared {
            let mut extra = shared.forward(x.clone())?;
            if let Some(gate) = &self.shared_gate {
                extra = extra * sigmoid(gate.forward(x)?);
            }
            out = out + extra;
        }
        let tokens_per_expert: Vec<usize> = routed.iter().map(|(t, _)| t.len()).collect();
        Ok((
            out,
            RouterStats {
                load_balancing: load_balancing_loss(&probs, &chosen, experts),
                z_loss: z_loss(logits),
                tokens_per_expert,
                dropped,
            },
        ))
    }

    /// `x` times noise uniform in `1 ± jitter` while the router trains, `x` otherwise.
    fn jittered(&self, x: Tensor<2>) -> Tensor<2> {
        let training = x.device().is_autodiff() && self.router.linear.weight.is_require_grad();
        if self.jitter == 0.0 || !training {
            return x;
        }
        let noise = x.random_like(Distribution::Uniform(1.0 - self.jitter, 1.0 + self.jitter));
        x * noise
    }

    /// Model width.
    pub fn d_model(&self) -> usize {
        self.router.d_input()
    }

    /// Experts.
    pub fn n_experts(&self) -> usize {
        self.experts.len()
    }

    fn describe(&self) -> String {
        format!(
            "MoeFfn(d_model={}, experts={}, top_k={})",
            self.d_model(),
            self.n_experts(),
            self.top_k
        )
    }
}

/// `E · Σ_i f_i · P_i` from the router probabilities `[tokens, E]` and the chosen experts
/// (`tokens · k`, row-major).
fn load_balancing_loss(probs: &Tensor<2>, chosen: &[i64], experts: usize) -> Tensor<1> {
    let [tokens, _] = probs.dims();
    let mut counts = vec![0.0f32; experts];
    for &e in chosen {
        counts[e as usize] += 1.0;
    }
    let share: Vec<f32> = counts.iter().map(|c| c / tokens.max(1) as f32).collect();
    let share = Tensor::<1>::from_data(TensorData::new(share, [experts]), &probs.device());
    let mean_prob = probs.clone().mean_dim(0).reshape([experts]);
    (mean_prob * share).sum() * experts as f64
}

/// The mean over rows of `logsumexp(logits)²`.
fn z_loss(logits: Tensor<2>) -> Tensor<1> {
    // logsumexp = x_j − log_softmax(x)_j for any j; column 0 serves.
    let first = logits.clone().narrow(1, 0, 1);
    let lse = first - log_softmax(logits, 1).narrow(1, 0, 1);
    (lse.clone() * lse).mean()
}

impl DenseLayers for MoeFfn {
    /// `router`, `experts.N.{up,gate,down}`, `shared.{up,gate,down}` and `shared_gate`.
    fn map_dense<E>(self, f: &mut DenseMap<'_, E>) -> Result<Self, E> {
        let experts = self
            .experts
            .into_iter()
            .enumerate()
            .map(|(i, expert)| map_dense_at(&format!("experts.{i}"), expert, f))
            .collect::<Result<_, E>>()?;
        Ok(Self {
            router: f("router", self.router)?,
            experts,
            shared: self
                .shared
                .map(|s| map_dense_at("shared", s, f))
                .transpose()?,
            shared_gate: self.shared_gate.map(|g| f("shared_gate", g)).transpose()?,
            ..self
        })
    }
}
