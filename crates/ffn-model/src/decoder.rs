//! A decoder-only Transformer language model whose blocks are this crate's FFN blocks: token
//! embedding, learned or rotary positions, pre-norm blocks of causal self-attention and
//! [`TransformerFfn`] or [`MoeFfn`], a final norm and a head (optionally the embedding, transposed).

use burn::nn::{Dropout, Embedding, EmbeddingConfig, Initializer};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dense_layers::DenseMap;
use crate::kernels::matmul;
use crate::shape::map_rows;
use crate::validate::{check_size, dropout};
use crate::{
    Activation, AttentionConfig, CausalSelfAttention, DenseLayers, FeedForward, FeedForwardConfig,
    FfnActivity, FfnKind, FfnSpec, LayerCache, ModelError, MoeFfn, MoeFfnConfig, Norm, NormKind,
    NormPlacement, RopeConfig, RouterStats, TransformerFfn, TransformerFfnConfig, map_dense_at,
};

/// How positions enter the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[derive(strum::Display, strum::EnumString, strum::VariantNames)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", ascii_case_insensitive)]
pub enum Positions {
    /// A learned embedding per position, added to the token embedding (GPT-2).
    Learned,
    /// Rotary encoding of queries and keys in every attention layer (LLaMA).
    Rope,
}

/// Configuration of a [`CausalLm`]. The defaults are nanoGPT's character-level "baby GPT".
#[derive(Config, Debug, PartialEq)]
pub struct CausalLmConfig {
    /// Number of token ids.
    pub vocab_size: usize,
    /// The longest context, in tokens.
    pub block_size: usize,
    /// Model width.
    #[config(default = 128)]
    pub d_model: usize,
    /// Blocks.
    #[config(default = 4)]
    pub n_layers: usize,
    /// Query heads.
    #[config(default = 4)]
    pub n_heads: usize,
    /// Key/value heads (grouped-query attention); `None`: as many as query heads.
    #[config(default = "None")]
    pub n_kv_heads: Option<usize>,
    /// Hidden width of every FFN.
    #[config(default = 512)]
    pub d_ff: usize,
    /// The FFN of every block: a dense kind or a mixture of experts (each `d_ff` wide).
    #[config(default = "FfnSpec::Dense(FfnKind::Gelu)")]
    pub ffn: FfnSpec,
    /// Learned positions or rotary encoding.
    #[config(default = "Positions::Learned")]
    pub positions: Positions,
    /// Rotary frequency base.
    #[config(default = 10000.0)]
    pub rope_theta: f64,
    /// Whether the head is the token embedding, transposed.
    #[config(default = true)]
    pub tied_head: bool,
    /// Whether the projections add a bias.
    #[config(default = false)]
    pub bias: bool,
    /// LayerNorm or RMSNorm, before attention, before the FFN and at the end.
    #[config(default = "NormKind::LayerNorm")]
    pub norm: NormKind,
    /// Whether a LayerNorm adds a bias.
    #[config(default = false)]
    pub norm_bias: bool,
    /// Epsilon of the norms.
    #[config(default = 1e-5)]
    pub norm_epsilon: f64,
    /// Dropout on the embeddings and the FFN's hidden activations.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Standard deviation of the normal initialisation of embeddings and projections; the
    /// projections back into the residual stream get `std / sqrt(2 · n_layers)` (GPT-2).
    #[config(default = 0.02)]
    pub init_std: f64,
}

