//! Standardisation and preprocessing state: exact statistics, constant columns, JSON round trip.

use ffn_data::{Dataset, LoadOptions, Preprocessor, Standardizer};

use crate::{datasets, write_file};

#[test]
fn statistics_match_a_hand_computation() {
    // Column 0: rows 0, 1, 3 → 1, 3, 5: mean 3, population variance 8/3.
    // Column 1: constant 7 → scale 1. Row 2 is not fitted on.
    let features = [1.0, 7.0, 3.0, 7.0, 100.0, -50.0, 5.0, 7.0];
    let s = Standardizer::fit(&features, 2, &[0, 1, 3]);
    assert_eq!(s.mean, vec![3.0, 7.0]);
    assert_eq!(s.scale[0], (8.0f64 / 3.0).sqrt());
    assert_eq!(s.scale[1], 1.0);
    let mut out = Vec::new();
    s.transform_row(&[5.0, 7.0], &mut out).unwrap();
    assert_eq!(out, vec![(2.0 / (8.0f64 / 3.0).sqrt()) as f32, 0.0]);
}

#[test]
fn preprocessor_json_round_trip_and_encoding() {
    let data = Dataset::from_csv(&datasets().join("iris.csv"), &LoadOptions::default()).unwrap();
    let train: Vec<usize> = (0..150).step_by(2).collect();
    let pre = Preprocessor::fit(&data, &train).unwrap();
    let json = serde_json::to_string(&pre).unwrap();
    let back: Preprocessor = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pre);
    assert_eq!(pre.n_outputs(), 3);

    let examples = pre.encode(&data, &train).unwrap();
    assert_eq!(examples.len(), 75);
    for f in 0..4 {
        let column: Vec<f64> = (0..75)
            .map(|r| f64::from(examples.features[r * 4 + f]))
            .collect();
        let mean = column.iter().sum::<f64>() / 75.0;
        let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 75.0;
        assert!(
            mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
            "{mean} {var}"
        );
    }
}

#[test]
fn inputs_are_read_by_column_name_and_checked() {
    let data = Dataset::from_csv(&datasets().join("iris.csv"), &LoadOptions::default()).unwrap();
    let pre = Preprocessor::fit(&data, &(0..150).collect::<Vec<_>>()).unwrap();
    // Columns in another order, target absent: same encoding as the training file's first row.
    let (_dir, path) = write_file(
        "rows.csv",
        b"petal_width_cm,petal_length_cm,sepal_width_cm,sepal_length_cm\n0.2,1.4,3.5,5.1\n",
    );
    let inputs = pre.read_inputs(&path, false).unwrap();
    let expected = pre.encode(&data, &[0]).unwrap().features;
    assert_eq!(inputs, expected);

    let (_dir, path) = write_file("rows.csv", b"sepal_length_cm,sepal_width_cm\n5.1,3.5\n");
    let error = pre.read_inputs(&path, false).unwrap_err().to_string();
    assert!(
        error.contains("missing feature column 'petal_length_cm'"),
        "{error}"
    );

    let (_dir, path) = write_file(
        "wine_like.csv",
        b"a,b,c,d,species\n1,2,3,4,setosa\n5,6,7,8,virginica\n",
    );
    let other = Dataset::from_csv(&path, &LoadOptions::default()).unwrap();
    let error = pre.encode(&other, &[0]).unwrap_err().to_string();
    assert!(error.contains("do not match the trained ones"), "{error}");
}
