//! `ffn predict`: a trained run's predictions for the rows of a CSV, or an imported block's
//! output vectors.

use anyhow::{Context, Result};
use ffn_train::{Artifact, ImportedBlock, Prediction, SavedRun};
use serde_json::{Value, json};

use crate::args::PredictArgs;
use crate::printer;

pub fn run(args: PredictArgs) -> Result<()> {
    let (csv, count, rows) = match Artifact::open(&args.run)? {
        Artifact::Block(block) => block_outputs(&block, &args)?,
        other => predictions(&other.into_trained("predict")?, &args)?,
    };
    match &args.output {
        Some(path) => {
            ffn_model::write_atomically(path, csv.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            if !args.json {
                printer::line(format!("wrote {count} predictions to {}", path.display()))?;
            }
        }
        None if !args.json => printer::line(csv.trim_end())?,
        None => {}
    }
    if args.json {
        printer::json(&json!({ "run_dir": args.run, "predictions": rows }))?;
    }
    Ok(())
}

/// A trained run's predictions as CSV text (label and class probabilities, or the value),
/// their count, and as JSON rows.
fn predictions(run: &SavedRun, args: &PredictArgs) -> Result<(String, usize, Value)> {
    let device = args.compute.open()?;
    let predictions = run
        .predict_file(&args.input, &device.device)
        .with_context(|| format!("cannot predict {}", args.input.display()))?;
    let labels = run.preprocessor.labels.as_ref();
    let name = |i: usize| labels.and_then(|l| l.name(i)).unwrap_or("?").to_string();
    let target = &run.preprocessor.target_name;
    let mut csv = match labels {
        Some(labels) => {
            let columns: Vec<String> = labels.classes().iter().map(|c| format!("p_{c}")).collect();
            format!("{target},{}\n", columns.join(","))
        }
        None => format!("{target}\n"),
    };
    let mut rows = Vec::with_capacity(predictions.len());
    for p in &predictions {
        match p {
            Prediction::Class {
                index,
                probabilities,
            } => {
                let probs: Vec<String> = probabilities.iter().map(|v| format!("{v:.6}")).collect();
                csv.push_str(&format!("{},{}\n", name(*index), probs.join(",")));
                rows.push(json!({ "label": name(*index), "probabilities": probabilities }));
            }
            Prediction::Value(v) => {
                csv.push_str(&format!("{v}\n"));
                rows.push(json!({ "value": v }));
            }
        }
    }
    Ok((csv, predictions.len(), json!(rows)))
}

/// An imported block's outputs, one `d_model` vector per input row, as CSV (`y0,y1,...`).
fn block_outputs(block: &ImportedBlock, args: &PredictArgs) -> Result<(String, usize, Value)> {
    let device = args.compute.open()?;
    let outputs = block
        .predict_file(&args.input, &device.device)
        .with_context(|| format!("cannot run the block on {}", args.input.display()))?;
    let header: Vec<String> = (0..block.info.config.d_model)
        .map(|i| format!("y{i}"))
        .collect();
    let mut csv = format!("{}\n", header.join(","));
    for row in &outputs {
        let values: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        csv.push_str(&values.join(","));
        csv.push('\n');
    }
    Ok((csv, outputs.len(), json!(outputs)))
}
