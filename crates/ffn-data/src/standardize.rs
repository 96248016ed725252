//! Per-feature standardisation `(x - mean) / std`, fitted on the training rows only.

use serde::{Deserialize, Serialize};

/// Per-feature mean and standard deviation (population, as scikit-learn's `StandardScaler`).
/// A constant feature gets a scale of 1, so it maps to 0 instead of dividing by zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Mean of each feature over the fitted rows.
    pub mean: Vec<f64>,
    /// Standard deviation of each feature (1 where the feature is constant).
    pub scale: Vec<f64>,
}

impl Standardizer {
    /// Fits on `rows` of the row-major `features` matrix with `n_features` columns.
    pub fn fit(features: &[f64], n_features: usize, rows: &[usize]) -> Self {
        let n = rows.len().max(1) as f64;
        let column = |f: usize| rows.iter().map(move |&r| features[r * n_features + f]);
        let mean: Vec<f64> = (0..n_features)
            .map(|f| column(f).sum::<f64>() / n)
            .collect();
        let scale = (0..n_features)
            .map(|f| {
                let var = column(f).map(|v| (v - mean[f]).powi(2)).sum::<f64>() / n;
                let std = var.sqrt();
                if std > f64::EPSILON * mean[f].abs().max(1.0) {
                    std
                } else {
                    1.0
                }
            })
            .collect();
        Self { mean, scale }
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    /// Standardises one row of raw feature values into `out`.
    pub fn transform_row(&self, row: &[f64], out: &mut Vec<f32>) {
        out.extend(
            row.iter()
                .zip(self.mean.iter().zip(&self.scale))
                .map(|(x, (m, s))| ((x - m) / s) as f32),
        );
    }
}
