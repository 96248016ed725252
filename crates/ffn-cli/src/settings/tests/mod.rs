//! The merge rules of config file and flags, one test per rule.

mod lm;
mod resume;

use std::io::Write;

use ffn_data::Task;
use ffn_train::{Backend, DeviceSpec, OptimizerKind, ScheduleConfig};

use super::*;
use crate::args::{DeviceArgs, LayerSizes, NameList};

/// Flags, and the change they should make to the file's settings.
pub(super) type Case<F, T> = (F, Box<dyn Fn(&mut T)>);

pub(super) fn config_file(json: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(json.as_bytes()).unwrap();
    file
}

/// A fine-tuning config file with LoRA, freezing, a head rate and a new head.
const FINETUNE_FILE: &str = r#"{
    "dataset": "data.csv",
    "lr": 0.01,
    "finetune": {
        "from": "base",
        "new_head": true,
        "freeze": ["hidden.0"],
        "lora": {"rank": 4, "alpha": 12.0, "dropout": 0.1, "targets": ["output"]},
        "head_lr": 0.05
    }
}"#;

#[test]
fn no_flags_keep_the_file_as_it_is() {
    let file = config_file(FINETUNE_FILE);
    let expected = TrainConfig::load(file.path()).unwrap();
    let config = finetune_config(
        Some(file.path()),
        &TrainFlags::default(),
        &FinetuneFlags::default(),
    )
    .unwrap();
    assert_eq!(config, expected);
    let spec = config.finetune.unwrap();
    let lora = spec.lora.unwrap();
    assert_eq!(
        (lora.config.rank, lora.config.alpha, lora.config.dropout),
        (4, 12.0, 0.1)
    );
    assert_eq!(lora.targets, ["output"]);
    assert_eq!(spec.freeze, ["hidden.0"]);
    assert_eq!(spec.head_lr, Some(0.05));
    assert!(spec.new_head);
    assert_eq!(spec.from, Path::new("base"));
}

#[test]
fn each_finetune_flag_overrides_only_its_field() {
    let file = config_file(FINETUNE_FILE);
    let base = TrainConfig::load(file.path()).unwrap().finetune.unwrap();
    let cases: Vec<Case<FinetuneFlags, FinetuneSpec>> = vec![
        (
            FinetuneFlags {
                from: Some("other".into()),
                ..Default::default()
            },
            Box::new(|s| s.from = "other".into()),
        ),
        (
            FinetuneFlags {
                freeze: Some(NameList(vec!["body".into()])),
                ..Default::default()
            },
            Box::new(|s| s.freeze = vec!["body".into()]),
        ),
        (
            FinetuneFlags {
                head_lr: Some(0.2),
                ..Default::default()
            },
            Box::new(|s| s.head_lr = Some(0.2)),
        ),
        (
            FinetuneFlags {
                lora_rank: Some(16),
                ..Default::default()
            },
            Box::new(|s| s.lora.as_mut().unwrap().config.rank = 16),
        ),
        (
            FinetuneFlags {
                lora_alpha: Some(3.0),
                ..Default::default()
            },
            Box::new(|s| s.lora.as_mut().unwrap().config.alpha = 3.0),
        ),
        (
            FinetuneFlags {
                lora_dropout: Some(0.0),
                ..Default::default()
            },
            Box::new(|s| s.lora.as_mut().unwrap().config.dropout = 0.0),
        ),
        (
            FinetuneFlags {
                lora_targets: Some(NameList(vec!["0".into()])),
                ..Default::default()
            },
            Box::new(|s| s.lora.as_mut().unwrap().targets = vec!["0".into()]),
        ),
    ];
    for (flags, change) in cases {
        let config = finetune_config(Some(file.path()), &TrainFlags::default(), &flags).unwrap();
        let mut expected = base.clone();
        change(&mut expected);
        assert_eq!(config.finetune.unwrap(), expected, "{flags:?}");
    }
}

#[test]
fn new_head_flag_sets_and_never_clears() {
    let mut spec = FinetuneSpec {
        new_head: true,
        ..Default::default()
    };
    apply_finetune_flags(&mut spec, &FinetuneFlags::default()).unwrap();
    assert!(spec.new_head, "an absent --new-head keeps the file's true");
    let mut spec = FinetuneSpec::default();
    let flags = FinetuneFlags {
        new_head: true,
        ..Default::default()
    };
    apply_finetune_flags(&mut spec, &flags).unwrap();
    assert!(spec.new_head);
}

#[test]
fn lora_rank_without_a_lora_section_creates_one_with_alpha_twice_the_rank() {
    let mut spec = FinetuneSpec::default();
    let flags = FinetuneFlags {
        lora_rank: Some(8),
        lora_targets: Some(NameList(vec!["output".into()])),
        ..Default::default()
    };
    apply_finetune_flags(&mut spec, &flags).unwrap();
    let lora = spec.lora.unwrap();
    assert_eq!(
        (lora.config.rank, lora.config.alpha, lora.config.dropout),
        (8, 16.0, 0.0)
    );
    assert_eq!(lora.targets, ["output"]);
}

#[test]
fn lora_flags_without_lora_are_refused() {
    for flags in [
        FinetuneFlags {
            lora_alpha: Some(4.0),
            ..Default::default()
        },
        FinetuneFlags {
            lora_dropout: Some(0.1),
            ..Default::default()
        },
        FinetuneFlags {
            lora_targets: Some(NameList(vec!["0".into()])),
            ..Default::default()
        },
    ] {
        let error = apply_finetune_flags(&mut FinetuneSpec::default(), &flags).unwrap_err();
        assert!(
            error.to_string().contains("needs LoRA: pass --lora-rank"),
            "{error}"
        );
    }
}

