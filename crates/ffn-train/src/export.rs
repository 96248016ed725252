//! Exporting a trained run for PyTorch: its weights as a `.safetensors` file under the names and
//! layouts of the equivalent `torch.nn.Sequential` (`nn.Linear` weights `[out, in]`), with the
//! layer list, the preprocessing and the label map in the file's metadata.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use ffn_model::{
    Activation, DEFAULT_NORM_EPSILON, FeedForward, HostTensor, Mlp, Norm, write_safetensors,
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Artifact, Network, TrainError};

/// Metadata key: the export format's name and version.
pub const FORMAT_KEY: &str = "format";
/// The value of [`FORMAT_KEY`].
pub const FORMAT: &str = "ffn-sequential-1";

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportInfo {
    /// The `.safetensors` file.
    pub path: PathBuf,
    /// The `nn.Sequential` layers in order, as `{"module": NAME, ...constructor arguments}`.
    pub sequential: Vec<Value>,
    /// Every tensor written, with its shape.
    pub tensors: Vec<(String, Vec<usize>)>,
}

/// Writes the trained run in `dir` to `out` for PyTorch. Metadata (all JSON strings):
/// `format`, `sequential` (the layer list: `torch.nn.Sequential(*[getattr(nn, m.pop("module"))
/// (**m) for m in layers])` rebuilds it), `preprocessing` (feature names, mean and scale the
/// inputs are standardised with, target name, regression target's mean and scale) and `labels`
/// (class names in output order, classification only).
pub fn export_run(dir: &Path, out: &Path) -> Result<ExportInfo, TrainError> {
    let run = Artifact::open(dir)?.into_trained("export")?;
    let network = run.model(&Device::flex())?;
    let mlp = exportable_mlp(&network, dir)?;
    let mut layers = Layers::default();
    for hidden in &mlp.hidden {
        layers.linear(&hidden.dense)?;
        if let Some(norm) = &hidden.norm {
            layers.norm(norm, hidden.dense.units())?;
        }
        layers.activation(hidden.dense.activation, dir)?;
        if mlp.dropout.prob > 0.0 {
            layers.push(json!({"module": "Dropout", "p": mlp.dropout.prob}));
        }
    }
    layers.linear(&mlp.output)?;

    let pre = &run.preprocessor;
    let preprocessing = json!({
        "features": pre.feature_names,
        "mean": pre.standardizer.mean,
        "scale": pre.standardizer.scale,
        "target": pre.target_name,
        "task": pre.task,
        "target_mean": pre.target_standardizer.as_ref().map(|s| s.mean[0]),
        "target_scale": pre.target_standardizer.as_ref().map(|s| s.scale[0]),
    });
    let mut metadata = BTreeMap::from([
        (FORMAT_KEY.to_string(), FORMAT.to_string()),
        ("sequential".to_string(), json!(layers.modules).to_string()),
        ("preprocessing".to_string(), preprocessing.to_string()),
    ]);
    if let Some(labels) = &pre.labels {
        metadata.insert("labels".into(), json!(labels.classes()).to_string());
    }
    write_safetensors(out, &layers.tensors, metadata)?;
    Ok(ExportInfo {
        path: out.to_path_buf(),
        tensors: layers
            .tensors
            .iter()
            .map(|(name, t)| (name.clone(), t.shape.clone()))
            .collect(),
        sequential: layers.modules,
    })
}

/// The network's MLP, when it is all there is: a block has no `nn.Sequential` equivalent.
fn exportable_mlp<'a>(network: &'a Network, dir: &Path) -> Result<&'a Mlp, TrainError> {
    let unsupported = |reason: &str| TrainError::Run {
        path: dir.to_path_buf(),
        reason: format!("cannot be exported as a torch.nn.Sequential: {reason}"),
    };
    if network.block.is_some() {
        return Err(unsupported(
            "its Transformer FFN block (residual, norm) is not a sequence of torch layers; its \
             weights are those of the imported checkpoint plus the head",
        ));
    }
    network
        .mlp
        .as_ref()
        .ok_or_else(|| unsupported("it has no MLP"))
}

