//! The configuration of a language-model run, saved as its `config.json`. The defaults are the
//! reference recipe: nanoGPT's character-level "baby GPT" on the CPU.

use std::path::PathBuf;

use ffn_data::TokenizerKind;
use ffn_model::{CausalLmConfig, FfnKind, FfnSpec, FfnVariant, NormKind, Positions};
use serde::{Deserialize, Serialize};

use crate::{AdamParams, Backend, DeviceSpec, OptimizerConfig, ScheduleConfig, TrainError};

/// The model of a language-model run, without the vocabulary (the tokenizer's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LmModelSpec {
    /// Blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention); `None`: as many as query heads.
    pub kv_heads: Option<usize>,
    /// Model width.
    pub d_model: usize,
    /// Hidden width of every FFN (of every expert in a mixture).
    pub d_ff: usize,
    /// The FFN of every block: a dense kind or a mixture of experts (`moe:E:K[:KIND]`).
    pub ffn: FfnSpec,
    /// Learned positions or rotary encoding.
    pub positions: Positions,
    /// The context, in tokens.
    pub block: usize,
    /// Whether the head is the token embedding.
    pub tied_head: bool,
    /// Whether projections add a bias.
    pub bias: bool,
    /// Dropout on embeddings and FFN activations.
    pub dropout: f64,
}

impl Default for LmModelSpec {
    /// 4 layers, 4 heads, d_model 128, FFN 512 GELU (erf), learned positions, block 64, tied
    /// head, no biases, no dropout.
    fn default() -> Self {
        Self {
            layers: 4,
            heads: 4,
            kv_heads: None,
            d_model: 128,
            d_ff: 512,
            ffn: FfnSpec::Dense(FfnKind::Gelu),
            positions: Positions::Learned,
            block: 64,
            tied_head: true,
            bias: false,
            dropout: 0.0,
        }
    }
}

impl LmModelSpec {
    /// About how many parameters the model has with `vocab_size` ids (weights of the
    /// embeddings, projections, FFNs and routers; norms and biases left out), without overflow.
    pub fn approx_parameters(&self, vocab_size: usize) -> u128 {
        let [vocab, d, d_ff, block, layers] =
            [vocab_size, self.d_model, self.d_ff, self.block, self.layers].map(|n| n as u128);
        let kv = d / (self.heads.max(1) as u128) * self.kv_heads.unwrap_or(self.heads) as u128;
        let matrices = match self.ffn.kind().variant() {
            FfnVariant::Standard => 2,
            FfnVariant::Gated => 3,
        };
        let ffn = match self.ffn {
            FfnSpec::Dense(_) => matrices * d * d_ff,
            FfnSpec::Moe { experts, .. } => experts as u128 * (matrices * d * d_ff + d),
        };
        let positions = match self.positions {
            Positions::Learned => block * d,
            _ => 0,
        };
        let head = if self.tied_head { 0 } else { vocab * d };
        vocab * d + positions + head + layers * (2 * d * d + 2 * d * kv + ffn)
    }

    /// The spec of the model `config` (a pretrained model's, for its run's `config.json`; the
    /// norm's kind and epsilon and the rotary base are the model's own).
    pub fn describing(config: &CausalLmConfig) -> Self {
        Self {
            layers: config.n_layers,
            heads: config.n_heads,
            kv_heads: config.n_kv_heads,
            d_model: config.d_model,
            d_ff: config.d_ff,
            ffn: config.ffn,
            positions: config.positions,
            block: config.block_size,
            tied_head: config.tied_head,
            bias: config.bias,
            dropout: config.dropout,
        }
    }

    /// The model's config for a vocabulary of `vocab_size` ids.
    pub fn model_config(&self, vocab_size: usize) -> CausalLmConfig {
        CausalLmConfig::new(vocab_size, self.block)
            .with_d_model(self.d_model)
            .with_n_layers(self.layers)
            .with_n_heads(self.heads)
            .with_n_kv_heads(self.kv_heads)
            .with_d_ff(self.d_ff)
            .with_ffn(self.ffn)
            .with_positions(self.positions)
            .with_tied_head(self.tied_head)
            .with_bias(self.bias)
            .with_norm(NormKind::LayerNorm)
            .with_norm_bias(false)
            .with_dropout(self.dropout)
    }
}

