//! Feedforward layers for Burn 0.22, backend-agnostic: every constructor takes a `&Device`, so
//! the same code runs on the flex or ndarray CPU backends or on wgpu.
//!
//! - [`FeedForward`]: the dense layer `act(x·W + b)`.
//! - [`Mlp`]: a stack of dense layers with an un-activated output layer.
//! - [`TransformerFfn`]: the position-wise block of Transformers, standard or gated.
//!
//! Dense layers carry optional LoRA adapters ([`LoraConfig`], [`FeedForward::with_lora`]);
//! [`import_hf_ffn`] reads a Transformer FFN sub-layer from a Hugging Face `.safetensors` file.
//!
//! Layers check their input shapes and return a [`ModelError`] instead of panicking; weights are
//! saved and loaded with [`save_module`] / [`load_module`].

mod activation;
mod activation_kernel;
mod dense_kernel;
mod elementwise;
mod error;
mod feed_forward;
mod flex_buffers;
mod hf_import;
mod lora;
mod mlp;
mod norm;
mod persist;
mod safetensors;
mod shape;
mod transformer_ffn;
mod validate;

pub use activation::{Activation, DEFAULT_ELU_ALPHA, DEFAULT_LEAKY_SLOPE};
pub use error::ModelError;
pub use feed_forward::{FeedForward, FeedForwardConfig, pytorch_linear_init};
pub use hf_import::{HfLayout, ImportedFfn, describe_block, import_hf_ffn};
pub use lora::{LoraAdapter, LoraConfig};
pub use mlp::{HiddenLayer, Mlp, MlpConfig};
pub use norm::{Norm, NormKind};
pub use persist::{load_module, save_module, write_atomically};
pub use safetensors::{HostTensor, SafeTensors};
pub use transformer_ffn::{FfnVariant, NormPlacement, TransformerFfn, TransformerFfnConfig};
