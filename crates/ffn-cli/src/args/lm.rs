//! `ffn lm`: language models whose blocks are this project's FFNs.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use ffn_data::TokenizerKind;
use ffn_model::{FfnSpec, Positions};
use ffn_train::{LoraTargets, ScheduleConfig};

use super::{ComputeArgs, DeviceArgs, JsonFlag, NameList, one_of, parse_schedule};

/// The `ffn lm` subcommands.
#[derive(Subcommand)]
pub enum LmCommand {
    /// Train a language model from scratch on a text (defaults: the reference "baby GPT" recipe on
    /// datasets/shakespeare.txt).
    Train(Box<LmTrainArgs>),
    /// Generate text from a trained language model, streamed as it comes.
    Generate(LmGenerateArgs),
    /// Loss, perplexity and bits per character of a language model on a text.
    Eval(LmEvalArgs),
    /// Fine-tune a language model on another text: LoRA on FFN and/or attention, or freezing.
    Finetune(Box<LmFinetuneArgs>),
    /// Compare FFN variants: the same recipe per variant (gated ones at 2/3 of --d-ff, so every
    /// block has the same parameters; mixtures at the same active parameters) and seed, every
    /// run kept, a table and a plot.
    Sweep(Box<LmSweepArgs>),
}

/// `ffn lm sweep`.
#[derive(Args)]
pub struct LmSweepArgs {
    /// The FFN variants to compare: relu, gelu, swiglu, geglu, reglu, or a mixture of experts
    /// moe:E:K[:KIND] (at equal active parameters: each expert 2/(K·matrices) of --d-ff).
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = parse_ffn,
        default_value = "relu,gelu,swiglu,geglu,reglu"
    )]
    pub variants: Vec<FfnSpec>,
    /// The seeds every variant trains with.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    pub seeds: Vec<u64>,
    /// JSON config file of the recipe (a run's config.json works); the flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The recipe (--d-ff is the dense variants' width; --ffn and --seed belong to the sweep).
    #[command(flatten)]
    pub flags: LmFlags,
    /// The sweep directory: one run per variant and seed, sweep.json and curves.svg. Running
    /// again continues an interrupted sweep.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: JsonFlag,
}

/// `ffn lm train`.
#[derive(Args, Default)]
pub struct LmTrainArgs {
    /// JSON config file (a run's config.json works); the flags below override what they name.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Continue the language-model run in DIR from its last checkpoint (or finish it); with
    /// --steps N, extend it to N steps. Only --steps, --backend and --device apply with it.
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub flags: LmFlags,
    /// Run directory to create (default: runs/lm-<text>-<milliseconds since epoch>).
    #[arg(long, conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Replace the run already in --out (once the new one has started; kept if it fails).
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    #[command(flatten)]
    pub output: JsonFlag,
}

/// The settings of a language-model run that a flag can override; each applies only when given.
#[derive(Args, Debug, Clone, Default)]
pub struct LmFlags {
    /// The text to train on (UTF-8 for the char and bpe tokenizers).
    #[arg(long)]
    pub text: Option<PathBuf>,
    /// char (the text's characters + one unknown id), byte (256) or bpe:N (byte-level BPE of N ids).
    #[arg(long, value_parser = parse_tokenizer)]
    pub tokenizer: Option<TokenizerKind>,
    /// Blocks.
    #[arg(long)]
    pub layers: Option<usize>,
    /// Attention heads.
    #[arg(long)]
    pub heads: Option<usize>,
    /// Key/value heads (grouped-query attention; must divide --heads).
    #[arg(long)]
    pub kv_heads: Option<usize>,
    /// Model width.
    #[arg(long)]
    pub d_model: Option<usize>,
    /// Hidden width of every FFN.
    #[arg(long)]
    pub d_ff: Option<usize>,
    /// The FFN of every block: relu, gelu, swiglu, geglu, reglu, or a mixture of experts
    /// moe:E:K[:KIND] (E experts of --d-ff each, K per token; KIND defaults to swiglu).
    #[arg(long, value_parser = parse_ffn)]
    pub ffn: Option<FfnSpec>,
    /// Learned positions (GPT-2) or rotary encoding (LLaMA).
    #[arg(long, value_parser = one_of::<Positions>(), ignore_case = true)]
    pub pos: Option<Positions>,
    /// Context length in tokens.
    #[arg(long)]
    pub block: Option<usize>,
    /// Windows per optimiser step.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Optimiser steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Steps between evaluations and checkpoints.
    #[arg(long)]
    pub eval_interval: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// gpt-cosine:WARMUP:MIN_LR (the default, 100 and 1e-4), constant, cosine,
    /// warmup-cosine:STEPS, warmup-linear:STEPS.
    #[arg(long, value_parser = parse_schedule)]
    pub schedule: Option<ScheduleConfig>,
    /// Dropout on embeddings and FFN activations.
    #[arg(long)]
    pub dropout: Option<f64>,
    #[command(flatten)]
    pub devices: DeviceArgs,
    /// Seed of initialisation, windows and dropout.
    #[arg(long)]
    pub seed: Option<u64>,
}

