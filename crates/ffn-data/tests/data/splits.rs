//! Seeded splits: deterministic, seed-dependent, disjoint, covering and stratified.

use ffn_data::{Dataset, LoadOptions, Split, SplitConfig};

use crate::datasets;

fn config(seed: u64) -> SplitConfig {
    SplitConfig {
        seed,
        ..SplitConfig::default()
    }
}

fn assert_partition(split: &Split, rows: usize) {
    let mut all: Vec<usize> = [&split.train, &split.valid, &split.test]
        .into_iter()
        .flatten()
        .copied()
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..rows).collect::<Vec<_>>(), "disjoint and covering");
}

#[test]
fn same_seed_same_split_other_seed_other_split() {
    let a = config(1).split(1000, None).unwrap();
    assert_eq!(a, config(1).split(1000, None).unwrap());
    let b = config(2).split(1000, None).unwrap();
    assert_ne!(a.test, b.test);
    assert_eq!(
        (a.train.len(), a.valid.len(), a.test.len()),
        (700, 150, 150)
    );
    assert_partition(&a, 1000);
    assert_partition(&b, 1000);
}

#[test]
fn stratified_split_keeps_class_shares_within_one_row() {
    for file in ["iris.csv", "wine.csv", "breast_cancer.csv", "digits.csv"] {
        let data = Dataset::from_csv(&datasets().join(file), &LoadOptions::default()).unwrap();
        let classes = data.class_indices().unwrap();
        let n_classes = classes.iter().max().unwrap() + 1;
        for seed in 0..3 {
            let split = config(seed).split(data.len(), Some(classes)).unwrap();
            assert_partition(&split, data.len());
            for (part, fraction) in [
                (&split.train, 0.7),
                (&split.valid, 0.15),
                (&split.test, 0.15),
            ] {
                for class in 0..n_classes {
                    let total = classes.iter().filter(|&&c| c == class).count() as f64;
                    let share = part.iter().filter(|&&r| classes[r] == class).count() as f64;
                    let ideal = total * part.len() as f64 / data.len() as f64;
                    assert!(
                        (share - ideal).abs() <= 1.0 + 1e-9,
                        "{file} seed {seed} class {class}: {share} rows, ideal {ideal} ({fraction})"
                    );
                }
            }
        }
    }
}

#[test]
fn iris_stratified_split_has_exact_per_class_counts() {
    let data = Dataset::from_csv(&datasets().join("iris.csv"), &LoadOptions::default()).unwrap();
    let classes = data.class_indices().unwrap();
    let split = config(0).split(150, Some(classes)).unwrap();
    // 150 rows: 22.5 rounds to 23 valid and 23 test rows; 50 per class → 7 or 8 each.
    assert_eq!(
        (split.train.len(), split.valid.len(), split.test.len()),
        (104, 23, 23)
    );
    for part in [&split.valid, &split.test] {
        for class in 0..3 {
            let n = part.iter().filter(|&&r| classes[r] == class).count();
            assert!((7..=8).contains(&n), "{n}");
        }
    }
}

#[test]
fn empty_valid_and_test_fractions_are_allowed() {
    let config = SplitConfig {
        train: 1.0,
        valid: 0.0,
        test: 0.0,
        seed: 3,
    };
    let split = config.split(10, None).unwrap();
    assert_eq!(split.train.len(), 10);
    assert!(split.valid.is_empty() && split.test.is_empty());
}
