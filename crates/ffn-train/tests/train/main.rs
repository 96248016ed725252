//! Integration tests of ffn-train, in one binary so Burn is linked once.

mod finetune;
mod inspect;
mod lm;
mod metrics;
mod parsers;
mod peft;
mod pretrained;
mod reference;
mod report;
mod schedule;
mod sweep;
mod training;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use ffn_train::{Backend, Progress};

/// The repository's `datasets/` folder.
pub fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

/// Training draws initial weights and dropout masks from the flex device's random generator, which
/// every thread of the process shares: tests that compare runs take turns. Burn's default device
/// is pinned to the CPU first, as resuming needs on a machine without a wgpu adapter.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let turn = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // SAFETY: the standard library serialises Rust's own environment accesses, and the only C
    // code in this process that reads the environment (wgpu's Vulkan loader) runs in tests that
    // hold this lock, after this call.
    unsafe { ffn_train::pin_default_device() };
    turn
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

/// The backends to compare with flex: ndarray, and wgpu where an adapter exists (required when
/// `FFN_REQUIRE_WGPU` is set, as CI does with lavapipe).
pub fn other_backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Ndarray];
    match ffn_train::open_device(Backend::Wgpu, None) {
        Ok(_) => backends.push(Backend::Wgpu),
        Err(error) => {
            assert!(std::env::var("FFN_REQUIRE_WGPU").is_err(), "{error}");
            eprintln!("skipping wgpu: {error}");
        }
    }
    backends
}
