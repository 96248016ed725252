//! Language models whose blocks are this project's FFNs: training from scratch on a text
//! ([`train_lm`]), fine-tuning a trained one ([`finetune_lm`]: LoRA on FFN and/or attention
//! projections, or freezing), resuming, evaluation on a text, and generation. Runs go through
//! the same engine as tabular runs.

mod config;
mod finetune;
mod generate;
mod objective;
mod pretrained;
mod run;
mod session;
mod summary;
mod sweep;
mod weights;

use std::ops::ControlFlow;
use std::path::Path;

use burn::module::ParamId;
use burn::optim::ModuleOptimizer;
use ffn_model::CausalLm;

pub use config::{LmConfig, LmModelSpec};
pub use finetune::{LmFinetune, LoraTargets};
pub use generate::{Sampling, choose, generate};
pub use pretrained::{
    PretrainedLm, PretrainedText, SMOLLM2_FILE, fetched_smollm2, mean_window_loss,
};
pub use run::LmRun;
pub use summary::LmSummary;
pub use sweep::{
    SweepConfig, SweepSummary, VariantResult, equal_parameter_d_ff, mean_sd, sweep_lm,
    variant_config,
};

pub(crate) use objective::token_loss;

use crate::params::parameters;
use crate::{Progress, ResumeOptions, TrainError};
use session::{Session, Start};

/// Trains a new language model of `config` into `out` (created; it must not hold a run).
pub fn train_lm(
    config: &LmConfig,
    out: &Path,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<LmSummary, TrainError> {
    Session::start(config.clone(), out, Start::Scratch, progress)?.train(progress)
}

/// Fine-tunes a model on `config.text` into `out`: the language-model run `finetune.from`, or
/// the pretrained model in the GGUF file `finetune.gguf` (trained on windows of
/// `config.model.block` tokens; the run then saves only its adapters, in PEFT's format). The
/// model, its size and its tokenizer come from the source (characters a run's tokenizer does
/// not know train as the unknown id, announced through `progress`); `finetune` says what
/// trains.
pub fn finetune_lm(
    config: &LmConfig,
    finetune: &LmFinetune,
    out: &Path,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<LmSummary, TrainError> {
    finetune.validate()?;
    let mut config = config.clone();
    let mut finetune = finetune.clone();
    let cpu = burn::prelude::Device::flex();
    cpu.seed(config.seed);
    let (base, tokenizer) = match &finetune.gguf {
        Some(path) => {
            let block = config.model.block;
            let pretrained = PretrainedLm::open(path, Some(block), &cpu)?;
            if pretrained.config.block_size < block {
                return Err(TrainError::InvalidConfig(format!(
                    "--block {block} is longer than the model's context of {} tokens",
                    pretrained.config.block_size
                )));
            }
            finetune.base_sha256 = Some(crate::run::file_sha256(path)?);
            config.model = LmModelSpec::describing(&pretrained.config);
            (pretrained.model, pretrained.text.tokenizer)
        }
        None => {
            let source = LmRun::open(&finetune.from)?;
            if source.finetune()?.is_some_and(|f| f.gguf.is_some()) {
                return Err(TrainError::Run {
                    path: finetune.from.clone(),
                    reason: "holds LoRA adapters of a pretrained GGUF model, which do not stack: \
                             fine-tune that model again with --gguf"
                        .into(),
                });
            }
            config.model = source.config.model.clone();
            (source.model(&cpu)?, source.tokenizer)
        }
    };
    config.tokenizer = tokenizer.kind();
    let model = finetune.attach_lora(base, &cpu)?;
    let start = Start::Pretrained {
        model: Box::new(model),
        tokenizer,
        finetune,
    };
    Session::start(config, out, start, progress)?.train(progress)
}

/// Continues the language-model run in `dir` from its last checkpoint, with the changes
/// `options` allow (`length` counts steps); the result equals an uninterrupted run. A run whose
/// loop ended before it wrote its results is finished.
pub fn resume_lm(
    dir: &Path,
    options: &ResumeOptions,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<LmSummary, TrainError> {
    Session::reopen(dir, options)?.train(progress)
}

/// The optimiser of a language-model run: weight decay applies to matrices and embeddings only,
/// as in nanoGPT (the norms' gains keep none).
pub(crate) fn optimizer(config: &LmConfig, model: &CausalLm) -> ModuleOptimizer {
    let vectors: Vec<ParamId> = parameters(model)
        .into_iter()
        .filter(|p| p.shape.len() < 2)
        .map(|p| p.id)
        .collect();
    config.optimizer.init_with_undecayed(vectors)
}
