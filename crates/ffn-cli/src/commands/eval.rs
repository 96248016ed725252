//! `ffn eval`: a trained run's metrics on a split of its dataset or on another CSV.

use anyhow::{Context, Result};
use ffn_train::Artifact;
use serde_json::json;

use crate::args::EvalArgs;
use crate::printer;

pub fn run(args: EvalArgs) -> Result<()> {
    let run = Artifact::open(&args.run)?.into_trained("evaluate")?;
    let device = args.compute.open()?;
    let metrics = run
        .evaluate(args.dataset.as_deref(), args.split, &device.device)
        .with_context(|| format!("cannot evaluate {}", args.run.display()))?;
    if args.output.json {
        return printer::json(&json!({
            "run_dir": args.run,
            "split": args.split.to_string(),
            "metrics": metrics,
        }));
    }
    let what = match &args.dataset {
        Some(dataset) => dataset.display().to_string(),
        None => format!("{} split", args.split),
    };
    printer::line(format!("{what}: {}", metrics.describe()))
}
