//! `ffn inspect`: what a trained network does inside, saved in the run as `inspect.json` for
//! `ffn report` and printed (or `--json`).

use anyhow::{Context, Result};
use ffn_train::{
    Artifact, Attributions, Inspection, LayerUnits, LmInspection, TabularInspection, inspect,
};
use serde_json::json;

use crate::args::InspectArgs;
use crate::printer::{self, WorkBar};

pub fn run(args: InspectArgs) -> Result<()> {
    let artifact = Artifact::open(&args.run)?;
    let options = args.options();
    let device = args.compute.open()?;
    let unit = match artifact {
        Artifact::Lm(_) => "tokens",
        _ => "rows",
    };
    let mut bar = WorkBar::new(unit);
    let result = inspect(&artifact, &options, &device.device, &mut |done, total| {
        bar.update(done, total)
    });
    bar.finish();
    let (inspection, seconds) =
        result.with_context(|| format!("cannot inspect {}", args.run.display()))?;
    let run = artifact.dir();
    // The result is saved in the run: no other writer may be at work there.
    run.lock()?;
    inspection
        .save(run)
        .with_context(|| format!("cannot save the inspection in {}", args.run.display()))?;
    let saved = run.inspection();
    let train_seconds = match &artifact {
        Artifact::Trained(trained) => trained.summary.as_ref().map(|s| s.train_seconds),
        Artifact::Lm(lm) => lm.summary.as_ref().map(|s| s.train_seconds),
        Artifact::Block(_) => None,
    };
    if args.output.json {
        return printer::json(&json!({
            "run_dir": args.run,
            "saved": saved,
            "seconds": seconds,
            "train_seconds": train_seconds,
            "inspection": inspection,
        }));
    }
    let took = match train_seconds {
        Some(train) => format!("{seconds:.2} s (training took {train:.2} s)"),
        None => format!("{seconds:.2} s"),
    };
    let top = options.top();
    match &inspection {
        Inspection::Tabular(tabular) => print_tabular(tabular, top, &took)?,
        Inspection::Lm(lm) => print_lm(lm, top, &took)?,
    }
    printer::line(format!(
        "saved in {}; `ffn report --run {}` draws it",
        saved.display(),
        args.run.display()
    ))
}

fn print_tabular(inspection: &TabularInspection, top: usize, took: &str) -> Result<()> {
    printer::line(format!(
        "inspected {} rows of the {} in {took}",
        inspection.rows, inspection.rows_from
    ))?;
    for layer in &inspection.layers {
        print_layer(layer)?;
    }
    print_attributions(&inspection.attributions, inspection.rows, top)
}

fn print_layer(layer: &LayerUnits) -> Result<()> {
    let list = |units: &[usize]| match units.is_empty() {
        true => String::new(),
        false => format!(" {units:?}"),
    };
    let active = layer.units.iter().map(|u| u.active_fraction).sum::<f64>()
        / layer.units.len().max(1) as f64;
    printer::line(format!(
        "layer {} ({}): {} units, {} dead{}, {} saturated{}, mean active share {active:.3}",
        layer.name,
        layer.activation,
        layer.units.len(),
        layer.dead.len(),
        list(&layer.dead),
        layer.saturated.len(),
        list(&layer.saturated),
    ))
}

fn print_attributions(attributions: &Attributions, rows: usize, top: usize) -> Result<()> {
    printer::line(format!(
        "feature attributions: integrated gradients ({} steps from the {}; worst completeness \
         gap {:.2e} over {rows} rows), permutation importance ({} drop, {} repeats)",
        attributions.steps,
        attributions.baseline,
        attributions.worst_completeness_gap,
        attributions.metric,
        attributions.repeats,
    ))?;
    let mut features: Vec<_> = attributions.features.iter().collect();
    features.sort_by(|a, b| b.mean_abs_ig.total_cmp(&a.mean_abs_ig));
    let width = features
        .iter()
        .take(top)
        .map(|f| f.feature.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    printer::line(format!(
        "  {:<width$}  {:>10}  {:>12}  {:>18}",
        "feature", "mean |IG|", "|grad×input|", "permutation ± sd"
    ))?;
    for feature in features.iter().take(top) {
        printer::line(format!(
            "  {:<width$}  {:>10.4}  {:>12.4}  {:>10.4} ± {:.4}",
            feature.feature,
            feature.mean_abs_ig,
            feature.mean_abs_gradient_x_input,
            feature.permutation,
            feature.permutation_sd
        ))?;
    }
    Ok(())
}

fn print_lm(inspection: &LmInspection, top: usize, took: &str) -> Result<()> {
    printer::line(format!(
        "inspected {} tokens of the {} in {took}",
        inspection.tokens, inspection.text
    ))?;
    let dead: Vec<String> = inspection
        .dead_fractions
        .iter()
        .enumerate()
        .map(|(block, share)| format!("block {block} {:.1} %", share * 100.0))
        .collect();
    printer::line(format!("dead FFN neurons: {}", dead.join(", ")))?;
    printer::line(format!(
        "block {} ({}): per neuron, the share of tokens it is active on, the tokens its value \
         promotes and the context it fires on most ([[firing token]])",
        inspection.layer, inspection.activation
    ))?;
    for neuron in &inspection.neurons {
        let promoted: Vec<String> = neuron
            .promoted
            .iter()
            .take(top.min(5))
            .map(|p| format!("{:?}", p.token))
            .collect();
        let context = neuron.contexts.first().map_or(String::new(), |c| {
            format!("{:.2} {}[[{}]]{}", c.value, c.before, c.token, c.after)
        });
        printer::line(format!(
            "  {:>4} {:>5.1} %{}  promotes {}  fires on {context}",
            neuron.neuron,
            neuron.active_fraction * 100.0,
            if neuron.dead { " dead" } else { "" },
            promoted.join(" "),
        ))?;
    }
    Ok(())
}
