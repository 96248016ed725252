//! Running a trained model over examples: losses, metrics and predictions.

use std::ops::Range;

use burn::prelude::*;
use burn::tensor::activation::softmax;
use ffn_data::{BatchTargets, ExampleTargets, Examples, Preprocessor};
use ffn_model::ModelError;

use crate::{LossConfig, Metrics, Network, RegressionLoss, TrainError, cross_entropy, huber, mse};

/// Rows per forward pass when evaluating.
const EVAL_CHUNK: usize = 4096;

/// The loss of `output` `[batch, outputs]` against `targets`, as configured.
pub fn task_loss(output: Tensor<2>, targets: BatchTargets, loss: &LossConfig) -> Tensor<1> {
    match targets {
        BatchTargets::Classes(classes) => cross_entropy(
            output,
            classes,
            loss.class_weights.as_deref(),
            loss.label_smoothing,
        ),
        BatchTargets::Values(values) => match loss.regression {
            RegressionLoss::Mse => mse(output, values),
            RegressionLoss::Huber { delta } => huber(output, values, delta),
        },
    }
}

/// Outputs of `model` for every example: logits `[len, classes]` or standardised values
/// `[len, 1]`, row-major, computed in chunks on `device`.
pub fn forward_all(
    model: &Network,
    features: &[f32],
    n_features: usize,
    device: &Device,
) -> Result<Vec<f32>, TrainError> {
    forward_rows(
        |x| model.forward(x),
        features,
        n_features,
        model.d_output(),
        device,
    )
}

/// `forward` applied to row-major `[rows, n_features]` values in chunks on `device`, giving
/// row-major `[rows, width]` outputs.
pub(crate) fn forward_rows(
    forward: impl Fn(Tensor<2>) -> Result<Tensor<2>, ModelError>,
    features: &[f32],
    n_features: usize,
    width: usize,
    device: &Device,
) -> Result<Vec<f32>, TrainError> {
    let mut out = Vec::with_capacity(features.len() / n_features.max(1) * width);
    for (_, x) in row_chunks(features, n_features, device) {
        out.extend(to_f32(forward(x)?)?);
    }
    Ok(out)
}

/// Row-major `[rows, n_features]` values as tensors of at most [`EVAL_CHUNK`] rows on
/// `device`, each with the range of rows it holds.
pub(crate) fn row_chunks<'a>(
    features: &'a [f32],
    n_features: usize,
    device: &'a Device,
) -> impl Iterator<Item = (Range<usize>, Tensor<2>)> + 'a {
    let rows = features.len() / n_features.max(1);
    (0..rows).step_by(EVAL_CHUNK).map(move |start| {
        let end = (start + EVAL_CHUNK).min(rows);
        let chunk = features[start * n_features..end * n_features].to_vec();
        let x = Tensor::<2>::from_data(TensorData::new(chunk, [end - start, n_features]), device);
        (start..end, x)
    })
}

/// Loss and metrics of `model` on `examples` (metrics in the target's units).
pub fn evaluate(
    model: &Network,
    examples: &Examples,
    preprocessor: &Preprocessor,
    loss: &LossConfig,
    device: &Device,
) -> Result<Metrics, TrainError> {
    let outputs = forward_all(model, &examples.features, examples.n_features, device)?;
    let width = model.d_output();
    let rows = examples.len();
    let all: Vec<usize> = (0..rows).collect();
    let batch = examples.batch(&all, device);
    let output = Tensor::<2>::from_data(TensorData::new(outputs.clone(), [rows, width]), device);
    let loss_value = f64::from(task_loss(output, batch.targets, loss).into_scalar::<f32>());
    Ok(match &examples.targets {
        ExampleTargets::Classes(actual) => {
            let predicted: Vec<usize> = outputs.chunks(width).map(argmax).collect();
            Metrics::classification(loss_value, &predicted, actual, width)
        }
        ExampleTargets::Values(actual) => {
            let predicted: Vec<f64> = outputs
                .iter()
                .map(|&v| preprocessor.decode_value(v))
                .collect();
            let actual: Vec<f64> = actual
                .iter()
                .map(|&v| preprocessor.decode_value(v))
                .collect();
            Metrics::regression(loss_value, &predicted, &actual)
        }
    })
}

/// The test-style confusion matrix of `model` on classification `examples`
/// (`matrix[actual][predicted]`); `None` for regression.
pub fn confusion(
    model: &Network,
    examples: &Examples,
    device: &Device,
) -> Result<Option<Vec<Vec<usize>>>, TrainError> {
    let ExampleTargets::Classes(actual) = &examples.targets else {
        return Ok(None);
    };
    let outputs = forward_all(model, &examples.features, examples.n_features, device)?;
    let width = model.d_output();
    let predicted: Vec<usize> = outputs.chunks(width).map(argmax).collect();
    Ok(Some(crate::metrics::confusion_matrix(
        &predicted, actual, width,
    )))
}

/// One prediction: a class with the probabilities of every class, or a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    /// Classification.
    Class {
        /// Index of the most probable class.
        index: usize,
        /// Softmax probabilities in class-index order.
        probabilities: Vec<f64>,
    },
    /// Regression, in the target's units.
    Value(f64),
}

/// Predicts standardised feature rows (row-major `[rows, features]`).
pub fn predict(
    model: &Network,
    features: &[f32],
    preprocessor: &Preprocessor,
    device: &Device,
) -> Result<Vec<Prediction>, TrainError> {
    let n_features = preprocessor.feature_names.len();
    let outputs = forward_all(model, features, n_features, device)?;
    let width = model.d_output();
    if preprocessor.labels.is_none() {
        return Ok(outputs
            .iter()
            .map(|&v| Prediction::Value(preprocessor.decode_value(v)))
            .collect());
    }
    let rows = outputs.len() / width;
    let logits = Tensor::<2>::from_data(TensorData::new(outputs, [rows, width]), device);
    let probabilities = to_f32(softmax(logits, 1))?;
    Ok(probabilities
        .chunks(width)
        .map(|p| Prediction::Class {
            index: argmax(p),
            probabilities: p.iter().map(|&v| f64::from(v)).collect(),
        })
        .collect())
}

/// The index of the largest value (the first of equals).
pub(crate) fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// The values of a tensor on the host.
pub(crate) fn to_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, TrainError> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| TrainError::Device(format!("cannot read tensor data: {e:?}")))
}
