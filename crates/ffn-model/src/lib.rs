//! Feedforward layers for Burn 0.22, backend-agnostic: every constructor takes a `&Device`, so
//! the same code runs on the flex or ndarray CPU backends or on wgpu.
//!
//! - [`FeedForward`]: the dense layer `act(x·W + b)`.
//! - [`Mlp`]: a stack of dense layers with an un-activated output layer.
//! - [`TransformerFfn`]: the position-wise block of Transformers, standard or gated.
//! - [`CausalLm`]: a decoder-only language model whose blocks are causal self-attention
//!   ([`CausalSelfAttention`]: grouped-query heads, rotary positions, key/value cache) and a
//!   [`TransformerFfn`] of any variant.
//!
//! Dense layers carry optional LoRA adapters ([`LoraConfig`], [`FeedForward::with_lora`]), and
//! every container of them lists, adapts and merges them by path ([`DenseLayers`]).
//! [`import_hf_ffn`] reads a Transformer FFN sub-layer from a Hugging Face checkpoint
//! ([`SafeTensors`]: single or sharded, memory-mapped).
//!
//! Layers check their input shapes and return a [`ModelError`] instead of panicking; weights are
//! saved and loaded with [`save_module`] / [`load_module`].

#![warn(missing_docs)]

mod activation;
mod attention;
mod decoder;
mod dense_layers;
mod error;
mod feed_forward;
mod ffn_kind;
mod io;
mod kernels;
mod lora;
mod mlp;
mod moe;
mod norm;
mod shape;
mod transformer_ffn;
mod validate;

pub use activation::{Activation, DEFAULT_ELU_ALPHA, DEFAULT_LEAKY_SLOPE};
pub use attention::{AttentionConfig, CausalSelfAttention, LayerCache, RopeConfig};
pub use decoder::{BlockFfn, CausalLm, CausalLmConfig, DecoderBlock, KvCache, Positions};
pub use dense_layers::{DenseLayers, DenseMap, map_dense_at};
pub use error::ModelError;
pub use feed_forward::{FeedForward, FeedForwardConfig, pytorch_linear_init};
pub use ffn_kind::{FfnKind, FfnSpec};
pub use io::dequant::GgmlType;
pub use io::gguf::{Gguf, GgufTensorInfo, GgufValue};
pub use io::gguf_llama::{LLAMA, gguf_llama_config, load_gguf_llama};
pub use io::hf_import::{ImportedFfn, import_hf_ffn};
pub use io::hf_layout::HfLayout;
pub use io::hf_moe::{ImportedMoe, MoeLayout, import_hf_moe};
pub use io::peft::{
    ADAPTER_CONFIG, ADAPTER_WEIGHTS, PeftLoraConfig, load_peft_adapter, peft_adapter_bytes,
};
pub use io::persist::{
    load_module, load_module_bytes, module_bytes, save_module, write_atomically,
};
pub use io::safetensors::{HostTensor, INDEX_FILE, SINGLE_FILE, SafeTensors, write_safetensors};
pub use kernels::{AdamHyper, AdamStep, fused_adam_step};
pub use lora::{LoraAdapter, LoraConfig};
pub use mlp::{DEFAULT_NORM_EPSILON, HiddenLayer, Mlp, MlpConfig};
pub use moe::{MoeFfn, MoeFfnConfig, RouterStats};
pub use norm::{Norm, NormKind};
pub use transformer_ffn::{
    FfnActivity, FfnVariant, NormPlacement, TransformerFfn, TransformerFfnConfig,
};