#[test]
fn each_train_flag_overrides_only_its_field() {
    let file = config_file(
        r#"{"dataset": "d.csv", "epochs": 7, "lr": 0.5, "seed": 9, "grad_clip_norm": 2.0,
            "early_stopping": {"patience": 4, "min_delta": 0.1, "restore_best": false},
            "model": {"hidden": [5, 6], "dropout": 0.2}}"#,
    );
    let base = TrainConfig::load(file.path()).unwrap();
    let cases: Vec<Case<TrainFlags, TrainConfig>> = vec![
        (
            TrainFlags {
                dataset: Some("x.csv".into()),
                ..Default::default()
            },
            Box::new(|c| c.dataset = "x.csv".into()),
        ),
        (
            TrainFlags {
                target: Some("y".into()),
                ..Default::default()
            },
            Box::new(|c| c.target = Some("y".into())),
        ),
        (
            TrainFlags {
                task: Some(Task::Regression),
                ..Default::default()
            },
            Box::new(|c| c.task = Some(Task::Regression)),
        ),
        (
            TrainFlags {
                hidden: Some(LayerSizes(vec![3])),
                ..Default::default()
            },
            Box::new(|c| c.model.hidden = vec![3]),
        ),
        (
            TrainFlags {
                activation: Some("gelu".parse().unwrap()),
                ..Default::default()
            },
            Box::new(|c| c.model.activation = "gelu".parse().unwrap()),
        ),
        (
            TrainFlags {
                dropout: Some(0.0),
                ..Default::default()
            },
            Box::new(|c| c.model.dropout = 0.0),
        ),
        (
            TrainFlags {
                epochs: Some(3),
                ..Default::default()
            },
            Box::new(|c| c.epochs = 3),
        ),
        (
            TrainFlags {
                batch_size: Some(4),
                ..Default::default()
            },
            Box::new(|c| c.batch_size = 4),
        ),
        (
            TrainFlags {
                lr: Some(0.1),
                ..Default::default()
            },
            Box::new(|c| c.lr = 0.1),
        ),
        (
            TrainFlags {
                optimizer: Some(OptimizerKind::Sgd),
                ..Default::default()
            },
            Box::new(|c| c.optimizer = OptimizerKind::Sgd.defaults()),
        ),
        (
            TrainFlags {
                schedule: Some(ScheduleConfig::Constant),
                ..Default::default()
            },
            Box::new(|c| c.schedule = ScheduleConfig::Constant),
        ),
        (
            TrainFlags {
                clip_norm: Some(1.0),
                ..Default::default()
            },
            Box::new(|c| c.grad_clip_norm = Some(1.0)),
        ),
        (
            TrainFlags {
                devices: DeviceArgs {
                    backend: Some(DeviceSpec::local(Backend::Ndarray)),
                    ..Default::default()
                },
                ..Default::default()
            },
            Box::new(|c| c.backend = Backend::Ndarray),
        ),
        (
            TrainFlags {
                devices: DeviceArgs {
                    device: Some(1),
                    ..Default::default()
                },
                ..Default::default()
            },
            Box::new(|c| c.device_index = Some(1)),
        ),
        (
            TrainFlags {
                devices: two_devices_flag(),
                ..Default::default()
            },
            Box::new(|c| c.devices = two_devices()),
        ),
        (
            TrainFlags {
                seed: Some(3),
                ..Default::default()
            },
            Box::new(|c| c.seed = 3),
        ),
    ];
    for (flags, change) in cases {
        let config = train_config(Some(file.path()), &flags).unwrap();
        let mut expected = base.clone();
        change(&mut expected);
        assert_eq!(config, expected, "{flags:?}");
    }
}

#[test]
fn patience_keeps_the_other_early_stopping_fields_and_zero_turns_it_off() {
    let file = config_file(
        r#"{"early_stopping": {"patience": 4, "min_delta": 0.1, "restore_best": false}}"#,
    );
    let flags = TrainFlags {
        patience: Some(9),
        ..Default::default()
    };
    let config = train_config(Some(file.path()), &flags).unwrap();
    let early = config.early_stopping.unwrap();
    assert_eq!(
        (early.patience, early.min_delta, early.restore_best),
        (9, 0.1, false)
    );
    let flags = TrainFlags {
        patience: Some(0),
        ..Default::default()
    };
    assert!(
        train_config(Some(file.path()), &flags)
            .unwrap()
            .early_stopping
            .is_none()
    );
}

#[test]
fn finetune_needs_a_source_and_a_dataset_and_keeps_the_architecture() {
    let flags = TrainFlags {
        dataset: Some("d.csv".into()),
        ..Default::default()
    };
    let error = finetune_config(None, &flags, &FinetuneFlags::default()).unwrap_err();
    assert!(error.to_string().contains("--from is needed"), "{error}");
    let from = FinetuneFlags {
        from: Some("base".into()),
        ..Default::default()
    };
    let error = finetune_config(None, &TrainFlags::default(), &from).unwrap_err();
    assert!(error.to_string().contains("--dataset is needed"), "{error}");
    let flags = TrainFlags {
        dropout: Some(0.1),
        ..flags
    };
    let error = finetune_config(None, &flags, &from).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the architecture comes from --from"),
        "{error}"
    );
}

/// `--devices flex,remote:ws://127.0.0.1:3000`.
pub(super) fn two_devices_flag() -> DeviceArgs {
    DeviceArgs {
        devices: Some(two_devices()),
        ..Default::default()
    }
}

/// The devices [`two_devices_flag`] names.
pub(super) fn two_devices() -> Vec<DeviceSpec> {
    vec![
        DeviceSpec::local(Backend::Flex),
        "remote:ws://127.0.0.1:3000".parse().unwrap(),
    ]
}
