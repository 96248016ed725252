//! Data for ffn. Tabular: CSV loading with precise errors, seeded stratified splits, per-feature
//! standardisation and label maps that are saved with a run, and batching into tensors on any
//! Burn device. Text: tokenizers (characters, bytes, byte-level BPE) saved with a run, splits by
//! position and seeded random windows of tokens.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod batch;
mod chat;
mod clean;
mod csv_table;
mod dataset;
mod error;
mod limits;
mod preprocess;
mod pretrained_vocab;
mod rng;
mod split;
mod standardize;
mod task;
mod text;
mod tokenizer;

pub use batch::{Batch, BatchTargets, DataLoader, ExampleTargets, Examples};
pub use chat::{ChatMessage, ChatTemplate};
pub use clean::{SHOWN_CHARS, escape_controls, shorten};
pub use csv_table::CsvTable;
pub use dataset::{Dataset, LoadOptions, MAX_INFERRED_CLASSES, Targets};
pub use error::DataError;
pub use limits::{DEFAULT_MAX_INPUT_BYTES, DEFAULT_MAX_LINE_BYTES, InputLimits};
pub use preprocess::Preprocessor;
pub use pretrained_vocab::PretrainedVocab;
pub use rng::SplitMix64;
pub use split::{Split, SplitConfig};
pub use standardize::Standardizer;
pub use task::{LabelMap, Task};
pub use text::{Text, TokenBatch, TokenSplit, Windows};
pub use tokenizer::{Encoded, Tokenizer, TokenizerKind};
