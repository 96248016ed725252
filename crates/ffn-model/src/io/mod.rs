//! Weights in and out: Burn records saved atomically, Hugging Face `.safetensors` checkpoints
//! (single files and sharded ones, memory-mapped), and the import of Transformer FFN sub-layers.

pub(crate) mod hf_import;
pub(crate) mod hf_layout;
pub(crate) mod hf_moe;
pub(crate) mod persist;
pub(crate) mod safetensors;
