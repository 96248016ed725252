//! `ffn import`: one layer's FFN sub-layer of a Hugging Face checkpoint into a run directory.

use anyhow::{Context, Result};
use ffn_train::ImportedBlock;
use serde_json::json;

use super::replacing;
use crate::args::ImportArgs;
use crate::printer;

pub fn run(args: ImportArgs) -> Result<()> {
    let imported = replacing(&args.out, args.force, || {
        ImportedBlock::import(
            &args.safetensors,
            args.layout,
            args.layer,
            args.config.as_deref(),
            &args.out,
        )
    })?
    .with_context(|| format!("cannot import {}", args.safetensors.display()))?;
    let info = &imported.info;
    if args.output.json {
        return printer::json(&json!({ "run_dir": args.out, "block": info }));
    }
    printer::line(format!(
        "imported layer {} of {} ({} layout, prefix '{}'): {}",
        info.layer,
        args.safetensors.display(),
        info.layout,
        info.prefix,
        info.config.describe()
    ))?;
    printer::line(format!(
        "read {} tensors: {}",
        info.keys.len(),
        info.keys.join(", ")
    ))?;
    printer::line(format!("saved the block to {}", args.out.display()))
}
