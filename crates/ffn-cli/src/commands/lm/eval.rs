//! `ffn lm eval`: a language model's loss, perplexity and bits per character on a text.

use anyhow::{Context, Result};
use ffn_train::LmRun;
use serde_json::json;

use crate::args::LmEvalArgs;
use crate::printer;

pub fn run(args: LmEvalArgs) -> Result<()> {
    let run = LmRun::open(&args.run)?;
    let device = args.compute.open()?;
    let (metrics, unknown) = run
        .evaluate_text(&args.text, args.batches, &device.device)
        .with_context(|| format!("cannot evaluate on {}", args.text.display()))?;
    if args.output.json {
        return printer::json(&json!({
            "run_dir": args.run,
            "text": args.text,
            "batches": args.batches,
            "unknown_characters": unknown,
            "metrics": metrics,
        }));
    }
    if unknown > 0 {
        printer::line(format!(
            "note: {unknown} characters of the text are not in the tokenizer's vocabulary"
        ))?;
    }
    printer::line(format!(
        "{}: {} ({} seeded batches)",
        args.text.display(),
        metrics.describe(),
        args.batches
    ))
}
