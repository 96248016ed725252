//! The command line: every subcommand's flags (`lm`: the language-model subcommands). Flags that name a closed set accept exactly its
//! names (listed by `--help`, and by clap when a value is rejected); the others are parsed by
//! the library's own parsers.

use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use ffn_data::Task;
use ffn_model::{Activation, HfLayout};
use ffn_train::{DeviceSpec, OptimizerKind, ScheduleConfig, SplitChoice, Workload};
use strum::VariantNames;

mod inspect;
mod lm;

pub use inspect::InspectArgs;
pub use lm::{
    LmCommand, LmEvalArgs, LmFinetuneArgs, LmFlags, LmGenerateArgs, LmSweepArgs, LmTrainArgs,
    PretrainedArgs,
};

/// The `ffn` command line.
#[derive(Parser)]
#[command(
    name = "ffn",
    version,
    about = "Train, fine-tune and use feedforward networks (dense layers, MLPs, Transformer FFN blocks)"
)]
pub struct Cli {
    /// What to do; with none, `train` with its defaults.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The shared secret of `ffn serve` and its clients, read from this file (default: the
    /// FFN_REMOTE_TOKEN environment variable).
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Train a model (with no arguments: the default MLP on datasets/iris.csv, on the CPU).
    Train(Box<TrainArgs>),
    /// Fine-tune a trained run or an imported block on a dataset: new head, freezing, LoRA.
    Finetune(Box<FinetuneArgs>),
    /// Import a Transformer FFN sub-layer from a Hugging Face .safetensors checkpoint.
    Import(ImportArgs),
    /// Export a trained run's weights for PyTorch (torch.nn.Sequential names, in .safetensors).
    Export(ExportArgs),
    /// Evaluate a trained run on a split of its dataset or on another file.
    Eval(EvalArgs),
    /// Predict rows of a CSV file (the feature columns, without the target).
    Predict(PredictArgs),
    /// Describe a run: architecture, parameters, dataset, final metrics.
    Info(InfoArgs),
    /// Serve this machine's device to remote clients (`--backend remote:ws://HOST:PORT`,
    /// `--devices`) through Burn's remote backend, until Ctrl+C or SIGTERM.
    Serve(ServeArgs),
    /// Look inside a trained network: unit statistics and feature attributions (tabular), or
    /// what each FFN neuron fires on and promotes (language models).
    Inspect(InspectArgs),
    /// Draw a run's curves and confusion matrix into report.html, or compare several runs.
    Report(ReportArgs),
    /// Time the reference workloads (FFN train step, MLP epoch, FFN forward, GPT train step).
    Bench(BenchArgs),
    /// Language models whose blocks are these FFNs: train, generate, eval, finetune.
    #[command(subcommand)]
    Lm(LmCommand),
}

impl Command {
    /// Whether `--json` was given: a failure then ends stdout with a JSON error object too.
    pub fn json(&self) -> bool {
        match self {
            Command::Train(args) => args.output.json,
            Command::Finetune(args) => args.train.output.json,
            Command::Import(args) => args.output.json,
            Command::Export(args) => args.output.json,
            Command::Eval(args) => args.output.json,
            Command::Info(args) => args.output.json,
            Command::Inspect(args) => args.output.json,
            Command::Report(args) => args.output.json,
            Command::Bench(args) => args.json,
            Command::Serve(_) => false,
            Command::Predict(args) => args.json,
            Command::Lm(LmCommand::Train(args)) => args.output.json,
            Command::Lm(LmCommand::Finetune(args)) => args.train.output.json,
            Command::Lm(LmCommand::Generate(args)) => args.output.json,
            Command::Lm(LmCommand::Eval(args)) => args.output.json,
            Command::Lm(LmCommand::Sweep(args)) => args.output.json,
        }
    }
}

/// A value parser accepting exactly the names of `T` (case-insensitively with `ignore_case`),
/// so that `--help` lists them and clap rejects anything else with the list.
pub fn one_of<T>() -> impl TypedValueParser<Value = T>
where
    T: VariantNames + FromStr + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Display,
{
    PossibleValuesParser::new(T::VARIANTS)
        .try_map(|name| name.parse::<T>().map_err(|e| e.to_string()))
}

