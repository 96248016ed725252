//! The fine-tuning stage: from a pretrained artifact and a [`FinetuneSpec`], everything that
//! differs from training from scratch — the preprocessing kept from the source, the initial
//! network (new head, LoRA adapters), what trains and the head's learning rate — handed to the
//! engine as one prepared start.

use burn::prelude::*;
use ffn_data::{Dataset, Preprocessor, Standardizer};
use ffn_model::{Activation, FeedForwardConfig, MlpConfig};

use crate::engine::LrGroup;
use crate::params::fingerprint;
use crate::{Artifact, FinetuneSpec, Network, TrainError};

/// The pretrained network a fine-tuning run starts from, on the CPU: new head and adapters
/// attached, with the fingerprint of the base weights for its adapter file.
pub(crate) struct FinetuneStart {
    /// The initial network (weights drawn or copied on the CPU).
    pub network: Network,
    /// Fingerprint of the pretrained weights.
    pub base_fingerprint: String,
}

/// Builds the start of a fine-tuning run from `source` on `cpu` (whose RNG draws a new head
/// and the adapters), for a dataset with `n_outputs` outputs.
pub(crate) fn prepare_start(
    source: &Artifact,
    spec: &FinetuneSpec,
    n_outputs: usize,
    cpu: &Device,
) -> Result<FinetuneStart, TrainError> {
    let base = source.network(cpu)?;
    let base_fingerprint = fingerprint(&base);
    Ok(FinetuneStart {
        network: initial_network(base, spec, n_outputs, cpu)?,
        base_fingerprint,
    })
}

/// The head's learning-rate group, when the spec gives the head a rate of its own.
pub(crate) fn lr_groups(spec: &FinetuneSpec, network: &Network, lr: f64) -> Vec<LrGroup> {
    spec.head_lr
        .map(|head_lr| LrGroup {
            params: spec.head_params(network),
            factor: head_lr / lr,
        })
        .into_iter()
        .collect()
}

/// The starting network of a run fine-tuned by `spec` from the pretrained `base` on `device`:
/// a new head drawn from the device's RNG when `spec` asks for one, and LoRA adapters on the
/// targets.
pub(crate) fn initial_network(
    base: Network,
    spec: &FinetuneSpec,
    n_outputs: usize,
    device: &Device,
) -> Result<Network, TrainError> {
    let mut network = base;
    if spec.new_head {
        network.mlp = Some(match network.mlp.take() {
            Some(mut mlp) => {
                let d_input = mlp.output.d_input();
                mlp.output = FeedForwardConfig::new(d_input, n_outputs, Activation::Identity)
                    .init(device)?;
                mlp
            }
            None => MlpConfig::new(network.d_input(), Vec::new(), n_outputs).init(device)?,
        });
    }
    spec.attach_lora(network, device)
}

/// Fits `preprocessor` (fitted on the new data) to `source`: the features must be the ones the
/// source was trained on and keep the source's standardisation (a block takes raw vectors).
/// Returns why a new head is needed, or `None` if the source's head fits.
pub(crate) fn adapt_preprocessor(
    source: &Artifact,
    preprocessor: &mut Preprocessor,
    dataset: &Dataset,
) -> Result<Option<String>, TrainError> {
    match source {
        Artifact::Lm(_) => Err(TrainError::InvalidConfig(
            "a language model cannot start a tabular run; use `ffn lm finetune`".into(),
        )),
        Artifact::Block(block) => {
            let d_model = block.info.config.d_model;
            if dataset.n_features() != d_model {
                return Err(TrainError::InvalidConfig(format!(
                    "the dataset has {} feature columns but the imported block takes d_model = \
                     {d_model} values per row",
                    dataset.n_features()
                )));
            }
            preprocessor.standardizer = Standardizer {
                mean: vec![0.0; d_model],
                scale: vec![1.0; d_model],
            };
            Ok(Some("the imported block has no head".into()))
        }
        Artifact::Trained(run) => {
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
