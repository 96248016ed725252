//! `ffn inspect`'s flags.

use std::path::PathBuf;

use clap::Args;
use ffn_train::{InspectOptions, SplitChoice};

use super::{ComputeArgs, JsonFlag, one_of};

/// `ffn inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// Run directory (a tabular run or a language model).
    #[arg(long)]
    pub run: PathBuf,
    /// A hidden layer by name or index (tabular; default every one), or a block of a language
    /// model (default the last).
    #[arg(long)]
    pub layer: Option<String>,
    /// Rows listed per table, or contexts and promoted tokens per neuron [default: 10].
    #[arg(long)]
    pub top: Option<usize>,
    /// Tabular: inspect every row of this CSV instead of a split of the run's dataset.
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Tabular: which rows of the run's dataset [default: test].
    #[arg(long, value_parser = one_of::<SplitChoice>(), ignore_case = true)]
    pub split: Option<SplitChoice>,
    /// Tabular: steps of the integrated-gradients path [default: 64].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Tabular: permutations per feature for permutation importance [default: 5].
    #[arg(long)]
    pub repeats: Option<usize>,
    /// Tabular: seed of the permutations [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Language models: this text instead of the validation part of the run's own.
    #[arg(long)]
    pub text: Option<PathBuf>,
    /// Language models: at most this many tokens of the text [default: 32768].
    #[arg(long)]
    pub max_tokens: Option<usize>,
    #[command(flatten)]
    pub compute: ComputeArgs,
    #[command(flatten)]
    pub output: JsonFlag,
}

impl InspectArgs {
    /// The library's options.
    pub fn options(&self) -> InspectOptions {
        InspectOptions {
            layer: self.layer.clone(),
            top: self.top,
            dataset: self.dataset.clone(),
            split: self.split,
            steps: self.steps,
            repeats: self.repeats,
            seed: self.seed,
            text: self.text.clone(),
            max_tokens: self.max_tokens,
        }
    }
}
