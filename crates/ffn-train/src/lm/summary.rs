//! The end of a language-model run: the final weights (`model.bpk` with the adapters merged,
//! or a PEFT adapter directory for a fine-tuned pretrained model), the final evaluation on
//! many seeded batches, `summary.json`, and the curves.

use std::path::PathBuf;

use burn::module::Module;
use ffn_data::TokenizerKind;
use ffn_model::{DenseLayers, PeftLoraConfig};
use serde::{Deserialize, Serialize};

use super::objective::LanguageModeling;
use super::session::Prepared;
use super::weights::LmWeights;
use crate::engine::Finished;
use crate::report::{Axis, write_plots};
use crate::{Metrics, TrainError};

/// Final result of a language-model run, also written to `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmSummary {
    /// The run directory.
    pub run_dir: PathBuf,
    /// The text trained on.
    pub text: PathBuf,
    /// The tokenizer.
    pub tokenizer: TokenizerKind,
    /// Token ids.
    pub vocab_size: usize,
    /// Tokens of the training and validation parts.
    pub tokens: [usize; 2],
    /// Backend used.
    pub backend: String,
    /// Parameters of the final model.
    pub params: usize,
    /// Parameters that trained (all unless fine-tuning froze some or used LoRA).
    pub trainable_params: usize,
    /// `trainable_params` over all parameters while training (LoRA factors included).
    pub trainable_fraction: f64,
    /// Optimiser steps.
    pub steps: usize,
    /// Seconds spent training (all sessions of a resumed run), evaluations included.
    pub train_seconds: f64,
    /// Training tokens per second of training time.
    pub tokens_per_second: f64,
    /// Final metrics on seeded batches of the training part.
    pub train: Metrics,
    /// Final metrics on seeded batches of the validation part.
    pub valid: Metrics,
    /// Batches of the final evaluation.
    pub eval_batches: usize,
}

/// Writes the final model, evaluates it on `final_eval_batches` batches of each part, and
/// writes `summary.json` and the curves.
pub(super) fn finish(
    prepared: &Prepared,
    finished: Finished<ffn_model::CausalLm>,
) -> Result<LmSummary, TrainError> {
    let Prepared {
        config,
        run,
        device,
        replicas: _,
        tokenizer,
        split,
        trainable,
        finetune,
    } = prepared;
    let state = &finished.state;
    let trained = finished.model.valid();
    let model = trained.clone().merge_lora();
    let weights = prepared.weights();
    match &weights {
        LmWeights::Full => run.save_weights(&model, &run.model())?,
        LmWeights::Adapters(lora) => {
            weights.save(run, &trained, &run.peft_weights())?;
            let base = finetune.as_ref().and_then(|f| f.gguf.as_ref());
            let base = base.map(|path| path.display().to_string());
            let peft = PeftLoraConfig::for_model(&trained, lora, base);
            run.write_json(&run.peft_config(), &peft)?;
        }
    }
    let mut objective = LanguageModeling::new(config, split, None, &device.device)?;
    objective.eval_batches = config.final_eval_batches;
    let summary = LmSummary {
        run_dir: run.root().to_path_buf(),
        text: config.text.clone(),
        tokenizer: tokenizer.kind(),
        vocab_size: tokenizer.vocab_size(),
        tokens: [split.train.len(), split.valid.len()],
        backend: device.description.clone(),
        params: model.num_params(),
        trainable_params: trainable.0,
        trainable_fraction: trainable.0 as f64 / trainable.1.max(1) as f64,
        steps: config.steps,
        train_seconds: state.train_seconds,
        tokens_per_second: (config.steps * config.batch * config.model.block) as f64
            / state.train_seconds.max(1e-9),
        train: objective.metrics(&model, &objective.train, None)?,
        valid: objective.metrics(&model, &objective.valid, None)?,
        eval_batches: config.final_eval_batches,
    };
    run.write_json(&run.summary(), &summary)?;
    write_plots(run, &state.history, Axis::Steps, None, None)?;
    Ok(summary)
}
