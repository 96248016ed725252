//! `ffn lm finetune`: a language model adapted to another text.

use std::time::Instant;

use anyhow::{Context, Result};

use super::print_summary;
use super::train::default_out;
use crate::args::LmFinetuneArgs;
use crate::printer::{ProgressPrinter, Unit};
use crate::settings::lm_finetune;

pub fn run(args: LmFinetuneArgs) -> Result<()> {
    let mut progress = ProgressPrinter::new(Unit::Steps);
    let started = Instant::now();
    let summary = match &args.train.resume {
        Some(dir) => ffn_train::resume_lm(dir, &mut |event| progress.on(event))
            .with_context(|| format!("cannot resume {}", dir.display()))?,
        None => {
            let (config, finetune) = lm_finetune(&args)?;
            let out = args
                .train
                .out
                .clone()
                .unwrap_or_else(|| default_out(&config.text));
            ffn_train::finetune_lm(&config, &finetune, &out, &mut |event| progress.on(event))
                .with_context(|| format!("fine-tuning on {} failed", config.text.display()))?
        }
    };
    progress.finish()?;
    print_summary(
        &summary,
        started.elapsed().as_secs_f64(),
        args.train.output.json,
    )
}
