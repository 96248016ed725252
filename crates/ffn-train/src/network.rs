//! The network a tabular run trains: an optional Transformer FFN block (from an imported
//! checkpoint) followed by an MLP whose last layer is the head.

use burn::module::ParamId;
use burn::prelude::*;
use ffn_model::{
    Activation, DenseLayers, DenseMap, FeedForward, Mlp, ModelError, TransformerFfn, map_dense_at,
};

use crate::params::param_ids;

/// `[batch, features]` → optional `block` `[batch, d_model]` → optional `mlp` → `[batch, outputs]`.
#[derive(Module, Debug)]
pub struct Network {
    /// Transformer FFN block applied first (`d_model` = number of features), when the run
    /// starts from an imported block.
    pub block: Option<TransformerFfn>,
    /// The MLP whose `output` layer is the head; absent only in a bare imported block.
    pub mlp: Option<Mlp>,
}

/// A hidden layer as inspection sees it: its units' activation and the weights into and out
/// of them (adapters merged).
#[derive(Debug, Clone)]
pub struct HiddenLayerView {
    /// `block.hidden` (the block's `d_ff` units) or `mlp.hidden.N`.
    pub name: String,
    /// The units' activation (the gate's in a gated block).
    pub activation: Activation,
    /// Weights into the units, `[inputs, units]` (a gated block's gate and up stacked).
    pub incoming: Tensor<2>,
    /// Weights out of the units, `[units, outputs]`.
    pub outgoing: Tensor<2>,
}

/// A layer that freeze and LoRA specs can name.
#[derive(Debug, Clone)]
pub struct NamedLayer {
    /// Its path: a dense layer's (`block.up`, `mlp.hidden.0`, `mlp.output`) or `block.norm`.
    pub name: String,
    /// Whether it is a dense layer (which can carry a LoRA adapter).
    pub dense: bool,
    /// Whether it is the head (the MLP's output layer).
    pub head: bool,
    /// Its parameters.
    pub params: Vec<ParamId>,
}

impl Network {
    /// Path prefix of the block's layers.
    pub const BLOCK: &'static str = "block";
    /// Path prefix of the MLP's layers.
    pub const MLP: &'static str = "mlp";

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

    /// [`Self::forward`] that also returns the activations `[batch, units]` of every hidden
    /// layer, in the order of [`Self::hidden_layers`].
    pub fn forward_probed(&self, x: Tensor<2>) -> Result<(Tensor<2>, Vec<Tensor<2>>), ModelError> {
        let mut activations = Vec::new();
        let x = match &self.block {
            Some(block) => {
                let (output, activity) = block.forward_probed(x)?;
                activations.push(activity.activation);
                output
            }
            None => x,
        };
        let output = match &self.mlp {
            Some(mlp) => {
                let (output, hidden) = mlp.forward_probed(x)?;
                activations.extend(hidden);
                output
            }
            None => x,
        };
        Ok((output, activations))
    }

    /// The hidden layers, input side first: the block's (`block.hidden`), then the MLP's.
    pub fn hidden_layers(&self) -> Vec<HiddenLayerView> {
        let weight = |layer: &FeedForward| layer.clone().merge_lora().linear.weight.val();
        let mut views = Vec::new();
        if let Some(block) = &self.block {
            let up = weight(&block.up);
            views.push(HiddenLayerView {
                name: format!("{}.hidden", Self::BLOCK),
                activation: block.activation,
                incoming: match &block.gate {
                    Some(gate) => Tensor::cat(vec![weight(gate), up], 0),
                    None => up,
                },
                outgoing: weight(&block.down),
            });
        }
        if let Some(mlp) = &self.mlp {
            for (i, hidden) in mlp.hidden.iter().enumerate() {
                let next = mlp.hidden.get(i + 1).map_or(&mlp.output, |h| &h.dense);
                views.push(HiddenLayerView {
                    name: format!("{}.{}.{i}", Self::MLP, Mlp::HIDDEN),
                    activation: hidden.dense.activation,
                    incoming: weight(&hidden.dense),
                    outgoing: weight(next),
                });
            }
        }
        views
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

    /// The layers specs can name, in index order: the block's norm (when it has one), then the
    /// dense layers input side first. A hidden MLP layer includes its norm.
    pub fn layers(&self) -> Vec<NamedLayer> {
        let layer = |name: String, dense: bool, head: bool, params: Vec<ParamId>| NamedLayer {
            name,
            dense,
            head,
            params,
        };
        let mut layers = Vec::new();
        if let Some(block) = &self.block {
            if let Some(norm) = &block.norm {
                let name = format!("{}.norm", Self::BLOCK);
                layers.push(layer(name, false, false, param_ids(norm)));
            }
            for (path, dense) in block.dense_layers() {
                let name = format!("{}.{path}", Self::BLOCK);
                layers.push(layer(name, true, false, param_ids(&dense)));
            }
        }
        if let Some(mlp) = &self.mlp {
            for (i, hidden) in mlp.hidden.iter().enumerate() {
                let name = format!("{}.{}.{i}", Self::MLP, Mlp::HIDDEN);
                layers.push(layer(name, true, false, param_ids(hidden)));
            }
            let name = format!("{}.{}", Self::MLP, Mlp::OUTPUT);
            layers.push(layer(name, true, true, param_ids(&mlp.output)));
        }
        layers
    }

    /// The names of [`Self::layers`], in index order.
    pub fn layer_names(&self) -> Vec<String> {
        self.layers().into_iter().map(|layer| layer.name).collect()
    }

    /// The parameters of every LoRA adapter attached to a dense layer.
    pub fn adapter_params(&self) -> Vec<ParamId> {
        self.dense_layers()
            .iter()
            .filter_map(|(_, layer)| layer.lora.as_ref())
            .flat_map(param_ids)
            .collect()
    }
}

impl DenseLayers for Network {
    /// `block.up`, `block.gate`, `block.down`, then `mlp.hidden.0`, …, `mlp.output`.
    fn map_dense<E>(self, f: &mut DenseMap<'_, E>) -> Result<Self, E> {
        Ok(Self {
            block: self
                .block
                .map(|block| map_dense_at(Self::BLOCK, block, f))
                .transpose()?,
            mlp: self
                .mlp
                .map(|mlp| map_dense_at(Self::MLP, mlp, f))
                .transpose()?,
        })
    }
}
