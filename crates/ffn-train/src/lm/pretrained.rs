//! A pretrained language model read from a GGUF file (LLaMA architecture): its model, the
//! tokenizer and chat template its metadata carries, and its special tokens; prompts, chat
//! prompts and perplexity on a text.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use ffn_data::{ChatMessage, ChatTemplate, PretrainedVocab, Text, Tokenizer};
use ffn_model::{
    ADAPTER_CONFIG, ADAPTER_WEIGHTS, CausalLm, CausalLmConfig, DenseLayers, Gguf, GgufValue,
    PeftLoraConfig, SafeTensors, gguf_llama_config, load_gguf_llama, load_peft_adapter,
};

use super::LmFinetune;
use super::finetune::check_base;
use super::objective::{language_metrics, next_token_loss};
use crate::{Metrics, RunDir, TrainError};

/// Where `scripts/fetch-model.sh smollm2` puts SmolLM2-135M-Instruct, from the repository root.
pub const SMOLLM2_FILE: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

/// SmolLM2's file under the repository root `root` for the tests and examples that need it:
/// `None`, with a note on stderr, when it has not been fetched. Panics instead when the
/// environment sets `FFN_REQUIRE_MODELS` (CI fetches the model and must not skip them).
pub fn fetched_smollm2(root: &Path) -> Option<PathBuf> {
    let path = root.join(SMOLLM2_FILE);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("FFN_REQUIRE_MODELS").is_none(),
        "{} is missing: run scripts/fetch-model.sh smollm2",
        path.display()
    );
    eprintln!(
        "skipped: {} is missing (scripts/fetch-model.sh smollm2)",
        path.display()
    );
    None
}

/// A pretrained language model and everything needed to talk to it.
#[derive(Debug)]
pub struct PretrainedLm {
    /// The GGUF file it was read from.
    pub path: PathBuf,
    /// The model's name in the file's metadata (`general.name`), or the file name.
    pub name: String,
    /// Its configuration (sizes from the file's metadata).
    pub config: CausalLmConfig,
    /// The model, weights converted to `f32`.
    pub model: CausalLm,
    /// Everything but the model.
    pub text: PretrainedText,
}

/// The tokenizer side of a pretrained model: tokenizer, chat template, special tokens.
#[derive(Debug)]
pub struct PretrainedText {
    /// The tokenizer of the file's vocabulary.
    pub tokenizer: Tokenizer,
    /// The file's chat template, if it has one.
    pub chat_template: Option<ChatTemplate>,
    /// Beginning-of-sequence token, if the file names one.
    pub bos: Option<u32>,
    /// End-of-sequence token (generation stops there), if the file names one.
    pub eos: Option<u32>,
    /// Whether a prompt starts with the beginning-of-sequence token.
    pub add_bos: bool,
}

impl PretrainedLm {
    /// Reads the GGUF file at `path` onto `device`, its context capped at `max_context` when
    /// given. Fails with one line naming the file and the problem: not GGUF, truncated,
    /// another architecture, an unsupported tensor type or tokenizer.
    pub fn open(
        path: &Path,
        max_context: Option<usize>,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let file = Gguf::open(path)?;
        // The architecture first: a file of another model fails on that, not on its tokenizer.
        gguf_llama_config(&file, max_context)?;
        let text = PretrainedText::from_gguf(&file)?;
        let (model, config) = load_gguf_llama(&file, max_context, device)?;
        let name = file
            .string("general.name")
            .map(str::to_string)
            .unwrap_or_else(|_| path.display().to_string());
        Ok(Self {
            path: path.to_path_buf(),
            name,
            config,
            model,
            text,
        })
    }

    /// The model with the LoRA adapter in Hugging Face PEFT's format in `dir`
    /// (`adapter_model.safetensors` and `adapter_config.json`, as peft's `save_pretrained` or
    /// `ffn lm finetune --gguf` writes them) merged into its weights. The adapter of a fine-tune
    /// run (its directory has `finetune.json`) must come from this very file (SHA-256).
    pub fn with_adapter(mut self, dir: &Path) -> Result<Self, TrainError> {
        let run = RunDir::new(dir);
        if run.lm_finetune().exists() {
            let finetune: LmFinetune = run.read_json(&run.lm_finetune())?;
            if let Some(saved) = &finetune.base_sha256 {
                check_base(&self.path, saved)?;
            }
        }
        let lora = PeftLoraConfig::read(dir)?.lora_config(&dir.join(ADAPTER_CONFIG))?;
        let file = SafeTensors::open(&dir.join(ADAPTER_WEIGHTS))?;
        self.model = load_peft_adapter(self.model, &lora, &file)?.merge_lora();
        Ok(self)
    }

