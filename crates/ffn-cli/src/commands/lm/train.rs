//! `ffn lm train`: a language model from scratch, or `--resume` of an interrupted one.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use super::print_summary;
use crate::args::LmTrainArgs;
use crate::commands::trained;
use crate::interrupt::Interrupts;
use crate::printer::{ProgressPrinter, Unit};
use crate::settings::lm_config;

pub fn run(args: LmTrainArgs) -> Result<()> {
    let interrupts = Interrupts::install()?;
    let mut progress = ProgressPrinter::new(Unit::Steps, interrupts.clone());
    let resume = "ffn lm train --resume";
    let started = Instant::now();
    let summary = match &args.resume {
        Some(dir) => trained(
            ffn_train::resume_lm(dir, &mut |event| progress.on(event)),
            &interrupts,
            resume,
            || format!("cannot resume {}", dir.display()),
        )?,
        None => {
            let config = lm_config(args.config.as_deref(), &args.flags)?;
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| default_out(&config.text));
            trained(
                ffn_train::train_lm(&config, &out, &mut |event| progress.on(event)),
                &interrupts,
                resume,
                || format!("training on {} failed", config.text.display()),
            )?
        }
    };
    progress.finish()?;
    print_summary(&summary, started.elapsed().as_secs_f64(), args.output.json)
}

/// `runs/lm-<text>-<milliseconds since epoch>`.
pub fn default_out(text: &std::path::Path) -> PathBuf {
    let stem = text
        .file_stem()
        .map_or("text".into(), |s| s.to_string_lossy().into_owned());
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    PathBuf::from("runs").join(format!("lm-{stem}-{stamp}"))
}
