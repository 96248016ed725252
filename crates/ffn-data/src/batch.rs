//! Encoded examples, batches of tensors on any device, and a seeded, per-epoch shuffling loader.

use burn::prelude::*;

use crate::{DataError, SplitMix64};

/// Targets of encoded examples.
#[derive(Debug, Clone, PartialEq)]
pub enum ExampleTargets {
    /// Class index per example.
    Classes(Vec<usize>),
    /// One regression value per example.
    Values(Vec<f32>),
}

/// Model-ready examples: standardised features, row-major `[len, n_features]`, and targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Examples {
    /// Number of features per example.
    pub n_features: usize,
    /// Feature values, row-major.
    pub features: Vec<f32>,
    /// Targets, one per example.
    pub targets: ExampleTargets,
}

/// Targets of one batch.
#[derive(Debug, Clone)]
pub enum BatchTargets {
    /// Class indices, `[batch]`.
    Classes(Tensor<1, Int>),
    /// Regression values, `[batch, 1]`.
    Values(Tensor<2>),
}

/// One batch on a device: features `[batch, n_features]` and their targets.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Standardised features, `[batch, n_features]`.
    pub features: Tensor<2>,
    /// Targets, `[batch]` class indices or `[batch, 1]` values.
    pub targets: BatchTargets,
}

impl Batch {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.features.dims()[0]
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows `rows` of the batch, on `device`: one device's share of a batch split across devices.
    pub fn rows(&self, rows: std::ops::Range<usize>, device: &Device) -> Batch {
        let targets = match &self.targets {
            BatchTargets::Classes(classes) => BatchTargets::Classes(
                classes
                    .clone()
                    .narrow(0, rows.start, rows.len())
                    .to_device(device),
            ),
            BatchTargets::Values(values) => BatchTargets::Values(
                values
                    .clone()
                    .narrow(0, rows.start, rows.len())
                    .to_device(device),
            ),
        };
        Batch {
            features: self
                .features
                .clone()
                .narrow(0, rows.start, rows.len())
                .to_device(device),
            targets,
        }
    }
}

impl Examples {
    /// Number of examples.
    pub fn len(&self) -> usize {
        match &self.targets {
            ExampleTargets::Classes(c) => c.len(),
            ExampleTargets::Values(v) => v.len(),
        }
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gathers the examples at `indices` into a batch on `device`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Batch {
        let d = self.n_features;
        let mut features = Vec::with_capacity(indices.len() * d);
        for &i in indices {
            features.extend_from_slice(&self.features[i * d..(i + 1) * d]);
        }
        let features = Tensor::from_data(TensorData::new(features, [indices.len(), d]), device);
        let targets = match &self.targets {
            ExampleTargets::Classes(classes) => {
                let picked: Vec<i64> = indices.iter().map(|&i| classes[i] as i64).collect();
                BatchTargets::Classes(Tensor::from_data(
                    TensorData::new(picked, [indices.len()]),
                    device,
                ))
            }
            ExampleTargets::Values(values) => {
                let picked: Vec<f32> = indices.iter().map(|&i| values[i]).collect();
                BatchTargets::Values(Tensor::from_data(
                    TensorData::new(picked, [indices.len(), 1]),
                    device,
                ))
            }
        };
        Batch { features, targets }
    }
}

/// Cuts examples into batches; with a seed, the order is reshuffled every epoch, the same way for
/// the same seed and epoch (so a resumed run sees the batches an uninterrupted one would).
#[derive(Debug, Clone)]
pub struct DataLoader<'a> {
    examples: &'a Examples,
    batch_size: usize,
    shuffle_seed: Option<u64>,
}

impl<'a> DataLoader<'a> {
    /// A loader over `examples`; `shuffle_seed: None` keeps the stored order.
    pub fn new(
        examples: &'a Examples,
        batch_size: usize,
        shuffle_seed: Option<u64>,
    ) -> Result<Self, DataError> {
        if batch_size == 0 {
            return Err(DataError::ZeroBatchSize);
        }
        Ok(Self {
            examples,
            batch_size,
            shuffle_seed,
        })
    }

    /// Number of batches per epoch (the last one may be smaller).
    pub fn num_batches(&self) -> usize {
        self.examples.len().div_ceil(self.batch_size)
    }

    /// Example order of epoch `epoch`.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.examples.len()).collect();
        if let Some(seed) = self.shuffle_seed {
            SplitMix64::for_stream(seed, epoch).shuffle(&mut order);
        }
        order
    }

    /// The batches of epoch `epoch` on `device`, built lazily.
    pub fn batches<'d>(
        &'d self,
        epoch: u64,
        device: &'d Device,
    ) -> impl Iterator<Item = Batch> + 'd {
        let order = self.order(epoch);
        let batch_size = self.batch_size;
        (0..self.num_batches()).map(move |b| {
            let end = ((b + 1) * batch_size).min(order.len());
            self.examples.batch(&order[b * batch_size..end], device)
        })
    }
}