    /// Loss, perplexity and bits per character of the model on the first `max_tokens` tokens
    /// of the text at `path` (all of it when `None`), read in consecutive windows of `window`
    /// tokens, each predicting its tokens from the ones before it in the window.
    pub fn evaluate_text(
        &self,
        path: &Path,
        window: usize,
        max_tokens: Option<usize>,
        device: &Device,
    ) -> Result<Metrics, TrainError> {
        let text = Text::read(path)?;
        let text = text.as_str()?;
        let ids = self.text.tokenizer.encode(text)?.ids;
        let chars_per_token = text.chars().count() as f64 / ids.len().max(1) as f64;
        let used = &ids[..max_tokens.unwrap_or(ids.len()).min(ids.len())];
        let loss = mean_window_loss(&self.model, used, window, device)?;
        Ok(language_metrics(loss, chars_per_token))
    }
}

impl PretrainedText {
    /// The tokenizer, chat template and special tokens in `file`'s metadata.
    pub fn from_gguf(file: &Gguf) -> Result<Self, TrainError> {
        let flag = |key: &str, default: bool| match file.get(key) {
            Some(GgufValue::Bool(b)) => *b,
            _ => default,
        };
        let token = |key: &str| file.usize(key).ok().map(|id| id as u32);
        let vocab = PretrainedVocab {
            model: file.string("tokenizer.ggml.model")?.to_string(),
            tokens: owned(file.strings("tokenizer.ggml.tokens")?),
            token_types: match file.get("tokenizer.ggml.token_type") {
                Some(_) => file.integers("tokenizer.ggml.token_type")?,
                None => Vec::new(),
            },
            merges: owned(file.strings("tokenizer.ggml.merges")?),
            add_space_prefix: flag("tokenizer.ggml.add_space_prefix", false),
        };
        let tokenizer = Tokenizer::from_pretrained_vocab(&vocab)
            .map_err(|e| TrainError::InvalidConfig(format!("{}: {e}", file.path().display())))?;
        let chat_template = match file.get("tokenizer.chat_template") {
            Some(_) => Some(ChatTemplate::new(file.string("tokenizer.chat_template")?)?),
            None => None,
        };
        Ok(Self {
            tokenizer,
            chat_template,
            bos: token("tokenizer.ggml.bos_token_id"),
            eos: token("tokenizer.ggml.eos_token_id"),
            add_bos: flag("tokenizer.ggml.add_bos_token", false),
        })
    }

    /// The ids of `prompt`: as it is, or (with `chat`) as the user's message in the chat
    /// template, ready for the assistant's answer. Fails on an empty prompt, or on `chat`
    /// without a template.
    pub fn prompt_ids(&self, prompt: &str, chat: bool) -> Result<Vec<u32>, TrainError> {
        if prompt.is_empty() {
            return Err(TrainError::InvalidConfig(
                "the prompt is empty: give at least one character".into(),
            ));
        }
        let text = match (chat, &self.chat_template) {
            (false, _) => prompt.to_string(),
            (true, None) => {
                return Err(TrainError::InvalidConfig(
                    "the model has no chat template; leave out --chat".into(),
                ));
            }
            (true, Some(template)) => template.render(
                &[ChatMessage::user(prompt)],
                true,
                &self.token_text(self.bos),
                &self.token_text(self.eos),
            )?,
        };
        let mut ids = self.tokenizer.encode(&text)?.ids;
        if let Some(bos) = self
            .bos
            .filter(|_| self.add_bos && ids.first() != self.bos.as_ref())
        {
            ids.insert(0, bos);
        }
        Ok(ids)
    }

    fn token_text(&self, id: Option<u32>) -> String {
        id.and_then(|id| self.tokenizer.decode(&[id]).ok())
            .unwrap_or_default()
    }
}

/// Mean next-token loss of `model` over `ids`, in consecutive windows of `window` inputs (the
/// last one shorter), every token after the first predicted once.
pub fn mean_window_loss(
    model: &CausalLm,
    ids: &[u32],
    window: usize,
    device: &Device,
) -> Result<f64, TrainError> {
    if window == 0 || window > model.block_size() {
        return Err(TrainError::InvalidConfig(format!(
            "the window must be 1 to {} tokens (the model's context), got {window}",
            model.block_size()
        )));
    }
    if ids.len() < 2 {
        return Err(TrainError::InvalidConfig(format!(
            "the text has {} tokens; at least 2 are needed to predict one",
            ids.len()
        )));
    }
    let (mut sum, mut count) = (0.0, 0usize);
    for start in (0..ids.len() - 1).step_by(window) {
        let end = (start + window).min(ids.len() - 1);
        let row = |from: usize| {
            let values: Vec<i64> = ids[from..from + end - start]
                .iter()
                .map(|&t| i64::from(t))
                .collect();
            Tensor::<2, Int>::from_data(TensorData::new(values, [1, end - start]), device)
        };
        let logits = model.forward(row(start))?;
        let loss = f64::from(next_token_loss(logits, row(start + 1)).into_scalar::<f32>());
        sum += loss * (end - start) as f64;
        count += end - start;
    }
    Ok(sum / count as f64)
}

fn owned(strings: Vec<&str>) -> Vec<String> {
    strings.into_iter().map(str::to_string).collect()
}
