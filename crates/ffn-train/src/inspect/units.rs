//! What each hidden unit of a tabular network does over a split: activation mean and spread,
//! how often it is active or saturated, whether it is dead on the training split, the norms of
//! its weights and its mean activation per class.

use burn::prelude::*;
use ffn_data::{ExampleTargets, Examples};
use serde::{Deserialize, Serialize};

use super::tally::UnitTally;
use crate::tabular::{row_chunks, to_f32};
use crate::{HiddenLayerView, Network, TrainError};

/// A unit saturated on at least this share of the inputs is reported as saturated.
pub const SATURATED_SHARE: f64 = 0.99;

/// One hidden unit over the inspected rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitStats {
    /// Its index in the layer.
    pub unit: usize,
    /// Mean activation.
    pub mean: f64,
    /// Population standard deviation of the activation.
    pub std: f64,
    /// Share of the rows on which it is active.
    pub active_fraction: f64,
    /// Share of the rows on which it is saturated (bounded activations only).
    pub saturated_fraction: f64,
    /// Active on no row of the training split.
    pub dead: bool,
    /// Saturated on at least [`SATURATED_SHARE`] of the rows.
    pub saturated: bool,
    /// L2 norm of its incoming weights.
    pub in_norm: f64,
    /// L2 norm of its outgoing weights.
    pub out_norm: f64,
    /// Mean activation over the rows of each class, in class order (`None`: no row of that
    /// class; empty for regression).
    pub class_means: Vec<Option<f64>>,
}

/// The units of one hidden layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerUnits {
    /// The layer's name (`mlp.hidden.0`, `block.hidden`).
    pub name: String,
    /// Its activation.
    pub activation: String,
    /// Every unit, in index order.
    pub units: Vec<UnitStats>,
    /// The dead units.
    pub dead: Vec<usize>,
    /// The saturated units.
    pub saturated: Vec<usize>,
}

/// The units of the hidden layers of `model` that `chosen` accepts (indices into
/// [`Network::hidden_layers`]): statistics over `examples`, deadness over `train`.
pub(crate) fn unit_stats(
    model: &Network,
    chosen: &[usize],
    examples: &Examples,
    train: &Examples,
    device: &Device,
) -> Result<Vec<LayerUnits>, TrainError> {
    let views = model.hidden_layers();
    let classes = match &examples.targets {
        ExampleTargets::Classes(_) => model.d_output(),
        ExampleTargets::Values(_) => 0,
    };
    let over_split = tallies(model, &views, examples, classes, device)?;
    let over_train = tallies(model, &views, train, 0, device)?;
    chosen
        .iter()
        .map(|&index| {
            let split = &over_split[index];
            let train = &over_train[index].tally;
            layer_units(
                &views[index],
                &split.tally,
                train,
                &split.class_sums,
                examples,
            )
        })
        .collect()
}

/// A hidden layer's tally over some rows, with the sums of its activations per class
/// `[classes][units]` (empty without classes).
struct LayerTally {
    tally: UnitTally,
    class_sums: Vec<Vec<f64>>,
}

/// Per hidden layer, its tally over the rows of `examples` (with class sums for `classes > 0`).
fn tallies(
    model: &Network,
    views: &[HiddenLayerView],
    examples: &Examples,
    classes: usize,
    device: &Device,
) -> Result<Vec<LayerTally>, TrainError> {
    let mut out: Vec<_> = views
        .iter()
        .map(|view| {
            let units = view.outgoing.dims()[0];
            LayerTally {
                tally: UnitTally::new(units, view.activation),
                class_sums: vec![vec![0.0; units]; classes],
            }
        })
        .collect();
    for (rows, x) in row_chunks(&examples.features, examples.n_features, device) {
        let (_, activations) = model.forward_probed(x)?;
        // `[classes, rows]` indicators of the chunk's classes, shared by every layer.
        let onehot = match &examples.targets {
            ExampleTargets::Classes(actual) if classes > 0 => {
                let values: Vec<f32> = (0..classes)
                    .flat_map(|c| actual[rows.clone()].iter().map(move |&a| f32::from(a == c)))
                    .collect();
                let shape = [classes, rows.len()];
                Some(Tensor::<2>::from_data(
                    TensorData::new(values, shape),
                    device,
                ))
            }
            _ => None,
        };
        for (LayerTally { tally, class_sums }, values) in out.iter_mut().zip(activations) {
            if let Some(onehot) = &onehot {
                let sums = to_f32(onehot.clone().matmul(values.clone()))?;
                for (c, row) in class_sums.iter_mut().enumerate() {
                    let units = row.len();
                    for (total, &v) in row.iter_mut().zip(&sums[c * units..(c + 1) * units]) {
                        *total += f64::from(v);
                    }
                }
            }
            tally.add(values)?;
        }
    }
    Ok(out)
}

