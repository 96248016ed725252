//! Fine-tuning: which layers train (freezing, LoRA adapters, a new head), the pretrained source
//! of the weights (a trained run or an imported block), and adapter files.

use std::path::{Path, PathBuf};

use std::collections::HashSet;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use ffn_data::{Dataset, Preprocessor, Standardizer};
use ffn_model::{FeedForwardConfig, LoraConfig, MlpConfig};
use serde::{Deserialize, Serialize};

use crate::{
    ImportedBlock, ModelSpec, Network, ParameterInfo, RunDir, SavedRun, TrainConfig, TrainError,
};

/// Path of the head among a [`Network`]'s dense layers.
pub const HEAD: &str = "mlp.output";

/// How a run is fine-tuned from a pretrained one; saved in its `config.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneSpec {
    /// The run directory (trained run or imported block) whose weights start the run.
    pub from: PathBuf,
    /// Whether the head is replaced by a new one; forced when the label sets differ.
    pub new_head: bool,
    /// Layers that do not train: names (`mlp.hidden.0`, `hidden.0`, `output`), `*` patterns,
    /// indices into [`layer_names`], `body` (all but the head) or `head`.
    pub freeze: Vec<String>,
    /// LoRA adapters, if any: then every base weight is frozen and only the adapters (and a new
    /// head) train.
    pub lora: Option<LoraSpec>,
    /// Learning rate of the head; `None` uses the run's `lr`. Scheduled like `lr`.
    pub head_lr: Option<f64>,
}

/// LoRA settings and the layers that get adapters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraSpec {
    /// Rank, alpha, dropout.
    #[serde(flatten)]
    pub config: LoraConfig,
    /// Layers that get adapters, in the syntax of [`FinetuneSpec::freeze`]; empty means every
    /// dense layer except a new head.
    pub targets: Vec<String>,
}

impl FinetuneSpec {
    /// Checks the values that do not need the network.
    pub fn validate(&self) -> Result<(), TrainError> {
        if let Some(lr) = self.head_lr
            && !(lr.is_finite() && lr > 0.0)
        {
            return Err(TrainError::InvalidConfig(format!(
                "head_lr must be a positive number, got {lr}"
            )));
        }
        if let Some(lora) = &self.lora {
            lora.config.validate()?;
        }
        Ok(())
    }

    /// Paths of the dense layers that get LoRA adapters (empty without LoRA).
    pub fn lora_targets(&self, network: &Network) -> Result<Vec<String>, TrainError> {
        let Some(lora) = &self.lora else {
            return Ok(Vec::new());
        };
        let dense: Vec<String> = network.dense_layers().into_iter().map(|(p, _)| p).collect();
        if lora.targets.is_empty() {
            return Ok(dense
                .into_iter()
                .filter(|p| !(self.new_head && p == HEAD))
                .collect());
        }
        let selected = select_layers(&lora.targets, network)?;
        let targets: Vec<String> = dense.into_iter().filter(|p| selected.contains(p)).collect();
        if targets.is_empty() {
            return Err(TrainError::InvalidConfig(format!(
                "LoRA targets {:?} select no dense layer; dense layers: {}",
                lora.targets,
                listing(network)
            )));
        }
        Ok(targets)
    }

    /// Whether the parameter at module path `path` trains.
    pub fn trains(&self, path: &str, frozen: &[String]) -> bool {
        if path.split('.').any(|part| part == "lora") {
            return true;
        }
        let in_layer =
            |layer: &str| path.starts_with(layer) && path[layer.len()..].starts_with('.');
        if self.lora.is_some() {
            return self.new_head && in_layer(HEAD);
        }
        !frozen.iter().any(|layer| in_layer(layer))
    }

    /// The parameters of `network` that train, by [`Self::trains`].
    pub fn trainable_parameters(
        &self,
        network: &Network,
    ) -> Result<Vec<ParameterInfo>, TrainError> {
        let frozen = select_layers(&self.freeze, network)?;
        Ok(network
            .parameters()
            .into_iter()
            .filter(|p| self.trains(&p.path, &frozen))
            .collect())
    }

