//! `ffn lm eval`: a language model's loss, perplexity and bits per character on a text, for a
//! trained run (seeded random windows) or a pretrained GGUF model (consecutive windows).

use anyhow::{Context, Result};
use ffn_train::LmRun;
use serde_json::json;

use super::open_pretrained;
use crate::args::LmEvalArgs;
use crate::printer;

pub fn run(args: LmEvalArgs) -> Result<()> {
    let device = args.compute.open()?;
    let cannot = || format!("cannot evaluate on {}", args.text.display());
    let (metrics, unknown, how) = match (&args.run, &args.pretrained.gguf) {
        (Some(run), _) => {
            let (metrics, unknown) = LmRun::open(run)?
                .evaluate_text(&args.text, args.batches, &device.device)
                .with_context(cannot)?;
            (metrics, unknown, format!("{} seeded batches", args.batches))
        }
        (None, Some(file)) => {
            let lm = open_pretrained(&args.pretrained, file, &device.device)?;
            let metrics = lm
                .evaluate_text(&args.text, args.window, args.max_tokens, &device.device)
                .with_context(cannot)?;
            (metrics, 0, format!("windows of {} tokens", args.window))
        }
        (None, None) => anyhow::bail!("give --run DIR or --gguf FILE"),
    };
    if args.output.json {
        return printer::json(&json!({
            "run_dir": args.run,
            "gguf": args.pretrained.gguf,
            "text": args.text,
            "batches": args.run.as_ref().map(|_| args.batches),
            "window": args.pretrained.gguf.as_ref().map(|_| args.window),
            "max_tokens": args.max_tokens,
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
        "{}: {} ({how})",
        args.text.display(),
        metrics.describe()
    ))
}
