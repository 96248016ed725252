//! `ffn lm`: language models whose blocks are this project's FFNs.

mod eval;
mod finetune;
mod generate;
mod sweep;
mod train;

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use ffn_train::{LmSummary, PretrainedLm, Progress, ResumeOptions, TrainError};
use serde_json::json;

use crate::args::{LmCommand, PretrainedArgs};
use crate::commands::trained;
use crate::interrupt::Interrupts;
use crate::printer::{self, ProgressPrinter, Unit};

/// Runs one `ffn lm` subcommand.
pub fn run(command: LmCommand) -> Result<()> {
    match command {
        LmCommand::Train(args) => train::run(*args),
        LmCommand::Generate(args) => generate::run(args),
        LmCommand::Eval(args) => eval::run(args),
        LmCommand::Finetune(args) => finetune::run(*args),
        LmCommand::Sweep(args) => sweep::run(*args),
    }
}

/// How a language-model run starts: `(run, what it is for the error message)`.
type Start<'a> = Box<
    dyn FnOnce(
            &mut dyn FnMut(Progress) -> ControlFlow<()>,
        ) -> Result<(Result<LmSummary, TrainError>, String)>
        + 'a,
>;

/// The pretrained model in `file` on `device`, as `args` say: its context capped, a PEFT adapter
/// merged.
fn open_pretrained(
    args: &PretrainedArgs,
    file: &Path,
    device: &burn::prelude::Device,
) -> Result<PretrainedLm> {
    let lm = PretrainedLm::open(file, args.context, device)?;
    Ok(match &args.adapter {
        Some(dir) => lm.with_adapter(dir)?,
        None => lm,
    })
}

/// Continues the language-model run in `dir` with the changes `options` make.
fn resume(dir: &Path, options: ResumeOptions) -> Start<'_> {
    Box::new(move |progress| {
        Ok((
            ffn_train::resume_lm(dir, &options, progress),
            format!("cannot resume {}", dir.display()),
        ))
    })
}

/// Trains the run `start` begins (or continues) with a progress bar and Ctrl-C handling, and
/// prints its summary.
fn train_run(start: Start, json: bool) -> Result<()> {
    let interrupts = Interrupts::install()?;
    let mut progress = ProgressPrinter::new(Unit::Steps, interrupts.clone());
    let started = Instant::now();
    let (result, context) = start(&mut |event| progress.on(event))?;
    let summary = trained(result, &interrupts, "ffn lm train --resume", || context)?;
    progress.finish()?;
    print_summary(&summary, started.elapsed().as_secs_f64(), json)
}

/// Prints the end of a language-model run: steps, time, parameters, final metrics, where it is.
fn print_summary(summary: &LmSummary, wall: f64, json: bool) -> Result<()> {
    printer::line(format!(
        "trained {} steps in {:.1}s ({:.0} tokens/s); {} parameters",
        summary.steps, summary.train_seconds, summary.tokens_per_second, summary.params
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