fn layer_units(
    view: &HiddenLayerView,
    split: &UnitTally,
    train: &UnitTally,
    class_sums: &[Vec<f64>],
    examples: &Examples,
) -> Result<LayerUnits, TrainError> {
    let norms = |t: Tensor<2>, dim: usize| -> Result<Vec<f64>, TrainError> {
        let squared = t.clone() * t;
        Ok(to_f32(squared.sum_dim(dim).sqrt())?
            .into_iter()
            .map(f64::from)
            .collect())
    };
    let in_norms = norms(view.incoming.clone(), 0)?;
    let out_norms = norms(view.outgoing.clone(), 1)?;
    let class_counts: Vec<f64> = match &examples.targets {
        ExampleTargets::Classes(actual) => (0..class_sums.len())
            .map(|c| actual.iter().filter(|&&a| a == c).count() as f64)
            .collect(),
        ExampleTargets::Values(_) => Vec::new(),
    };
    let (means, stds) = (split.means(), split.stds());
    let (active, saturated) = (split.active_fractions(), split.saturated_fractions());
    let dead = train.dead_units();
    let units: Vec<UnitStats> = (0..means.len())
        .map(|unit| UnitStats {
            unit,
            mean: means[unit],
            std: stds[unit],
            active_fraction: active[unit],
            saturated_fraction: saturated[unit],
            dead: dead.contains(&unit),
            saturated: saturated[unit] >= SATURATED_SHARE,
            in_norm: in_norms[unit],
            out_norm: out_norms[unit],
            class_means: class_sums
                .iter()
                .zip(&class_counts)
                .map(|(sums, &count)| (count > 0.0).then(|| sums[unit] / count))
                .collect(),
        })
        .collect();
    Ok(LayerUnits {
        name: view.name.clone(),
        activation: view.activation.to_string(),
        saturated: units
            .iter()
            .filter(|u| u.saturated)
            .map(|u| u.unit)
            .collect(),
        dead,
        units,
    })
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use ffn_model::{Activation, MlpConfig};

    use super::*;

    /// `relu(x)` as the hidden layer: identity weights, zero bias, then `bias` on unit 1.
    fn network(bias: [f32; 2], activation: Activation, device: &Device) -> Network {
        let mut mlp = MlpConfig::new(2, vec![2], 2)
            .with_activation(activation)
            .init(device)
            .unwrap();
        let weight = Tensor::<2>::from_data([[1.0, 0.0], [0.0, 1.0]], device);
        mlp.hidden[0].dense.linear.weight = Param::from_tensor(weight);
        mlp.hidden[0].dense.linear.bias = Some(Param::from_tensor(Tensor::from_data(bias, device)));
        Network {
            block: None,
            mlp: Some(mlp),
        }
    }

    fn examples(rows: &[[f32; 2]], classes: &[usize]) -> Examples {
        Examples {
            n_features: 2,
            features: rows.iter().flatten().copied().collect(),
            targets: ExampleTargets::Classes(classes.to_vec()),
        }
    }

    #[test]
    fn statistics_match_hand_computed_values() {
        let device = Device::flex();
        let model = network([0.0, 0.0], Activation::Relu, &device);
        let rows = examples(&[[1.0, -1.0], [2.0, 3.0], [-1.0, 4.0]], &[0, 1, 1]);
        let layers = unit_stats(&model, &[0], &rows, &rows, &device).unwrap();
        let units = &layers[0].units;
        // Unit 0 sees relu(1, 2, -1) = (1, 2, 0); unit 1 relu(-1, 3, 4) = (0, 3, 4).
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-6, "{a} != {b}");
        close(units[0].mean, 1.0);
        close(units[0].std, (2.0f64 / 3.0).sqrt());
        close(units[1].mean, 7.0 / 3.0);
        close(units[0].active_fraction, 2.0 / 3.0);
        close(units[1].class_means[0].unwrap(), 0.0);
        close(units[1].class_means[1].unwrap(), 3.5);
        close(units[0].class_means[1].unwrap(), 1.0);
        close(units[0].in_norm, 1.0);
        assert_eq!(layers[0].name, "mlp.hidden.0");
        assert!(layers[0].dead.is_empty());
    }

    #[test]
    fn a_unit_with_bias_minus_100_is_the_one_dead_unit() {
        let device = Device::flex();
        let model = network([0.0, -100.0], Activation::Relu, &device);
        let train = examples(
            &[[1.0, 2.0], [-1.0, 50.0], [3.0, -2.0], [0.5, 99.0]],
            &[0, 1, 0, 1],
        );
        let layers = unit_stats(&model, &[0], &train, &train, &device).unwrap();
        assert_eq!(layers[0].dead, vec![1]);
        assert!(layers[0].units[1].dead && !layers[0].units[0].dead);
        assert_eq!(layers[0].units[1].active_fraction, 0.0);
    }

    #[test]
    fn tanh_units_saturate_beyond_099() {
        let device = Device::flex();
        // Unit 1 gets a bias of 10: tanh(10 + x) >= 0.99 for every x here, so it is saturated
        // on every row, never active, and dead; unit 0 is saturated on one row of three.
        let model = network([0.0, 10.0], Activation::Tanh, &device);
        let rows = examples(&[[0.1, 0.0], [-0.5, 1.0], [3.0, -2.0]], &[0, 1, 0]);
        let layers = unit_stats(&model, &[0], &rows, &rows, &device).unwrap();
        let units = &layers[0].units;
        assert!((units[0].saturated_fraction - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(units[1].saturated_fraction, 1.0);
        assert_eq!(layers[0].saturated, vec![1]);
        assert_eq!(layers[0].dead, vec![1]);
    }
}
