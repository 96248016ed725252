//! What the `ffn` command writes: lines and JSON objects on stdout (after a closed pipe, as in
//! `ffn ... | head`, nothing more is written but the work goes on to its end), and training
//! progress (a bar on a terminal, one line per epoch otherwise).

use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ffn_data::escape_controls;
use ffn_train::{Metrics, Progress};
use indicatif::{ProgressBar, ProgressStyle};

use crate::interrupt::Interrupts;

/// Set once a write to stdout found the pipe closed.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether stdout's reader went away before the command ended (the binary then exits with
/// 141, as a shell reports a program ended by SIGPIPE).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Writes `text` to stdout with `write`. A closed pipe is noted and later output is skipped,
/// so a training run whose reader left still finishes and saves; any other error is returned.
fn to_stdout(write: impl FnOnce(&mut std::io::StdoutLock) -> std::io::Result<()>) -> Result<()> {
    if stdout_closed() {
        return Ok(());
    }
    match write(&mut std::io::stdout().lock()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other.context("cannot write to stdout"),
    }
}

/// Writes one line to stdout. On a terminal, control characters (text from files can hold any,
/// escape sequences included) are escaped; piped output keeps the exact bytes.
pub fn line(text: impl std::fmt::Display) -> Result<()> {
    let text = text.to_string();
    let text = for_stdout(&text);
    to_stdout(|out| writeln!(out, "{text}"))
}

/// Writes `text` without ending the line, and shows it at once (streamed output), escaped as
/// [`line`] does.
pub fn line_part(text: impl std::fmt::Display) -> Result<()> {
    let text = text.to_string();
    let text = for_stdout(&text);
    to_stdout(|out| write!(out, "{text}").and_then(|()| out.flush()))
}

/// `text` as stdout shows it: control characters but line feeds escaped on a terminal.
fn for_stdout(text: &str) -> std::borrow::Cow<'_, str> {
    static TERMINAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    match *TERMINAL.get_or_init(|| std::io::stdout().is_terminal()) {
        true => escape_controls(text, true),
        false => std::borrow::Cow::Borrowed(text),
    }
}

/// Writes `value` as one line of JSON.
pub fn json(value: &serde_json::Value) -> Result<()> {
    line(value)
}

/// The class of a failure for `--json` readers: `data` (the input files), `config` (settings),
/// `run` (a run directory), `model` (weights and checkpoints), `device`, `diverged`, `io`
/// (reading or writing elsewhere) or `other`.
pub fn error_kind(error: &anyhow::Error) -> &'static str {
    use ffn_train::TrainError;
    for cause in error.chain() {
        if let Some(error) = cause.downcast_ref::<TrainError>() {
            return match error {
                TrainError::Data(_) => "data",
                TrainError::InvalidConfig(_) => "config",
                TrainError::Run { .. } => "run",
                TrainError::Model(_) => "model",
                TrainError::Device(_) | TrainError::NoGpu { .. } => "device",
                TrainError::UnknownBackend(_) | TrainError::NotBuilt(_) => "config",
                TrainError::Diverged { .. } => "diverged",
                _ => "other",
            };
        }
        if cause.is::<ffn_data::DataError>() {
            return "data";
        }
        if cause.is::<ffn_model::ModelError>() {
            return "model";
        }
        if cause.is::<std::io::Error>() {
            return "io";
        }
    }
    "other"
}

/// What training progress counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Epochs of a tabular run.
    Epochs,
    /// Optimiser steps of a language model, reported at each evaluation.
    Steps,
}

/// Shows training progress: a bar on a terminal, one line per epoch (or evaluation) otherwise;
/// asks training to stop once a signal arrived.
pub struct ProgressPrinter {
    unit: Unit,
    interrupts: Interrupts,
    bar: Option<ProgressBar>,
    batches: usize,
    /// The first write error, reported when training ends.
    failed: Option<anyhow::Error>,
}

impl ProgressPrinter {
    pub fn new(unit: Unit, interrupts: Interrupts) -> Self {
        Self {
            unit,
            interrupts,
            bar: None,
            batches: 1,
            failed: None,
        }
    }

    /// Shows `event`; asks training to stop when a signal arrived.
    pub fn on(&mut self, event: Progress) -> ControlFlow<()> {
        if let Err(error) = self.show(event) {
            self.failed.get_or_insert(error);
        }
        match self.interrupts.requested() {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        }
    }

    fn show(&mut self, event: Progress) -> Result<()> {
        match event {
            Progress::Start {
                epochs,
                first_epoch,
                batches,
                device,
            } => {
                line(match self.unit {
                    Unit::Epochs => format!(
                        "training on {device}: epochs {}..{epochs}, {batches} batches each",
                        first_epoch + 1
                    ),
                    Unit::Steps => format!(
                        "training on {device}: {} evaluations of {batches} steps left",
                        epochs - first_epoch
                    ),
                })?;
                self.batches = batches;
                if std::io::stdout().is_terminal() {
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
            Progress::Notice(text) => line(format!("note: {text}"))?,
            Progress::Epoch(record) => {
                let text = format!(
                    "lr {:.2e}  train {}  valid {}  {:.2}s",
                    record.lr,
                    brief(&record.train),
                    record.valid.as_ref().map_or("-".into(), brief),
                    record.seconds
                );
                match (&self.bar, self.unit) {
                    (Some(bar), _) => bar.set_message(text),
                    (None, Unit::Epochs) => line(format!("epoch {:>4}  {text}", record.epoch))?,
                    (None, Unit::Steps) => line(format!("step {:>6}  {text}", record.step))?,
                }
            }
        }
        Ok(())
    }

    /// Clears the bar; returns the first error writing progress, if any.
    pub fn finish(self) -> Result<()> {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.failed.map_or(Ok(()), Err)
    }
}

/// `loss 0.1234 accuracy 0.9667`: the loss and the headline metric.
fn brief(m: &Metrics) -> String {
    let (name, value) = m.main();
    format!("loss {:.4} {name} {value:.4}", m.loss)
}

/// A bar for work counted in some unit, drawn on a terminal once the work has taken more than
/// a second (shorter work stays silent).
pub struct WorkBar {
    started: Instant,
    unit: &'static str,
    bar: Option<ProgressBar>,
}

impl WorkBar {
    /// Work counted in `unit` (`"rows"`, `"tokens"`).
    pub fn new(unit: &'static str) -> Self {
        Self {
            started: Instant::now(),
            unit,
            bar: None,
        }
    }

    /// `done` of `total` units are done.
    pub fn update(&mut self, done: usize, total: usize) {
        if self.bar.is_none()
            && self.started.elapsed() > Duration::from_secs(1)
            && std::io::stdout().is_terminal()
        {
            let bar = ProgressBar::new(total as u64);
            let template = format!(
                "{{bar:30}} {{pos}}/{{len}} {} [{{elapsed}}<{{eta}}]",
                self.unit
            );
            bar.set_style(
                ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    }

    /// Clears the bar.
    pub fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
