//! Adapter files: the parameters a fine-tuning run trained (`adapter.bpk`) and what they fit
//! (`adapter.json`), so a fine-tuned network is rebuilt from its base and a small file.

use std::path::{Path, PathBuf};

use burn::module::{Module, ParamGroup};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use ffn_model::DenseLayers;
use serde::{Deserialize, Serialize};

use super::stage::initial_network;
use crate::params::fingerprint;
use crate::{Artifact, FinetuneSpec, Network, RunDir, SavedRun, TrainError};

/// What `adapter.json` says about `adapter.bpk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterInfo {
    /// The pretrained run the adapter was trained on.
    pub base: PathBuf,
    /// The fingerprint of that run's weights (module paths and values).
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
    let trainable = spec.trainable_params(network)?;
    let params = crate::params::parameters(network)
        .iter()
        .filter(|p| trainable.contains(&p.id))
        .map(|p| p.numel)
        .sum();
    let info = AdapterInfo {
        base: spec.from.clone(),
        base_fingerprint,
        lora_targets: spec.lora_targets(network)?,
        params,
    };
    let group = ParamGroup::from_ids(trainable.into_iter().collect());
    let bytes = network
        .clone()
        .into_record_group(group)
        .into_bytes()
        .map_err(|e| TrainError::Run {
            path: run.adapter(),
            reason: format!("cannot serialise the adapter: {e}"),
        })?;
    run.write_recorded(&run.adapter(), &bytes)?;
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
    let base_network = Artifact::open(base)?.network(device)?;
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
    let spec = run
        .config
        .finetune
        .as_ref()
        .ok_or_else(|| TrainError::Run {
            path: run.run.config(),
            reason: "this run was not fine-tuned: its config has no finetune section".into(),
        })?;
    let network = initial_network(base_network, spec, run.preprocessor.n_outputs(), device)?;
    let path = run.run.adapter();
    let bytes = run.run.read_verified(&path)?;
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
