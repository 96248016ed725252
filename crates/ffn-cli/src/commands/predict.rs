//! `ffn predict`: a trained run's predictions for the rows of a CSV, or an imported block's
//! output vectors.

use std::path::Path;

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
    match args.output.as_deref() {
        Some(path) if path != Path::new("-") => {
            ffn_model::write_atomically(path, &csv)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if !args.json {
                printer::line(format!("wrote {count} predictions to {}", path.display()))?;
            }
        }
        Some(_) => printer::line(String::from_utf8_lossy(&csv).trim_end())?,
        None if !args.json => printer::line(String::from_utf8_lossy(&csv).trim_end())?,
        None => {}
    }
    if args.json {
        printer::json(&json!({ "run_dir": args.run, "predictions": rows }))?;
    }
    Ok(())
}

/// A trained run's predictions as CSV (quoted where a label needs it) (label and class probabilities, or the value),
/// their count, and as JSON rows.
fn predictions(run: &SavedRun, args: &PredictArgs) -> Result<(Vec<u8>, usize, Value)> {
    let device = args.compute.open()?;
    let predictions = run
        .predict_file(&args.input, &device.device)
        .with_context(|| format!("cannot predict {}", args.input.display()))?;
    let labels = run.preprocessor.labels.as_ref();
    let name = |i: usize| labels.and_then(|l| l.name(i)).unwrap_or("?").to_string();
    let mut header = vec![run.preprocessor.target_name.clone()];
    if let Some(labels) = labels {
        header.extend(labels.classes().iter().map(|c| format!("p_{c}")));
    }
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(&header)?;
    let mut rows = Vec::with_capacity(predictions.len());
    for p in &predictions {
        match p {
            Prediction::Class {
                index,
                probabilities,
            } => {
                let mut record = vec![name(*index)];
                record.extend(probabilities.iter().map(|v| format!("{v:.6}")));
                csv.write_record(&record)?;
                rows.push(json!({ "label": name(*index), "probabilities": probabilities }));
            }
            Prediction::Value(v) => {
                csv.write_record([v.to_string()])?;
                rows.push(json!({ "value": v }));
            }
        }
    }
    let csv = csv.into_inner().context("cannot format the predictions")?;
    Ok((csv, predictions.len(), json!(rows)))
}

/// An imported block's outputs, one `d_model` vector per input row, as CSV (`y0,y1,...`).
fn block_outputs(block: &ImportedBlock, args: &PredictArgs) -> Result<(Vec<u8>, usize, Value)> {
    let device = args.compute.open()?;
    let outputs = block
        .predict_file(&args.input, &device.device)
        .with_context(|| format!("cannot run the block on {}", args.input.display()))?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record((0..block.info.config.d_model).map(|i| format!("y{i}")))?;
    for row in &outputs {
        csv.write_record(row.iter().map(|v| v.to_string()))?;
    }
    let csv = csv.into_inner().context("cannot format the outputs")?;
    Ok((csv, outputs.len(), json!(outputs)))
}
