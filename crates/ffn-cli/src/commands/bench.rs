//! `ffn bench`: the reference workloads timed on a backend.

use anyhow::{Context, Result};

use crate::args::BenchArgs;
use crate::printer;

pub fn run(args: BenchArgs) -> Result<()> {
    let device = args.compute.open()?;
    let gpu = device.is_wgpu();
    if !args.json {
        printer::line(format!("benchmarking on {}", device.description))?;
    }
    for workload in args.workload.workloads() {
        let iters = args
            .iters
            .map_or(workload.default_iters(gpu), |n| n as usize);
        let result = ffn_train::bench(
            workload,
            &device,
            iters,
            args.rounds as usize,
            args.warmup as usize,
        )
        .with_context(|| format!("benchmark {} failed", workload.name()))?;
        if args.json {
            printer::json(&serde_json::to_value(&result)?)?;
            continue;
        }
        let mut rate = match (result.gflops, result.samples_per_s) {
            (Some(g), _) => format!("{g:.1} GFLOP/s"),
            (None, Some(s)) => format!("{s:.0} samples/s"),
            _ => String::new(),
        };
        if let (Some(baseline), Some(what)) = (result.baseline_ms, workload.baseline()) {
            rate = format!(
                "against {what}: {baseline:.3} ms, {:.2}× this time",
                baseline / result.ms
            );
        }
        printer::line(format!(
            "{:<30} {:>9.3} ms  (min {:.3}, max {:.3}; {} rounds × {})  {rate}  peak RSS {}",
            result.workload,
            result.ms,
            result.min_ms,
            result.max_ms,
            result.rounds,
            result.iters,
            result
                .peak_rss_mib
                .map_or("?".to_string(), |m| format!("{m:.0} MiB"))
        ))?;
    }
    Ok(())
}
