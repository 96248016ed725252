//! `ffn lm finetune`: a language model adapted to another text.

use anyhow::Result;

use super::train::default_out;
use super::{Start, resume, train_run};
use crate::args::LmFinetuneArgs;
use crate::commands::replacing;
use crate::settings::{lm_finetune, lm_finetune_resume};

pub fn run(args: LmFinetuneArgs) -> Result<()> {
    let start: Start = match &args.train.resume {
        Some(dir) => resume(dir, lm_finetune_resume(&args)?),
        None => {
            let (config, finetune) = lm_finetune(&args)?;
            let out = args
                .train
                .out
                .clone()
                .unwrap_or_else(|| default_out(&config.text));
            let force = args.train.force;
            Box::new(move |progress| {
                Ok((
                    replacing(&out, force, || {
                        ffn_train::finetune_lm(&config, &finetune, &out, progress)
                    })?,
                    format!("fine-tuning on {} failed", config.text.display()),
                ))
            })
        }
    };
    train_run(start, args.train.output.json)
}
