//! Which input features drive a tabular network's outputs: integrated gradients (Sundararajan
//! et al. 2017) and gradient × input per row, and permutation importance per feature.

use burn::prelude::*;
use ffn_data::{ExampleTargets, Examples, SplitMix64};
use serde::{Deserialize, Serialize};

use crate::tabular::{argmax, forward_all, to_f32};
use crate::{Network, TrainError, accuracy, r2};

/// Path points evaluated per backward pass.
const POINTS_PER_PASS: usize = 8192;
/// Integrated gradients of a row whose completeness gap exceeds [`COMPLETENESS_TOLERANCE`] are
/// recomputed with twice the steps, up to this many.
pub const MAX_STEPS: usize = 1024;
/// The completeness gap integrated gradients are refined until.
pub const COMPLETENESS_TOLERANCE: f64 = 0.01;

/// The attributions of one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowAttribution {
    /// The class explained (the predicted one); `None` for regression.
    pub class: Option<usize>,
    /// The explained output at the row, `f(x)`: the class's logit or the standardised value.
    pub output: f64,
    /// The explained output at the baseline, `f(b)`.
    pub baseline_output: f64,
    /// Integrated gradients per feature: `(x − b) · ∫ ∂f/∂x (b + α(x − b)) dα`, trapezoid rule.
    pub integrated_gradients: Vec<f64>,
    /// Gradient × input per feature: `(x − b) · ∂f/∂x (x)`.
    pub gradient_x_input: Vec<f64>,
    /// `|Σ IG − (f(x) − f(b))|` over the larger of `|f(x) − f(b)|` and `Σ |IG|`: relative to
    /// the attribution mass, so that a row whose attributions cancel out is not judged against
    /// a difference near zero.
    pub completeness_gap: f64,
    /// Steps of the path integral.
    pub steps: usize,
}

/// One feature's importance over the inspected rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureImportance {
    /// The feature's column name.
    pub feature: String,
    /// Mean |integrated gradients|.
    pub mean_abs_ig: f64,
    /// Mean |gradient × input|.
    pub mean_abs_gradient_x_input: f64,
    /// Mean drop of the metric when the feature's column is permuted.
    pub permutation: f64,
    /// Sample standard deviation of that drop over the repeats.
    pub permutation_sd: f64,
}

/// The attributions of a run's network over a set of rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attributions {
    /// The baseline of the path: the training mean (every standardised feature 0).
    pub baseline: String,
    /// Steps of the path integral before refinement.
    pub steps: usize,
    /// The metric permutation importance measures the drop of (`accuracy` or `r2`).
    pub metric: String,
    /// That metric on the unpermuted rows.
    pub metric_value: f64,
    /// Permutations per feature.
    pub repeats: usize,
    /// The largest completeness gap of any row.
    pub worst_completeness_gap: f64,
    /// Every feature, in column order.
    pub features: Vec<FeatureImportance>,
    /// Every row, in order.
    pub rows: Vec<RowAttribution>,
}

/// What [`attributions`] is told.
#[derive(Debug, Clone)]
pub(crate) struct AttributionSettings {
    /// Steps of the path integral.
    pub steps: usize,
    /// Permutations per feature.
    pub repeats: usize,
    /// Seeds the permutations.
    pub seed: u64,
}

