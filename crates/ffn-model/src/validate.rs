//! Range checks shared by the layer configs.

use burn::nn::{Dropout, DropoutConfig};

use crate::ModelError;

/// Fails unless `size` is at least one; `what` names the size (`"units"`).
pub(crate) fn check_size(layer: &'static str, what: &str, size: usize) -> Result<(), ModelError> {
    if size == 0 {
        Err(ModelError::InvalidConfig {
            layer,
            reason: format!("{what} must be at least 1, got 0"),
        })
    } else if size > MAX_SIZE {
        Err(ModelError::InvalidConfig {
            layer,
            reason: format!("{what} {size} is larger than the largest supported size, {MAX_SIZE}"),
        })
    } else {
        Ok(())
    }
}

/// The largest width, rank or count of one layer (2^24): beyond it a single weight matrix has
/// at least 16 M entries per unit of the other side, far past any dense layer in use, and
/// sizes near `usize::MAX` would overflow shape arithmetic.
pub const MAX_SIZE: usize = 1 << 24;

/// Builds a dropout layer after checking that `prob` lies in `[0, 1)`.
pub(crate) fn dropout(layer: &'static str, prob: f64) -> Result<Dropout, ModelError> {
    if (0.0..1.0).contains(&prob) {
        Ok(DropoutConfig::new(prob).init())
    } else {
        Err(ModelError::InvalidConfig {
            layer,
            reason: format!("dropout must be in [0, 1), got {prob}"),
        })
    }
}
