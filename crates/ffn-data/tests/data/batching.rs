//! Batches have the expected shapes and values, on flex and (where an adapter exists) wgpu.

use burn::prelude::*;
use ffn_data::{BatchTargets, DataLoader, ExampleTargets, Examples};

fn examples() -> Examples {
    Examples {
        n_features: 2,
        features: (0..14).map(|v| v as f32).collect(),
        targets: ExampleTargets::Classes(vec![0, 1, 2, 0, 1, 2, 0]),
    }
}

fn check_batches(device: &Device) {
    let examples = examples();
    let loader = DataLoader::new(&examples, 3, None).unwrap();
    assert_eq!(loader.num_batches(), 3);
    let batches: Vec<_> = loader.batches(0, device).collect();
    assert_eq!(batches[0].features.dims(), [3, 2]);
    assert_eq!(batches[2].features.dims(), [1, 2]);
    let first = batches[0]
        .features
        .clone()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    assert_eq!(first, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let BatchTargets::Classes(classes) = &batches[1].targets else {
        panic!("classification targets")
    };
    let classes: Vec<i64> = classes
        .clone()
        .into_data()
        .try_into_vec_as::<i64>()
        .unwrap();
    assert_eq!(classes, vec![0, 1, 2]);

    let regression = Examples {
        targets: ExampleTargets::Values(vec![0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5]),
        ..examples
    };
    let batch = regression.batch(&[6, 0], device);
    let BatchTargets::Values(values) = batch.targets else {
        panic!("regression targets")
    };
    assert_eq!(values.dims(), [2, 1]);
    assert_eq!(
        values.into_data().try_into_vec_as::<f32>().unwrap(),
        vec![6.5, 0.5]
    );
}

#[test]
fn batches_on_flex() {
    check_batches(&Device::flex());
}

#[test]
fn batches_on_wgpu_where_available() {
    match Device::wgpu_options().init() {
        Ok(device) => check_batches(&device),
        Err(error) => {
            assert!(std::env::var("FFN_REQUIRE_WGPU").is_err(), "{error}");
            eprintln!("skipping wgpu: {error}");
        }
    }
}

#[test]
fn shuffling_is_per_epoch_and_seeded() {
    let examples = examples();
    let loader = DataLoader::new(&examples, 2, Some(9)).unwrap();
    let (e0, e1) = (loader.order(0), loader.order(1));
    assert_ne!(e0, e1);
    assert_eq!(e0, DataLoader::new(&examples, 4, Some(9)).unwrap().order(0));
    let mut sorted = e1.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..7).collect::<Vec<_>>());
    assert!(DataLoader::new(&examples, 0, None).is_err());
}