    /// Sets every parameter's gradient requirement by [`Self::trains`]; returns the network and
    /// its (trainable, total) parameter counts.
    pub fn apply_trainability(
        &self,
        network: Network,
    ) -> Result<(Network, usize, usize), TrainError> {
        let trainable = self.trainable_parameters(&network)?;
        let total = network.parameters().iter().map(|p| p.numel).sum();
        let mut mapper = Trainability {
            trainable: trainable.iter().map(|p| p.id).collect(),
        };
        let count = trainable.iter().map(|p| p.numel).sum();
        Ok((network.map(&mut mapper), count, total))
    }

    /// Attaches freshly drawn LoRA adapters (on `device`) to the spec's targets; a spec without
    /// LoRA returns the network as it is.
    pub fn attach_lora(&self, network: Network, device: &Device) -> Result<Network, TrainError> {
        let Some(lora) = &self.lora else {
            return Ok(network);
        };
        let targets = self.lora_targets(&network)?;
        Ok(network.with_lora(&lora.config, |p| targets.iter().any(|t| t == p), device)?)
    }
}

/// Sets `require_grad` on exactly the parameters in `trainable`.
struct Trainability {
    trainable: HashSet<ParamId>,
}

impl ModuleMapper for Trainability {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let trains = self.trainable.contains(&param.id);
        param.set_require_grad(trains)
    }
}

/// The layers a spec can name, in index order: the dense layers and the block's norm.
pub fn layer_names(network: &Network) -> Vec<String> {
    let mut names: Vec<String> = network.dense_layers().into_iter().map(|(p, _)| p).collect();
    if network.block.as_ref().is_some_and(|b| b.norm.is_some()) {
        names.insert(0, "block.norm".into());
    }
    names
}

fn listing(network: &Network) -> String {
    layer_names(network)
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i}={n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The layer paths `items` select; fails naming an item that matches nothing.
pub fn select_layers(items: &[String], network: &Network) -> Result<Vec<String>, TrainError> {
    let names = layer_names(network);
    let mut selected = Vec::new();
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        let matched: Vec<&String> = match item {
            "body" => names.iter().filter(|n| *n != HEAD).collect(),
            "head" => names.iter().filter(|n| *n == HEAD).collect(),
            "all" => names.iter().collect(),
            _ => match item.parse::<usize>() {
                Ok(index) => names.get(index).into_iter().collect(),
                Err(_) => names
                    .iter()
                    .filter(|n| {
                        glob_matches(item, n)
                            || n.strip_prefix("mlp.")
                                .is_some_and(|s| glob_matches(item, s))
                    })
                    .collect(),
            },
        };
        if matched.is_empty() {
            return Err(TrainError::InvalidConfig(format!(
                "layer '{item}' matches no layer; layers: {}; also body, head, all",
                listing(network)
            )));
        }
        selected.extend(matched.into_iter().cloned());
    }
    selected.sort();
    selected.dedup();
    Ok(selected)
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
fn glob_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            name.starts_with(head)
                && (0..=name.len() - head.len())
                    .any(|skip| glob_matches(rest, &name[head.len() + skip..]))
        }
    }
}

/// Where a fine-tuning run's weights come from.
#[derive(Debug, Clone)]
pub enum Pretrained {
    /// A run trained by `ffn train` or `ffn finetune`.
    Run(Box<SavedRun>),
    /// A block imported by `ffn import`.
    Block(ImportedBlock),
}

impl Pretrained {
    /// Opens the trained run or imported block in `dir`.
    pub fn open(dir: &Path) -> Result<Self, TrainError> {
        if ImportedBlock::is_block_dir(dir) {
            Ok(Self::Block(ImportedBlock::open(dir)?))
        } else {
            Ok(Self::Run(Box::new(SavedRun::open(dir)?)))
        }
    }

