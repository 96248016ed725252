//! Integration tests of ffn-train, in one binary so Burn is linked once.

mod cli;
mod finetune;
mod metrics;
mod reference;
mod report;
mod schedule;
mod training;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use ffn_train::Progress;

/// The repository's `datasets/` folder.
pub fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

/// Training draws initial weights and dropout masks from the flex device's random generator, which
/// every thread of the process shares: tests that compare runs take turns.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A progress callback that shows nothing and never stops.
pub fn quiet(_: Progress) -> ControlFlow<()> {
    ControlFlow::Continue(())
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
