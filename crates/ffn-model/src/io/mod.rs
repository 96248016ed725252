//! Weights in and out: Burn records saved atomically, Hugging Face `.safetensors` checkpoints
//! (single files and sharded ones, memory-mapped), GGUF files (memory-mapped, dequantised), the
//! import of Transformer FFN sub-layers and of whole LLaMA models, and LoRA adapters in PEFT's
//! format.

pub(crate) mod dequant;
pub(crate) mod gguf;
pub(crate) mod gguf_format;
pub(crate) mod gguf_llama;
pub(crate) mod hf_import;
pub(crate) mod hf_layout;
pub(crate) mod hf_moe;
pub(crate) mod peft;
pub(crate) mod persist;
pub(crate) mod safetensors;
