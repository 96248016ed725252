//! Causal multi-head self-attention (on flex through this crate's attention kernel, elsewhere
//! through Burn's attention): grouped-query heads (several
//! query heads share a key/value head), optional rotary position encoding, and a key/value
//! cache for incremental decoding. The projections are [`FeedForward`] layers without
//! activation, so they can carry LoRA adapters.

use burn::nn::{Initializer, RotaryEncoding, RotaryEncodingConfig};
use burn::prelude::*;

use crate::dense_layers::DenseMap;
use crate::kernels;
use crate::validate::check_size;
use crate::{Activation, DenseLayers, FeedForward, FeedForwardConfig, ModelError};

/// Rotary position encoding (RoFormer): positions up to `max_len`, frequencies from `theta`.
#[derive(Config, Debug, PartialEq)]
pub struct RopeConfig {
    /// The longest sequence (cache included) the rotations cover.
    pub max_len: usize,
    /// Frequency base.
    #[config(default = 10000.0)]
    pub theta: f64,
}

/// Configuration of a [`CausalSelfAttention`].
#[derive(Config, Debug, PartialEq)]
pub struct AttentionConfig {
    /// Model width.
    pub d_model: usize,
    /// Query heads; `d_model` must be a multiple.
    pub n_heads: usize,
    /// Key/value heads (grouped-query attention); must divide `n_heads`. `None`: `n_heads`.
    #[config(default = "None")]
    pub n_kv_heads: Option<usize>,
    /// Whether the projections add a bias.
    #[config(default = false)]
    pub bias: bool,
    /// Rotary position encoding of queries and keys, if any.
    #[config(default = "None")]
    pub rope: Option<RopeConfig>,
    /// Initialisation of the query, key and value projections.
    #[config(default = "crate::pytorch_linear_init()")]
    pub initializer: Initializer,
    /// Initialisation of the output projection (GPT-2 scales it with depth).
    #[config(default = "crate::pytorch_linear_init()")]
    pub output_initializer: Initializer,
}

impl AttentionConfig {
    /// Builds the attention on `device`; fails on sizes that do not divide.
    pub fn init(&self, device: &Device) -> Result<CausalSelfAttention, ModelError> {
        check_size("Attention", "d_model", self.d_model)?;
        check_size("Attention", "n_heads", self.n_heads)?;
        let kv_heads = self.n_kv_heads.unwrap_or(self.n_heads);
        check_size("Attention", "n_kv_heads", kv_heads)?;
        let invalid = |reason: String| ModelError::InvalidConfig {
            layer: "Attention",
            reason,
        };
        if !self.d_model.is_multiple_of(self.n_heads) {
            return Err(invalid(format!(
                "d_model {} is not divisible by the {} heads",
                self.d_model, self.n_heads
            )));
        }
        if !self.n_heads.is_multiple_of(kv_heads) {
            return Err(invalid(format!(
                "{kv_heads} key/value heads do not divide the {} query heads",
                self.n_heads
            )));
        }
        let head_dim = self.d_model / self.n_heads;
        let rope = match &self.rope {
            Some(_) if !head_dim.is_multiple_of(2) => {
                return Err(invalid(format!(
                    "rotary encoding needs an even head width, got {head_dim}"
                )));
            }
            Some(rope) if !(rope.theta.is_finite() && rope.theta > 0.0) || rope.max_len == 0 => {
                return Err(invalid(format!(
                    "rotary encoding needs theta > 0 and max_len >= 1, got {rope:?}"
                )));
            }
            Some(rope) => Some(
                RotaryEncodingConfig::new(rope.max_len, head_dim)
                    .with_theta(rope.theta as f32)
                    .init(device),
            ),
            None => None,
        };
        let projection = |d_out: usize, initializer: &Initializer| {
            FeedForwardConfig::new(self.d_model, d_out, Activation::Identity)
                .with_bias(self.bias)
                .with_initializer(initializer.clone())
                .init(device)
        };
        Ok(CausalSelfAttention {
            q: projection(self.d_model, &self.initializer)?,
            k: projection(kv_heads * head_dim, &self.initializer)?,
            v: projection(kv_heads * head_dim, &self.initializer)?,
            o: projection(self.d_model, &self.output_initializer)?,
            rope,
            n_heads: self.n_heads,
            n_kv_heads: kv_heads,
        })
    }
}

