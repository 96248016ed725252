//! Training engine of ffn: losses, optimisers with PyTorch's rules, learning-rate schedules,
//! gradient clipping and accumulation, early stopping, metrics, run directories with atomic
//! checkpoints and exact resume, and evaluation and prediction of saved runs. The `ffn` binary is
//! fine-tuning (freezing, LoRA, new heads, imported Transformer FFN blocks), and a thin command
//! line over this library. Runs draw their curves and confusion matrix as SVG and can be
//! summarised in offline HTML reports.

mod backend;
mod bench;
mod clip;
mod config;
mod error;
mod evaluate;
mod finetune;
mod imported_block;
mod loss;
mod metrics;
mod metrics_log;
mod network;
mod optimizer;
mod plot;
mod report;
mod run_dir;
mod saved_run;
mod schedule;
mod trainer;

pub use backend::{Backend, OpenedDevice, open_device};
pub use bench::{BenchResult, Workload, bench};
pub use clip::clip_global_norm;
pub use config::{EarlyStoppingConfig, ModelSpec, TrainConfig};
pub use error::TrainError;
pub use evaluate::{Prediction, evaluate, forward_all, predict, task_loss};
pub use finetune::{
    AdapterInfo, FinetuneSpec, HEAD, LoraSpec, Pretrained, fingerprint, initial_network,
    layer_names, load_adapter, save_adapter, select_layers,
};
pub use imported_block::{BlockInfo, ImportedBlock};
pub use loss::{
    LossConfig, RegressionLoss, binary_cross_entropy_with_logits, cross_entropy, huber, mse,
};
pub use metrics::{Metrics, accuracy, confusion_matrix, macro_f1, r2};
pub use network::{Network, ParameterInfo};
pub use optimizer::{AdamParams, OptimizerConfig, SgdParams};
pub use plot::{Panel, Series, confusion_svg, panels_svg, run_panels};
pub use report::{ReportFiles, write_comparison, write_plots, write_run_report};
pub use run_dir::RunDir;
pub use saved_run::{SavedRun, SplitChoice};
pub use schedule::{Schedule, ScheduleConfig};
pub use trainer::{
    EpochRecord, Progress, Summary, build_network, finetune, load_dataset, resume, train,
};
