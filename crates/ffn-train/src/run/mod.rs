//! Run directories as a concept: the files of one ([`RunDir`]), what one holds ([`Artifact`]:
//! a trained run or an imported block), how it is described, and its metrics logs.

mod artifact;
mod block;
mod dataset_record;
mod describe;
mod dir;
mod manifest;
pub(crate) mod metrics_log;
mod saved;

pub use artifact::Artifact;
pub use block::{BlockInfo, ImportedBlock};
pub use dataset_record::DatasetRecord;
pub use describe::RunDescription;
pub(crate) use dir::read_json_file;
pub use dir::{CheckpointPoint, RunDir};
pub(crate) use manifest::{file_sha256, sha256_hex};
pub use saved::{SavedRun, SplitChoice};
