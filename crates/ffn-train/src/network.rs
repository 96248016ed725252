//! The network a run trains: an optional Transformer FFN block (from an imported checkpoint)
//! followed by an MLP whose last layer is the head.

use std::convert::Infallible;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use ffn_model::{FeedForward, LoraConfig, Mlp, ModelError, TransformerFfn};

/// `[batch, features]` → optional `block` `[batch, d_model]` → optional `mlp` → `[batch, outputs]`.
#[derive(Module, Debug)]
pub struct Network {
    /// Transformer FFN block applied first (`d_model` = number of features), when the run
    /// starts from an imported block.
    pub block: Option<TransformerFfn>,
    /// The MLP whose `output` layer is the head; absent only in a bare imported block.
    pub mlp: Option<Mlp>,
}

impl Network {
    /// Runs the network on `[batch, d_input]`; fails on a wrong width.
    pub fn forward(&self, x: Tensor<2>) -> Result<Tensor<2>, ModelError> {
        let x = match &self.block {
            Some(block) => block.forward(x)?,
            None => x,
        };
        match &self.mlp {
            Some(mlp) => mlp.forward(x),
            None => Ok(x),
        }
    }

    /// Width of the input.
    pub fn d_input(&self) -> usize {
        match (&self.block, &self.mlp) {
            (Some(block), _) => block.d_model(),
            (None, Some(mlp)) => mlp.d_input(),
            (None, None) => 0,
        }
    }

    /// Width of the output (classes, regression targets, or `d_model` for a bare block).
    pub fn d_output(&self) -> usize {
        match (&self.mlp, &self.block) {
            (Some(mlp), _) => mlp.d_output(),
            (None, Some(block)) => block.d_model(),
            (None, None) => 0,
        }
    }

    /// The dense layers with their module paths (`block.up`, …, `mlp.hidden.0`, …,
    /// `mlp.output`), input side first; this order gives layer indices in freeze and LoRA specs.
    pub fn dense_layers(&self) -> Vec<(String, &FeedForward)> {
        let block = self.block.iter().flat_map(|b| b.dense_layers());
        let block = block.map(|(name, layer)| (format!("block.{name}"), layer));
        let mlp = self.mlp.iter().flat_map(|m| m.dense_layers());
        block
            .chain(mlp.map(|(name, layer)| (format!("mlp.{name}"), layer)))
            .collect()
    }

    /// Replaces every dense layer by `f(path, layer)`, paths as in [`Self::dense_layers`].
    pub fn map_dense<E>(
        self,
        f: &mut impl FnMut(&str, FeedForward) -> Result<FeedForward, E>,
    ) -> Result<Self, E> {
        let block = self
            .block
            .map(|b| b.map_dense(&mut |name, layer| f(&format!("block.{name}"), layer)))
            .transpose()?;
        let mlp = self
            .mlp
            .map(|m| m.map_dense(&mut |name, layer| f(&format!("mlp.{name}"), layer)))
            .transpose()?;
        Ok(Self { block, mlp })
    }

    /// Attaches LoRA adapters built on `device` to the dense layers whose path `targets`
    /// accepts, freezing their weights.
    pub fn with_lora(
        self,
        config: &LoraConfig,
        targets: impl Fn(&str) -> bool,
        device: &Device,
    ) -> Result<Self, ModelError> {
        self.map_dense(&mut |path, layer| {
            if targets(path) {
                layer.with_lora(config, device)
            } else {
                Ok(layer)
            }
        })
    }

    /// Folds every adapter into its layer's weights (outputs unchanged up to rounding).
    pub fn merge_lora(self) -> Self {
        match self.map_dense(&mut |_, layer| Ok::<_, Infallible>(layer.merge_lora())) {
            Ok(network) => network,
            Err(never) => match never {},
        }
    }

    /// Every float parameter's module path (e.g. `mlp.hidden.0.dense.linear.weight`), id and
    /// number of values.
    pub fn parameters(&self) -> Vec<ParameterInfo> {
        let mut visitor = PathVisitor::default();
        self.visit(&mut visitor);
        visitor.found
    }
}

/// A float parameter of a [`Network`].
#[derive(Debug, Clone)]
pub struct ParameterInfo {
    /// Dotted module path, e.g. `mlp.output.linear.bias`.
    pub path: String,
    /// Its id, as the optimiser and gradients know it.
    pub id: ParamId,
    /// Number of values.
    pub numel: usize,
}

#[derive(Default)]
struct PathVisitor {
    path: Vec<String>,
    found: Vec<ParameterInfo>,
}

impl ModuleVisitor for PathVisitor {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.found.push(ParameterInfo {
            path: self.path.join("."),
            id: param.id,
            numel: param.lazy_shape().num_elements(),
        });
    }
}
