//! What a tabular run brings to the engine: seeded mini-batches of the training rows, the
//! configured loss, and metrics on the training and validation rows.

use burn::prelude::*;
use ffn_data::{Batch, DataLoader, Examples};

use super::evaluate::{evaluate, task_loss};
use super::session::Data;
use crate::engine::{Evaluation, Objective};
use crate::{LossConfig, Metrics, Network, TrainConfig, TrainError};

/// The objective of a tabular run.
pub(super) struct Tabular<'a> {
    data: &'a Data,
    loss: &'a LossConfig,
    loader: DataLoader<'a>,
    /// The device evaluation runs on (without autodiff).
    device: &'a Device,
}

impl<'a> Tabular<'a> {
    pub fn new(
        config: &'a TrainConfig,
        data: &'a Data,
        device: &'a Device,
    ) -> Result<Self, TrainError> {
        Ok(Self {
            data,
            loss: &config.loss,
            loader: DataLoader::new(&data.train, config.batch_size, Some(config.seed))?,
            device,
        })
    }

    fn metrics(&self, model: &Network, examples: &Examples) -> Result<Metrics, TrainError> {
        evaluate(
            model,
            examples,
            &self.data.preprocessor,
            self.loss,
            self.device,
        )
    }
}

impl Objective for Tabular<'_> {
    type Model = Network;
    type Batch = Batch;

    fn batches_per_round(&self, _round: usize) -> usize {
        self.loader.num_batches()
    }

    fn batches<'s>(&'s self, round: usize, device: &'s Device) -> impl Iterator<Item = Batch> + 's {
        self.loader.batches(round as u64, device)
    }

    fn loss(&self, model: &Network, batch: Batch) -> Result<Tensor<1>, TrainError> {
        Ok(task_loss(
            model.forward(batch.features)?,
            batch.targets,
            self.loss,
        ))
    }

    fn evaluate(&self, model: &Network) -> Result<Evaluation, TrainError> {
        let train = self.metrics(model, &self.data.train)?;
        let valid = match self.data.valid.is_empty() {
            true => None,
            false => Some(self.metrics(model, &self.data.valid)?),
        };
        Ok(Evaluation {
            train,
            valid,
            sample: None,
            dead_neurons: None,
            expert_tokens: None,
        })
    }
}
