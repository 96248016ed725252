//! Data parallelism: each batch split by rows across devices, a forward and backward pass per
//! share on a fork of the model, and the gradients brought to the main device and summed, each
//! share weighted by its rows, so the optimiser steps on the whole batch's mean gradient (the
//! pattern of burn-train's multi-device strategy).

use std::ops::Range;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;

use super::Objective;
use crate::{OpenedDevice, TrainError};

/// A batch that can be cut by rows: tabular rows or text windows.
pub(crate) trait Rows: Sized {
    /// Rows in the batch.
    fn len(&self) -> usize;
    /// Rows `rows`, on `device`.
    fn rows(&self, rows: Range<usize>, device: &Device) -> Self;
}

impl Rows for ffn_data::Batch {
    fn len(&self) -> usize {
        ffn_data::Batch::len(self)
    }
    fn rows(&self, rows: Range<usize>, device: &Device) -> Self {
        ffn_data::Batch::rows(self, rows, device)
    }
}

impl Rows for ffn_data::TokenBatch {
    fn len(&self) -> usize {
        ffn_data::TokenBatch::len(self)
    }
    fn rows(&self, rows: Range<usize>, device: &Device) -> Self {
        ffn_data::TokenBatch::rows(self, rows, device)
    }
}

/// Consecutive shares of `rows` rows over `parts` devices, as equal as can be (the first ones
/// one row larger), some empty when the rows are fewer than the devices.
pub(crate) fn shares(rows: usize, parts: usize) -> Vec<Range<usize>> {
    let (each, extra) = (rows / parts, rows % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let end = start + each + usize::from(i < extra);
            let share = start..end;
            start = end;
            share
        })
        .collect()
}

/// The loss of `batch` (the mean over its rows, without the autodiff graph, on the main device)
/// and the gradients of `loss / group` on the main device, the batch computed in shares on
/// `main` and `others`. Equal to one device's up to rounding when the loss is a mean over rows.
pub(crate) fn gradients<O: Objective>(
    objective: &O,
    model: &O::Model,
    batch: O::Batch,
    group: usize,
    (main, others): (&OpenedDevice, &[OpenedDevice]),
    seed: u64,
) -> Result<(Tensor<1>, GradientsParams), TrainError> {
    let rows = batch.len();
    let devices = std::iter::once(main).chain(others);
    let mut summed = GradientsAccumulator::<O::Model>::new();
    let mut loss_sum: Option<Tensor<1>> = None;
    for (device, share) in devices.zip(shares(rows, others.len() + 1)) {
        if share.is_empty() {
            continue;
        }
        let weight = share.len() as f64 / rows as f64;
        let autodiff = device.device.clone().autodiff();
        device.device.seed(seed);
        let piece = batch.rows(share, &autodiff);
        let replica = match device.device == main.device {
            true => model.clone(),
            false => model.clone().fork(&autodiff),
        };
        let loss = objective.loss(&replica, piece)?;
        let share_of_group = loss.clone() * weight / group as f64;
        let grads = GradientsParams::from_grads(share_of_group.backward(), &replica)
            .to_device(&main.device, model);
        summed.accumulate(model, grads);
        let share_loss = (loss.inner() * weight).to_device(&main.device);
        loss_sum = Some(match loss_sum {
            Some(sum) => sum + share_loss,
            None => share_loss,
        });
    }
    let loss = loss_sum.ok_or_else(|| TrainError::InvalidConfig("an empty batch".into()))?;
    Ok((loss, summed.grads()))
}

#[cfg(test)]
mod tests {
    use super::shares;

    #[test]
    fn shares_cover_the_rows_in_order() {
        assert_eq!(shares(10, 3), [0..4, 4..7, 7..10]);
        assert_eq!(shares(4, 2), [0..2, 2..4]);
        assert_eq!(shares(1, 2), [0..1, 1..1]);
    }
}