/// `--json`: end with one JSON object on the last line of stdout.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct JsonFlag {
    /// End with one JSON object on the last line of stdout.
    #[arg(long)]
    pub json: bool,
}

/// Where a command computes.
#[derive(Args, Debug, Clone)]
pub struct ComputeArgs {
    /// Compute backend: flex, ndarray, wgpu, wgpu:N, auto, or remote:ws://HOST:PORT (an
    /// `ffn serve` server).
    #[arg(long, default_value = "flex", value_name = "DEVICE")]
    pub backend: DeviceSpec,
    /// wgpu adapter index (the N-th discrete GPU).
    #[arg(long)]
    pub device: Option<usize>,
}

/// `ffn serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The backend of the served device: flex, ndarray or wgpu (wgpu:N for the N-th GPU).
    #[arg(long, default_value = "flex", value_name = "DEVICE")]
    pub backend: DeviceSpec,
    /// wgpu adapter index (the N-th discrete GPU).
    #[arg(long)]
    pub device: Option<usize>,
    /// Address and port to listen on, exactly as given (PORT alone: 127.0.0.1:PORT; port 0 picks
    /// a free one). A non-loopback address is served only when written out.
    #[arg(long, default_value = "127.0.0.1:3000", value_name = "ADDR:PORT")]
    pub listen: String,
}

/// `ffn train`.
#[derive(Args, Default)]
pub struct TrainArgs {
    /// JSON config file (a run's config.json works); the flags below override what they name.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Continue the run in DIR from its last checkpoint (or finish it); with --epochs N, extend it
    /// to N epochs. Only --epochs, --backend and --device apply with it.
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    pub resume: Option<PathBuf>,
    /// Settings that override the config file.
    #[command(flatten)]
    pub flags: TrainFlags,
    /// Run directory to create (default: runs/<dataset>-<milliseconds since epoch>).
    #[arg(long, conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Replace the run already in --out (once the new one has started; kept if it fails).
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    #[command(flatten)]
    pub output: JsonFlag,
}

/// Layer sizes given as `64,64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSizes(pub Vec<usize>);