impl CausalLmConfig {
    /// Builds the model on `device`; fails on sizes that do not fit together.
    pub fn init(&self, device: &Device) -> Result<CausalLm, ModelError> {
        check_size("CausalLm", "vocab_size", self.vocab_size)?;
        check_size("CausalLm", "block_size", self.block_size)?;
        check_size("CausalLm", "n_layers", self.n_layers)?;
        let normal = |std: f64| Initializer::Normal { mean: 0.0, std };
        let residual = normal(self.init_std / (2.0 * self.n_layers as f64).sqrt());
        let embedding = |n: usize| {
            EmbeddingConfig::new(n, self.d_model)
                .with_initializer(normal(self.init_std))
                .init(device)
        };
        let norm = || {
            Norm::with_bias(
                self.norm,
                self.d_model,
                self.norm_epsilon,
                self.norm_bias,
                device,
            )
        };
        let attention = AttentionConfig::new(self.d_model, self.n_heads)
            .with_n_kv_heads(self.n_kv_heads)
            .with_bias(self.bias)
            .with_rope(
                (self.positions == Positions::Rope)
                    .then(|| RopeConfig::new(self.block_size).with_theta(self.rope_theta)),
            )
            .with_initializer(normal(self.init_std))
            .with_output_initializer(residual.clone());
        let ffn = TransformerFfnConfig::new(self.d_model, self.d_ff)
            .with_variant(self.ffn.kind().variant())
            .with_activation(self.ffn.kind().activation())
            .with_bias(self.bias)
            .with_dropout(self.dropout)
            .with_residual(true)
            .with_norm(NormPlacement::Pre)
            .with_norm_kind(self.norm)
            .with_norm_bias(self.norm_bias)
            .with_norm_epsilon(self.norm_epsilon)
            .with_initializer(normal(self.init_std))
            .with_output_initializer(Some(residual));
        let block_ffn = || -> Result<BlockFfn, ModelError> {
            Ok(match self.ffn {
                FfnSpec::Dense(_) => BlockFfn::Dense(ffn.init(device)?),
                FfnSpec::Moe {
                    experts,
                    top_k,
                    expert,
                } => BlockFfn::Moe(
                    MoeFfnConfig::new(self.d_model, self.d_ff, experts, top_k)
                        .with_expert(expert)
                        .with_bias(self.bias)
                        .with_residual(true)
                        .with_norm(NormPlacement::Pre)
                        .with_norm_kind(self.norm)
                        .with_norm_bias(self.norm_bias)
                        .with_norm_epsilon(self.norm_epsilon)
                        .with_initializer(normal(self.init_std))
                        .init(device)?,
                ),
            })
        };
        let blocks = (0..self.n_layers)
            .map(|_| {
                Ok(DecoderBlock {
                    attn_norm: norm()?,
                    attn: attention.init(device)?,
                    ffn: block_ffn()?,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let blocks = share_rotary_table(blocks);
        let head = match self.tied_head {
            true => None,
            false => Some(
                FeedForwardConfig::new(self.d_model, self.vocab_size, Activation::Identity)
                    .with_bias(false)
                    .with_initializer(normal(self.init_std))
                    .init(device)?,
            ),
        };
        Ok(CausalLm {
            tokens: embedding(self.vocab_size),
            positions: (self.positions == Positions::Learned).then(|| embedding(self.block_size)),
            blocks,
            norm: norm()?,
            head,
            dropout: dropout("CausalLm", self.dropout)?,
        })
    }
}

/// `blocks` with every attention layer holding the first one's rotary table (the tables are
/// equal; a shared one costs `max_len · head_dim · 8` bytes once instead of once per layer).
fn share_rotary_table(mut blocks: Vec<DecoderBlock>) -> Vec<DecoderBlock> {
    if let Some(rope) = blocks.first().and_then(|b| b.attn.rope.clone()) {
        for block in blocks.iter_mut().skip(1) {
            block.attn.rope = Some(rope.clone());
        }
    }
    blocks
}

/// The FFN sub-layer of a block (with its pre-norm and residual): dense or a mixture.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // a handful per model, never moved in a hot loop
pub enum BlockFfn {
    /// One dense FFN.
    Dense(TransformerFfn),
    /// A mixture of experts.
    Moe(MoeFfn),
}

impl BlockFfn {
    /// The dense FFN, unless this is a mixture.
    pub fn dense(&self) -> Option<&TransformerFfn> {
        match self {
            Self::Dense(ffn) => Some(ffn),
            Self::Moe(_) => None,
        }
    }

    /// The dense FFN, mutably, unless this is a mixture.
    pub fn dense_mut(&mut self) -> Option<&mut TransformerFfn> {
        match self {
            Self::Dense(ffn) => Some(ffn),
            Self::Moe(_) => None,
        }
    }
}

/// What a forward pass recorded besides the logits: FFN activity when probing, and what the
/// routers of mixture blocks did.
#[derive(Debug, Default)]
struct Trace {
    probe: bool,
    activity: Vec<FfnActivity<3>>,
    routers: Vec<RouterStats>,
}

/// One pre-norm block: `x + attn(norm(x))`, then the FFN block `h + ffn(norm(h))`.
#[derive(Module, Debug)]
pub struct DecoderBlock {
    /// Norm before attention.
    pub attn_norm: Norm,
    /// Causal self-attention.
    pub attn: CausalSelfAttention,
    /// The FFN sub-layer, with its own pre-norm and residual.
    pub ffn: BlockFfn,
}

impl DecoderBlock {
    fn forward(
        &self,
        x: Tensor<3>,
        cache: Option<&mut LayerCache>,
        trace: &mut Trace,
    ) -> Result<Tensor<3>, ModelError> {
        let attended = x.clone() + self.attn.forward(self.attn_norm.forward(x), cache)?;
        match &self.ffn {
            BlockFfn::Dense(ffn) if trace.probe => {
                let (output, activity) = ffn.forward_probed(attended)?;
                trace.activity.push(activity);
                Ok(output)
            }
            BlockFfn::Dense(ffn) => ffn.forward(attended),
            BlockFfn::Moe(moe) => {
                let (output, stats) = moe.forward(attended)?;
                trace.routers.push(stats);
                Ok(output)
            }
        }
    }
}

/// Keys and values of every layer for incremental decoding.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<LayerCache>,
}

impl KvCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, LayerCache::len)
    }

