//! Integration tests of ffn-train, in one binary so Burn is linked once.

mod cli;
mod metrics;
mod reference;
mod schedule;
mod training;

use std::path::{Path, PathBuf};

/// The repository's `datasets/` folder.
pub fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

/// Asserts `|a - e| <= tol * (1 + |e|)` element-wise.
#[track_caller]
pub fn assert_close(actual: &[f32], expected: &[f64], tol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (f64::from(a) - e).abs() <= tol * (1.0 + e.abs()),
            "{what}[{i}]: got {a}, expected {e}"
        );
    }
}
