//! What a language-model run brings to the engine: rounds of `eval_interval` optimiser steps on
//! seeded random windows of the training tokens, next-token cross-entropy, and the loss,
//! perplexity and bits per character of seeded validation batches.

use std::path::Path;

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use ffn_data::{SplitMix64, TokenBatch, TokenSplit, Tokenizer, Windows};
use ffn_model::CausalLm;

use super::weights::LmWeights;
use super::{LmConfig, Sampling, generate};
use crate::engine::Evaluation;
use crate::inspect::FfnActivityTally;
use crate::{Metrics, RunDir, TrainError};

/// Stream of the evaluation batches (the training rounds use streams 0, 1, ...).
const EVAL_STREAM: u64 = u64::MAX;

/// The objective of a language-model run.
pub(crate) struct LanguageModeling<'a> {
    pub config: &'a LmConfig,
    /// Decodes the samples generated after each round (none without it).
    pub tokenizer: Option<&'a Tokenizer>,
    /// The first tokens of the validation part: the prompt of the samples.
    pub prompt: &'a [u32],
    pub train: Windows<'a>,
    pub valid: Windows<'a>,
    pub chars_per_token: f64,
    /// Where evaluation runs (without autodiff).
    pub device: &'a Device,
    /// Batches of each evaluation.
    pub eval_batches: usize,
    /// What the checkpoints hold.
    pub weights: LmWeights,
}

impl<'a> LanguageModeling<'a> {
    pub fn new(
        config: &'a LmConfig,
        split: &'a TokenSplit,
        tokenizer: Option<&'a Tokenizer>,
        device: &'a Device,
    ) -> Result<Self, TrainError> {
        let block = config.model.block;
        Ok(Self {
            config,
            tokenizer,
            prompt: &split.valid[..split.valid.len().min(block / 2).max(1)],
            train: Windows::new(&split.train, block, config.batch, "the training part")?,
            valid: Windows::new(&split.valid, block, config.batch, "the validation part")?,
            chars_per_token: split.chars_per_token,
            device,
            eval_batches: config.eval_batches,
            weights: LmWeights::Full,
        })
    }

    /// Loss, perplexity and bits per character of `model` on `eval_batches` seeded batches of
    /// `windows`.
    /// The FFN activity of the evaluated batches goes into `tally` when given.
    pub fn metrics(
        &self,
        model: &CausalLm,
        windows: &Windows,
        tally: Option<&mut FfnActivityTally>,
    ) -> Result<Metrics, TrainError> {
        evaluate_windows(
            model,
            windows,
            self.eval_batches,
            self.config.seed,
            self.chars_per_token,
            self.device,
            tally,
        )
    }
}

impl LanguageModeling<'_> {
    /// `sample_tokens` tokens generated after the prompt (temperature 0.8, seeded by the run),
    /// with the prompt, as text.
    fn sample(&self, model: &CausalLm) -> Result<Option<String>, TrainError> {
        let Some(tokenizer) = self.tokenizer else {
            return Ok(None);
        };
        if self.config.sample_tokens == 0 {
            return Ok(None);
        }
        let sampling = Sampling {
            temperature: 0.8,
            top_k: None,
            top_p: None,
            seed: self.config.seed,
            stop: None,
        };
        let count = self.config.sample_tokens;
        let mut tokens = self.prompt.to_vec();
        tokens.extend(generate(
            model,
            self.prompt,
            count,
            &sampling,
            true,
            self.device,
            &mut |_| Ok(()),
        )?);
        Ok(Some(tokenizer.decode(&tokens)?))
    }
}

/// Loss, perplexity and bits per character of `model` on `batches` batches of `windows` drawn
/// from the evaluation stream of `seed` (the same windows every time); the FFN activity of
/// those batches goes into `tally` when given.
pub(crate) fn evaluate_windows(
    model: &CausalLm,
    windows: &Windows,
    batches: usize,
    seed: u64,
    chars_per_token: f64,
    device: &Device,
    mut tally: Option<&mut FfnActivityTally>,
) -> Result<Metrics, TrainError> {
    let mut rng = SplitMix64::for_stream(seed, EVAL_STREAM);
    let mut sum = 0.0;
    for _ in 0..batches {
        let batch = windows.sample(&mut rng, device);
        let logits = match tally.as_deref_mut() {
            Some(tally) => tally.forward(model, batch.inputs)?.0,
            None => model.forward(batch.inputs)?,
        };
        sum += f64::from(next_token_loss(logits, batch.targets).into_scalar::<f32>());
    }
    Ok(language_metrics(
        sum / batches.max(1) as f64,
        chars_per_token,
    ))
}

