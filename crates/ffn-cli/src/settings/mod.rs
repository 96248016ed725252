//! Settings resolved from a config file and flags: the file (or the defaults) first, then each
//! flag that was given, overriding exactly the field it names.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use ffn_model::LoraConfig;
use ffn_train::{EarlyStoppingConfig, FinetuneSpec, LoraSpec, TrainConfig};

use crate::args::{FinetuneFlags, TrainFlags};

mod lm;
mod resume;

pub use lm::{lm_config, lm_finetune};
pub use resume::{finetune_resume, lm_finetune_resume, lm_resume, train_resume};

/// The remote backend's shared secret: the text of `--token-file`, else the `FFN_REMOTE_TOKEN`
/// environment variable, else none.
pub fn remote_token(file: Option<&Path>) -> Result<Option<String>> {
    if let Some(file) = file {
        return Ok(Some(ffn_train::read_token(file)?));
    }
    Ok(std::env::var("FFN_REMOTE_TOKEN")
        .ok()
        .map(|token| token.trim().to_string())
        .filter(|token| !token.is_empty()))
}

/// The config of a new run: `file` (or the defaults) with `flags` applied, validated.
pub fn train_config(file: Option<&Path>, flags: &TrainFlags) -> Result<TrainConfig> {
    let mut config = match file {
        Some(path) => TrainConfig::load(path)?,
        None => TrainConfig::default(),
    };
    apply_train_flags(&mut config, flags);
    config.validate()?;
    Ok(config)
}

/// The config of a fine-tuning run: [`train_config`] with the fine-tuning `flags` applied to the
/// file's `finetune` section (created when the file has none).
pub fn finetune_config(
    file: Option<&Path>,
    flags: &TrainFlags,
    finetune: &FinetuneFlags,
) -> Result<TrainConfig> {
    if flags.hidden.is_some() || flags.activation.is_some() || flags.dropout.is_some() {
        bail!(
            "--hidden, --activation and --dropout do not apply: the architecture comes from --from"
        );
    }
    let mut config = match file {
        Some(path) => TrainConfig::load(path)?,
        None => TrainConfig::default(),
    };
    if file.is_none() && flags.dataset.is_none() {
        bail!("--dataset is needed: the CSV to fine-tune on");
    }
    apply_train_flags(&mut config, flags);
    let spec = config.finetune.get_or_insert_with(FinetuneSpec::default);
    apply_finetune_flags(spec, finetune)?;
    if spec.from == PathBuf::new() {
        bail!("--from is needed: the pretrained run directory (or a config with finetune.from)");
    }
    config.validate()?;
    Ok(config)
}

/// Overrides the fields of `config` whose flag was given.
pub fn apply_train_flags(config: &mut TrainConfig, flags: &TrainFlags) {
    // Destructured without `..`: a new flag is a compile error here until it is applied.
    let TrainFlags {
        dataset,
        target,
        task,
        no_header,
        features,
        drop,
        hidden,
        activation,
        dropout,
        epochs,
        batch_size,
        lr,
        optimizer,
        schedule,
        clip_norm,
        patience,
        devices,
        seed,
    } = flags;
    set(&mut config.dataset, dataset.clone());
    set(&mut config.target, target.clone().map(Some));
    set(&mut config.task, task.map(Some));
    if *no_header {
        config.no_header = true;
    }
    set(
        &mut config.features,
        features.as_ref().map(|list| Some(list.0.clone())),
    );
    set(&mut config.drop, drop.as_ref().map(|list| list.0.clone()));
    set(
        &mut config.model.hidden,
        hidden.as_ref().map(|h| h.0.clone()),
    );
    set(&mut config.model.activation, *activation);
    set(&mut config.model.dropout, *dropout);
    set(&mut config.epochs, *epochs);
    set(&mut config.batch_size, *batch_size);
    set(&mut config.lr, *lr);
    set(&mut config.optimizer, optimizer.map(|kind| kind.defaults()));
    set(&mut config.schedule, schedule.clone());
    set(&mut config.grad_clip_norm, clip_norm.map(Some));
    if let Some(patience) = *patience {
        config.early_stopping = (patience > 0).then(|| EarlyStoppingConfig {
            patience,
            ..config.early_stopping.clone().unwrap_or_default()
        });
    }
    devices.flags().apply(
        &mut config.backend,
        &mut config.device_index,
        &mut config.devices,
    );
    set(&mut config.seed, *seed);
}

/// Overrides the fields of `spec` whose flag was given. LoRA flags other than the rank change
/// an existing LoRA section (the file's or the rank flag's); a rank without one creates it with
/// alpha = 2 × rank, as peft's examples do.
pub fn apply_finetune_flags(spec: &mut FinetuneSpec, flags: &FinetuneFlags) -> Result<()> {
    let FinetuneFlags {
        from,
        new_head,
        freeze,
        lora_rank,
        lora_alpha,
        lora_dropout,
        lora_targets,
        head_lr,
    } = flags;
    set(&mut spec.from, from.clone());
    if *new_head {
        spec.new_head = true;
    }
    set(&mut spec.freeze, freeze.as_ref().map(|list| list.0.clone()));
    set(&mut spec.head_lr, head_lr.map(Some));
    if let Some(rank) = *lora_rank {
        match &mut spec.lora {
            Some(lora) => lora.config.rank = rank,
            None => {
                spec.lora = Some(LoraSpec {
                    config: LoraConfig {
                        rank,
                        alpha: 2.0 * rank as f64,
                        ..LoraConfig::default()
                    },
                    targets: Vec::new(),
                })
            }
        }
    }
    let lora_only = [
        ("--lora-alpha", lora_alpha.is_some()),
        ("--lora-dropout", lora_dropout.is_some()),
        ("--lora-targets", lora_targets.is_some()),
    ];
    let Some(lora) = &mut spec.lora else {
        if let Some((flag, _)) = lora_only.iter().find(|(_, given)| *given) {
            bail!(
                "{flag} needs LoRA: pass --lora-rank, or a config whose finetune section has lora"
            );
        }
        return Ok(());
    };
    set(&mut lora.config.alpha, *lora_alpha);
    set(&mut lora.config.dropout, *lora_dropout);
    set(
        &mut lora.targets,
        lora_targets.as_ref().map(|list| list.0.clone()),
    );
    Ok(())
}

/// Replaces `field` when the flag gave a value.
pub(crate) fn set<T>(field: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *field = value;
    }
}

/// The run directory of a new run when `--out` is not given: `runs/<dataset>-<milliseconds>`.
pub fn default_out(config: &TrainConfig) -> PathBuf {
    let stem = config.dataset.file_stem().map_or("run".into(), |s| {
        s.to_string_lossy().trim_end_matches(".csv").to_string()
    });
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    PathBuf::from("runs").join(format!("{stem}-{stamp}"))
}

#[cfg(test)]
mod tests;
