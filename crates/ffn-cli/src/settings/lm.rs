//! Language-model settings resolved from a config file and flags, as for tabular runs: the file
//! (or the reference recipe) first, then each flag given.

use std::path::Path;

use anyhow::{Result, bail};
use ffn_model::LoraConfig;
use ffn_train::{LmConfig, LmFinetune};

use super::set;
use crate::args::{LmFinetuneArgs, LmFlags};

/// The config of a new language-model run: `file` (or the reference recipe) with `flags`.
pub fn lm_config(file: Option<&Path>, flags: &LmFlags) -> Result<LmConfig> {
    lm_config_over(LmConfig::default(), file, flags)
}

/// `recipe` under `file` (the fields it gives), with `flags`.
fn lm_config_over(recipe: LmConfig, file: Option<&Path>, flags: &LmFlags) -> Result<LmConfig> {
    let mut config = match file {
        Some(path) => LmConfig::load_over(path, &recipe)?,
        None => recipe,
    };
    apply_lm_flags(&mut config, flags);
    config.validate()?;
    Ok(config)
}

/// Overrides the fields of `config` whose flag was given.
pub fn apply_lm_flags(config: &mut LmConfig, flags: &LmFlags) {
    // Destructured without `..`: a new flag is a compile error here until it is applied.
    let LmFlags {
        text,
        tokenizer,
        layers,
        heads,
        kv_heads,
        d_model,
        d_ff,
        ffn,
        pos,
        block,
        batch,
        steps,
        eval_interval,
        lr,
        schedule,
        dropout,
        devices,
        seed,
    } = flags;
    let model = &mut config.model;
    set(&mut config.text, text.clone());
    set(&mut config.tokenizer, *tokenizer);
    set(&mut model.layers, *layers);
    set(&mut model.heads, *heads);
    set(&mut model.kv_heads, kv_heads.map(Some));
    set(&mut model.d_model, *d_model);
    set(&mut model.d_ff, *d_ff);
    set(&mut model.ffn, *ffn);
    set(&mut model.positions, *pos);
    set(&mut model.block, *block);
    set(&mut model.dropout, *dropout);
    set(&mut config.batch, *batch);
    set(&mut config.steps, *steps);
    set(&mut config.eval_interval, *eval_interval);
    set(&mut config.lr, *lr);
    set(&mut config.schedule, schedule.clone());
    devices.flags().apply(
        &mut config.backend,
        &mut config.device_index,
        &mut config.devices,
    );
    set(&mut config.seed, *seed);
}

/// The config and fine-tuning spec of `ffn lm finetune`: the model flags are refused (the model
/// comes from `--from` or `--gguf`; with `--gguf`, `--block` is the training window), the
/// others apply as for `ffn lm train`. A pretrained model starts from
/// [`LmConfig::pretrained_lora`] rather than the from-scratch recipe, under the config file.
pub fn lm_finetune(args: &LmFinetuneArgs) -> Result<(LmConfig, LmFinetune)> {
    let flags = &args.train.flags;
    let (source, recipe) = match args.gguf {
        Some(_) => ("--gguf", LmConfig::pretrained_lora()),
        None => ("--from", LmConfig::default()),
    };
    let architecture = [
        ("--block", flags.block.is_some() && args.gguf.is_none()),
        ("--dropout", flags.dropout.is_some()),
        ("--tokenizer", flags.tokenizer.is_some()),
        ("--layers", flags.layers.is_some()),
        ("--heads", flags.heads.is_some()),
        ("--kv-heads", flags.kv_heads.is_some()),
        ("--d-model", flags.d_model.is_some()),
        ("--d-ff", flags.d_ff.is_some()),
        ("--ffn", flags.ffn.is_some()),
        ("--pos", flags.pos.is_some()),
    ];
    if let Some((flag, _)) = architecture.iter().find(|(_, given)| *given) {
        bail!("{flag} does not apply: the model and its tokenizer come from {source}");
    }
    if args.train.config.is_none() && flags.text.is_none() {
        bail!("--text is needed: the text to fine-tune on");
    }
    let config = lm_config_over(recipe, args.train.config.as_deref(), flags)?;
    let finetune = LmFinetune {
        from: args.from.clone().unwrap_or_default(),
        gguf: args.gguf.clone(),
        lora: args.lora_rank.map(|rank| LoraConfig {
            rank,
            alpha: args.lora_alpha.unwrap_or(2.0 * rank as f64),
            ..LoraConfig::default()
        }),
        lora_targets: args.lora_targets.unwrap_or_default(),
        freeze: args
            .freeze
            .as_ref()
            .map(|f| f.0.clone())
            .unwrap_or_default(),
        base_sha256: None,
    };
    finetune.validate()?;
    Ok((config, finetune))
}
