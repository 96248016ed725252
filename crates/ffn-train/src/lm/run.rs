//! A language-model run read back from its directory, to generate with, evaluate or describe.

use std::path::Path;

use burn::prelude::*;
use ffn_data::{Text, TokenSplit, Tokenizer, Windows};
use ffn_model::{CausalLm, DenseLayers, load_gguf_llama};

use super::objective::evaluate_windows;
use super::weights::LmWeights;
use super::{LmConfig, LmFinetune, LmSummary};
use crate::{Metrics, RunDir, TrainError};

/// A language-model run: its config, tokenizer and (when training finished) summary.
#[derive(Debug, Clone)]
pub struct LmRun {
    /// Its directory.
    pub run: RunDir,
    /// The configuration it was trained with.
    pub config: LmConfig,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// Its summary, if training finished.
    pub summary: Option<LmSummary>,
}

impl LmRun {
    /// Whether `dir` holds a language-model run (it has a `tokenizer.json`).
    pub fn is_lm_dir(dir: &Path) -> bool {
        RunDir::new(dir).tokenizer().exists()
    }

    /// Reads the language-model run in `dir`, failing clearly on a missing or corrupt file or
    /// a directory of another kind.
    pub fn open(dir: &Path) -> Result<Self, TrainError> {
        let run = RunDir::new(dir);
        if !dir.is_dir() {
            return Err(TrainError::Run {
                path: dir.to_path_buf(),
                reason: "no such run directory; pass the --out directory of `ffn lm train`".into(),
            });
        }
        if !Self::is_lm_dir(dir) {
            return Err(TrainError::Run {
                path: dir.to_path_buf(),
                reason: "is not a language-model run (it has no tokenizer.json); `ffn lm` \
                         commands take the --out directory of `ffn lm train`"
                    .into(),
            });
        }
        Ok(Self {
            config: run.read_json(&run.config())?,
            tokenizer: Tokenizer::from_json(&run.read_json(&run.tokenizer())?)?,
            summary: match run.summary().exists() {
                true => Some(run.read_json(&run.summary())?),
                false => None,
            },
            run,
        })
    }

    /// How the run was fine-tuned, if it was.
    pub fn finetune(&self) -> Result<Option<LmFinetune>, TrainError> {
        let path = self.run.lm_finetune();
        path.exists().then(|| self.run.read_json(&path)).transpose()
    }

    /// The final model on `device` (a fine-tuned pretrained model: its base, checked to be the
    /// file the run started from, with the run's adapters merged).
    pub fn model(&self, device: &Device) -> Result<CausalLm, TrainError> {
        let finetune = self.finetune()?;
        let weights = LmWeights::of(finetune.as_ref());
        let path = match weights {
            LmWeights::Full => self.run.model(),
            LmWeights::Adapters(_) => self.run.peft_weights(),
        };
        if !path.exists() {
            return Err(TrainError::Run {
                path,
                reason: "no final model: training has not finished; resume it with \
                         `ffn lm train --resume` (or `ffn lm finetune --resume`)"
                    .into(),
            });
        }
        let structure = match finetune.map(|f| f.open_base()).transpose()?.flatten() {
            Some(base) => load_gguf_llama(&base, None, device)?.0,
            None => self
                .config
                .model
                .model_config(self.tokenizer.vocab_size())
                .init(device)?,
        };
        Ok(weights.load(&self.run, structure, &path)?.merge_lora())
    }

    /// Loss, perplexity and bits per character of the final model on `batches` seeded batches
    /// of windows of the whole `text` (tokenized by the run's tokenizer), with the count of
    /// characters the tokenizer does not know.
    pub fn evaluate_text(
        &self,
        text: &Path,
        batches: usize,
        device: &Device,
    ) -> Result<(Metrics, usize), TrainError> {
        if batches == 0 {
            return Err(TrainError::InvalidConfig(
                "evaluation needs at least one batch".into(),
            ));
        }
        let text = Text::read(text)?;
        let (split, encoded) = TokenSplit::new(&text, &self.tokenizer, 0.0)?;
        let windows = Windows::new(
            &split.train,
            self.config.model.block,
            self.config.batch,
            "the text",
        )?;
        let model = self.model(device)?;
        let metrics = evaluate_windows(
            &model,
            &windows,
            batches,
            self.config.seed,
            split.chars_per_token,
            device,
            None,
        )?;
        Ok((metrics, encoded.unknown.values().sum()))
    }
}