impl FromStr for LayerSizes {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let sizes = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<usize>()
                    .map_err(|_| format!("--hidden takes sizes like 64,64; '{s}' is not a size"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if sizes.is_empty() {
            return Err("--hidden needs at least one layer size, e.g. 64,64".into());
        }
        Ok(Self(sizes))
    }
}

/// The training settings a flag can override; each is applied only when given.
#[derive(Args, Debug, Clone, Default)]
pub struct TrainFlags {
    /// CSV (or .csv.gz) dataset.
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Target column (default: the last one).
    #[arg(long)]
    pub target: Option<String>,
    /// The task (default: inferred from the target).
    #[arg(long, value_parser = one_of::<Task>(), ignore_case = true)]
    pub task: Option<Task>,
    /// The CSV has no header row: its columns are named x0, x1, ... (the target is the last).
    #[arg(long)]
    pub no_header: bool,
    /// Feature columns to use, in this order (default: every column but the target and --drop).
    #[arg(long, value_name = "COLUMNS", value_parser = clap::value_parser!(NameList))]
    pub features: Option<NameList>,
    /// Columns to leave out, e.g. an ID.
    #[arg(long, value_name = "COLUMNS", value_parser = clap::value_parser!(NameList))]
    pub drop: Option<NameList>,
    /// Hidden layer sizes, e.g. 64,64 (default: 128).
    #[arg(long, value_name = "SIZES", value_parser = clap::value_parser!(LayerSizes))]
    pub hidden: Option<LayerSizes>,
    /// Hidden activation: relu, gelu, gelu_tanh, silu, tanh, sigmoid, leaky_relu(SLOPE), elu(ALPHA),
    /// selu, mish, softplus, softsign, relu6, quick_gelu, identity.
    #[arg(long, value_parser = parse_activation)]
    pub activation: Option<Activation>,
    /// Dropout after each hidden layer.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Maximum number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Optimiser, with PyTorch's defaults.
    #[arg(long, value_parser = one_of::<OptimizerKind>(), ignore_case = true)]
    pub optimizer: Option<OptimizerKind>,
    /// constant, step:SIZE:GAMMA, cosine, warmup-cosine:STEPS, warmup-linear:STEPS,
    /// plateau:FACTOR:PATIENCE.
    #[arg(long, value_parser = parse_schedule)]
    pub schedule: Option<ScheduleConfig>,
    /// Clip the global gradient norm to this value.
    #[arg(long)]
    pub clip_norm: Option<f64>,
    /// Early-stopping patience in epochs (0 turns early stopping off).
    #[arg(long)]
    pub patience: Option<usize>,
    #[command(flatten)]
    pub devices: DeviceArgs,
    /// Seed of split, initialisation, shuffling and dropout.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Where a run computes: `--backend`, `--device`, `--devices`.
#[derive(Args, Debug, Clone, Default)]
pub struct DeviceArgs {
    /// Compute backend: flex, ndarray, wgpu, wgpu:N, auto, or remote:ws://HOST:PORT (an
    /// `ffn serve` server).
    #[arg(long, value_name = "DEVICE", conflicts_with = "devices")]
    pub backend: Option<DeviceSpec>,
    /// wgpu adapter index (the N-th discrete GPU).
    #[arg(long, conflicts_with = "devices")]
    pub device: Option<usize>,
    /// Data parallel over these devices (DEVICE,DEVICE,...; the first holds the model): every
    /// batch is split across them and their gradients summed into one optimiser step.
    #[arg(long, value_name = "DEVICES", value_delimiter = ',')]
    pub devices: Option<Vec<DeviceSpec>>,
}

impl DeviceArgs {
    /// The flags as the library applies them.
    pub fn flags(&self) -> ffn_train::DeviceFlags {
        ffn_train::DeviceFlags {
            backend: self.backend.clone(),
            device: self.device,
            devices: self.devices.clone(),
        }
    }
}

fn parse_activation(name: &str) -> Result<Activation, String> {
    name.parse()
        .map_err(|e: ffn_model::ModelError| e.to_string())
}

pub(crate) fn parse_schedule(spec: &str) -> Result<ScheduleConfig, String> {
    ScheduleConfig::parse(spec).map_err(|e| e.to_string())
}

/// A comma-separated list of names: layers, patterns or indices as `--freeze` takes them, or
/// columns as `--features` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameList(pub Vec<String>);

impl FromStr for NameList {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        Ok(Self(
            spec.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ))
    }
}

/// `ffn finetune`.
#[derive(Args)]
pub struct FinetuneArgs {
    /// Fine-tuning settings that override the config file's `finetune` section.
    #[command(flatten)]
    pub finetune: FinetuneFlags,
    #[command(flatten)]
    pub train: TrainArgs,
}

/// The fine-tuning settings a flag can override; each is applied only when given.
#[derive(Args, Debug, Clone, Default)]
pub struct FinetuneFlags {
    /// Pretrained run directory (from `ffn train`, `ffn finetune` or `ffn import`).
    #[arg(long, value_name = "RUN_DIR")]
    pub from: Option<PathBuf>,
    /// Replace the head even when the labels match.
    #[arg(long)]
    pub new_head: bool,
    /// Layers that do not train: names (mlp.hidden.0, hidden.*, output), indices, body or head.
    #[arg(long, value_name = "SPEC", value_parser = clap::value_parser!(NameList))]
    pub freeze: Option<NameList>,
    /// Train LoRA adapters of this rank instead of the base weights.
    #[arg(long)]
    pub lora_rank: Option<usize>,
    /// LoRA scaling numerator (update scaled by alpha / rank; default 2 × rank).
    #[arg(long)]
    pub lora_alpha: Option<f64>,
    /// Dropout on the LoRA adapters' input.
    #[arg(long)]
    pub lora_dropout: Option<f64>,
    /// Layers that get adapters (default: every dense layer except a new head).
    #[arg(long, value_name = "SPEC", value_parser = clap::value_parser!(NameList))]
    pub lora_targets: Option<NameList>,
    /// Learning rate of the head (default: --lr).
    #[arg(long)]
    pub head_lr: Option<f64>,
}

/// `ffn import`.
#[derive(Args)]
pub struct ImportArgs {
    /// The checkpoint: a .safetensors file, a sharded checkpoint's model.safetensors.index.json,
    /// or a directory holding either.
    #[arg(long, value_name = "PATH")]
    pub safetensors: PathBuf,
    /// Key layout of the checkpoint.
    #[arg(long, value_parser = one_of::<HfLayout>(), ignore_case = true)]
    pub layout: HfLayout,
    /// Transformer layer number.
    #[arg(long, default_value_t = 0)]
    pub layer: usize,
    /// The checkpoint's Hugging Face config.json (epsilon, activation, sizes).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run directory to create.
    #[arg(long, value_name = "RUN_DIR")]
    pub out: PathBuf,
    /// Replace the run or block already in --out (kept if the import fails).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub output: JsonFlag,
}

/// `ffn export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Trained run directory.
    #[arg(long)]
    pub run: PathBuf,
    /// The .safetensors file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: JsonFlag,
}