fn parse_tokenizer(spec: &str) -> Result<TokenizerKind, String> {
    spec.parse().map_err(|e: ffn_data::DataError| e.to_string())
}

/// `ffn lm generate`.
#[derive(Args)]
pub struct LmGenerateArgs {
    /// Language-model run directory.
    #[arg(long, required_unless_present = "gguf", conflicts_with = "gguf")]
    pub run: Option<PathBuf>,
    #[command(flatten)]
    pub pretrained: PretrainedArgs,
    /// Apply the pretrained model's chat template: the prompt is the user's message and the
    /// answer ends at the model's end-of-turn token.
    #[arg(long, requires = "gguf", conflicts_with = "run")]
    pub chat: bool,
    /// The text to continue (cropped to a trained run's context, with a note).
    #[arg(long)]
    pub prompt: String,
    /// Tokens to generate.
    #[arg(long, default_value_t = 200)]
    pub tokens: usize,
    /// Divides the logits; 0 is greedy.
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
    /// Sample among the K most likely tokens only.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Sample among the most likely tokens whose probabilities reach P.
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Seed of the draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Recompute the whole context at every token instead of caching keys and values.
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub compute: ComputeArgs,
    #[command(flatten)]
    pub output: JsonFlag,
}

/// `ffn lm eval`.
#[derive(Args)]
pub struct LmEvalArgs {
    /// Language-model run directory.
    #[arg(long, required_unless_present = "gguf", conflicts_with = "gguf")]
    pub run: Option<PathBuf>,
    #[command(flatten)]
    pub pretrained: PretrainedArgs,
    /// The text to evaluate on.
    #[arg(long)]
    pub text: PathBuf,
    /// Seeded batches of random windows (a trained run).
    #[arg(long, default_value_t = 200, conflicts_with = "gguf")]
    pub batches: usize,
    /// Tokens per window: each window predicts its tokens from the ones before it in the
    /// window (a pretrained model).
    #[arg(long, default_value_t = 512, requires = "gguf", conflicts_with = "run")]
    pub window: usize,
    /// Evaluate only the text's first N tokens (a pretrained model).
    #[arg(long, requires = "gguf", conflicts_with = "run")]
    pub max_tokens: Option<usize>,
    #[command(flatten)]
    pub compute: ComputeArgs,
    #[command(flatten)]
    pub output: JsonFlag,
}

/// `ffn lm finetune`.
#[derive(Args)]
pub struct LmFinetuneArgs {
    /// The language-model run to start from (its model, size and tokenizer).
    #[arg(long, value_name = "RUN_DIR", required_unless_present_any = ["resume", "gguf"])]
    pub from: Option<PathBuf>,
    /// Or a pretrained LLaMA-architecture model in a GGUF file: LoRA adapters train on windows
    /// of --block tokens and the run saves them alone, as a Hugging Face PEFT adapter
    /// (adapter_model.safetensors, adapter_config.json).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["from", "freeze", "resume"], requires = "lora_rank")]
    pub gguf: Option<PathBuf>,
    /// Train LoRA adapters of this rank instead of the base weights.
    #[arg(long)]
    pub lora_rank: Option<usize>,
    /// LoRA scaling numerator (default 2 × rank).
    #[arg(long, requires = "lora_rank")]
    pub lora_alpha: Option<f64>,
    /// Projections that get adapters.
    #[arg(long, value_parser = one_of::<LoraTargets>(), ignore_case = true, requires = "lora_rank")]
    pub lora_targets: Option<LoraTargets>,
    /// Without LoRA: parameters that do not train, as path patterns (tokens, positions,
    /// blocks.0, blocks.*.attn, norm, ...).
    #[arg(long, value_name = "SPEC", value_parser = clap::value_parser!(NameList), conflicts_with = "lora_rank")]
    pub freeze: Option<NameList>,
    #[command(flatten)]
    pub train: LmTrainArgs,
}

/// `--ffn` and `--variants`: a dense kind (any case) or `moe:E:K[:KIND]`.
fn parse_ffn(text: &str) -> Result<FfnSpec, String> {
    text.to_ascii_lowercase()
        .parse()
        .map_err(|e: ffn_model::ModelError| e.to_string())
}

/// A pretrained model to use instead of a trained run.
#[derive(Args)]
pub struct PretrainedArgs {
    /// A pretrained LLaMA-architecture model in a GGUF file (e.g.
    /// models/SmolLM2-135M-Instruct.Q4_1.gguf from `scripts/fetch-model.sh smollm2`).
    #[arg(long, value_name = "FILE")]
    pub gguf: Option<PathBuf>,
    /// Cap the pretrained model's context at N tokens (its rotary table and cache).
    #[arg(long, value_name = "N", requires = "gguf", conflicts_with = "run")]
    pub context: Option<usize>,
    /// Merge a LoRA adapter in Hugging Face PEFT's format into the pretrained model: a directory
    /// with adapter_model.safetensors and adapter_config.json (peft's `save_pretrained`, or a
    /// run of `ffn lm finetune --gguf`, whose base must be this very file).
    #[arg(long, value_name = "DIR", requires = "gguf", conflicts_with = "run")]
    pub adapter: Option<PathBuf>,
}
