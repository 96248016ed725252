//! Gradient clipping by the global L2 norm over all parameters (PyTorch `clip_grad_norm_`).
//! Burn's own clipping works per tensor, which is a different rule.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// Scales every gradient by `max_norm / (norm + 1e-6)` when their joint L2 norm exceeds
/// `max_norm`; returns the norm before clipping.
pub fn clip_global_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let mut squares = SquaredNorm { grads, total: None };
    module.visit(&mut squares);
    let norm = squares
        .total
        .map_or(0.0, |t| f64::from(t.into_scalar::<f32>()).sqrt());
    let scale = max_norm / (norm + 1e-6);
    if scale < 1.0 {
        module.visit(&mut Scale { grads, scale });
    }
    norm
}

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let sum = grad.square().sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + sum,
                None => sum,
            });
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    scale: f64,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let id: ParamId = param.id;
        if let Some(grad) = self.grads.remove::<D>(id) {
            self.grads.register(id, grad * self.scale);
        }
    }
}