/// `ffn report`.
#[derive(Args)]
pub struct ReportArgs {
    /// Run directory: regenerates curves.svg and confusion.svg and writes report.html.
    #[arg(long, value_name = "RUN_DIR", required_unless_present = "compare")]
    pub run: Option<PathBuf>,
    /// Overlay the curves of these runs (two or more).
    #[arg(long, value_name = "RUN_DIR", num_args = 2.., conflicts_with = "run", requires = "out")]
    pub compare: Vec<PathBuf>,
    /// Directory for the comparison's compare.svg and report.html.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub output: JsonFlag,
}

/// `--workload`: one reference workload or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadChoice {
    /// Every workload in turn.
    All,
    /// One workload.
    One(Workload),
}

impl WorkloadChoice {
    /// The workloads chosen, in report order.
    pub fn workloads(self) -> Vec<Workload> {
        match self {
            Self::All => Workload::ALL.to_vec(),
            Self::One(workload) => vec![workload],
        }
    }
}

fn workload_choices() -> impl TypedValueParser<Value = WorkloadChoice> {
    let names = Workload::VARIANTS.iter().copied().chain(["all"]);
    PossibleValuesParser::new(names).try_map(|name| match name.as_str() {
        "all" => Ok(WorkloadChoice::All),
        one => one
            .parse()
            .map(WorkloadChoice::One)
            .map_err(|e| e.to_string()),
    })
}

/// `ffn bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// w1 (FFN train step), w2 (small-MLP epoch), w3 (FFN forward), w4 (character GPT train
    /// step), decode (256 tokens with the KV cache against recomputation) or all.
    #[arg(long, value_parser = workload_choices(), ignore_case = true, default_value = "all")]
    pub workload: WorkloadChoice,
    #[command(flatten)]
    pub compute: ComputeArgs,
    /// Iterations per round (default: per workload, more on a GPU).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub iters: Option<u32>,
    /// Timed rounds; the median round is reported with the spread.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rounds: u32,
    /// Untimed iterations first (compilation, autotuning, caches).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub warmup: u32,
    /// Print one JSON object per workload.
    #[arg(long)]
    pub json: bool,
}

/// `ffn eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Run directory.
    #[arg(long)]
    pub run: PathBuf,
    /// Evaluate every row of this CSV instead of a split of the run's dataset.
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Which rows of the run's dataset.
    #[arg(long, value_parser = one_of::<SplitChoice>(), ignore_case = true, default_value = "test")]
    pub split: SplitChoice,
    #[command(flatten)]
    pub compute: ComputeArgs,
    #[command(flatten)]
    pub output: JsonFlag,
}

/// `ffn predict`.
#[derive(Args)]
pub struct PredictArgs {
    /// Run directory.
    #[arg(long)]
    pub run: PathBuf,
    /// CSV with the trained feature columns (any order; other columns are ignored).
    #[arg(long)]
    pub input: PathBuf,
    /// Write predictions to this CSV instead of stdout (`-` is stdout; a device or FIFO is
    /// written in place).
    #[arg(long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub compute: ComputeArgs,
    /// Print the predictions as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `ffn info`.
#[derive(Args)]
pub struct InfoArgs {
    /// Run directory.
    #[arg(long)]
    pub run: PathBuf,
    #[command(flatten)]
    pub output: JsonFlag,
}