    /// The source's network on `device`: a trained run's model, or the bare block.
    pub fn network(&self, device: &Device) -> Result<Network, TrainError> {
        match self {
            Self::Run(run) => run.model(device),
            Self::Block(block) => Ok(Network {
                block: Some(block.block(device)?),
                mlp: None,
            }),
        }
    }

    /// The model spec of a run fine-tuned from this source (a block gets a linear head).
    pub fn model_spec(&self) -> ModelSpec {
        match self {
            Self::Run(run) => run.config.model.clone(),
            Self::Block(block) => ModelSpec {
                hidden: Vec::new(),
                dropout: 0.0,
                block: Some(block.info.config.clone()),
                ..ModelSpec::default()
            },
        }
    }

    /// Fits `preprocessor` (fitted on the new data) to the source: the features must be the
    /// ones the source was trained on and keep the source's standardisation (a block takes raw
    /// vectors). Returns why a new head is needed, or `None` if the source's head fits.
    pub fn adapt_preprocessor(
        &self,
        preprocessor: &mut Preprocessor,
        dataset: &Dataset,
    ) -> Result<Option<String>, TrainError> {
        match self {
            Self::Block(block) => {
                let d_model = block.info.config.d_model;
                if dataset.n_features() != d_model {
                    return Err(TrainError::InvalidConfig(format!(
                        "the dataset has {} feature columns but the imported block takes \
                         d_model = {d_model} values per row",
                        dataset.n_features()
                    )));
                }
                preprocessor.standardizer = Standardizer {
                    mean: vec![0.0; d_model],
                    scale: vec![1.0; d_model],
                };
                Ok(Some("the imported block has no head".into()))
            }
            Self::Run(run) => {
                let source = &run.preprocessor;
                if source.feature_names != preprocessor.feature_names {
                    return Err(TrainError::InvalidConfig(format!(
                        "the dataset's features ({}) differ from the pretrained run's ({}); \
                         fine-tuning needs the same feature columns",
                        preprocessor.feature_names.join(", "),
                        source.feature_names.join(", ")
                    )));
                }
                preprocessor.standardizer = source.standardizer.clone();
                let fits = source.task == preprocessor.task
                    && source.n_outputs() == preprocessor.n_outputs()
                    && source.labels == preprocessor.labels;
                if fits {
                    if source.target_standardizer.is_some() {
                        preprocessor.target_standardizer = source.target_standardizer.clone();
                    }
                    return Ok(None);
                }
                let describe = |p: &Preprocessor| {
                    p.labels
                        .as_ref()
                        .map_or("a regression target".to_string(), |l| {
                            l.classes().join(", ")
                        })
                };
                Ok(Some(format!(
                    "the pretrained head predicts {} but the dataset has {}",
                    describe(source),
                    describe(preprocessor)
                )))
            }
        }
    }
}

/// The starting network of a run with `config` (already resolved by the caller) on `device`,
/// from the pretrained `base` (a [`Pretrained::network`]): a new head drawn from the device's RNG
/// when `config` asks for one, and LoRA adapters on the targets.
pub fn initial_network(
    base: Network,
    config: &TrainConfig,
    n_outputs: usize,
    device: &Device,
) -> Result<Network, TrainError> {
    let spec = config.finetune.as_ref().ok_or_else(|| {
        TrainError::InvalidConfig("initial_network needs a fine-tuning config".into())
    })?;
    let mut network = base;
    if spec.new_head {
        network.mlp = Some(match network.mlp.take() {
            Some(mut mlp) => {
                mlp.output = FeedForwardConfig::new(
                    mlp.output.d_input(),
                    n_outputs,
                    ffn_model::Activation::Identity,
                )
                .init(device)?;
                mlp
            }
            None => MlpConfig::new(network.d_input(), Vec::new(), n_outputs).init(device)?,
        });
    }
    spec.attach_lora(network, device)
}

