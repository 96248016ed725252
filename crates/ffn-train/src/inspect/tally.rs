//! Running sums of one layer's activations over many inputs, reduced on the device so that only
//! one value per unit comes back per batch.

use burn::prelude::*;
use ffn_model::Activation;

use crate::TrainError;
use crate::tabular::to_f32 as host;

/// Sums over the inputs seen so far of a layer's unit activations: count, sum, sum of squares,
/// inputs on which each unit was active and on which it was saturated ([`Activation`]'s rules).
#[derive(Debug, Clone)]
pub(crate) struct UnitTally {
    activation: Activation,
    rows: usize,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    active: Vec<f64>,
    saturated: Vec<f64>,
}

impl UnitTally {
    /// An empty tally of `units` units with `activation`.
    pub fn new(units: usize, activation: Activation) -> Self {
        Self {
            activation,
            rows: 0,
            sum: vec![0.0; units],
            sum_sq: vec![0.0; units],
            active: vec![0.0; units],
            saturated: vec![0.0; units],
        }
    }

    /// Adds the activations `[rows, units]` of a batch.
    pub fn add(&mut self, values: Tensor<2>) -> Result<(), TrainError> {
        let [rows, _] = values.dims();
        let columns = |t: Tensor<2>| host(t.sum_dim(0));
        let active = self.activation.active_mask(values.clone()).float();
        let saturated = self.activation.saturated_mask(values.clone()).float();
        accumulate(&mut self.sum, &columns(values.clone())?);
        accumulate(&mut self.sum_sq, &columns(values.clone() * values)?);
        accumulate(&mut self.active, &columns(active)?);
        accumulate(&mut self.saturated, &columns(saturated)?);
        self.rows += rows;
        Ok(())
    }

    /// Mean activation of each unit.
    pub fn means(&self) -> Vec<f64> {
        self.per_row(&self.sum)
    }

    /// Population standard deviation of each unit's activation.
    pub fn stds(&self) -> Vec<f64> {
        let means = self.means();
        self.per_row(&self.sum_sq)
            .iter()
            .zip(means)
            .map(|(mean_sq, mean)| (mean_sq - mean * mean).max(0.0).sqrt())
            .collect()
    }

    /// Fraction of the inputs on which each unit was active.
    pub fn active_fractions(&self) -> Vec<f64> {
        self.per_row(&self.active)
    }

    /// Fraction of the inputs on which each unit was saturated.
    pub fn saturated_fractions(&self) -> Vec<f64> {
        self.per_row(&self.saturated)
    }

    /// The units active on no input seen.
    pub fn dead_units(&self) -> Vec<usize> {
        (0..self.active.len())
            .filter(|&i| self.active[i] == 0.0)
            .collect()
    }

    /// The share of the units that are dead.
    pub fn dead_fraction(&self) -> f64 {
        self.dead_units().len() as f64 / self.active.len().max(1) as f64
    }

    fn per_row(&self, sums: &[f64]) -> Vec<f64> {
        let rows = self.rows.max(1) as f64;
        sums.iter().map(|s| s / rows).collect()
    }
}

fn accumulate(into: &mut [f64], values: &[f32]) {
    for (total, &v) in into.iter_mut().zip(values) {
        *total += f64::from(v);
    }
}
