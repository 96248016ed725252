//! The per-epoch metrics logs of a run: `metrics.csv` and `metrics.jsonl`.

use crate::{EpochRecord, METRIC_COLUMNS, RunDir, TrainError};

/// Rewrites both logs from `history` (atomically, so a crash leaves the previous complete logs).
pub fn write(run: &RunDir, history: &[EpochRecord]) -> Result<(), TrainError> {
    run.write(&run.metrics_csv(), csv(history).as_bytes())?;
    let mut jsonl = String::new();
    for record in history {
        let line = serde_json::to_string(record).map_err(|e| TrainError::Run {
            path: run.metrics_jsonl(),
            reason: e.to_string(),
        })?;
        jsonl.push_str(&line);
        jsonl.push('\n');
    }
    run.write(&run.metrics_jsonl(), jsonl.as_bytes())
}

/// The CSV text: `epoch,lr,seconds,train_loss,...,valid_loss,...`, with only the metric columns
/// that apply to the task.
pub fn csv(history: &[EpochRecord]) -> String {
    let Some(first) = history.first() else {
        return String::new();
    };
    let present: Vec<_> = METRIC_COLUMNS
        .iter()
        .filter(|column| (column.get)(&first.train).is_some())
        .collect();
    let with_valid = first.valid.is_some();
    let mut header = vec!["epoch".to_string(), "lr".into(), "seconds".into()];
    for split in ["train", "valid"]
        .iter()
        .take(if with_valid { 2 } else { 1 })
    {
        header.extend(
            present
                .iter()
                .map(|column| format!("{split}_{}", column.key)),
        );
    }
    let mut out = header.join(",") + "\n";
    for record in history {
        let mut cells = vec![
            record.epoch.to_string(),
            record.lr.to_string(),
            format!("{:.4}", record.seconds),
        ];
        for metrics in std::iter::once(&record.train).chain(record.valid.as_ref()) {
            cells.extend(
                present
                    .iter()
                    .map(|column| (column.get)(metrics).map_or(String::new(), |v| v.to_string())),
            );
        }
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// Reads the history back from `metrics.jsonl`, naming the file and line of a bad record.
pub fn read(run: &RunDir) -> Result<Vec<EpochRecord>, TrainError> {
    let path = run.metrics_jsonl();
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::Run {
        path: path.clone(),
        reason: format!("cannot read the metrics log ({e}); has the run trained an epoch?"),
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|e| TrainError::Run {
                path: path.clone(),
                reason: format!("line {}: {e}", index + 1),
            })
        })
        .collect()
}
