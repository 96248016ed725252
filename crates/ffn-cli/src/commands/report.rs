//! `ffn report`: a run's plots and `report.html`, or a comparison of several runs.

use anyhow::{Context, Result};
use serde_json::json;

use crate::args::ReportArgs;
use crate::printer;

pub fn run(args: ReportArgs) -> Result<()> {
    if let (Some(out), false) = (&args.out, args.compare.is_empty()) {
        let html = ffn_train::write_comparison(&args.compare, out)
            .with_context(|| format!("cannot compare the runs into {}", out.display()))?;
        let svg = out.join("compare.svg");
        return match args.output.json {
            true => printer::json(&json!({ "report": html, "svg": svg })),
            false => printer::line(format!("wrote {} and {}", svg.display(), html.display())),
        };
    }
    let dir = args.run.context("--run or --compare is needed")?;
    let files = ffn_train::write_run_report(&dir)
        .with_context(|| format!("cannot report on {}", dir.display()))?;
    if args.output.json {
        return printer::json(
            &json!({ "report": files.html, "curves": files.curves, "confusion": files.confusion }),
        );
    }
    let written: Vec<String> = std::iter::once(&files.curves)
        .chain(&files.confusion)
        .chain(&files.html)
        .map(|p| p.display().to_string())
        .collect();
    printer::line(format!("wrote {}", written.join(", ")))
}
