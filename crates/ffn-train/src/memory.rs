//! Refusing a model too large for this machine before any of it is allocated, with the figures.

use crate::TrainError;

/// Bytes training holds per parameter: f32 weights, gradients and AdamW's two moments.
const TRAINING_BYTES_PER_PARAMETER: u128 = 16;

/// Parameters of a stack of dense layers (weights and biases) through `widths`
/// (`[inputs, hidden.., outputs]`).
pub(crate) fn dense_parameters(widths: &[usize]) -> u128 {
    widths
        .windows(2)
        .map(|w| w[0] as u128 * w[1] as u128 + w[1] as u128)
        .sum()
}

/// Fails when training `parameters` parameters would need more memory than the machine has
/// available (Linux's `MemAvailable`; unchecked where that is unknown).
pub(crate) fn check_fits(parameters: u128) -> Result<(), TrainError> {
    let needed = parameters.saturating_mul(TRAINING_BYTES_PER_PARAMETER);
    match available_bytes() {
        Some(available) if needed > u128::from(available) => {
            Err(TrainError::InvalidConfig(format!(
                "the model has {parameters} parameters: training needs about {} for weights, \
                 gradients and optimiser state, more than the {} of memory available; choose \
                 smaller layers",
                gib(needed),
                gib(u128::from(available))
            )))
        }
        _ => Ok(()),
    }
}

fn gib(bytes: u128) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// Memory available for new allocations, from `/proc/meminfo`.
fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}
