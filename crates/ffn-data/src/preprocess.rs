//! The fitted preprocessing of a training run: feature order, standardisation and label map,
//! saved with the run so new rows are encoded exactly as during training.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::csv_table::CsvTable;
use crate::{DataError, Dataset, Examples, LabelMap, Standardizer, Targets, Task};

/// Everything needed to turn raw rows into model inputs and model outputs into labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    /// Feature names in model-input order.
    pub feature_names: Vec<String>,
    /// Name of the target column.
    pub target_name: String,
    /// Classification or regression.
    pub task: Task,
    /// Class names, for classification.
    pub labels: Option<LabelMap>,
    /// Feature standardisation fitted on the training rows.
    pub standardizer: Standardizer,
    /// Regression only: the target's standardisation, so the network learns in unit scale and
    /// predictions are mapped back to the target's units.
    pub target_standardizer: Option<Standardizer>,
}

impl Preprocessor {
    /// Fits on the `train_rows` of `dataset`; fails on a column whose values are too large to
    /// standardise.
    pub fn fit(dataset: &Dataset, train_rows: &[usize]) -> Result<Self, DataError> {
        let fitted = Self {
            feature_names: dataset.feature_names.clone(),
            target_name: dataset.target_name.clone(),
            task: dataset.task(),
            labels: match &dataset.targets {
                Targets::Classes { labels, .. } => Some(labels.clone()),
                Targets::Values(_) => None,
            },
            standardizer: Standardizer::fit(&dataset.features, dataset.n_features(), train_rows),
            target_standardizer: match &dataset.targets {
                Targets::Classes { .. } => None,
                Targets::Values(values) => Some(Standardizer::fit(values, 1, train_rows)),
            },
        };
        let unscalable = |column: &str| DataError::Unscalable {
            path: dataset.path.clone(),
            column: column.to_string(),
        };
        if let Some(i) = fitted.standardizer.invalid_feature() {
            return Err(unscalable(&fitted.feature_names[i]));
        }
        if let Some(target) = &fitted.target_standardizer
            && target.invalid_feature().is_some()
        {
            return Err(unscalable(&fitted.target_name));
        }
        Ok(fitted)
    }

    /// Checks a preprocessor read from a file: one finite mean and positive finite scale per
    /// feature (and for a regression target), and labels for classification. Says what is
    /// wrong otherwise.
    pub fn check(&self) -> Result<(), String> {
        let n = self.feature_names.len();
        let s = &self.standardizer;
        if s.mean.len() != n || s.scale.len() != n {
            return Err(format!(
                "the standardiser has {} means and {} scales for {n} features",
                s.mean.len(),
                s.scale.len()
            ));
        }
        if let Some(i) = s.invalid_feature() {
            return Err(format!(
                "feature '{}' has a mean or scale that is not a finite positive number",
                self.feature_names[i]
            ));
        }
        match (&self.labels, &self.target_standardizer) {
            (Some(labels), _) if labels.len() >= 2 => Ok(()),
            (None, Some(t)) if t.n_features() == 1 && t.invalid_feature().is_none() => Ok(()),
            _ => Err("the target's labels or standardisation are missing or invalid".into()),
        }
    }

    /// Maps a standardised regression output back to the target's units.
    pub fn decode_value(&self, value: f32) -> f64 {
        self.target_standardizer
            .as_ref()
            .map_or(f64::from(value), |s| {
                f64::from(value) * s.scale[0] + s.mean[0]
            })
    }

    /// Maps a target value into the standardised units the network learns.
    fn encode_value(&self, value: f64) -> f32 {
        self.target_standardizer
            .as_ref()
            .map_or(value as f32, |s| ((value - s.mean[0]) / s.scale[0]) as f32)
    }

    /// Model output width: the number of classes, or 1 for regression.
    pub fn n_outputs(&self) -> usize {
        self.labels.as_ref().map_or(1, LabelMap::len)
    }

    /// Encodes `rows` of `dataset`, which must have the trained feature columns in the same
    /// order; class labels are mapped through the trained label map.
    pub fn encode(&self, dataset: &Dataset, rows: &[usize]) -> Result<Examples, DataError> {
        if dataset.feature_names != self.feature_names {
            return Err(DataError::FeatureMismatch {
                path: dataset.path.clone(),
                expected: self.feature_names.join(", "),
                found: dataset.feature_names.join(", "),
            });
        }
        if let Some(&row) = rows.iter().find(|&&row| row >= dataset.len()) {
            return Err(DataError::RowOutOfRange {
                path: dataset.path.clone(),
                row,
                rows: dataset.len(),
            });
        }
        let mut features = Vec::with_capacity(rows.len() * self.feature_names.len());
        for &row in rows {
            let values = dataset.row(row);
            self.standardizer
                .transform_row(values, &mut features)
                .map_err(|i| DataError::Unrepresentable {
                    path: dataset.path.clone(),
                    line: dataset.lines[row],
                    column: self.feature_names[i].clone(),
                    value: values[i],
                })?;
        }
        let targets = match (&self.labels, &dataset.targets) {
            (Some(labels), _) => crate::ExampleTargets::Classes(
                rows.iter()
                    .map(|&row| {
                        let label = &dataset.raw_targets[row];
                        labels.index(label).ok_or_else(|| DataError::UnknownLabel {
                            path: dataset.path.clone(),
                            line: dataset.lines[row],
                            label: crate::shorten(label),
                            known: labels.classes().join(", "),
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            (None, Targets::Values(values)) => crate::ExampleTargets::Values(
                rows.iter()
                    .map(|&r| {
                        Some(self.encode_value(values[r]))
                            .filter(|v| v.is_finite())
                            .ok_or_else(|| DataError::Unrepresentable {
                                path: dataset.path.clone(),
                                line: dataset.lines[r],
                                column: self.target_name.clone(),
                                value: values[r],
                            })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            (None, Targets::Classes { .. }) => {
                return Err(DataError::FeatureMismatch {
                    path: dataset.path.clone(),
                    expected: format!("a numeric regression target '{}'", self.target_name),
                    found: format!("class labels in '{}'", dataset.target_name),
                });
            }
        };
        Ok(Examples {
            n_features: self.feature_names.len(),
            features,
            targets,
        })
    }

    /// Reads rows to predict from `path`: it must hold every trained feature column (by name, in
    /// any order; other columns such as the target are ignored). Returns standardised features,
    /// row-major `[rows, features]`.
    pub fn read_inputs(&self, path: &Path, no_header: bool) -> Result<Vec<f32>, DataError> {
        let table = CsvTable::read_with(path, no_header)?;
        let columns = self
            .feature_names
            .iter()
            .map(|name| {
                table.column(name).ok_or_else(|| DataError::MissingFeature {
                    path: path.to_path_buf(),
                    column: name.clone(),
                    expected: self.feature_names.join(", "),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut features = Vec::with_capacity(table.rows.len() * columns.len());
        let mut raw = Vec::with_capacity(columns.len());
        for row in 0..table.rows.len() {
            raw.clear();
            for &column in &columns {
                raw.push(table.number(row, column)?);
            }
            self.standardizer
                .transform_row(&raw, &mut features)
                .map_err(|i| DataError::Unrepresentable {
                    path: path.to_path_buf(),
                    line: table.lines[row],
                    column: self.feature_names[i].clone(),
                    value: raw[i],
                })?;
        }
        Ok(features)
    }
}