/// Everything that defines a language-model run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LmConfig {
    /// The text to train on (UTF-8 for the `char` and `bpe` tokenizers).
    pub text: PathBuf,
    /// How the text becomes tokens.
    pub tokenizer: TokenizerKind,
    /// Fraction of the tokens, at the end of the text, held out for validation.
    pub valid_fraction: f64,
    /// The model.
    pub model: LmModelSpec,
    /// Windows per optimiser step.
    pub batch: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Steps between evaluations (and checkpoints).
    pub eval_interval: usize,
    /// Batches of each evaluation during training (seeded, the same every time).
    pub eval_batches: usize,
    /// Batches of the final evaluation (seeded).
    pub final_eval_batches: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Optimiser; AdamW decays only matrices and embeddings.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule over optimiser steps.
    pub schedule: ScheduleConfig,
    /// Clip the global gradient norm to this value.
    pub grad_clip_norm: Option<f64>,
    /// Seed of the initialisation, the windows and dropout.
    pub seed: u64,
    /// Compute backend.
    pub backend: Backend,
    /// wgpu adapter index.
    pub device_index: Option<usize>,
    /// Data parallelism: the devices that share every batch, the first holding the model and
    /// the optimiser (`backend` and `device_index` then do not apply); empty: one device.
    pub devices: Vec<DeviceSpec>,
    /// Tokens generated from the start of the validation text after every evaluation, for the
    /// report (0: none).
    pub sample_tokens: usize,
    /// Mixtures of experts: the weight of the load-balancing loss (mean over the mixture
    /// blocks) added to the training loss (Switch Transformer's 0.01).
    pub moe_aux_loss: f64,
    /// Mixtures of experts: the weight of the router z-loss (mean over the mixture blocks;
    /// ST-MoE's 0.001).
    pub moe_z_loss: f64,
}

impl Default for LmConfig {
    /// The reference recipe: AdamW (lr 1e-3, betas 0.9/0.99, eps 1e-8, weight decay 0.1 on
    /// matrices and embeddings), 100 warm-up steps then cosine to 1e-4 at step 2000, clip 1.0,
    /// batch 12, 2000 steps, on `datasets/shakespeare.txt` with the `char` tokenizer.
    fn default() -> Self {
        Self {
            text: PathBuf::from("datasets/shakespeare.txt"),
            tokenizer: TokenizerKind::Char,
            valid_fraction: 0.1,
            model: LmModelSpec::default(),
            batch: 12,
            steps: 2000,
            eval_interval: 200,
            eval_batches: 20,
            final_eval_batches: 200,
            lr: 1e-3,
            optimizer: OptimizerConfig::Adamw(AdamParams {
                beta1: 0.9,
                beta2: 0.99,
                eps: 1e-8,
                weight_decay: 0.1,
                amsgrad: false,
            }),
            schedule: ScheduleConfig::GptCosine {
                warmup_steps: 100,
                min_lr: 1e-4,
            },
            grad_clip_norm: Some(1.0),
            seed: 0,
            backend: Backend::Flex,
            device_index: None,
            devices: Vec::new(),
            sample_tokens: 100,
            moe_aux_loss: 0.01,
            moe_z_loss: 0.001,
        }
    }
}

impl LmConfig {
    /// The starting recipe of a LoRA fine-tune of a pretrained model on the CPU: windows of 128
    /// tokens, batch 8, 200 steps evaluated every 50 on 8 batches (32 at the end), AdamW at
    /// 5e-4 without weight decay, 20 warm-up steps then cosine to 5e-5, clip 1.0, 32-token
    /// samples.
    pub fn pretrained_lora() -> Self {
        Self {
            model: LmModelSpec {
                block: 128,
                ..LmModelSpec::default()
            },
            batch: 8,
            steps: 200,
            eval_interval: 50,
            eval_batches: 8,
            final_eval_batches: 32,
            lr: 5e-4,
            optimizer: OptimizerConfig::Adamw(AdamParams {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
                amsgrad: false,
            }),
            schedule: ScheduleConfig::GptCosine {
                warmup_steps: 20,
                min_lr: 5e-5,
            },
            sample_tokens: 32,
            ..Self::default()
        }
    }

