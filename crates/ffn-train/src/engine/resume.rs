//! What `--resume` may change in a saved run, and how a run whose loop is over is told apart
//! from one that still has to write its results.

use serde::Serialize;

use super::checkpoint::CheckpointState;
use crate::{Backend, DeviceFlags, DeviceSpec, RunDir, TrainError};

/// Changes a resumed run may make; every other setting stays as the run saved it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeOptions {
    /// A new length (epochs of a tabular run, steps of a language model): more than the run
    /// has trained extends it, also once it finished (Keras' `initial_epoch`).
    pub length: Option<usize>,
    /// Compute on these devices from here on (another device set than the run's works).
    pub devices: DeviceFlags,
}

/// What resuming a saved run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resumption {
    /// Train the remaining rounds (none when only the results are missing), as saved.
    Continue,
    /// Train on to a new length: the schedule is stretched to it from the current step on.
    Extend,
}

impl ResumeOptions {
    /// Applies the options to a saved config's `length` and devices, given the
    /// rounds already trained (`done`, in the config's unit `unit`), and says what resuming does.
    /// A finished run (its final weights and `summary.json` written) without a longer `length` is
    /// an error; one whose loop ended before its results were written is finished.
    pub(crate) fn apply(
        &self,
        run: &RunDir,
        (length, unit): (&mut usize, &str),
        (backend, device_index, devices): (&mut Backend, &mut Option<usize>, &mut Vec<DeviceSpec>),
        state: &mut CheckpointState,
        done: usize,
    ) -> Result<Resumption, TrainError> {
        self.devices.apply(backend, device_index, devices);
        let fail = |reason: String| TrainError::Run {
            path: run.root().to_path_buf(),
            reason,
        };
        match self.length {
            Some(new) if new < done => Err(fail(format!(
                "--{unit} {new} is fewer than the {done} {unit} already trained"
            ))),
            Some(new) if new > done => {
                *length = new;
                state.stopped_early = false;
                Ok(Resumption::Extend)
            }
            _ if (done >= *length || state.stopped_early) && is_finished(run) => {
                Err(fail(format!(
                    "the run already finished after {done} {unit}; extend it with --resume {} \
                     --{unit} N (N > {done})",
                    run.root().display()
                )))
            }
            _ => Ok(Resumption::Continue),
        }
    }

    /// Writes `config`, the saved config with these changes applied, back to the run when
    /// there were any, so that the run describes how it now trains.
    pub(crate) fn save_changes<C: Serialize>(
        &self,
        run: &RunDir,
        config: &C,
    ) -> Result<(), TrainError> {
        match *self == Self::default() {
            true => Ok(()),
            false => run.write_json(&run.config(), config),
        }
    }
}

/// Whether the run wrote its final results.
fn is_finished(run: &RunDir) -> bool {
    run.summary().exists()
        && (run.model().exists() || run.adapter().exists() || run.peft_weights().exists())
}
