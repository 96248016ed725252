//! What `--resume` takes from the flags: the length, backend and device, and nothing else.

use ffn_train::{Backend, DeviceFlags, DeviceSpec, ResumeOptions};

use super::super::{finetune_resume, lm_resume, train_resume};
use crate::args::{DeviceArgs, FinetuneFlags, LmFlags, NameList, TrainFlags};

#[test]
fn resume_applies_the_length_backend_and_device() {
    let flags = TrainFlags {
        epochs: Some(90),
        devices: DeviceArgs {
            backend: Some(DeviceSpec::local(Backend::Ndarray)),
            device: Some(1),
            devices: None,
        },
        ..TrainFlags::default()
    };
    let expected = ResumeOptions {
        length: Some(90),
        devices: DeviceFlags {
            backend: Some(DeviceSpec::local(Backend::Ndarray)),
            device: Some(1),
            devices: None,
        },
    };
    assert_eq!(train_resume(&flags).unwrap(), expected);
    assert_eq!(
        train_resume(&TrainFlags::default()).unwrap(),
        ResumeOptions::default()
    );
    let lm = LmFlags {
        steps: Some(3000),
        ..LmFlags::default()
    };
    assert_eq!(lm_resume(&lm).unwrap().length, Some(3000));
}

#[test]
fn resume_refuses_every_other_flag_by_name() {
    let flags = TrainFlags {
        lr: Some(0.1),
        no_header: true,
        drop: Some(NameList(vec!["id".into()])),
        ..TrainFlags::default()
    };
    let error = train_resume(&flags).unwrap_err().to_string();
    assert!(
        error.starts_with("--no-header, --drop, --lr cannot change a run being resumed"),
        "{error}"
    );
    let finetune = FinetuneFlags {
        new_head: true,
        ..FinetuneFlags::default()
    };
    let error = finetune_resume(&TrainFlags::default(), &finetune)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("--new-head cannot change"), "{error}");
    let lm = LmFlags {
        heads: Some(2),
        ..LmFlags::default()
    };
    let error = lm_resume(&lm).unwrap_err().to_string();
    assert!(
        error.contains("only --steps, --backend, --device and --devices apply"),
        "{error}"
    );
}