    /// Reads a config file; missing fields take their defaults, unknown fields are errors.
    pub fn load(path: &std::path::Path) -> Result<Self, TrainError> {
        Self::load_over(path, &Self::default())
    }

    /// Reads a config file over `recipe`: the fields it leaves out (and those of its `model`)
    /// keep the recipe's values; unknown fields are errors.
    pub fn load_over(path: &std::path::Path, recipe: &Self) -> Result<Self, TrainError> {
        let file: serde_json::Value = crate::run::read_json_file(path, "language-model config")?;
        let invalid = |e: serde_json::Error| TrainError::Run {
            path: path.to_path_buf(),
            reason: format!("invalid language-model config JSON: {e}"),
        };
        let mut merged = serde_json::to_value(recipe).map_err(invalid)?;
        let (Some(fields), serde_json::Value::Object(given)) = (merged.as_object_mut(), file)
        else {
            return Err(invalid(serde::de::Error::custom("expected a JSON object")));
        };
        for (key, value) in given {
            match (fields.get_mut(&key), value) {
                (Some(serde_json::Value::Object(inner)), serde_json::Value::Object(value))
                    if key == "model" =>
                {
                    inner.extend(value);
                }
                (_, value) => {
                    fields.insert(key, value);
                }
            }
        }
        serde_json::from_value(merged).map_err(invalid)
    }

    /// Checks every value's range, naming the first bad one.
    pub fn validate(&self) -> Result<(), TrainError> {
        crate::check_devices(&self.devices, self.batch)?;
        let bad = |msg: String| Err(TrainError::InvalidConfig(msg));
        let m = &self.model;
        for (name, value) in [
            ("layers", m.layers),
            ("heads", m.heads),
            ("d_model", m.d_model),
            ("d_ff", m.d_ff),
            ("block", m.block),
            ("batch", self.batch),
            ("steps", self.steps),
            ("eval_interval", self.eval_interval),
            ("eval_batches", self.eval_batches),
            ("final_eval_batches", self.final_eval_batches),
        ] {
            if value == 0 {
                return bad(format!("{name} must be at least 1"));
            }
        }
        if !m.d_model.is_multiple_of(m.heads) {
            return bad(format!(
                "d_model {} is not divisible by the {} heads",
                m.d_model, m.heads
            ));
        }
        if let Some(kv) = m.kv_heads
            && (kv == 0 || !m.heads.is_multiple_of(kv))
        {
            return bad(format!("kv_heads {kv} must divide the {} heads", m.heads));
        }
        if !(0.0..1.0).contains(&m.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", m.dropout));
        }
        if !(self.valid_fraction > 0.0 && self.valid_fraction < 1.0) {
            return bad(format!(
                "valid_fraction must be in (0, 1), got {}",
                self.valid_fraction
            ));
        }
        for (name, value) in [
            ("moe_aux_loss", self.moe_aux_loss),
            ("moe_z_loss", self.moe_z_loss),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return bad(format!(
                    "{name} must be a number of at least 0, got {value}"
                ));
            }
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be a positive number, got {}", self.lr));
        }
        if let Some(clip) = self.grad_clip_norm
            && !(clip.is_finite() && clip > 0.0)
        {
            return bad(format!(
                "grad_clip_norm must be a positive number, got {clip}"
            ));
        }
        self.optimizer.validate()?;
        self.schedule.validate()
    }

    /// Optimiser steps in round `round` (0-based): `eval_interval`, the last round what is left.
    pub fn steps_in_round(&self, round: usize) -> usize {
        self.eval_interval
            .min(self.steps - round * self.eval_interval)
    }

    /// Rounds of training (evaluations and checkpoints).
    pub fn rounds(&self) -> usize {
        self.steps.div_ceil(self.eval_interval)
    }
}
