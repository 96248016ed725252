//! Evaluation metrics: accuracy and macro-F1 for classification; MSE, MAE and R² for regression.

use serde::{Deserialize, Serialize};

/// Metrics of one split at one point of training; absent values do not apply to the task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Mean loss (as optimised: standardised units for regression).
    pub loss: f64,
    /// Fraction of correctly classified rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Unweighted mean of the per-class F1 scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub macro_f1: Option<f64>,
    /// Mean squared error, in target units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mse: Option<f64>,
    /// Mean absolute error, in target units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
    /// Coefficient of determination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r2: Option<f64>,
    /// Language models: `exp(loss)`, the loss being nats per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity: Option<f64>,
    /// Language models: the loss in bits per character of the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits_per_char: Option<f64>,
}

/// One metric: its key (log columns, JSON) and its label for people, and how to read it.
#[derive(Debug, Clone, Copy)]
pub struct MetricColumn {
    /// Key in `metrics.csv` (after the split's prefix) and `metrics.jsonl`.
    pub key: &'static str,
    /// Label in text and HTML.
    pub label: &'static str,
    /// Its value in a [`Metrics`], when it applies to the task.
    pub get: fn(&Metrics) -> Option<f64>,
}

/// Every metric, in the order logs and tables show them.
pub const METRIC_COLUMNS: [MetricColumn; 8] = [
    MetricColumn::new("loss", "loss", |m| Some(m.loss)),
    MetricColumn::new("accuracy", "accuracy", |m| m.accuracy),
    MetricColumn::new("macro_f1", "macro-F1", |m| m.macro_f1),
    MetricColumn::new("mse", "MSE", |m| m.mse),
    MetricColumn::new("mae", "MAE", |m| m.mae),
    MetricColumn::new("r2", "R²", |m| m.r2),
    MetricColumn::new("perplexity", "perplexity", |m| m.perplexity),
    MetricColumn::new("bits_per_char", "bits/char", |m| m.bits_per_char),
];

impl MetricColumn {
    const fn new(key: &'static str, label: &'static str, get: fn(&Metrics) -> Option<f64>) -> Self {
        Self { key, label, get }
    }
}

impl Metrics {
    /// Classification metrics of `predicted` against `actual` class indices.
    pub fn classification(
        loss: f64,
        predicted: &[usize],
        actual: &[usize],
        classes: usize,
    ) -> Self {
        Self {
            loss,
            accuracy: Some(accuracy(predicted, actual)),
            macro_f1: Some(macro_f1(predicted, actual, classes)),
            ..Self::default()
        }
    }

    /// Regression metrics of `predicted` against `actual` values.
    pub fn regression(loss: f64, predicted: &[f64], actual: &[f64]) -> Self {
        let n = actual.len().max(1) as f64;
        let mse = predicted
            .iter()
            .zip(actual)
            .map(|(p, a)| (p - a).powi(2))
            .sum::<f64>()
            / n;
        let mae = predicted
            .iter()
            .zip(actual)
            .map(|(p, a)| (p - a).abs())
            .sum::<f64>()
            / n;
        Self {
            loss,
            mse: Some(mse),
            mae: Some(mae),
            r2: Some(r2(predicted, actual)),
            ..Self::default()
        }
    }

    /// The metrics that apply, with their values.
    pub fn values(&self) -> impl Iterator<Item = (&'static MetricColumn, f64)> + '_ {
        METRIC_COLUMNS
            .iter()
            .filter_map(move |column| (column.get)(self).map(|value| (column, value)))
    }

    /// All of them in one line: `loss 0.1234, accuracy 0.9667, macro-F1 0.9658`.
    pub fn describe(&self) -> String {
        self.values()
            .map(|(column, value)| format!("{} {value:.4}", column.label))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The headline metric and its name: accuracy for classification, R² for regression, bits
    /// per character for language models.
    pub fn main(&self) -> (&'static str, f64) {
        match (self.accuracy, self.r2, self.bits_per_char) {
            (Some(acc), _, _) => ("accuracy", acc),
            (None, Some(r2), _) => ("r2", r2),
            (None, None, Some(bpc)) => ("bits/char", bpc),
            _ => ("loss", self.loss),
        }
    }
}

/// Counts of `(actual, predicted)` class pairs: `matrix[actual][predicted]`, `classes × classes`.
pub fn confusion_matrix(predicted: &[usize], actual: &[usize], classes: usize) -> Vec<Vec<usize>> {
    let mut matrix = vec![vec![0; classes]; classes];
    for (&p, &a) in predicted.iter().zip(actual) {
        matrix[a][p] += 1;
    }
    matrix
}

/// Fraction of equal entries.
pub fn accuracy(predicted: &[usize], actual: &[usize]) -> f64 {
    let correct = predicted.iter().zip(actual).filter(|(p, a)| p == a).count();
    correct as f64 / actual.len().max(1) as f64
}

/// Mean of `2·TP / (2·TP + FP + FN)` over the classes present in the evaluated data (among the
/// actual or the predicted labels), as scikit-learn's default `f1_score(average="macro")`: a
/// class of the model that the evaluated rows never mention does not pull the mean down.
pub fn macro_f1(predicted: &[usize], actual: &[usize], classes: usize) -> f64 {
    let mut tp = vec![0usize; classes];
    let mut fp = vec![0usize; classes];
    let mut fn_ = vec![0usize; classes];
    for (&p, &a) in predicted.iter().zip(actual) {
        if p == a {
            tp[a] += 1;
        } else {
            fp[p] += 1;
            fn_[a] += 1;
        }
    }
    let present: Vec<f64> = (0..classes)
        .filter_map(|c| {
            let denominator = 2 * tp[c] + fp[c] + fn_[c];
            (denominator > 0).then(|| 2.0 * tp[c] as f64 / denominator as f64)
        })
        .collect();
    present.iter().sum::<f64>() / present.len().max(1) as f64
}

/// `1 - SS_res / SS_tot`. Constant targets give 1 when predicted exactly and 0 otherwise, as
/// scikit-learn's `r2_score` does with `force_finite`.
pub fn r2(predicted: &[f64], actual: &[f64]) -> f64 {
    let n = actual.len().max(1) as f64;
    let mean = actual.iter().sum::<f64>() / n;
    let ss_tot: f64 = actual.iter().map(|a| (a - mean).powi(2)).sum();
    let ss_res: f64 = predicted
        .iter()
        .zip(actual)
        .map(|(p, a)| (p - a).powi(2))
        .sum();
    if ss_tot == 0.0 {
        if ss_res == 0.0 { 1.0 } else { 0.0 }
    } else {
        1.0 - ss_res / ss_tot
    }
}