/// A fingerprint of a network's weights (FNV-1a over every parameter's module path and values),
/// so an adapter is only applied to the base it was trained on.
pub fn fingerprint(network: &Network) -> String {
    let mut hasher = Fingerprint {
        hash: 0xcbf2_9ce4_8422_2325,
        path: Vec::new(),
    };
    network.visit(&mut hasher);
    format!("{:016x}", hasher.hash)
}

/// FNV-1a over the paths and values of the visited parameters.
struct Fingerprint {
    hash: u64,
    path: Vec<String>,
}

impl Fingerprint {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl ModuleVisitor for Fingerprint {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.path.join(".");
        self.feed(path.as_bytes());
        self.feed(param.val().into_data().as_bytes());
    }
}

/// What `adapter.json` says about `adapter.bpk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterInfo {
    /// The pretrained run the adapter was trained on.
    pub base: PathBuf,
    /// [`fingerprint`] of that run's weights.
    pub base_fingerprint: String,
    /// Dense layers carrying LoRA adapters.
    pub lora_targets: Vec<String>,
    /// Parameters stored in `adapter.bpk`.
    pub params: usize,
}

/// Writes the trainable parameters of `network` (adapters, new head, unfrozen layers) to the
/// run's `adapter.bpk` and describes them in `adapter.json`.
pub fn save_adapter(
    run: &RunDir,
    network: &Network,
    spec: &FinetuneSpec,
    base_fingerprint: String,
) -> Result<AdapterInfo, TrainError> {
    let trainable = spec.trainable_parameters(network)?;
    let info = AdapterInfo {
        base: spec.from.clone(),
        base_fingerprint,
        lora_targets: spec.lora_targets(network)?,
        params: trainable.iter().map(|p| p.numel).sum(),
    };
    let group = ParamGroup::from_ids(trainable.iter().map(|p| p.id).collect());
    let bytes = network
        .clone()
        .into_record_group(group)
        .into_bytes()
        .map_err(|e| TrainError::Run {
            path: run.adapter(),
            reason: format!("cannot serialise the adapter: {e}"),
        })?;
    run.write(&run.adapter(), &bytes)?;
    run.write_json(&run.adapter_info(), &info)?;
    Ok(info)
}

/// Rebuilds the fine-tuned network of the run in `adapter_run` from the pretrained run in
/// `base` and the run's `adapter.bpk`, with adapters merged, on `device`. Fails if `base` is
/// not the run the adapter was trained on.
pub fn load_adapter(
    base: &Path,
    adapter_run: &Path,
    device: &Device,
) -> Result<Network, TrainError> {
    let run = SavedRun::open(adapter_run)?;
    let info: AdapterInfo = run.run.read_json(&run.run.adapter_info())?;
    let base_network = Pretrained::open(base)?.network(device)?;
    let fingerprint = fingerprint(&base_network);
    if fingerprint != info.base_fingerprint {
        return Err(TrainError::Run {
            path: run.run.adapter(),
            reason: format!(
                "this adapter was trained on {} (weights fingerprint {}), but {} has weights \
                 fingerprint {fingerprint}: pass the base run the adapter was trained on",
                info.base.display(),
                info.base_fingerprint,
                base.display()
            ),
        });
    }
    let network = initial_network(
        base_network,
        &run.config,
        run.preprocessor.n_outputs(),
        device,
    )?;
    let path = run.run.adapter();
    let bytes = std::fs::read(&path).map_err(|e| TrainError::Run {
        path: path.clone(),
        reason: format!("cannot read the adapter: {e}"),
    })?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| TrainError::Run {
            path: path.clone(),
            reason: format!("corrupt adapter file: {e}"),
        })?
        .allow_partial(true);
    let network = network
        .try_load_record(record)
        .map_err(|e| TrainError::Run {
            path,
            reason: format!("the adapter does not fit this base: {e}"),
        })?;
    Ok(network.merge_lora())
}
