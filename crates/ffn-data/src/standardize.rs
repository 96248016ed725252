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

    /// Standardises one row of raw feature values into `out`; `Err(i)` names the first
    /// feature whose standardised value is not finite in f32 (the row is then incomplete).
    pub fn transform_row(&self, row: &[f64], out: &mut Vec<f32>) -> Result<(), usize> {
        for (i, (x, (m, s))) in row
            .iter()
            .zip(self.mean.iter().zip(&self.scale))
            .enumerate()
        {
            let z = ((x - m) / s) as f32;
            if !z.is_finite() {
                return Err(i);
            }
            out.push(z);
        }
        Ok(())
    }

    /// The first feature whose mean or scale is not a finite number (a scale also positive).
    pub fn invalid_feature(&self) -> Option<usize> {
        (0..self.mean.len().max(self.scale.len())).find(|&i| {
            let (m, s) = (self.mean.get(i), self.scale.get(i));
            !m.is_some_and(|m| m.is_finite()) || !s.is_some_and(|s| s.is_finite() && *s > 0.0)
        })
    }
}
