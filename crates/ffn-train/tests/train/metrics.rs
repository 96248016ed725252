//! Metrics against hand-computed values.

use ffn_train::{Metrics, accuracy, macro_f1, r2};

#[test]
fn classification_metrics_by_hand() {
    let predicted = [0, 1, 2, 2];
    let actual = [0, 1, 1, 2];
    assert_eq!(accuracy(&predicted, &actual), 0.75);
    // F1: class 0 = 1, class 1 = 2/3 (one miss), class 2 = 2/3 (one false alarm).
    let f1 = macro_f1(&predicted, &actual, 3);
    assert!(
        (f1 - (1.0 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12,
        "{f1}"
    );
    // A class of the model absent from the evaluated rows (actual and predicted) is left out,
    // as scikit-learn's default; one predicted but absent counts with F1 0.
    assert_eq!(macro_f1(&[0, 1], &[0, 1], 3), 1.0);
    assert!((macro_f1(&[0, 2], &[0, 1], 3) - 1.0 / 3.0).abs() < 1e-12);
}

#[test]
fn regression_metrics_by_hand() {
    let m = Metrics::regression(0.5, &[1.0, 2.0, 3.0, 5.0], &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(m.mse, Some(0.25));
    assert_eq!(m.mae, Some(0.25));
    assert_eq!(m.r2, Some(0.8));
    assert_eq!(m.main(), ("r2", 0.8));
    assert_eq!(r2(&[2.0, 2.0], &[2.0, 2.0]), 1.0);
    assert_eq!(r2(&[1.0, 3.0], &[2.0, 2.0]), 0.0);
}
