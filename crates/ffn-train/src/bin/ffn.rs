//! `ffn`: train, fine-tune, import, evaluate, predict with and describe feedforward models.

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use burn::module::Module;
use clap::{Args, Parser, Subcommand};
use ffn_model::{Activation, HfLayout, LoraConfig, describe_block};
use ffn_train::{
    Backend, FinetuneSpec, ImportedBlock, LoraSpec, Metrics, OptimizerConfig, Prediction, Progress,
    SavedRun, ScheduleConfig, SplitChoice, Summary, TrainConfig, layer_names, open_device,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "ffn",
    version,
    about = "Train and use feedforward networks on tabular data"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model (with no arguments: the default MLP on datasets/iris.csv, on the CPU).
    Train(Box<TrainArgs>),
    /// Fine-tune a trained run or an imported block on a dataset: new head, freezing, LoRA.
    Finetune(Box<FinetuneArgs>),
    /// Import a Transformer FFN sub-layer from a Hugging Face .safetensors checkpoint.
    Import(ImportArgs),
    /// Evaluate a trained run on a split of its dataset or on another file.
    Eval(EvalArgs),
    /// Predict rows of a CSV file (the feature columns, without the target).
    Predict(PredictArgs),
    /// Describe a run: architecture, parameters, dataset, final metrics.
    Info(InfoArgs),
    /// Draw a run's curves and confusion matrix into report.html, or compare several runs.
    Report(ReportArgs),
    /// Time the reference workloads (FFN train step, MLP epoch, FFN forward) on a backend.
    Bench(BenchArgs),
}

#[derive(Args, Default)]
struct TrainArgs {
    /// JSON config file; the flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue the interrupted run in DIR from its last checkpoint.
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    resume: Option<PathBuf>,
    /// CSV (or .csv.gz) dataset.
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Target column (default: the last one).
    #[arg(long)]
    target: Option<String>,
    /// classification or regression (default: inferred from the target).
    #[arg(long)]
    task: Option<String>,
    /// Hidden layer sizes, e.g. 64,64 (default: 128).
    #[arg(long)]
    hidden: Option<String>,
    /// Hidden activation (relu, gelu, tanh, silu, ...).
    #[arg(long)]
    activation: Option<String>,
    /// Dropout after each hidden layer.
    #[arg(long)]
    dropout: Option<f64>,
    /// Maximum number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Examples per batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// sgd, adam or adamw (PyTorch defaults).
    #[arg(long)]
    optimizer: Option<String>,
    /// constant, step:SIZE:GAMMA, cosine, warmup-cosine:STEPS, warmup-linear:STEPS, plateau:FACTOR:PATIENCE.
    #[arg(long)]
    schedule: Option<String>,
    /// Clip the global gradient norm to this value.
    #[arg(long)]
    clip_norm: Option<f64>,
    /// Early-stopping patience in epochs (0 turns early stopping off).
    #[arg(long)]
    patience: Option<usize>,
    /// flex, ndarray, wgpu or auto.
    #[arg(long)]
    backend: Option<String>,
    /// wgpu adapter index.
    #[arg(long)]
    device: Option<usize>,
    /// Seed of split, initialisation, shuffling and dropout.
    #[arg(long)]
    seed: Option<u64>,
    /// Run directory to create (default: runs/<dataset>-<seconds since epoch>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// End with one JSON object on the last line of stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct FinetuneArgs {
    /// Pretrained run directory (from `ffn train`, `ffn finetune` or `ffn import`).
    #[arg(long, value_name = "RUN_DIR", required_unless_present_any = ["resume", "config"])]
    from: Option<PathBuf>,
    /// Replace the head even when the labels match.
    #[arg(long)]
    new_head: bool,
    /// Layers that do not train: names (mlp.hidden.0, hidden.*, output), indices, body or head.
    #[arg(long, value_name = "SPEC")]
    freeze: Option<String>,
    /// Train LoRA adapters of this rank instead of the base weights.
    #[arg(long)]
    lora_rank: Option<usize>,
    /// LoRA scaling numerator (update scaled by alpha / rank; default 2 × rank).
    #[arg(long, requires = "lora_rank")]
    lora_alpha: Option<f64>,
    /// Dropout on the LoRA adapters' input.
    #[arg(long, requires = "lora_rank")]
    lora_dropout: Option<f64>,
    /// Layers that get adapters (default: every dense layer except a new head).
    #[arg(long, value_name = "SPEC", requires = "lora_rank")]
    lora_targets: Option<String>,
    /// Learning rate of the head (default: --lr).
    #[arg(long)]
    head_lr: Option<f64>,
    #[command(flatten)]
    train: TrainArgs,
}