/// The metrics of a mean next-token loss (nats per token).
pub(crate) fn language_metrics(loss: f64, chars_per_token: f64) -> Metrics {
    Metrics {
        loss,
        perplexity: Some(loss.exp()),
        bits_per_char: Some(loss / std::f64::consts::LN_2 / chars_per_token),
        ..Metrics::default()
    }
}

/// Mean next-token cross-entropy of `model` on `batch`.
pub(crate) fn token_loss(model: &CausalLm, batch: TokenBatch) -> Result<Tensor<1>, TrainError> {
    Ok(next_token_loss(model.forward(batch.inputs)?, batch.targets))
}

/// Mean next-token cross-entropy of `logits` `[batch, seq, vocab]` against `targets`
/// `[batch, seq]`: each row's log-probability of its target picked out by index, so that no
/// one-hot `[batch·seq, vocab]` tensor (100 MB for 512 tokens of SmolLM2's 49,152-token
/// vocabulary) is built forward or backward.
pub(crate) fn next_token_loss(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<1> {
    let [b, t, vocab] = logits.dims();
    let log_probs = log_softmax(logits.reshape([b * t, vocab]), 1);
    let picked = log_probs.gather(1, targets.reshape([b * t, 1]));
    picked.sum().neg() / (b * t) as f64
}

impl crate::engine::Objective for LanguageModeling<'_> {
    type Model = CausalLm;
    type Batch = TokenBatch;

    fn batches_per_round(&self, round: usize) -> usize {
        self.config.steps_in_round(round)
    }

    fn batches<'s>(
        &'s self,
        round: usize,
        device: &'s Device,
    ) -> impl Iterator<Item = TokenBatch> + 's {
        let mut rng = SplitMix64::for_stream(self.config.seed, round as u64);
        (0..self.batches_per_round(round)).map(move |_| self.train.sample(&mut rng, device))
    }

    fn loss(&self, model: &CausalLm, batch: TokenBatch) -> Result<Tensor<1>, TrainError> {
        let (logits, routers) = model.forward_routed(batch.inputs)?;
        let mut loss = next_token_loss(logits, batch.targets);
        if !routers.is_empty() {
            let blocks = routers.len() as f64;
            for router in routers {
                loss = loss
                    + router.load_balancing * (self.config.moe_aux_loss / blocks)
                    + router.z_loss * (self.config.moe_z_loss / blocks);
            }
        }
        Ok(loss)
    }

    fn evaluate(&self, model: &CausalLm) -> Result<Evaluation, TrainError> {
        let mut tally = FfnActivityTally::default();
        Ok(Evaluation {
            train: self.metrics(model, &self.train, None)?,
            valid: Some(self.metrics(model, &self.valid, Some(&mut tally))?),
            sample: self.sample(model)?,
            dead_neurons: tally.dead_fractions(),
            expert_tokens: tally.expert_tokens(),
        })
    }

    fn save_weights(&self, run: &RunDir, model: &CausalLm, path: &Path) -> Result<(), TrainError> {
        self.weights.save(run, model, path)
    }

    fn load_weights(
        &self,
        run: &RunDir,
        structure: CausalLm,
        path: &Path,
    ) -> Result<CausalLm, TrainError> {
        self.weights.load(run, structure, path)
    }
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;
    use burn::tensor::Distribution;

    use super::next_token_loss;
    use crate::cross_entropy;

    #[test]
    fn the_picked_loss_equals_the_one_hot_cross_entropy() {
        let device = Device::flex();
        device.seed(3);
        let logits = Tensor::<3>::random([2, 5, 7], Distribution::Normal(0.0, 3.0), &device);
        let targets = Tensor::<2, Int>::from_data(
            TensorData::new(vec![0i64, 6, 3, 3, 1, 2, 5, 4, 0, 6], [2, 5]),
            &device,
        );
        let picked = next_token_loss(logits.clone(), targets.clone()).into_scalar::<f32>();
        let one_hot = cross_entropy(logits.reshape([10, 7]), targets.reshape([10]), None, 0.0)
            .into_scalar::<f32>();
        assert!((picked - one_hot).abs() < 1e-6, "{picked} vs {one_hot}");
        assert!(picked > 0.5, "{picked}");
    }
}
