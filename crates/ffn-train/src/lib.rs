//! Training engine of ffn: losses, optimisers with PyTorch's rules, learning-rate schedules,
//! gradient clipping and accumulation, early stopping, metrics, run directories with atomic
//! checkpoints and exact resume, fine-tuning (freezing, LoRA, new heads, imported Transformer
//! FFN blocks), evaluation and prediction of saved runs, language models trained, fine-tuned and
//! sampled through the same engine, export to PyTorch, SVG/HTML reports and benchmarks. A library
//! that never prints: the `ffn` binary (crate `ffn-cli`) shows what it returns.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod bench;
mod clip;
mod config;
mod device;
mod engine;
mod error;
mod export;
mod finetune;
mod fused_adam;
mod inspect;
mod lm;
mod loss;
mod memory;
mod metrics;
mod network;
mod optimizer;
mod params;
mod report;
mod run;
mod schedule;
mod tabular;

pub use bench::{BenchResult, Workload, bench};
pub use clip::clip_global_norm;
pub use config::{EarlyStoppingConfig, ModelSpec, TrainConfig};
pub use device::{
    Backend, CONNECT_TIMEOUT, DEVICE_FORMS, DeviceFlags, DeviceSpec, OpenedDevice, SessionRequest,
    check_devices, open_device, open_devices, open_spec, pin_default_device, read_token,
    run_devices, serve, set_remote_token,
};
pub use engine::{EpochRecord, Progress, ResumeOptions};
pub use error::TrainError;
pub use export::{ExportInfo, export_run};
pub use finetune::{
    AdapterInfo, FinetuneSpec, LoraSpec, load_adapter, save_adapter, select_layers,
};
pub use inspect::{
    Attributions, COMPLETENESS_TOLERANCE, FeatureImportance, InspectOptions, Inspection,
    LayerUnits, LmInspection, MAX_STEPS, Neuron, NeuronContext, PromotedToken, RowAttribution,
    SATURATED_SHARE, TabularInspection, UnitStats, inspect,
};
pub use lm::{
    LmConfig, LmFinetune, LmModelSpec, LmRun, LmSummary, LoraTargets, PretrainedLm, PretrainedText,
    SMOLLM2_FILE, Sampling, SweepConfig, SweepSummary, VariantResult, choose, equal_parameter_d_ff,
    fetched_smollm2, finetune_lm, generate, mean_sd, mean_window_loss, resume_lm, sweep_lm,
    train_lm, variant_config,
};
pub use loss::{
    LossConfig, RegressionLoss, binary_cross_entropy_with_logits, cross_entropy, huber, mse,
};
pub use metrics::{
    METRIC_COLUMNS, MetricColumn, Metrics, accuracy, confusion_matrix, macro_f1, r2,
};
pub use network::{HiddenLayerView, NamedLayer, Network};
pub use optimizer::{AdamParams, OptimizerConfig, OptimizerKind, SgdParams};
pub use params::{ParameterInfo, fingerprint, parameters};
pub use report::{
    Axis, Panel, ReportFiles, Series, confusion_svg, panels_svg, run_panels, write_comparison,
    write_plots, write_run_report,
};
pub use run::{
    Artifact, BlockInfo, CheckpointPoint, DatasetRecord, ImportedBlock, RunDescription, RunDir,
    SavedRun, SplitChoice,
};
pub use schedule::{Schedule, ScheduleConfig};
pub use tabular::{
    Prediction, Summary, build_network, evaluate, finetune, forward_all, load_dataset, predict,
    resume, task_loss, train,
};
