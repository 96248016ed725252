//! Every dataset shipped in datasets/ loads with the documented shape, classes and checksum.

use ffn_data::{Dataset, LoadOptions, Task};
use sha2::{Digest, Sha256};

use crate::datasets;

struct Expected {
    file: &'static str,
    rows: usize,
    features: usize,
    target: &'static str,
    classes: Option<&'static [&'static str]>,
    sha256: &'static str,
}

const SHIPPED: [Expected; 5] = [
    Expected {
        file: "iris.csv",
        rows: 150,
        features: 4,
        target: "species",
        classes: Some(&["setosa", "versicolor", "virginica"]),
        sha256: "b6b8efc86732bc48c9fbddba53e2c191fd4f263c0ee98e2b1b7d3543e8d2121d",
    },
    Expected {
        file: "wine.csv",
        rows: 178,
        features: 13,
        target: "cultivar",
        classes: Some(&["class_0", "class_1", "class_2"]),
        sha256: "0b1878a85c7319cb85c8f5eed4731bac48b130b99bb19169c8ac7f55fbc984f7",
    },
    Expected {
        file: "breast_cancer.csv",
        rows: 569,
        features: 30,
        target: "diagnosis",
        classes: Some(&["benign", "malignant"]),
        sha256: "bbe6bc506fec05b65edfb905b871a229bdc97341f512e7548a9ecc6081644251",
    },
    Expected {
        file: "digits.csv",
        rows: 1797,
        features: 64,
        target: "digit",
        classes: Some(&["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]),
        sha256: "592cc047d0a1cc7fdef9fd724514209dcb45a80aa147dc3ab375e3e1a9a380f4",
    },
    Expected {
        file: "diabetes.csv",
        rows: 442,
        features: 10,
        target: "progression",
        classes: None,
        sha256: "36e3fd6f8158bdc41f916d8989653227e5a5dd506c508de3f33febb48213e641",
    },
];

#[test]
fn every_shipped_dataset_loads_with_documented_shape() {
    for expected in SHIPPED {
        let path = datasets().join(expected.file);
        let bytes = std::fs::read(&path).unwrap();
        let digest = format!("{:x}", Sha256::digest(&bytes));
        assert_eq!(digest, expected.sha256, "{}", expected.file);
        let readme = std::fs::read_to_string(datasets().join("README.md")).unwrap();
        assert!(
            readme.contains(expected.sha256),
            "README lists {}",
            expected.file
        );

        let data = Dataset::from_csv(&path, &LoadOptions::default()).unwrap();
        assert_eq!(data.len(), expected.rows, "{}", expected.file);
        assert_eq!(data.n_features(), expected.features, "{}", expected.file);
        assert_eq!(data.target_name, expected.target);
        match expected.classes {
            Some(classes) => {
                assert_eq!(data.task(), Task::Classification, "{}", expected.file);
                let ffn_data::Targets::Classes { labels, .. } = &data.targets else {
                    unreachable!()
                };
                assert_eq!(labels.classes(), classes, "{}", expected.file);
            }
            None => assert_eq!(data.task(), Task::Regression, "{}", expected.file),
        }
    }
}

#[test]
fn iris_first_row_and_class_counts() {
    let data = Dataset::from_csv(&datasets().join("iris.csv"), &LoadOptions::default()).unwrap();
    assert_eq!(data.row(0), &[5.1, 3.5, 1.4, 0.2]);
    let counts = data
        .class_indices()
        .unwrap()
        .iter()
        .fold([0; 3], |mut c, &i| {
            c[i] += 1;
            c
        });
    assert_eq!(counts, [50, 50, 50]);
}

#[test]
fn gzip_and_named_target_and_forced_task() {
    use std::io::Write;
    let plain = std::fs::read(datasets().join("iris.csv")).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&plain).unwrap();
    let (_dir, gz) = crate::write_file("iris.csv.gz", &encoder.finish().unwrap());
    let data = Dataset::from_csv(&gz, &LoadOptions::default()).unwrap();
    assert_eq!((data.len(), data.n_features()), (150, 4));

    // Petal width as a regression target; species becomes... a non-numeric feature, an error.
    let options = LoadOptions {
        target: Some("petal_width_cm".into()),
        task: Some(Task::Regression),
        ..Default::default()
    };
    let error = Dataset::from_csv(&gz, &options).unwrap_err().to_string();
    assert!(
        error.contains("column 'species'") && error.contains("line 2"),
        "{error}"
    );

    // Digits forced to regression: the integer labels become values.
    let options = LoadOptions {
        target: None,
        task: Some(Task::Regression),
        ..Default::default()
    };
    let digits = Dataset::from_csv(&datasets().join("digits.csv"), &options).unwrap();
    assert_eq!(digits.task(), Task::Regression);
}
