//! Adam and AdamW whose step runs as one fused multi-threaded pass on flex (`ffn_model`'s
//! kernel) and as Burn's optimiser everywhere else. The state is Burn's own (`AdamState`,
//! `AdamWState`), so checkpoints are the same either way and a run may resume on another backend.

use burn::optim::{
    Adam, AdamState, AdamW, AdamWState, AdaptiveMomentumState, LearningRate, Optimizer,
};
use burn::tensor::{Device, Tensor};
use ffn_model::{AdamHyper, AdamStep, fused_adam_step};

/// Burn's Adam-family optimisers, whose state is one [`AdaptiveMomentumState`].
pub(crate) trait AdamFamily: Optimizer {
    /// The momentum inside a state.
    fn momentum<const D: usize>(state: &Self::State<D>) -> &AdaptiveMomentumState<D>;
    /// The state holding `momentum`.
    fn state<const D: usize>(momentum: AdaptiveMomentumState<D>) -> Self::State<D>;
}

impl AdamFamily for Adam {
    fn momentum<const D: usize>(state: &AdamState<D>) -> &AdaptiveMomentumState<D> {
        &state.momentum
    }
    fn state<const D: usize>(momentum: AdaptiveMomentumState<D>) -> AdamState<D> {
        AdamState { momentum }
    }
}

impl AdamFamily for AdamW {
    fn momentum<const D: usize>(state: &AdamWState<D>) -> &AdaptiveMomentumState<D> {
        &state.momentum
    }
    fn state<const D: usize>(momentum: AdaptiveMomentumState<D>) -> AdamWState<D> {
        AdamWState { momentum }
    }
}

/// An Adam-family optimiser `O` with the fused step on flex.
#[derive(Clone)]
pub(crate) struct FusedAdam<O> {
    burn: O,
    hyper: AdamHyper,
    /// AMSGrad keeps a third moment the kernel does not: Burn's optimiser runs it.
    amsgrad: bool,
}

impl<O: AdamFamily> FusedAdam<O> {
    /// `burn` built from the same hyper-parameters as `hyper` and `amsgrad`.
    pub fn new(burn: O, hyper: AdamHyper, amsgrad: bool) -> Self {
        Self {
            burn,
            hyper,
            amsgrad,
        }
    }
}

impl<O: AdamFamily> Optimizer for FusedAdam<O> {
    type State<const D: usize> = O::State<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let momentum = state.as_ref().map(O::momentum);
        if !self.amsgrad && momentum.is_none_or(|m| m.max_moment_2.is_none()) {
            let time = momentum.map_or(0, |m| m.time) + 1;
            let step = AdamStep {
                hyper: self.hyper,
                lr,
                time: i32::try_from(time).unwrap_or(i32::MAX),
            };
            let moments = momentum.map(|m| (m.moment_1.clone(), m.moment_2.clone()));
            if let Some((p, moment_1, moment_2)) =
                fused_adam_step(tensor.clone(), grad.clone(), moments, step)
            {
                let momentum = AdaptiveMomentumState {
                    time,
                    moment_1,
                    moment_2,
                    max_moment_2: None,
                };
                return (p, Some(O::state(momentum)));
            }
        }
        self.burn.step(lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        O::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::decay::WeightDecayConfig;
    use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
    use burn::tensor::{Distribution, Tensor};

    use crate::{AdamParams, OptimizerConfig};

    use super::*;

    /// Burn's own optimiser for `config`, configured by hand as the reference.
    fn burn_optimizer(config: &OptimizerConfig) -> ModuleOptimizer {
        match config {
            OptimizerConfig::Adam(p) => AdamConfig::new()
                .with_epsilon(p.eps as f32)
                .with_weight_decay(
                    (p.weight_decay > 0.0).then(|| WeightDecayConfig::new(p.weight_decay as f32)),
                )
                .init(),
            OptimizerConfig::Adamw(p) => AdamWConfig::new()
                .with_epsilon(p.eps as f32)
                .with_weight_decay(p.weight_decay as f32)
                .init(),
            OptimizerConfig::Sgd(_) => unreachable!("only the Adam family is fused"),
        }
    }

    /// A linear layer on flex trained five steps with a changing learning rate, once with the
    /// project's optimiser (the fused step) and once with Burn's, from the same weights on the
    /// same data: weights agree to the bit after every step, for Adam and AdamW with and without
    /// weight decay.
    #[test]
    fn fused_steps_equal_burns_optimiser_bit_for_bit() {
        let configs = [
            OptimizerConfig::Adam(AdamParams::with_weight_decay(0.0)),
            OptimizerConfig::Adam(AdamParams::with_weight_decay(0.1)),
            OptimizerConfig::Adamw(AdamParams::with_weight_decay(0.01)),
            OptimizerConfig::Adamw(AdamParams::with_weight_decay(0.0)),
        ];
        let flex = Device::flex().autodiff();
        flex.seed(3);
        let start = LinearConfig::new(40, 24).init(&flex);
        let x = Tensor::<2>::random([64, 40], Distribution::Normal(0.0, 1.0), &flex);
        let y = Tensor::<2>::random([64, 24], Distribution::Normal(0.0, 1.0), &flex);
        let weights = |m: &Linear| {
            let mut values = m.weight.val().into_data().try_to_vec::<f32>().unwrap();
            values.extend(
                m.bias
                    .as_ref()
                    .unwrap()
                    .val()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            );
            values
        };
        for config in configs {
            let mut runs = [config.init(), burn_optimizer(&config)].map(|o| (start.clone(), o));
            for (i, lr) in [1e-2, 3e-3, 1e-2, 5e-4, 2e-2].into_iter().enumerate() {
                for (model, optimizer) in &mut runs {
                    let loss = (model.forward(x.clone()) - y.clone()).square().mean();
                    let grads = GradientsParams::from_grads(loss.backward(), model);
                    *model = optimizer.step(lr, model.clone(), grads);
                }
                let (fused, reference) = (weights(&runs[0].0), weights(&runs[1].0));
                assert_eq!(fused, reference, "{config:?}, step {}", i + 1);
                assert_ne!(fused, weights(&start), "the weights moved");
            }
        }
    }
}