#[derive(Args)]
struct ImportArgs {
    /// The .safetensors checkpoint.
    #[arg(long, value_name = "FILE")]
    safetensors: PathBuf,
    /// Key layout: bert, gpt2 or llama.
    #[arg(long)]
    layout: String,
    /// Transformer layer number.
    #[arg(long, default_value_t = 0)]
    layer: usize,
    /// The checkpoint's Hugging Face config.json (epsilon, activation, sizes).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Run directory to create.
    #[arg(long, value_name = "RUN_DIR")]
    out: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ReportArgs {
    /// Run directory: regenerates curves.svg and confusion.svg and writes report.html.
    #[arg(long, value_name = "RUN_DIR", required_unless_present = "compare")]
    run: Option<PathBuf>,
    /// Overlay the curves of these runs (two or more).
    #[arg(long, value_name = "RUN_DIR", num_args = 2.., conflicts_with = "run", requires = "out")]
    compare: Vec<PathBuf>,
    /// Directory for the comparison's compare.svg and report.html.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// w1 (FFN train step), w2 (small-MLP epoch), w3 (FFN forward) or all.
    #[arg(long, default_value = "all")]
    workload: String,
    #[command(flatten)]
    compute: ComputeArgs,
    /// Iterations per round (default: per workload, more on a GPU).
    #[arg(long)]
    iters: Option<usize>,
    /// Timed rounds; the median round is reported with the spread.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Untimed iterations first (compilation, autotuning, caches).
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Print one JSON object per workload.
    #[arg(long)]
    json: bool,
}

/// Where `eval` and `predict` compute.
#[derive(Args)]
struct ComputeArgs {
    /// flex, ndarray, wgpu or auto.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// wgpu adapter index.
    #[arg(long)]
    device: Option<usize>,
}

impl ComputeArgs {
    fn open(&self) -> Result<ffn_train::OpenedDevice> {
        Ok(open_device(self.backend.parse::<Backend>()?, self.device)?)
    }
}

#[derive(Args)]
struct EvalArgs {
    /// Run directory.
    #[arg(long)]
    run: PathBuf,
    /// Evaluate every row of this CSV instead of a split of the run's dataset.
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// test, valid, train or all.
    #[arg(long, default_value = "test")]
    split: String,
    #[command(flatten)]
    compute: ComputeArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PredictArgs {
    /// Run directory.
    #[arg(long)]
    run: PathBuf,
    /// CSV with the trained feature columns (any order; other columns are ignored).
    #[arg(long)]
    input: PathBuf,
    /// Write predictions to this CSV instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    compute: ComputeArgs,
    /// Print the predictions as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct InfoArgs {
    /// Run directory.
    #[arg(long)]
    run: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Prints a line to stdout; a closed pipe (`ffn ... | head`) ends the program quietly.
macro_rules! out {
    ($($arg:tt)*) => { emit(format_args!($($arg)*)) };
}

fn emit(text: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{text}")
        && error.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

fn main() -> ExitCode {
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: nothing else runs yet, so no thread reads the environment concurrently. Burn's
        // default device (used when it loads optimiser state) would otherwise be wgpu, which a
        // machine without a GPU or Vulkan driver cannot open.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        None => train(TrainArgs::default()),
        Some(Command::Train(args)) => train(*args),
        Some(Command::Finetune(args)) => finetune(*args),
        Some(Command::Import(args)) => import(args),
        Some(Command::Eval(args)) => eval(args),
        Some(Command::Predict(args)) => predict(args),
        Some(Command::Info(args)) => info(args),
        Some(Command::Report(args)) => report(args),
        Some(Command::Bench(args)) => bench(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Training allocates and frees the same large tensors every step. By default glibc serves
/// blocks above 128 KiB with `mmap` and unmaps them on `free`, so every step faults its pages
/// back in (about a tenth of a W1 step on flex). Up to 32 MiB (glibc's ceiling for this
/// setting) blocks now come from the heap and freed memory stays there for reuse.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// The config of a new run: file (or defaults), then the flags on top.
fn resolve_config(args: &TrainArgs) -> Result<TrainConfig> {
    let mut config = match &args.config {
        Some(path) => TrainConfig::load(path)?,
        None => TrainConfig::default(),
    };
    if let Some(v) = &args.dataset {
        config.dataset = v.clone();
    }
    if let Some(v) = &args.target {
        config.target = Some(v.clone());
    }
    if let Some(v) = &args.task {
        config.task = Some(v.parse().map_err(anyhow::Error::msg)?);
    }
    if let Some(v) = &args.hidden {
        config.model.hidden = parse_hidden(v)?;
    }
    if let Some(v) = &args.activation {
        config.model.activation = v.parse::<Activation>()?;
    }
    if let Some(v) = args.dropout {
        config.model.dropout = v;
    }
    if let Some(v) = args.epochs {
        config.epochs = v;
    }
    if let Some(v) = args.batch_size {
        config.batch_size = v;
    }
    if let Some(v) = args.lr {
        config.lr = v;
    }
    if let Some(v) = &args.optimizer {
        config.optimizer = OptimizerConfig::from_name(v)?;
    }
    if let Some(v) = &args.schedule {
        config.schedule = ScheduleConfig::parse(v)?;
    }
    if let Some(v) = args.clip_norm {
        config.grad_clip_norm = Some(v);
    }
    if let Some(v) = args.patience {
        config.early_stopping = (v > 0).then(|| ffn_train::EarlyStoppingConfig {
            patience: v,
            ..config.early_stopping.clone().unwrap_or_default()
        });
    }
    if let Some(v) = &args.backend {
        config.backend = v.parse::<Backend>()?;
    }
    if let Some(v) = args.device {
        config.device_index = Some(v);
    }
    if let Some(v) = args.seed {
        config.seed = v;
    }
    config.validate()?;
    Ok(config)
}

fn parse_hidden(spec: &str) -> Result<Vec<usize>> {
    let sizes: Vec<usize> = spec
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<usize>()
                .with_context(|| format!("--hidden takes sizes like 64,64; '{s}' is not a size"))
        })
        .collect::<Result<_>>()?;
    anyhow::ensure!(
        !sizes.is_empty(),
        "--hidden needs at least one layer size, e.g. 64,64"
    );
    Ok(sizes)
}

fn default_out(config: &TrainConfig) -> PathBuf {
    let stem = config.dataset.file_stem().map_or("run".into(), |s| {
        s.to_string_lossy().trim_end_matches(".csv").to_string()
    });
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    PathBuf::from("runs").join(format!("{stem}-{stamp}"))
}

/// Shows progress: a bar on a terminal, one line per epoch otherwise.
struct Reporter {
    bar: Option<ProgressBar>,
    batches: usize,
}

impl Reporter {
    fn new() -> Self {
        Self {
            bar: None,
            batches: 1,
        }
    }

    fn on(&mut self, event: Progress) -> ControlFlow<()> {
        let terminal = std::io::stdout().is_terminal();
        match event {
            Progress::Start {
                epochs,
                first_epoch,
                batches,
                device,
            } => {
                out!(
                    "training on {device}: epochs {}..{epochs}, {batches} batches each",
                    first_epoch + 1
                );
                self.batches = batches;
                if terminal {
                    let bar = ProgressBar::new((epochs * batches) as u64);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{bar:30} epoch {prefix} {msg} [{elapsed}<{eta}]",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.set_position((first_epoch * batches) as u64);
                    self.bar = Some(bar);
                }
            }
            Progress::Batch { epoch, batch } => {
                if let Some(bar) = &self.bar {
                    bar.set_position((epoch * self.batches + batch + 1) as u64);
                    bar.set_prefix((epoch + 1).to_string());
                }
            }
            Progress::Notice(text) => out!("note: {text}"),
            Progress::Epoch(record) => {
                let line = format!(
                    "lr {:.2e}  train {}  valid {}  {:.2}s",
                    record.lr,
                    brief(&record.train),
                    record.valid.as_ref().map_or("-".into(), brief),
                    record.seconds
                );
                match &self.bar {
                    Some(bar) => bar.set_message(line),
                    None => out!("epoch {:>4}  {line}", record.epoch),
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn brief(m: &Metrics) -> String {
    let (name, value) = m.main();
    format!("loss {:.4} {name} {value:.4}", m.loss)
}

fn train(args: TrainArgs) -> Result<()> {
    run_training(args, Ok)
}

fn finetune(args: FinetuneArgs) -> Result<()> {
    let train = &args.train;
    anyhow::ensure!(
        train.hidden.is_none() && train.activation.is_none() && train.dropout.is_none(),
        "--hidden, --activation and --dropout do not apply: the architecture comes from --from"
    );
    anyhow::ensure!(
        train.dataset.is_some() || train.config.is_some() || train.resume.is_some(),
        "--dataset is needed: the CSV to fine-tune on"
    );
    let list = |spec: &str| -> Vec<String> {
        spec.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let mut overrides = FinetuneSpec {
        new_head: args.new_head,
        freeze: args.freeze.as_deref().map(list).unwrap_or_default(),
        head_lr: args.head_lr,
        lora: args.lora_rank.map(|rank| LoraSpec {
            config: LoraConfig {
                rank,
                alpha: args.lora_alpha.unwrap_or(2.0 * rank as f64),
                dropout: args.lora_dropout.unwrap_or(0.0),
            },
            targets: args.lora_targets.as_deref().map(list).unwrap_or_default(),
        }),
        ..FinetuneSpec::default()
    };
    run_training(args.train, move |mut config| {
        let spec = config.finetune.get_or_insert_with(FinetuneSpec::default);
        if let Some(from) = &args.from {
            overrides.from = from.clone();
        } else {
            overrides.from = spec.from.clone();
        }
        *spec = overrides;
        config.validate()?;
        Ok(config)
    })
}

/// Trains (or resumes) with the config the flags give, after `adjust`.
fn run_training(
    args: TrainArgs,
    adjust: impl FnOnce(TrainConfig) -> Result<TrainConfig>,
) -> Result<()> {
    let mut reporter = Reporter::new();
    let started = std::time::Instant::now();
    let summary = match &args.resume {
        Some(dir) => ffn_train::resume(dir, &mut |e| reporter.on(e))
            .with_context(|| format!("cannot resume {}", dir.display()))?,
        None => {
            let config = adjust(resolve_config(&args)?)?;
            let out = args.out.clone().unwrap_or_else(|| default_out(&config));
            ffn_train::train(&config, &out, &mut |e| reporter.on(e))
                .with_context(|| format!("training on {} failed", config.dataset.display()))?
        }
    };
    reporter.finish();
    let wall = started.elapsed().as_secs_f64();
    print_summary(&summary, wall);
    if args.json {
        out!(
            "{}",
            json!({
                "run_dir": summary.run_dir,
                "epochs_run": summary.epochs_run,
                "best_epoch": summary.best_epoch,
                "stopped_early": summary.stopped_early,
                "params": summary.params,
                "trainable_params": summary.trainable_params,
                "trainable_fraction": summary.trainable_fraction,
                "test": summary.test,
                "valid": summary.valid,
                "wall_seconds": wall,
            })
        );
    }
    Ok(())
}

fn print_summary(summary: &Summary, wall: f64) {
    out!(
        "trained {} epochs (kept epoch {}{}) in {wall:.1}s; {} parameters",
        summary.epochs_run,
        summary.best_epoch,
        if summary.stopped_early {
            ", stopped early"
        } else {
            ""
        },
        summary.params
    );
    if summary.trainable_fraction < 1.0 {
        out!(
            "trainable parameters: {} ({:.2}% of the network with its adapters)",
            summary.trainable_params,
            100.0 * summary.trainable_fraction
        );
    }
    for (name, metrics) in [("valid", &summary.valid), ("test", &summary.test)] {
        if let Some(m) = metrics {
            out!("{name}: {}", describe(m));
        }
    }
    out!("saved the run to {}", summary.run_dir.display());
}

fn describe(m: &Metrics) -> String {
    let mut parts = vec![format!("loss {:.4}", m.loss)];
    for (name, value) in [
        ("accuracy", m.accuracy),
        ("macro-F1", m.macro_f1),
        ("MSE", m.mse),
        ("MAE", m.mae),
        ("R²", m.r2),
    ] {
        if let Some(v) = value {
            parts.push(format!("{name} {v:.4}"));
        }
    }
    parts.join(", ")
}

fn import(args: ImportArgs) -> Result<()> {
    let layout: HfLayout = args.layout.parse()?;
    let imported = ImportedBlock::import(
        &args.safetensors,
        layout,
        args.layer,
        args.config.as_deref(),
        &args.out,
    )
    .with_context(|| format!("cannot import {}", args.safetensors.display()))?;
    let info = &imported.info;
    if args.json {
        out!("{}", json!({ "run_dir": args.out, "block": info }));
    } else {
        out!(
            "imported layer {} of {} ({:?} layout, prefix '{}'): {}",
            info.layer,
            args.safetensors.display(),
            info.layout,
            info.prefix,
            describe_block(&info.config)
        );
        out!("read {} tensors: {}", info.keys.len(), info.keys.join(", "));
        out!("saved the block to {}", args.out.display());
    }
    Ok(())
}

/// Refuses commands that need a trained run when `dir` holds an imported block.
fn require_trained(dir: &std::path::Path, what: &str) -> Result<SavedRun> {
    anyhow::ensure!(
        !ImportedBlock::is_block_dir(dir),
        "{} holds an imported block, which has no task to {what}; fine-tune it first: \
         ffn finetune --from {} --dataset DATA.csv",
        dir.display(),
        dir.display()
    );
    Ok(SavedRun::open(dir)?)
}

fn eval(args: EvalArgs) -> Result<()> {
    let run = require_trained(&args.run, "evaluate")?;
    let split: SplitChoice = args.split.parse()?;
    let device = args.compute.open()?;
    let metrics = run
        .evaluate(args.dataset.as_deref(), split, &device.device)
        .with_context(|| format!("cannot evaluate {}", args.run.display()))?;
    if args.json {
        out!(
            "{}",
            json!({ "run_dir": args.run, "split": args.split, "metrics": metrics })
        );
    } else {
        let what = args
            .dataset
            .as_ref()
            .map_or(format!("{} split", args.split), |d| d.display().to_string());
        out!("{what}: {}", describe(&metrics));
    }
    Ok(())
}

fn predict(args: PredictArgs) -> Result<()> {
    if ImportedBlock::is_block_dir(&args.run) {
        return predict_block(args);
    }
    let run = SavedRun::open(&args.run)?;
    let device = args.compute.open()?;
    let predictions = run
        .predict_file(&args.input, &device.device)
        .with_context(|| format!("cannot predict {}", args.input.display()))?;
    let labels = run.preprocessor.labels.as_ref();
    let name = |i: usize| labels.and_then(|l| l.name(i)).unwrap_or("?").to_string();
    let mut csv = String::new();
    match labels {
        Some(labels) => {
            let columns: Vec<String> = labels.classes().iter().map(|c| format!("p_{c}")).collect();
            csv.push_str(&format!(
                "{},{}\n",
                run.preprocessor.target_name,
                columns.join(",")
            ));
        }
        None => csv.push_str(&format!("{}\n", run.preprocessor.target_name)),
    }
    let mut rows = Vec::with_capacity(predictions.len());
    for p in &predictions {
        match p {
            Prediction::Class {
                index,
                probabilities,
            } => {
                let probs: Vec<String> = probabilities.iter().map(|v| format!("{v:.6}")).collect();
                csv.push_str(&format!("{},{}\n", name(*index), probs.join(",")));
                rows.push(json!({ "label": name(*index), "probabilities": probabilities }));
            }
            Prediction::Value(v) => {
                csv.push_str(&format!("{v}\n"));
                rows.push(json!({ "value": v }));
            }
        }
    }
    write_predictions(&args, &csv, predictions.len(), json!(rows))
}

/// Runs an imported block over vectors: one `d_model` row in, one out.
fn predict_block(args: PredictArgs) -> Result<()> {
    let block = ImportedBlock::open(&args.run)?;
    let device = args.compute.open()?;
    let outputs = block
        .predict_file(&args.input, &device.device)
        .with_context(|| format!("cannot run the block on {}", args.input.display()))?;
    let width = block.info.config.d_model;
    let header: Vec<String> = (0..width).map(|i| format!("y{i}")).collect();
    let mut csv = format!("{}\n", header.join(","));
    for row in &outputs {
        let values: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
        csv.push_str(&values.join(","));
        csv.push('\n');
    }
    write_predictions(&args, &csv, outputs.len(), json!(outputs))
}

/// Writes the predictions CSV to `--output` (atomically) or stdout, or prints them as JSON.
fn write_predictions(
    args: &PredictArgs,
    csv: &str,
    count: usize,
    rows: serde_json::Value,
) -> Result<()> {
    match &args.output {
        Some(path) => {
            ffn_model::write_atomically(path, csv.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            if !args.json {
                out!("wrote {count} predictions to {}", path.display());
            }
        }
        None if !args.json => emit(format_args!("{}", csv.trim_end())),
        None => {}
    }
    if args.json {
        out!("{}", json!({ "run_dir": args.run, "predictions": rows }));
    }
    Ok(())
}

fn bench(args: BenchArgs) -> Result<()> {
    let workloads: Vec<ffn_train::Workload> = match args.workload.trim() {
        "all" => ffn_train::Workload::ALL.to_vec(),
        one => vec![one.parse()?],
    };
    let device = args.compute.open()?;
    let gpu = device.backend == Backend::Wgpu;
    if !args.json {
        out!("benchmarking on {}", device.description);
    }
    for workload in workloads {
        let iters = args.iters.unwrap_or(workload.default_iters(gpu));
        let result = ffn_train::bench(workload, &device, iters, args.rounds, args.warmup)
            .with_context(|| format!("benchmark {} failed", workload.name()))?;
        if args.json {
            out!("{}", serde_json::to_string(&result)?);
            continue;
        }
        let rate = match (result.gflops, result.samples_per_s) {
            (Some(g), _) => format!("{g:.1} GFLOP/s"),
            (None, Some(s)) => format!("{s:.0} samples/s"),
            _ => String::new(),
        };
        out!(
            "{:<18} {:>9.3} ms  (min {:.3}, max {:.3}; {} rounds × {})  {rate}  peak RSS {}",
            result.workload,
            result.ms,
            result.min_ms,
            result.max_ms,
            result.rounds,
            result.iters,
            result
                .peak_rss_mib
                .map_or("?".to_string(), |m| format!("{m:.0} MiB"))
        );
    }
    Ok(())
}

fn report(args: ReportArgs) -> Result<()> {
    if let (Some(out), false) = (&args.out, args.compare.is_empty()) {
        let html = ffn_train::write_comparison(&args.compare, out)
            .with_context(|| format!("cannot compare the runs into {}", out.display()))?;
        match args.json {
            true => out!(
                "{}",
                json!({ "report": html, "svg": out.join("compare.svg") })
            ),
            false => out!(
                "wrote {} and {}",
                out.join("compare.svg").display(),
                html.display()
            ),
        }
        return Ok(());
    }
    let dir = args.run.context("--run or --compare is needed")?;
    let files = ffn_train::write_run_report(&dir)
        .with_context(|| format!("cannot report on {}", dir.display()))?;
    if args.json {
        out!(
            "{}",
            json!({ "report": files.html, "curves": files.curves, "confusion": files.confusion })
        );
    } else {
        let mut written = vec![files.curves.display().to_string()];
        written.extend(files.confusion.iter().map(|p| p.display().to_string()));
        written.extend(files.html.iter().map(|p| p.display().to_string()));
        out!("wrote {}", written.join(", "));
    }
    Ok(())
}

fn info_block(args: &InfoArgs) -> Result<()> {
    let block = ImportedBlock::open(&args.run)?;
    let info = &block.info;
    if args.json {
        out!("{}", json!({ "run_dir": args.run, "block": info }));
        return Ok(());
    }
    out!("run:        {} (imported block)", args.run.display());
    out!(
        "source:     {} layer {} ({:?} layout, prefix '{}')",
        info.source.display(),
        info.layer,
        info.layout,
        info.prefix
    );
    out!("block:      {}", describe_block(&info.config));
    Ok(())
}

fn info(args: InfoArgs) -> Result<()> {
    if ImportedBlock::is_block_dir(&args.run) {
        return info_block(&args);
    }
    let run = SavedRun::open(&args.run)?;
    let device = open_device(Backend::Flex, None)?;
    let model = run.model(&device.device).ok();
    let params = model.as_ref().map(|m| m.num_params());
    let pre = &run.preprocessor;
    if args.json {
        out!(
            "{}",
            json!({
                "run_dir": args.run,
                "dataset": run.config.dataset,
                "task": pre.task,
                "features": pre.feature_names,
                "target": pre.target_name,
                "classes": pre.labels.as_ref().map(|l| l.classes()),
                "model": run.config.model,
                "finetune": run.config.finetune,
                "layers": model.as_ref().map(layer_names),
                "params": params,
                "optimizer": run.config.optimizer,
                "summary": run.summary,
            })
        );
        return Ok(());
    }
    let widths: Vec<String> = std::iter::once(pre.feature_names.len())
        .chain(run.config.model.hidden.iter().copied())
        .chain(std::iter::once(pre.n_outputs()))
        .map(|w| w.to_string())
        .collect();
    out!("run:        {}", args.run.display());
    out!(
        "dataset:    {} (target '{}', {})",
        run.config.dataset.display(),
        pre.target_name,
        pre.task
    );
    if let Some(block) = &run.config.model.block {
        out!("block:      {}", describe_block(block));
    }
    out!(
        "model:      MLP {} ({}, dropout {})",
        widths.join(" → "),
        run.config.model.activation,
        run.config.model.dropout
    );
    if let Some(model) = &model {
        let names: Vec<String> = layer_names(model)
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{i}={n}"))
            .collect();
        out!("layers:     {}", names.join(", "));
    }
    if let Some(spec) = &run.config.finetune {
        let lora = spec.lora.as_ref().map_or("no LoRA".to_string(), |l| {
            format!("LoRA rank {} alpha {}", l.config.rank, l.config.alpha)
        });
        out!(
            "fine-tuned: from {}, {}{}, frozen [{}]",
            spec.from.display(),
            lora,
            if spec.new_head { ", new head" } else { "" },
            spec.freeze.join(", ")
        );
    }
    if let Some(p) = params {
        out!("parameters: {p}");
    }
    if let Some(labels) = &pre.labels {
        out!("classes:    {}", labels.classes().join(", "));
    }
    match &run.summary {
        Some(s) => {
            out!(
                "trained:    {} epochs (kept epoch {}) on {}, {:.1}s",
                s.epochs_run,
                s.best_epoch,
                s.backend,
                s.train_seconds
            );
            for (name, m) in [("valid", &s.valid), ("test", &s.test)] {
                if let Some(m) = m {
                    out!("{name}:{}{}", " ".repeat(11 - name.len()), describe(m));
                }
            }
        }
        None => out!(
            "trained:    not finished (resume with `ffn train --resume {}`)",
            args.run.display()
        ),
    }
    Ok(())
}
