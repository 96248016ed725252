//! Graceful interrupts of training: the first SIGINT or SIGTERM asks training to stop after its
//! current optimiser step and write a checkpoint there; a second one ends the process at once
//! (the previous checkpoint is intact: every file is written atomically).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// The interrupt flags of a training command.
#[derive(Debug, Clone)]
pub struct Interrupts {
    interrupt: Arc<AtomicBool>,
    terminate: Arc<AtomicBool>,
}

/// The error that ends an interrupted command with the signal's conventional status.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Stopped {
    /// 130 after SIGINT, 143 after SIGTERM.
    pub code: u8,
}

impl Interrupts {
    /// Installs the handlers; from now on SIGINT and SIGTERM only set the flags (a second signal
    /// exits with 130 or 143).
    pub fn install() -> Result<Self> {
        let interrupts = Self {
            interrupt: Arc::new(AtomicBool::new(false)),
            terminate: Arc::new(AtomicBool::new(false)),
        };
        for (signal, own, code) in [
            (SIGINT, &interrupts.interrupt, 130),
            (SIGTERM, &interrupts.terminate, 143),
        ] {
            // Registered before the flag setters: they see the state before this signal.
            for seen in [&interrupts.interrupt, &interrupts.terminate] {
                flag::register_conditional_shutdown(signal, code, Arc::clone(seen))
                    .context("cannot install the signal handlers")?;
            }
            flag::register(signal, Arc::clone(own))
                .context("cannot install the signal handlers")?;
        }
        Ok(interrupts)
    }

    /// Whether a signal asked training to stop.
    pub fn requested(&self) -> bool {
        self.interrupt.load(Ordering::Relaxed) || self.terminate.load(Ordering::Relaxed)
    }

    /// The status to exit with after stopping: 143 for SIGTERM, else 130.
    pub fn stopped(&self) -> Stopped {
        let code = if self.terminate.load(Ordering::Relaxed) {
            143
        } else {
            130
        };
        Stopped { code }
    }
}
