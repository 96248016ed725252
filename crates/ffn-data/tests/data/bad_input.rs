//! One test per kind of bad input: the error kind, and a message naming file, line and column.

use ffn_data::{DataError, Dataset, LoadOptions, SplitConfig};

use crate::write_file;

fn load(contents: &str) -> DataError {
    let (_dir, path) = write_file("bad.csv", contents.as_bytes());
    Dataset::from_csv(&path, &LoadOptions::default()).unwrap_err()
}

#[test]
fn missing_file() {
    let error =
        Dataset::from_csv("no/such/file.csv".as_ref(), &LoadOptions::default()).unwrap_err();
    assert!(matches!(error, DataError::Io { .. }));
    assert!(error.to_string().contains("no/such/file.csv"), "{error}");
}

#[test]
fn empty_file() {
    assert!(matches!(load(""), DataError::Empty { .. }));
    assert!(matches!(load("\n\n"), DataError::Empty { .. }));
    assert!(load("").to_string().contains("bad.csv is empty"));
}

#[test]
fn header_only() {
    let error = load("a,b,label\n");
    assert!(matches!(error, DataError::NoRows { .. }));
    assert!(error.to_string().contains("header row but no data rows"));
}

#[test]
fn ragged_row() {
    let error = load("a,b,label\n1,2,x\n3,4\n");
    assert!(
        matches!(
            error,
            DataError::RaggedRow {
                line: 3,
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("line 3: expected 3 fields"),
        "{error}"
    );
}

#[test]
fn non_numeric_feature() {
    let error = load("a,b,label\n1,2,x\n3,four,y\n");
    assert!(
        matches!(error, DataError::NotNumeric { line: 3, .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("line 3, column 'b'") && message.contains("'four'"),
        "{message}"
    );
}

#[test]
fn nan_and_inf_cells() {
    for bad in ["NaN", "inf", "-inf"] {
        let error = load(&format!("a,b,label\n1,2,x\n{bad},4,y\n"));
        assert!(
            matches!(error, DataError::NonFinite { line: 3, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("column 'a'"), "{error}");
    }
}

#[test]
fn target_column_missing() {
    let (_dir, path) = write_file("t.csv", b"a,b,label\n1,2,x\n3,4,y\n");
    let options = LoadOptions {
        target: Some("class".into()),
        task: None,
        ..Default::default()
    };
    let error = Dataset::from_csv(&path, &options).unwrap_err();
    assert!(matches!(error, DataError::MissingTarget { .. }));
    assert!(
        error
            .to_string()
            .contains("no target column 'class'; the columns are: a, b, label")
    );
}

#[test]
fn single_class() {
    let error = load("a,label\n1,cat\n2,cat\n");
    assert!(matches!(error, DataError::SingleClass { .. }));
    assert!(error.to_string().contains("single class 'cat'"), "{error}");
}

#[test]
fn too_few_rows_for_the_split() {
    let (_dir, path) = write_file("small.csv", b"a,label\n1,x\n2,y\n3,x\n");
    let data = Dataset::from_csv(&path, &LoadOptions::default()).unwrap();
    let error = SplitConfig::default()
        .split(data.len(), data.class_indices())
        .unwrap_err();
    assert!(
        matches!(error, DataError::TooFewRows { rows: 3, .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("valid fraction 0.15 gets no row"),
        "{error}"
    );
}

#[test]
fn duplicate_column_names() {
    let error = load("a,b,a,label\n1,2,3,x\n");
    assert!(
        matches!(
            error,
            DataError::DuplicateColumn {
                first: 1,
                second: 3,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("line 1: duplicate column name 'a'")
    );
}

#[test]
fn malformed_csv_and_bad_regression_target() {
    let error = load("a,label\n1,x\n\"2,y\n");
    assert!(
        matches!(
            error,
            DataError::Malformed { .. } | DataError::RaggedRow { .. }
        ),
        "{error}"
    );

    let (_dir, path) = write_file("r.csv", b"a,y\n1,0.5\n2,n/a\n");
    let options = LoadOptions {
        target: None,
        task: Some(ffn_data::Task::Regression),
        ..Default::default()
    };
    let error = Dataset::from_csv(&path, &options).unwrap_err();
    assert!(
        matches!(error, DataError::BadTarget { line: 3, .. }),
        "{error}"
    );
}

#[test]
fn invalid_split_fractions() {
    let config = SplitConfig {
        train: 0.5,
        valid: 0.6,
        test: -0.1,
        seed: 0,
    };
    assert!(matches!(
        config.split(100, None),
        Err(DataError::InvalidSplit { .. })
    ));
    let config = SplitConfig {
        train: 0.5,
        valid: 0.2,
        test: 0.2,
        seed: 0,
    };
    let error = config.split(100, None).unwrap_err();
    assert!(error.to_string().contains("sum to 1"), "{error}");
}
