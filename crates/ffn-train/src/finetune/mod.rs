//! Fine-tuning: which layers train (freezing, LoRA adapters, a new head and its learning rate),
//! the stage that turns a pretrained run or imported block into the engine's start, and
//! adapter files.

mod adapter;
mod select;
mod spec;
mod stage;

pub use adapter::{AdapterInfo, load_adapter, save_adapter};
pub use select::select_layers;
pub use spec::{FinetuneSpec, LoraSpec};
pub(crate) use stage::{adapt_preprocessor, lr_groups, prepare_start};