/// Integrated gradients and gradient × input of every row of `examples` (`tracked` is the
/// network on an autodiff device, frozen) and permutation importance (`model`, on `device`);
/// `progress(done, total)` after each pass.
pub(crate) fn attributions(
    model: &Network,
    tracked: &Network,
    examples: &Examples,
    names: &[String],
    settings: &AttributionSettings,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Attributions, TrainError> {
    let n = examples.n_features;
    let rows = examples.len();
    let total = rows + n * settings.repeats;
    let outputs = forward_all(model, &examples.features, n, device)?;
    let width = model.d_output();
    let classes: Vec<Option<usize>> = match &examples.targets {
        ExampleTargets::Classes(_) => outputs.chunks(width).map(|o| Some(argmax(o))).collect(),
        ExampleTargets::Values(_) => vec![None; rows],
    };
    let mut done = 0;
    let mut attributed = Vec::with_capacity(rows);
    let per_pass = (POINTS_PER_PASS / (settings.steps + 1)).max(1);
    for start in (0..rows).step_by(per_pass) {
        let end = (start + per_pass).min(rows);
        let rows = Rows {
            values: &examples.features[start * n..end * n],
            classes: &classes[start..end],
            n,
        };
        attributed.extend(refined_gradients(tracked, rows, settings.steps)?);
        done += end - start;
        progress(done, total);
    }
    let permuted = permutation_importance(model, examples, settings, device, &mut |count| {
        done += count;
        progress(done, total);
    })?;
    let mean_abs = |pick: fn(&RowAttribution) -> &Vec<f64>, j: usize| {
        attributed.iter().map(|r| pick(r)[j].abs()).sum::<f64>() / rows.max(1) as f64
    };
    let features = names
        .iter()
        .zip(permuted.drops)
        .enumerate()
        .map(|(j, (name, (mean, sd)))| FeatureImportance {
            feature: name.clone(),
            mean_abs_ig: mean_abs(|r| &r.integrated_gradients, j),
            mean_abs_gradient_x_input: mean_abs(|r| &r.gradient_x_input, j),
            permutation: mean,
            permutation_sd: sd,
        })
        .collect();
    Ok(Attributions {
        baseline: "training mean (every standardised feature 0)".into(),
        steps: settings.steps,
        metric: permuted.metric.into(),
        metric_value: permuted.value,
        repeats: settings.repeats,
        worst_completeness_gap: attributed
            .iter()
            .map(|r| r.completeness_gap)
            .fold(0.0, f64::max),
        features,
        rows: attributed,
    })
}

/// Rows to attribute: their values, row-major with `n` features each, and the class each
/// explains.
#[derive(Debug, Clone, Copy)]
struct Rows<'a> {
    values: &'a [f32],
    classes: &'a [Option<usize>],
    n: usize,
}

/// Integrated gradients of `rows`, recomputing the rows whose completeness gap exceeds the
/// tolerance with twice the steps, up to [`MAX_STEPS`].
fn refined_gradients(
    tracked: &Network,
    rows: Rows,
    steps: usize,
) -> Result<Vec<RowAttribution>, TrainError> {
    let mut result = path_gradients(tracked, rows, steps)?;
    let mut steps = steps;
    let n = rows.n;
    while steps * 2 <= MAX_STEPS {
        let pending: Vec<usize> = (0..result.len())
            .filter(|&i| result[i].completeness_gap > COMPLETENESS_TOLERANCE)
            .collect();
        if pending.is_empty() {
            break;
        }
        steps *= 2;
        let per_pass = (POINTS_PER_PASS / (steps + 1)).max(1);
        for group in pending.chunks(per_pass) {
            let values: Vec<f32> = group
                .iter()
                .flat_map(|&i| rows.values[i * n..(i + 1) * n].iter().copied())
                .collect();
            let classes: Vec<_> = group.iter().map(|&i| rows.classes[i]).collect();
            let again = path_gradients(
                tracked,
                Rows {
                    values: &values,
                    classes: &classes,
                    n,
                },
                steps,
            )?;
            for (&i, attribution) in group.iter().zip(again) {
                result[i] = attribution;
            }
        }
    }
    Ok(result)
}

