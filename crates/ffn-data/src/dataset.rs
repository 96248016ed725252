//! A tabular dataset loaded from CSV: numeric feature columns and one target column.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::csv_table::{CellError, CsvTable, parse_number};
use crate::{DataError, LabelMap, Task};

/// Largest number of distinct integer values for which a numeric target is taken as classes.
pub const MAX_INFERRED_CLASSES: usize = 20;

/// How to read a dataset's target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadOptions {
    /// Target column name; `None` means the last column.
    pub target: Option<String>,
    /// Task; `None` infers it: text labels, or at most [`MAX_INFERRED_CLASSES`] distinct integers,
    /// mean classification, anything else regression.
    pub task: Option<Task>,
    /// The first line is data, not a header; the columns are named `x0`, `x1`, ...
    #[serde(default)]
    pub no_header: bool,
    /// The feature columns, in this order; `None` means every column but the target and the
    /// dropped ones.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// Columns to leave out.
    #[serde(default)]
    pub drop: Vec<String>,
}

/// Target values of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Class indices into `labels`.
    Classes {
        /// Class index per row.
        indices: Vec<usize>,
        /// Index ↔ name map.
        labels: LabelMap,
    },
    /// One real value per row.
    Values(Vec<f64>),
}

/// Features (row-major, `[rows, features]`) and targets of a CSV file.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Source file, for messages.
    pub path: std::path::PathBuf,
    /// Feature column names, in file order.
    pub feature_names: Vec<String>,
    /// Target column name.
    pub target_name: String,
    /// Feature values, row-major: row `r`, feature `f` is at `r * n_features + f`.
    pub features: Vec<f64>,
    /// Targets, one per row.
    pub targets: Targets,
    /// 1-based file line of each row, for messages.
    pub lines: Vec<u64>,
    /// Raw target cells, as written in the file.
    pub raw_targets: Vec<String>,
}

impl Dataset {
    /// Loads `path` (`.csv` or `.csv.gz`) with the target chosen by `options`.
    pub fn from_csv(path: &Path, options: &LoadOptions) -> Result<Self, DataError> {
        Self::from_table(CsvTable::read_with(path, options.no_header)?, options)
    }

    /// Builds the dataset from an already-read table.
    pub fn from_table(table: CsvTable, options: &LoadOptions) -> Result<Self, DataError> {
        let target_column = match &options.target {
            Some(name) => table.column(name).ok_or_else(|| DataError::MissingTarget {
                path: table.path.clone(),
                target: name.clone(),
                columns: table.headers.join(", "),
            })?,
            None => table.headers.len() - 1,
        };
        let column = |name: &String| {
            table.column(name).ok_or_else(|| DataError::UnknownColumn {
                path: table.path.clone(),
                column: name.clone(),
                columns: table.headers.join(", "),
            })
        };
        let dropped = options
            .drop
            .iter()
            .map(column)
            .collect::<Result<Vec<_>, _>>()?;
        let feature_columns: Vec<usize> = match &options.features {
            Some(names) => names.iter().map(column).collect::<Result<_, _>>()?,
            None => (0..table.headers.len())
                .filter(|c| *c != target_column && !dropped.contains(c))
                .collect(),
        };
        if feature_columns.contains(&target_column) || dropped.contains(&target_column) {
            return Err(DataError::UnknownColumn {
                path: table.path.clone(),
                column: table.headers[target_column].clone(),
                columns: "a column other than the target (it cannot be a feature or dropped)"
                    .into(),
            });
        }
        if feature_columns.is_empty() {
            return Err(DataError::UnknownColumn {
                path: table.path.clone(),
                column: "(none)".into(),
                columns: "at least one feature column".into(),
            });
        }
        let mut features = Vec::with_capacity(table.rows.len() * feature_columns.len());
        for row in 0..table.rows.len() {
            for &column in &feature_columns {
                features.push(table.number(row, column)?);
            }
        }
        let raw_targets: Vec<String> = table
            .rows
            .iter()
            .map(|r| r[target_column].clone())
            .collect();
        let task = options.task.unwrap_or_else(|| infer_task(&raw_targets));
        let targets = match task {
            Task::Classification => {
                let labels = LabelMap::from_labels(raw_targets.iter().map(String::as_str));
                if labels.len() < 2 {
                    return Err(DataError::SingleClass {
                        path: table.path.clone(),
                        target: table.headers[target_column].clone(),
                        class: crate::shorten(&raw_targets[0]),
                    });
                }
                if labels.len() > MAX_INFERRED_CLASSES.max(raw_targets.len() / 10) {
                    return Err(DataError::TooManyClasses {
                        path: table.path.clone(),
                        target: table.headers[target_column].clone(),
                        classes: labels.len(),
                        rows: raw_targets.len(),
                    });
                }
                let indices = raw_targets
                    .iter()
                    .map(|t| labels.index(t).unwrap_or_default())
                    .collect();
                Targets::Classes { indices, labels }
            }
            Task::Regression => Targets::Values(regression_targets(&table, target_column)?),
        };
        Ok(Self {
            feature_names: feature_columns
                .iter()
                .map(|&c| table.headers[c].clone())
                .collect(),
            target_name: table.headers[target_column].clone(),
            path: table.path,
            features,
            targets,
            lines: table.lines,
            raw_targets,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no rows (never true for a loaded dataset).
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Number of feature columns.
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    /// The task of the targets.
    pub fn task(&self) -> Task {
        match self.targets {
            Targets::Classes { .. } => Task::Classification,
            Targets::Values(_) => Task::Regression,
        }
    }

    /// Feature values of row `row`.
    pub fn row(&self, row: usize) -> &[f64] {
        let d = self.n_features();
        &self.features[row * d..(row + 1) * d]
    }

    /// Class index of every row, for classification datasets.
    pub fn class_indices(&self) -> Option<&[usize]> {
        match &self.targets {
            Targets::Classes { indices, .. } => Some(indices),
            Targets::Values(_) => None,
        }
    }
}

/// Classification when any label is text or the labels are few distinct integers.
fn infer_task(raw: &[String]) -> Task {
    let mut distinct: Vec<&str> = raw.iter().map(String::as_str).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let numeric = raw.iter().all(|t| parse_number(t).is_ok());
    let integers = distinct.iter().all(|t| t.parse::<i64>().is_ok());
    if !numeric || (integers && distinct.len() <= MAX_INFERRED_CLASSES) {
        Task::Classification
    } else {
        Task::Regression
    }
}

fn regression_targets(table: &CsvTable, column: usize) -> Result<Vec<f64>, DataError> {
    (0..table.rows.len())
        .map(|row| {
            let value = &table.rows[row][column];
            parse_number(value).map_err(|_: CellError| DataError::BadTarget {
                path: table.path.clone(),
                line: table.lines[row],
                column: table.headers[column].clone(),
                value: crate::shorten(value),
            })
        })
        .collect()
}
