//! The merge rules of a language-model config file and `ffn lm` flags.

use ffn_data::TokenizerKind;
use ffn_model::{FfnKind, Positions};
use ffn_train::{Backend, DeviceSpec, LmConfig, ScheduleConfig};

use super::{Case, config_file, two_devices, two_devices_flag};
use crate::args::{DeviceArgs, LmFlags};
use crate::settings::*;

#[test]
fn each_language_model_flag_overrides_only_its_field() {
    let file = config_file(r#"{"steps": 500, "lr": 0.002, "model": {"layers": 6, "d_model": 64}}"#);
    let base = LmConfig::load(file.path()).unwrap();
    let cases: Vec<Case<LmFlags, LmConfig>> = vec![
        (
            LmFlags {
                text: Some("t.txt".into()),
                ..Default::default()
            },
            Box::new(|c| c.text = "t.txt".into()),
        ),
        (
            LmFlags {
                tokenizer: Some(TokenizerKind::Byte),
                ..Default::default()
            },
            Box::new(|c| c.tokenizer = TokenizerKind::Byte),
        ),
        (
            LmFlags {
                layers: Some(2),
                ..Default::default()
            },
            Box::new(|c| c.model.layers = 2),
        ),
        (
            LmFlags {
                heads: Some(8),
                ..Default::default()
            },
            Box::new(|c| c.model.heads = 8),
        ),
        (
            LmFlags {
                kv_heads: Some(2),
                ..Default::default()
            },
            Box::new(|c| c.model.kv_heads = Some(2)),
        ),
        (
            LmFlags {
                d_model: Some(32),
                ..Default::default()
            },
            Box::new(|c| c.model.d_model = 32),
        ),
        (
            LmFlags {
                d_ff: Some(96),
                ..Default::default()
            },
            Box::new(|c| c.model.d_ff = 96),
        ),
        (
            LmFlags {
                ffn: Some(FfnKind::Swiglu.into()),
                ..Default::default()
            },
            Box::new(|c| c.model.ffn = FfnKind::Swiglu.into()),
        ),
        (
            LmFlags {
                pos: Some(Positions::Rope),
                ..Default::default()
            },
            Box::new(|c| c.model.positions = Positions::Rope),
        ),
        (
            LmFlags {
                block: Some(32),
                ..Default::default()
            },
            Box::new(|c| c.model.block = 32),
        ),
        (
            LmFlags {
                batch: Some(6),
                ..Default::default()
            },
            Box::new(|c| c.batch = 6),
        ),
        (
            LmFlags {
                steps: Some(100),
                ..Default::default()
            },
            Box::new(|c| c.steps = 100),
        ),
        (
            LmFlags {
                eval_interval: Some(50),
                ..Default::default()
            },
            Box::new(|c| c.eval_interval = 50),
        ),
        (
            LmFlags {
                lr: Some(0.01),
                ..Default::default()
            },
            Box::new(|c| c.lr = 0.01),
        ),
        (
            LmFlags {
                schedule: Some(ScheduleConfig::Constant),
                ..Default::default()
            },
            Box::new(|c| c.schedule = ScheduleConfig::Constant),
        ),
        (
            LmFlags {
                dropout: Some(0.1),
                ..Default::default()
            },
            Box::new(|c| c.model.dropout = 0.1),
        ),
        (
            LmFlags {
                devices: DeviceArgs {
                    backend: Some(DeviceSpec::local(Backend::Ndarray)),
                    ..Default::default()
                },
                ..Default::default()
            },
            Box::new(|c| c.backend = Backend::Ndarray),
        ),
        (
            LmFlags {
                devices: DeviceArgs {
                    device: Some(1),
                    ..Default::default()
                },
                ..Default::default()
            },
            Box::new(|c| c.device_index = Some(1)),
        ),
        (
            LmFlags {
                devices: two_devices_flag(),
                ..Default::default()
            },
            Box::new(|c| c.devices = two_devices()),
        ),
        (
            LmFlags {
                seed: Some(4),
                ..Default::default()
            },
            Box::new(|c| c.seed = 4),
        ),
    ];
    for (flags, change) in cases {
        let config = lm_config(Some(file.path()), &flags).unwrap();
        let mut expected = base.clone();
        change(&mut expected);
        assert_eq!(config, expected, "{flags:?}");
    }
    assert_eq!(
        (base.steps, base.model.layers, base.model.heads),
        (500, 6, 4),
        "file over defaults"
    );
}

#[test]
fn a_pretrained_fine_tune_reads_its_config_file_over_the_lora_recipe() {
    use crate::args::{LmFinetuneArgs, LmTrainArgs};
    let file = config_file(r#"{"steps": 7, "model": {"block": 32}}"#);
    let args = LmFinetuneArgs {
        from: None,
        gguf: Some("model.gguf".into()),
        lora_rank: Some(4),
        lora_alpha: None,
        lora_targets: None,
        freeze: None,
        train: LmTrainArgs {
            config: Some(file.path().to_path_buf()),
            flags: LmFlags {
                text: Some("t.txt".into()),
                batch: Some(3),
                ..Default::default()
            },
            ..Default::default()
        },
    };
    let (config, finetune) = lm_finetune(&args).unwrap();
    let recipe = LmConfig::pretrained_lora();
    let mut want = recipe.clone();
    want.steps = 7;
    want.model.block = 32;
    want.batch = 3;
    want.text = "t.txt".into();
    assert_eq!(config, want);
    assert_eq!(finetune.lora.map(|l| (l.rank, l.alpha)), Some((4, 8.0)));
    // A from-scratch run reads the same file over the reference recipe.
    let scratch = LmConfig::load(file.path()).unwrap();
    assert_eq!(scratch.lr, LmConfig::default().lr);
    assert_eq!(scratch.model.block, 32);
}