/// Integrated gradients with `steps` steps and gradient × input of `rows` from the all-zero
/// baseline, in one backward pass.
fn path_gradients(
    tracked: &Network,
    rows: Rows,
    steps: usize,
) -> Result<Vec<RowAttribution>, TrainError> {
    let Rows {
        values: rows,
        classes,
        n,
    } = rows;
    let count = classes.len();
    let points = steps + 1;
    let device = tracked
        .devices()
        .first()
        .cloned()
        .ok_or_else(|| TrainError::Device("the network has no device".into()))?;
    let mut path = Vec::with_capacity(count * points * n);
    for x in rows.chunks(n) {
        for k in 0..points {
            let alpha = k as f32 / steps as f32;
            path.extend(x.iter().map(|&v| alpha * v));
        }
    }
    let x =
        Tensor::<2>::from_data(TensorData::new(path, [count * points, n]), &device).require_grad();
    let output = tracked.forward(x.clone())?;
    let columns: Vec<i64> = classes
        .iter()
        .flat_map(|c| std::iter::repeat_n(c.unwrap_or(0) as i64, points))
        .collect();
    let columns =
        Tensor::<2, Int>::from_data(TensorData::new(columns, [count * points, 1]), &device);
    let picked = output.gather(1, columns);
    let grads = picked.clone().sum().backward();
    let gradient = x
        .grad(&grads)
        .ok_or_else(|| TrainError::Device("no gradient reached the input".into()))?;
    let gradient = to_f32(gradient)?;
    let picked = to_f32(picked)?;
    Ok((0..count)
        .map(|r| {
            let x = &rows[r * n..(r + 1) * n];
            let at = |k: usize, j: usize| f64::from(gradient[(r * points + k) * n + j]);
            let integrated_gradients: Vec<f64> = (0..n)
                .map(|j| {
                    let inner: f64 = (1..steps).map(|k| at(k, j)).sum();
                    let ends = (at(0, j) + at(steps, j)) / 2.0;
                    f64::from(x[j]) * (inner + ends) / steps as f64
                })
                .collect();
            let output = f64::from(picked[r * points + steps]);
            let baseline_output = f64::from(picked[r * points]);
            let difference = output - baseline_output;
            let total: f64 = integrated_gradients.iter().sum();
            let mass: f64 = integrated_gradients.iter().map(|v| v.abs()).sum();
            RowAttribution {
                class: classes[r],
                output,
                baseline_output,
                gradient_x_input: (0..n).map(|j| f64::from(x[j]) * at(steps, j)).collect(),
                integrated_gradients,
                completeness_gap: (total - difference).abs()
                    / difference.abs().max(mass).max(f64::MIN_POSITIVE),
                steps,
            }
        })
        .collect())
}

/// The metric of a set of rows and how much it drops when each feature is permuted.
struct Permuted {
    /// `accuracy` or `r2`.
    metric: &'static str,
    /// Its value on the rows as they are.
    value: f64,
    /// Per feature, the mean and sample standard deviation of the drop.
    drops: Vec<(f64, f64)>,
}

/// The metric of `examples` (accuracy or R²), and per feature its drop when that feature's
/// column is shuffled (seeded per feature and repeat); `advance(repeats)` after each feature.
fn permutation_importance(
    model: &Network,
    examples: &Examples,
    settings: &AttributionSettings,
    device: &Device,
    advance: &mut dyn FnMut(usize),
) -> Result<Permuted, TrainError> {
    let n = examples.n_features;
    let width = model.d_output();
    let score = |features: &[f32]| -> Result<f64, TrainError> {
        let outputs = forward_all(model, features, n, device)?;
        Ok(match &examples.targets {
            ExampleTargets::Classes(actual) => {
                let predicted: Vec<usize> = outputs.chunks(width).map(argmax).collect();
                accuracy(&predicted, actual)
            }
            ExampleTargets::Values(actual) => {
                let predicted: Vec<f64> = outputs.iter().map(|&v| f64::from(v)).collect();
                let actual: Vec<f64> = actual.iter().map(|&v| f64::from(v)).collect();
                r2(&predicted, &actual)
            }
        })
    };
    let metric = match examples.targets {
        ExampleTargets::Classes(_) => "accuracy",
        ExampleTargets::Values(_) => "r2",
    };
    let base = score(&examples.features)?;
    let rows = examples.len();
    let mut drops = Vec::with_capacity(n);
    for j in 0..n {
        let mut values = Vec::with_capacity(settings.repeats);
        for repeat in 0..settings.repeats {
            let mut rng =
                SplitMix64::for_stream(settings.seed, (j * settings.repeats + repeat) as u64);
            let mut column: Vec<f32> = (0..rows).map(|r| examples.features[r * n + j]).collect();
            rng.shuffle(&mut column);
            let mut features = examples.features.clone();
            for (r, v) in column.into_iter().enumerate() {
                features[r * n + j] = v;
            }
            values.push(base - score(&features)?);
        }
        drops.push(crate::mean_sd(&values));
        advance(settings.repeats);
    }
    Ok(Permuted {
        metric,
        value: base,
        drops,
    })
}