/// The `nn.Sequential` being built: its modules and their tensors under PyTorch's names.
#[derive(Default)]
struct Layers {
    modules: Vec<Value>,
    tensors: Vec<(String, HostTensor)>,
}

impl Layers {
    fn push(&mut self, module: Value) {
        self.modules.push(module);
    }

    /// Adds a tensor of the module about to be pushed (index = number of modules so far).
    fn tensor<const D: usize>(&mut self, name: &str, tensor: Tensor<D>) -> Result<(), TrainError> {
        let index = self.modules.len();
        self.tensors
            .push((format!("{index}.{name}"), host(tensor)?));
        Ok(())
    }

    /// `nn.Linear(in, out, bias)`, weight stored `[out, in]`.
    fn linear(&mut self, layer: &FeedForward) -> Result<(), TrainError> {
        let (d_in, d_out) = (layer.d_input(), layer.units());
        self.tensor("weight", layer.linear.weight.val().transpose())?;
        if let Some(bias) = &layer.linear.bias {
            self.tensor("bias", bias.val())?;
        }
        self.push(json!({
            "module": "Linear",
            "in_features": d_in,
            "out_features": d_out,
            "bias": layer.linear.bias.is_some(),
        }));
        Ok(())
    }

    /// `nn.LayerNorm` or `nn.RMSNorm` over `width` features.
    fn norm(&mut self, norm: &Norm, width: usize) -> Result<(), TrainError> {
        let module = match norm {
            Norm::Layer(ln) => {
                self.tensor("weight", ln.gamma.val())?;
                if let Some(beta) = &ln.beta {
                    self.tensor("bias", beta.val())?;
                }
                "LayerNorm"
            }
            Norm::Rms(rms) => {
                self.tensor("weight", rms.gamma.val())?;
                "RMSNorm"
            }
        };
        self.push(json!({
            "module": module,
            "normalized_shape": width,
            "eps": DEFAULT_NORM_EPSILON,
        }));
        Ok(())
    }

    /// The `torch.nn` module of `activation`.
    fn activation(&mut self, activation: Activation, dir: &Path) -> Result<(), TrainError> {
        let module = match activation {
            Activation::Identity => json!({"module": "Identity"}),
            Activation::Relu => json!({"module": "ReLU"}),
            Activation::LeakyRelu { slope } => {
                json!({"module": "LeakyReLU", "negative_slope": slope})
            }
            Activation::Sigmoid => json!({"module": "Sigmoid"}),
            Activation::Tanh => json!({"module": "Tanh"}),
            Activation::Gelu => json!({"module": "GELU"}),
            Activation::GeluTanh => json!({"module": "GELU", "approximate": "tanh"}),
            Activation::Silu => json!({"module": "SiLU"}),
            Activation::Mish => json!({"module": "Mish"}),
            Activation::Softplus => json!({"module": "Softplus"}),
            Activation::Softsign => json!({"module": "Softsign"}),
            Activation::Relu6 => json!({"module": "ReLU6"}),
            Activation::Elu { alpha } => json!({"module": "ELU", "alpha": alpha}),
            Activation::Selu => json!({"module": "SELU"}),
            Activation::QuickGelu => {
                return Err(TrainError::Run {
                    path: dir.to_path_buf(),
                    reason: "cannot be exported: torch.nn has no module for quick_gelu".into(),
                });
            }
        };
        self.push(module);
        Ok(())
    }
}

/// A tensor's values on the host, row-major, with its shape.
fn host<const D: usize>(tensor: Tensor<D>) -> Result<HostTensor, TrainError> {
    let shape = tensor.dims().to_vec();
    let values = tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| TrainError::Device(format!("cannot read a weight back: {e:?}")))?;
    Ok(HostTensor { shape, values })
}
