//! One module per subcommand; each turns its arguments into library calls and prints the result.

mod bench;
mod eval;
mod export;
mod finetune;
mod import;
mod info;
mod inspect;
mod lm;
mod predict;
mod report;
mod serve;
mod train;

use anyhow::{Context, Result};
use ffn_train::{DeviceSpec, OpenedDevice, TrainError, open_device, open_spec};

use crate::args::{Command, ComputeArgs};
use crate::interrupt::Interrupts;

/// Runs `command`; none means `ffn train` with its defaults. `token` is the remote backend's
/// shared secret, when one was given.
pub fn run(command: Option<Command>, token: Option<String>) -> Result<()> {
    if let Some(token) = &token {
        ffn_train::set_remote_token(token);
    }
    match command {
        None => train::run(Default::default()),
        Some(Command::Train(args)) => train::run(*args),
        Some(Command::Finetune(args)) => finetune::run(*args),
        Some(Command::Import(args)) => import::run(args),
        Some(Command::Export(args)) => export::run(args),
        Some(Command::Eval(args)) => eval::run(args),
        Some(Command::Predict(args)) => predict::run(args),
        Some(Command::Info(args)) => info::run(args),
        Some(Command::Inspect(args)) => inspect::run(args),
        Some(Command::Report(args)) => report::run(args),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Serve(args)) => serve::run(args, token.as_deref()),
        Some(Command::Lm(command)) => lm::run(command),
    }
}

impl ComputeArgs {
    /// Opens the device the flags name.
    fn open(&self) -> Result<OpenedDevice> {
        Ok(match &self.backend {
            DeviceSpec::Local { backend, index } => open_device(*backend, self.device.or(*index))?,
            remote => open_spec(remote)?,
        })
    }
}

/// Runs `train`, which creates a run in `out`. With `force`, a run already there is set aside
/// first, deleted once the new run exists (finished, or interrupted and resumable) and put back
/// when the new one fails, so a failed command never loses it.
fn replacing<T>(
    out: &std::path::Path,
    force: bool,
    train: impl FnOnce() -> Result<T, TrainError>,
) -> Result<Result<T, TrainError>> {
    let parked = match force {
        true => ffn_train::RunDir::new(out).set_aside()?,
        false => None,
    };
    let result = train();
    if let Some(parked) = parked {
        let kept = match &result {
            Ok(_) | Err(TrainError::Interrupted { .. }) => std::fs::remove_dir_all(&parked),
            Err(_) => std::fs::remove_dir_all(out)
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Ok(()),
                    _ => Err(e),
                })
                .and_then(|()| std::fs::rename(&parked, out)),
        };
        kept.with_context(|| format!("cannot tidy {} after --force", parked.display()))?;
    }
    Ok(result)
}

/// The result of a training command: an interruption is told with the command that continues
/// it (`resume`, e.g. `ffn train --resume`) and ends the process with the signal's status; other
/// errors get `context`.
fn trained<T>(
    result: Result<T, TrainError>,
    interrupts: &Interrupts,
    resume: &str,
    context: impl FnOnce() -> String,
) -> Result<T> {
    match result {
        Err(TrainError::Interrupted {
            epoch,
            step,
            run_dir,
        }) => {
            let at = match resume.contains(" lm ") {
                true => format!("step {step}"),
                false => format!("epoch {epoch} (step {step})"),
            };
            eprintln!(
                "interrupted at {at}; continue with: {resume} {}",
                run_dir.display()
            );
            Err(interrupts.stopped().into())
        }
        other => other.with_context(context),
    }
}