/// Keys and values of the positions seen so far by one attention layer, `[batch, kv_heads,
/// positions, head_dim]` each.
#[derive(Debug, Clone, Default)]
pub struct LayerCache {
    keys: Option<Tensor<4>>,
    values: Option<Tensor<4>>,
}

impl LayerCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.keys.as_ref().map_or(0, |k| k.dims()[2])
    }

    /// Whether nothing is held yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the new positions' keys and values; returns all of them.
    fn extend(&mut self, keys: Tensor<4>, values: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let keys = match self.keys.take() {
            Some(past) => Tensor::cat(vec![past, keys], 2),
            None => keys,
        };
        let values = match self.values.take() {
            Some(past) => Tensor::cat(vec![past, values], 2),
            None => values,
        };
        self.keys = Some(keys.clone());
        self.values = Some(values.clone());
        (keys, values)
    }
}

/// Causal self-attention on `[batch, seq, d_model]`.
#[derive(Module, Debug)]
pub struct CausalSelfAttention {
    /// Query projection `d_model → d_model`.
    pub q: FeedForward,
    /// Key projection `d_model → kv_heads · head_dim`.
    pub k: FeedForward,
    /// Value projection `d_model → kv_heads · head_dim`.
    pub v: FeedForward,
    /// Output projection `d_model → d_model`.
    pub o: FeedForward,
    /// Rotary encoding of queries and keys, when configured.
    pub rope: Option<RotaryEncoding>,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
}

impl CausalSelfAttention {
    /// Attends each position of `x` `[batch, seq, d_model]` to itself and the positions before
    /// it (the cached ones too, when a cache is given, which then holds the new positions as
    /// well). Fails on a wrong width, or when rotary positions would run past their table.
    pub fn forward(
        &self,
        x: Tensor<3>,
        cache: Option<&mut LayerCache>,
    ) -> Result<Tensor<3>, ModelError> {
        let [batch, seq, d_model] = x.dims();
        if d_model != self.d_model() {
            return Err(ModelError::InputShape {
                layer: format!("CausalSelfAttention(d_model={})", self.d_model()),
                expected: format!("[batch, seq, {}]", self.d_model()),
                actual: vec![batch, seq, d_model],
            });
        }
        let start = cache.as_ref().map_or(0, |c| c.len());
        if let Some(rope) = &self.rope {
            let table = rope.freq_complex.dims()[0];
            if start + seq > table {
                return Err(ModelError::InputShape {
                    layer: format!("rotary encoding of {table} positions"),
                    expected: format!("at most {table} positions in all"),
                    actual: vec![batch, start + seq, d_model],
                });
            }
        }
        let head_dim = d_model / self.n_heads;
        let heads = |t: Tensor<3>, n: usize| t.reshape([batch, seq, n, head_dim]).swap_dims(1, 2);
        let mut q = heads(self.q.affine(x.clone()), self.n_heads);
        let mut k = heads(self.k.affine(x.clone()), self.n_kv_heads);
        let v = heads(self.v.affine(x), self.n_kv_heads);
        if let Some(rope) = &self.rope {
            q = rope.apply(q, start);
            k = rope.apply(k, start);
        }
        let (k, v) = match cache {
            Some(cache) => cache.extend(k, v),
            None => (k, v),
        };
        let group = self.n_heads / self.n_kv_heads;
        let (k, v) = (share_heads(k, group), share_heads(v, group));
        let context = kernels::causal_attention(q, k, v);
        let merged = context.swap_dims(1, 2).reshape([batch, seq, d_model]);
        Ok(self.o.affine(merged))
    }

    /// Model width.
    pub fn d_model(&self) -> usize {
        self.q.d_input()
    }
}

/// `[batch, kv_heads, len, head_dim]` with each key/value head repeated for the `group` query
/// heads that share it: `[batch, kv_heads · group, len, head_dim]`.
fn share_heads(t: Tensor<4>, group: usize) -> Tensor<4> {
    if group == 1 {
        return t;
    }
    let [batch, kv_heads, len, head_dim] = t.dims();
    t.unsqueeze_dim::<5>(2)
        .repeat_dim(2, group)
        .reshape([batch, kv_heads * group, len, head_dim])
}

impl DenseLayers for CausalSelfAttention {
    /// The projections are `q`, `k`, `v` and `o`.
    fn map_dense<E>(self, f: &mut DenseMap<'_, E>) -> Result<Self, E> {
        Ok(Self {
            q: f("q", self.q)?,
            k: f("k", self.k)?,
            v: f("v", self.v)?,
            o: f("o", self.o)?,
            ..self
        })
    }
}
