//! The dense layers inside a module, by path: one trait that every container of
//! [`FeedForward`] layers implements once (`map_dense`), and that lists, adapts (LoRA) and
//! merges them on top of it.

use std::convert::Infallible;

use burn::module::Module;
use burn::prelude::*;

use crate::{FeedForward, LoraConfig, ModelError};

/// A `f(path, layer)` applied to the dense layers of a module.
pub type DenseMap<'a, E> = dyn FnMut(&str, FeedForward) -> Result<FeedForward, E> + 'a;

/// A module made of (or holding) dense layers, each known by a dotted path such as `up`,
/// `hidden.0` or `mlp.output`.
pub trait DenseLayers: Module + Sized {
    /// Replaces every dense layer by `f(path, layer)`, input side first; the paths are those of
    /// [`Self::dense_layers`].
    fn map_dense<E>(self, f: &mut DenseMap<'_, E>) -> Result<Self, E>;

    /// The dense layers with their paths, input side first; this order gives the layer indices
    /// that freeze and LoRA specs use.
    fn dense_layers(&self) -> Vec<(String, FeedForward)> {
        let mut found = Vec::new();
        let visit = self.clone().map_dense(&mut |path, layer| {
            found.push((path.to_string(), layer.clone()));
            Ok(layer)
        });
        infallible(visit);
        found
    }

    /// Attaches LoRA adapters built by `config` on `device` to the dense layers whose path
    /// `targets` accepts, freezing their weights.
    fn with_lora(
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
    fn merge_lora(self) -> Self {
        infallible(self.map_dense(&mut |_, layer| Ok(layer.merge_lora())))
    }
}

/// `f` applied to the dense layers of `inner`, a part of a larger module found at `prefix`: the
/// paths `f` sees are `prefix.path`.
pub fn map_dense_at<M: DenseLayers, E>(
    prefix: &str,
    inner: M,
    f: &mut DenseMap<'_, E>,
) -> Result<M, E> {
    inner.map_dense(&mut |path, layer| f(&format!("{prefix}.{path}"), layer))
}

/// The value of a result that cannot fail.
fn infallible<T>(result: Result<T, Infallible>) -> T {
    result.unwrap_or_else(|never| match never {})
}
