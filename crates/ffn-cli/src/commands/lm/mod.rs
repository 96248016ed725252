//! `ffn lm`: language models whose blocks are this project's FFNs.

mod eval;
mod finetune;
mod generate;
mod train;

use anyhow::Result;
use ffn_train::LmSummary;
use serde_json::json;

use crate::args::LmCommand;
use crate::printer;

/// Runs one `ffn lm` subcommand.
pub fn run(command: LmCommand) -> Result<()> {
    match command {
        LmCommand::Train(args) => train::run(*args),
        LmCommand::Generate(args) => generate::run(args),
        LmCommand::Eval(args) => eval::run(args),
        LmCommand::Finetune(args) => finetune::run(*args),
    }
}

/// Prints the end of a language-model run: steps, time, parameters, final metrics, where it is.
fn print_summary(summary: &LmSummary, wall: f64, json: bool) -> Result<()> {
    printer::line(format!(
        "trained {} steps in {wall:.1}s ({:.0} tokens/s); {} parameters",
        summary.steps, summary.tokens_per_second, summary.params
    ))?;
    if summary.trainable_fraction < 1.0 {
        printer::line(format!(
            "trainable parameters: {} ({:.2}% of the network with its adapters)",
            summary.trainable_params,
            100.0 * summary.trainable_fraction
        ))?;
    }
    for (name, metrics) in [("train", &summary.train), ("valid", &summary.valid)] {
        printer::line(format!(
            "{name}: {} ({} seeded batches)",
            metrics.describe(),
            summary.eval_batches
        ))?;
    }
    printer::line(format!("saved the run to {}", summary.run_dir.display()))?;
    if json {
        let mut value = serde_json::to_value(summary)?;
        value["wall_seconds"] = json!(wall);
        printer::json(&value)?;
    }
    Ok(())
}
