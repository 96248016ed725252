//! `ffn lm sweep`: FFN variants compared at equal parameters over several seeds.

use anyhow::{Context, Result, bail};
use ffn_train::{SweepConfig, SweepSummary};
use serde_json::json;

use crate::args::LmSweepArgs;
use crate::interrupt::Interrupts;
use crate::printer::{self, ProgressPrinter, Unit};
use crate::settings::lm_config;

pub fn run(args: LmSweepArgs) -> Result<()> {
    if args.flags.ffn.is_some() || args.flags.seed.is_some() {
        bail!("--ffn and --seed belong to the sweep: use --variants and --seeds");
    }
    let config = SweepConfig {
        base: lm_config(args.config.as_deref(), &args.flags)?,
        variants: args.variants,
        seeds: args.seeds,
    };
    let interrupts = Interrupts::install()?;
    let mut progress = ProgressPrinter::new(Unit::Steps, interrupts.clone());
    let mut announce = |name: &str| {
        let _ = printer::line(format!("== {name}"));
    };
    let result = ffn_train::sweep_lm(&config, &args.out, &mut announce, &mut |event| {
        progress.on(event)
    });
    if let Err(ffn_train::TrainError::Interrupted { step, run_dir, .. }) = &result {
        eprintln!(
            "interrupted at step {step} of {}; the same command continues the sweep",
            run_dir.display()
        );
        return Err(interrupts.stopped().into());
    }
    let summary = result.with_context(|| format!("the sweep in {} failed", args.out.display()))?;
    progress.finish()?;
    print_table(&summary, args.output.json)
}

fn print_table(summary: &SweepSummary, json: bool) -> Result<()> {
    let names: Vec<String> = summary
        .results
        .iter()
        .map(|r| r.variant.to_string())
        .collect();
    let width = names.iter().map(String::len).max().unwrap_or(0).max(7);
    printer::line(format!(
        "{:<width$} {:>5} {:>9} {:>22} {:>9} {:>9}",
        "variant", "d_ff", "params", "valid loss (mean ± sd)", "bits/char", "train s"
    ))?;
    for (r, name) in summary.results.iter().zip(&names) {
        printer::line(format!(
            "{:<width$} {:>5} {:>9} {:>13.4} ± {:<6.4} {:>9.4} {:>9.1}",
            name,
            r.d_ff,
            r.params,
            r.valid_loss_mean,
            r.valid_loss_std,
            r.bits_per_char,
            r.train_seconds
        ))?;
    }
    printer::line(format!(
        "{} seeds each; runs, sweep.json and curves.svg in {}",
        summary.config.seeds.len(),
        summary.dir.display()
    ))?;
    if json {
        printer::json(&json!(summary))?;
    }
    Ok(())
}
