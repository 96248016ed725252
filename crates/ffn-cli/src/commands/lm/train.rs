//! `ffn lm train`: a language model from scratch, or `--resume` of an interrupted one.

use std::path::PathBuf;

use anyhow::Result;

use super::{Start, resume, train_run};
use crate::args::LmTrainArgs;
use crate::commands::replacing;
use crate::settings::{lm_config, lm_resume};

pub fn run(args: LmTrainArgs) -> Result<()> {
    let start: Start = match &args.resume {
        Some(dir) => resume(dir, lm_resume(&args.flags)?),
        None => {
            let config = lm_config(args.config.as_deref(), &args.flags)?;
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| default_out(&config.text));
            let force = args.force;
            Box::new(move |progress| {
                Ok((
                    replacing(&out, force, || ffn_train::train_lm(&config, &out, progress))?,
                    format!("training on {} failed", config.text.display()),
                ))
            })
        }
    };
    train_run(start, args.output.json)
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
