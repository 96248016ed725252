//! `ffn lm finetune`: a language model adapted to another text.

use std::time::Instant;

use anyhow::Result;

use super::print_summary;
use super::train::default_out;
use crate::args::LmFinetuneArgs;
use crate::commands::trained;
use crate::interrupt::Interrupts;
use crate::printer::{ProgressPrinter, Unit};
use crate::settings::lm_finetune;

pub fn run(args: LmFinetuneArgs) -> Result<()> {
    let interrupts = Interrupts::install()?;
    let mut progress = ProgressPrinter::new(Unit::Steps, interrupts.clone());
    let resume = "ffn lm train --resume";
    let started = Instant::now();
    let summary = match &args.train.resume {
        Some(dir) => trained(
            ffn_train::resume_lm(dir, &mut |event| progress.on(event)),
            &interrupts,
            resume,
            || format!("cannot resume {}", dir.display()),
        )?,
        None => {
            let (config, finetune) = lm_finetune(&args)?;
            let out = args
                .train
                .out
                .clone()
                .unwrap_or_else(|| default_out(&config.text));
            trained(
                ffn_train::finetune_lm(&config, &finetune, &out, &mut |event| progress.on(event)),
                &interrupts,
                resume,
                || format!("fine-tuning on {} failed", config.text.display()),
            )?
        }
    };
    progress.finish()?;
    print_summary(
        &summary,
        started.elapsed().as_secs_f64(),
        args.train.output.json,
    )
}