#[cfg(test)]
mod tests {
    use burn::module::{Module, Param};
    use ffn_model::MlpConfig;

    use super::*;

    /// A linear network `[3 features] → [2 classes]` with weight `w` and bias `b`.
    fn linear(w: [[f32; 2]; 3], b: [f32; 2], device: &Device) -> Network {
        let mut mlp = MlpConfig::new(3, vec![], 2).init(device).unwrap();
        mlp.output.linear.weight = Param::from_tensor(Tensor::from_data(w, device));
        mlp.output.linear.bias = Some(Param::from_tensor(Tensor::from_data(b, device)));
        Network {
            block: None,
            mlp: Some(mlp),
        }
    }

    const W: [[f32; 2]; 3] = [[1.0, -2.0], [0.5, 3.0], [0.0, 0.0]];

    #[test]
    fn integrated_gradients_of_a_linear_network_are_weight_times_input() {
        let tracked = linear(W, [0.3, -0.1], &Device::flex().autodiff()).freeze();
        let rows = [2.0, -1.0, 7.0, 0.5, 4.0, -3.0];
        let rows = Rows {
            values: &rows,
            classes: &[Some(1), Some(0)],
            n: 3,
        };
        let got = path_gradients(&tracked, rows, 8).unwrap();
        // Row 0 explains class 1: x · w[:, 1] = (-4, -3, 0); row 1 class 0: (0.5, 2, 0).
        let expected = [[-4.0, -3.0, 0.0], [0.5, 2.0, 0.0]];
        for (row, want) in got.iter().zip(expected) {
            for (j, &w) in want.iter().enumerate() {
                assert!((row.integrated_gradients[j] - w).abs() < 1e-6);
                assert!((row.gradient_x_input[j] - w).abs() < 1e-6);
            }
            assert!(row.completeness_gap < 1e-6, "{}", row.completeness_gap);
        }
        assert!((got[0].output - (-4.0 - 3.0 - 0.1)).abs() < 1e-5);
        assert!((got[0].baseline_output - (-0.1)).abs() < 1e-6);
    }

    #[test]
    fn an_unused_feature_has_no_permutation_importance() {
        let device = Device::flex();
        let model = linear(W, [0.0, 0.0], &device);
        let mut rng = SplitMix64::new(5);
        let features: Vec<f32> = (0..300)
            .map(|_| rng.below(1000) as f32 / 250.0 - 2.0)
            .collect();
        let outputs = forward_all(&model, &features, 3, &device).unwrap();
        let examples = Examples {
            n_features: 3,
            features,
            targets: ExampleTargets::Classes(outputs.chunks(2).map(argmax).collect()),
        };
        let settings = AttributionSettings {
            steps: 4,
            repeats: 3,
            seed: 1,
        };
        let permuted =
            permutation_importance(&model, &examples, &settings, &device, &mut |_| {}).unwrap();
        assert_eq!(permuted.value, 1.0);
        assert_eq!(permuted.drops[2], (0.0, 0.0));
        assert!(permuted.drops[0].0 > 0.1 && permuted.drops[1].0 > 0.1);
    }
}
