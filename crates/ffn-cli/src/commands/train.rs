//! `ffn train`: a new run from a config file and flags, or `--resume` of an interrupted one.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use ffn_train::{Progress, ResumeOptions, Summary, TrainConfig, TrainError};
use serde_json::json;

use super::{replacing, trained};
use crate::args::{TrainArgs, TrainFlags};
use crate::interrupt::Interrupts;
use crate::printer::{self, ProgressPrinter, Unit};
use crate::settings::{default_out, train_config, train_resume};

pub fn run(args: TrainArgs) -> Result<()> {
    training(args, train_config, train_resume, ffn_train::train)
}

/// A library entry point that trains a new run.
pub type Start = fn(
    &TrainConfig,
    &Path,
    &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<Summary, TrainError>;

/// Trains with the config `resolve` makes of the file and flags through `start`, or resumes with
/// the changes `resumed` takes from the flags; then prints the summary.
pub fn training(
    args: TrainArgs,
    resolve: impl FnOnce(Option<&Path>, &TrainFlags) -> Result<TrainConfig>,
    resumed: impl FnOnce(&TrainFlags) -> Result<ResumeOptions>,
    start: Start,
) -> Result<()> {
    let interrupts = Interrupts::install()?;
    let mut progress = ProgressPrinter::new(Unit::Epochs, interrupts.clone());
    let started = Instant::now();
    let resume = "ffn train --resume";
    let summary = match &args.resume {
        Some(dir) => trained(
            ffn_train::resume(dir, &resumed(&args.flags)?, &mut |event| progress.on(event)),
            &interrupts,
            resume,
            || format!("cannot resume {}", dir.display()),
        )?,
        None => {
            let config = resolve(args.config.as_deref(), &args.flags)?;
            let out = args.out.clone().unwrap_or_else(|| default_out(&config));
            trained(
                replacing(&out, args.force, || {
                    start(&config, &out, &mut |event| progress.on(event))
                })?,
                &interrupts,
                resume,
                || format!("training on {} failed", config.dataset.display()),
            )?
        }
    };
    progress.finish()?;
    print_summary(&summary, started.elapsed().as_secs_f64(), args.output.json)
}

fn print_summary(summary: &Summary, wall: f64, json: bool) -> Result<()> {
    // The training time is the run's own (epochs only, over every session of a resumed run),
    // the figure `ffn info` and the report show too; `wall_seconds` is this command's.
    printer::line(format!(
        "trained {} in {:.1}s; {} parameters",
        summary.epochs_text(),
        summary.train_seconds,
        summary.params
    ))?;
    if let Some(trainable) = summary.trainable_text() {
        printer::line(format!("trainable parameters: {trainable}"))?;
    }
    for (name, metrics) in [("valid", &summary.valid), ("test", &summary.test)] {
        if let Some(metrics) = metrics {
            printer::line(format!("{name}: {}", metrics.describe()))?;
        }
    }
    printer::line(format!("saved the run to {}", summary.run_dir.display()))?;
    if json {
        printer::json(&json!({
            "run_dir": summary.run_dir,
            "epochs_run": summary.epochs_run,
            "best_epoch": summary.best_epoch,
            "stopped_early": summary.stopped_early,
            "params": summary.params,
            "trainable_params": summary.trainable_params,
            "trainable_fraction": summary.trainable_fraction,
            "test": summary.test,
            "valid": summary.valid,
            "train_seconds": summary.train_seconds,
            "wall_seconds": wall,
        }))?;
    }
    Ok(())
}
