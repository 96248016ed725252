//! The flags that apply with `--resume`: the run's length and where it computes. Every other
//! setting belongs to the run, so a flag naming one is an error rather than silently ignored.

use anyhow::{Result, bail};
use ffn_train::ResumeOptions;

use crate::args::{FinetuneFlags, LmFinetuneArgs, LmFlags, TrainFlags};

/// The changes `--resume` makes to a tabular run: `--epochs`, `--backend`, `--device` and
/// `--devices`.
pub fn train_resume(flags: &TrainFlags) -> Result<ResumeOptions> {
    // Destructured without `..`: a new flag is a compile error here until it is placed.
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
    refuse(
        &[
            ("--dataset", dataset.is_some()),
            ("--target", target.is_some()),
            ("--task", task.is_some()),
            ("--no-header", *no_header),
            ("--features", features.is_some()),
            ("--drop", drop.is_some()),
            ("--hidden", hidden.is_some()),
            ("--activation", activation.is_some()),
            ("--dropout", dropout.is_some()),
            ("--batch-size", batch_size.is_some()),
            ("--lr", lr.is_some()),
            ("--optimizer", optimizer.is_some()),
            ("--schedule", schedule.is_some()),
            ("--clip-norm", clip_norm.is_some()),
            ("--patience", patience.is_some()),
            ("--seed", seed.is_some()),
        ],
        "--epochs",
    )?;
    Ok(ResumeOptions {
        length: *epochs,
        devices: devices.flags(),
    })
}

/// [`train_resume`] for `ffn finetune --resume`, whose fine-tuning flags belong to the run too.
pub fn finetune_resume(flags: &TrainFlags, finetune: &FinetuneFlags) -> Result<ResumeOptions> {
    let FinetuneFlags {
        from,
        new_head,
        freeze,
        lora_rank,
        lora_alpha,
        lora_dropout,
        lora_targets,
        head_lr,
    } = finetune;
    refuse(
        &[
            ("--from", from.is_some()),
            ("--new-head", *new_head),
            ("--freeze", freeze.is_some()),
            ("--lora-rank", lora_rank.is_some()),
            ("--lora-alpha", lora_alpha.is_some()),
            ("--lora-dropout", lora_dropout.is_some()),
            ("--lora-targets", lora_targets.is_some()),
            ("--head-lr", head_lr.is_some()),
        ],
        "--epochs",
    )?;
    train_resume(flags)
}

/// The changes `--resume` makes to a language-model run: `--steps`, `--backend`, `--device`,
/// `--devices`.
pub fn lm_resume(flags: &LmFlags) -> Result<ResumeOptions> {
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
    refuse(
        &[
            ("--text", text.is_some()),
            ("--tokenizer", tokenizer.is_some()),
            ("--layers", layers.is_some()),
            ("--heads", heads.is_some()),
            ("--kv-heads", kv_heads.is_some()),
            ("--d-model", d_model.is_some()),
            ("--d-ff", d_ff.is_some()),
            ("--ffn", ffn.is_some()),
            ("--pos", pos.is_some()),
            ("--block", block.is_some()),
            ("--batch", batch.is_some()),
            ("--eval-interval", eval_interval.is_some()),
            ("--lr", lr.is_some()),
            ("--schedule", schedule.is_some()),
            ("--dropout", dropout.is_some()),
            ("--seed", seed.is_some()),
        ],
        "--steps",
    )?;
    Ok(ResumeOptions {
        length: *steps,
        devices: devices.flags(),
    })
}

/// [`lm_resume`] for `ffn lm finetune --resume`.
pub fn lm_finetune_resume(args: &LmFinetuneArgs) -> Result<ResumeOptions> {
    let LmFinetuneArgs {
        from,
        gguf,
        lora_rank,
        lora_alpha,
        lora_targets,
        freeze,
        train,
    } = args;
    refuse(
        &[
            ("--from", from.is_some()),
            ("--gguf", gguf.is_some()),
            ("--lora-rank", lora_rank.is_some()),
            ("--lora-alpha", lora_alpha.is_some()),
            ("--lora-targets", lora_targets.is_some()),
            ("--freeze", freeze.is_some()),
        ],
        "--steps",
    )?;
    lm_resume(&train.flags)
}

/// Fails naming the flags given (`true`) that `--resume` cannot apply; `length` is the flag that
/// changes the run's length.
fn refuse(flags: &[(&str, bool)], length: &str) -> Result<()> {
    let given: Vec<&str> = flags
        .iter()
        .filter(|(_, given)| *given)
        .map(|(name, _)| *name)
        .collect();
    if !given.is_empty() {
        bail!(
            "{} cannot change a run being resumed (it keeps its saved settings); with --resume \
             only {length}, --backend, --device and --devices apply",
            given.join(", ")
        );
    }
    Ok(())
}