    /// Whether nothing is held yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cache with one (empty) layer cache per block of a `blocks`-block model, when new.
    fn for_blocks(&mut self, blocks: usize) -> &mut Self {
        if self.layers.is_empty() {
            self.layers = vec![LayerCache::default(); blocks];
        }
        self
    }
}

/// The language model: token ids `[batch, seq]` to next-token logits `[batch, seq, vocab]`.
#[derive(Module, Debug)]
pub struct CausalLm {
    /// Token embedding `[vocab, d_model]` (also the head when tied).
    pub tokens: Embedding,
    /// Learned position embedding `[block, d_model]`, unless positions are rotary.
    pub positions: Option<Embedding>,
    /// The blocks.
    pub blocks: Vec<DecoderBlock>,
    /// Final norm.
    pub norm: Norm,
    /// The head `d_model → vocab`, unless tied to the embedding.
    pub head: Option<FeedForward>,
    /// Dropout on the embeddings.
    pub dropout: Dropout,
}

impl CausalLm {
    /// Logits of every position of `tokens` `[batch, seq]`, attending within the sequence.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Result<Tensor<3>, ModelError> {
        self.run(tokens, None, &mut Trace::default(), false)
    }

    /// [`Self::forward`] with what the router of every mixture block did (none for dense
    /// blocks): its auxiliary losses, for training, and its expert counts.
    pub fn forward_routed(
        &self,
        tokens: Tensor<2, Int>,
    ) -> Result<(Tensor<3>, Vec<RouterStats>), ModelError> {
        let mut trace = Trace::default();
        let logits = self.run(tokens, None, &mut trace, false)?;
        Ok((logits, trace.routers))
    }

    /// [`Self::forward`] that also returns the FFN activity of every dense block, `[batch,
    /// seq, d_ff]` each, for inspection, and what the routers of mixture blocks did.
    pub fn forward_probed(
        &self,
        tokens: Tensor<2, Int>,
    ) -> Result<(Tensor<3>, Vec<FfnActivity<3>>, Vec<RouterStats>), ModelError> {
        let mut trace = Trace {
            probe: true,
            ..Trace::default()
        };
        let logits = self.run(tokens, None, &mut trace, false)?;
        Ok((logits, trace.activity, trace.routers))
    }

    /// The unembedding `[d_model, vocab]`: the head's weight, or the token embedding
    /// transposed when tied.
    pub fn unembedding(&self) -> Tensor<2> {
        match &self.head {
            Some(head) => head.clone().merge_lora().linear.weight.val(),
            None => self.tokens.weight.val().transpose(),
        }
    }

    /// Logits of the new `tokens` `[batch, seq]`, which follow the positions in `cache`; the
    /// cache then holds them too. With an empty cache this equals [`Self::forward`].
    pub fn forward_cached(
        &self,
        tokens: Tensor<2, Int>,
        cache: &mut KvCache,
    ) -> Result<Tensor<3>, ModelError> {
        let cache = cache.for_blocks(self.blocks.len());
        self.run(tokens, Some(cache), &mut Trace::default(), false)
    }

    /// The next-token logits `[batch, vocab]` after `tokens` `[batch, seq]`: only the last
    /// position goes through the final norm and the head. With a cache, `tokens` follow the
    /// positions it holds, and it then holds them too.
    pub fn next_token_logits(
        &self,
        tokens: Tensor<2, Int>,
        cache: Option<&mut KvCache>,
    ) -> Result<Tensor<2>, ModelError> {
        let cache = cache.map(|cache| cache.for_blocks(self.blocks.len()));
        let logits = self.run(tokens, cache, &mut Trace::default(), true)?;
        let [batch, _, vocab] = logits.dims();
        Ok(logits.reshape([batch, vocab]))
    }

    /// Logits of every position (of the last one only when `last_only`).
    fn run(
        &self,
        tokens: Tensor<2, Int>,
        mut cache: Option<&mut KvCache>,
        trace: &mut Trace,
        last_only: bool,
    ) -> Result<Tensor<3>, ModelError> {
        let [batch, seq] = tokens.dims();
        let start = cache.as_ref().map_or(0, |c| c.len());
        if start + seq > self.block_size() {
            return Err(ModelError::InputShape {
                layer: format!("CausalLm(block_size={})", self.block_size()),
                expected: format!("at most {} positions in all", self.block_size()),
                actual: vec![batch, start + seq],
            });
        }
        let device = tokens.device();
        let mut x = self.tokens.forward(tokens);
        if let Some(positions) = &self.positions {
            let ids = Tensor::<1, Int>::arange(start as i64..(start + seq) as i64, &device);
            x = x + positions
                .forward(ids.unsqueeze::<2>())
                .expand([batch, seq, self.d_model()]);
        }
        let mut x = self.dropout.forward(x);
        for (index, block) in self.blocks.iter().enumerate() {
            let layer = cache.as_deref_mut().map(|c| &mut c.layers[index]);
            x = block.forward(x, layer, trace)?;
        }
        let x = match last_only {
            true => x.slice([0..batch, seq - 1..seq, 0..self.d_model()]),
            false => x,
        };
        let x = self.norm.forward(x);
        Ok(match &self.head {
            Some(head) => head.affine(x),
            None => {
                let embedding = self.tokens.weight.val().transpose();
                map_rows(x, |rows| matmul(rows, embedding))
            }
        })
    }

    /// Model width.
    pub fn d_model(&self) -> usize {
        self.tokens.weight.dims()[1]
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        self.tokens.weight.dims()[0]
    }

    /// The longest context: the position table, or the rotary table.
    pub fn block_size(&self) -> usize {
        match (
            &self.positions,
            self.blocks.first().and_then(|b| b.attn.rope.as_ref()),
        ) {
            (Some(positions), _) => positions.weight.dims()[0],
            (None, Some(rope)) => rope.freq_complex.dims()[0],
            (None, None) => usize::MAX,
        }
    }
}

impl DenseLayers for CausalLm {
    /// `blocks.N.attn.{q,k,v,o}`, `blocks.N.ffn.{up,gate,down}` (a mixture's:
    /// `blocks.N.ffn.router`, `blocks.N.ffn.experts.I.{up,gate,down}`), and `head` when untied.
    fn map_dense<E>(self, f: &mut DenseMap<'_, E>) -> Result<Self, E> {
        let blocks = self
            .blocks
            .into_iter()
            .enumerate()
            .map(|(i, block)| {
                let at = format!("blocks.{i}.ffn");
                Ok(DecoderBlock {
                    attn_norm: block.attn_norm,
                    attn: map_dense_at(&format!("blocks.{i}.attn"), block.attn, f)?,
                    ffn: match block.ffn {
                        BlockFfn::Dense(ffn) => BlockFfn::Dense(map_dense_at(&at, ffn, f)?),
                        BlockFfn::Moe(moe) => BlockFfn::Moe(map_dense_at(&at, moe, f)?),
                    },
                })
            })
            .collect::<Result<_, E>>()?;
        Ok(Self {
            blocks,
            head: self.head.map(|head| f("head", head)).transpose()?,
            ..self
        })
    }
}
