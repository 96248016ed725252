//! The files of a run directory, each written atomically (temporary file + rename).
//!
//! ```text
//! RUN/config.json          the fully resolved TrainConfig
//! RUN/preprocessor.json    feature order, standardisation, label map
//! RUN/split.json           row indices of train/valid/test
//! RUN/model.bpk            final weights (Burn record)
//! RUN/metrics.csv          one line per epoch
//! RUN/metrics.jsonl        one JSON object per epoch
//! RUN/summary.json         final metrics and timings (and the test confusion matrix)
//! RUN/curves.svg           loss, main metric and learning rate per epoch
//! RUN/confusion.svg        classification: confusion matrix of the test split
//! RUN/report.html          written by `ffn report`: summary, metrics and plots in one page
//! RUN/adapter.bpk          fine-tuning only: the trained parameters (LoRA factors, new head)
//! RUN/adapter.json         fine-tuning only: what adapter.bpk holds and which base it fits
//! RUN/block.json           imported blocks only: source checkpoint, layout, block config
//! RUN/tokenizer.json       language models only: the tokenizer
//! RUN/finetune.json        fine-tuned language models only: source and what trained
//! RUN/adapter_model.safetensors  LoRA fine-tunes of a pretrained GGUF model only, instead of
//!                          model.bpk: the adapters in Hugging Face PEFT's format (their
//!                          checkpoints too, under the .bpk names below)
//! RUN/adapter_config.json  the same runs: PEFT's config of those adapters
//! RUN/checkpoint/state.json         last completed epoch: counters, schedule, history
//! RUN/checkpoint/model-EPOCH.bpk    weights at that epoch (model-EPOCH-BATCH.bpk when a run
//!                                   was interrupted in the middle of the next one)
//! RUN/checkpoint/optimizer-EPOCH.bpk optimiser state at that point
//! RUN/checkpoint/best-model.bpk     weights of the best epoch so far (early stopping)
//! RUN/dataset.json         the training CSV: absolute path, size, rows, SHA-256
//! RUN/manifest.json        SHA-256 of every weight and optimiser file, checked when one is read
//! RUN/.ffn-lock            held (advisory lock) by the one process writing the run; its PID
//! ```

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ffn_data::{Preprocessor, Split};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::TrainError;

/// Where in training a checkpoint was taken: after `epoch` rounds and `batch` batches of the
/// next one (0 at the end of a round).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPoint {
    /// Rounds (epochs) completed.
    pub epoch: usize,
    /// Batches of the next round completed.
    pub batch: usize,
}

impl CheckpointPoint {
    /// The file name of `what` (`model`, `optimizer`) at this point.
    fn file(self, what: &str) -> String {
        match self.batch {
            0 => format!("{what}-{:05}.bpk", self.epoch),
            batch => format!("{what}-{:05}-{batch:06}.bpk", self.epoch),
        }
    }
}

/// Path methods for files at fixed places inside the run directory.
macro_rules! run_files {
    ($($(#[$doc:meta])* $name:ident: $file:literal,)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self) -> PathBuf {
                self.root.join($file)
            }
        )*

        /// Whether `name` is an entry a run writes at its top level (a file, `checkpoint/`, or
        /// a temporary file of an atomic write).
        fn is_run_entry(name: &str) -> bool {
            let top = [$($file.split('/').next().unwrap_or($file),)*];
            top.contains(&name) || name == LOCK || is_temporary(name)
        }
    };
}

/// The lock file of the process writing a run.
pub(crate) const LOCK: &str = ".ffn-lock";

/// Whether `name` is a temporary file of an atomic write ([`ffn_model::write_atomically`]).
fn is_temporary(name: &str) -> bool {
    name.starts_with(".ffn-") && name.ends_with(".tmp")
}

/// Paths inside one run directory, and the writer's lock once [`RunDir::lock`] or
/// [`RunDir::create`] took it (held until the last clone is dropped).
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
    writer: Arc<OnceLock<File>>,
}

impl PartialEq for RunDir {
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root
    }
}

impl Eq for RunDir {}

impl RunDir {
    /// The run directory at `root` (not created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            writer: Arc::default(),
        }
    }

    /// Makes this process the run's one writer: takes the advisory lock `.ffn-lock` (which
    /// then holds this process's ID) and removes temporary files an earlier writer left. A
    /// second writer gets an error naming the process that holds the lock; readers never lock.
    pub fn lock(&self) -> Result<(), TrainError> {
        if self.writer.get().is_some() {
            return Ok(());
        }
        let path = self.root.join(LOCK);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| self.error(&self.root, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process".to_string(),
                    pid => format!("process {pid}"),
                };
                return Err(TrainError::Run {
                    path: self.root.clone(),
                    reason: format!("is in use by {holder}; wait for it or choose another --out"),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(self.error(&path, e)),
        }
        file.set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(|e| self.error(&path, e))?;
        for dir in [self.root.clone(), self.checkpoint_dir()] {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if is_temporary(&entry.file_name().to_string_lossy()) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let _ = self.writer.set(file);
        Ok(())
    }

    /// Fails unless the directory is absent or empty: a new run never writes over what is there.
    pub fn ensure_vacant(&self) -> Result<(), TrainError> {
        let occupied = std::fs::read_dir(&self.root)
            .is_ok_and(|mut e| e.any(|e| e.is_ok_and(|e| e.file_name() != LOCK)));
        if !occupied {
            return Ok(());
        }
        let what = if self.block().exists() {
            "holds an imported block; replace it with --force or"
        } else if self.config().exists() {
            "holds a run; continue it with --resume, replace it with --force, or"
        } else {
            "is not empty;"
        };
        Err(TrainError::Run {
            path: self.root.clone(),
            reason: format!("{what} choose another --out"),
        })
    }

    /// Creates the directory and its `checkpoint/` folder, where [`Self::ensure_vacant`] allows,
    /// and takes the writer's [`Self::lock`].
    pub fn create(&self) -> Result<(), TrainError> {
        self.ensure_vacant()?;
        std::fs::create_dir_all(&self.root).map_err(|e| self.error(&self.root, e))?;
        self.lock()?;
        // Another process may have filled the directory between the check and the lock.
        self.ensure_vacant()?;
        std::fs::create_dir_all(self.checkpoint_dir()).map_err(|e| self.error(&self.root, e))
    }

    /// Moves an existing run directory aside (to `.NAME.ffn-replaced` beside it) so that a new
    /// run can take its place, and returns where it went; `None` when there is nothing there.
    /// Refuses a directory holding anything a run does not write, so no other file is at stake.
    pub fn set_aside(&self) -> Result<Option<PathBuf>, TrainError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.error(&self.root, e)),
        };
        for entry in entries {
            let name = entry.map_err(|e| self.error(&self.root, e))?.file_name();
            let name = name.to_string_lossy();
            if !Self::is_run_entry(&name) {
                return Err(TrainError::Run {
                    path: self.root.clone(),
                    reason: format!(
                        "holds '{name}', which no run writes; --force replaces run directories only"
                    ),
                });
            }
        }
        self.lock()?;
        let name = self.root.file_name().unwrap_or_default().to_string_lossy();
        let parked = self.root.with_file_name(format!(".{name}.ffn-replaced"));
        if parked.exists() {
            std::fs::remove_dir_all(&parked).map_err(|e| self.error(&parked, e))?;
        }
        std::fs::rename(&self.root, &parked).map_err(|e| self.error(&self.root, e))?;
        Ok(Some(parked))
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    run_files! {
        /// `config.json`, the fully resolved configuration.
        config: "config.json",
        /// `preprocessor.json`.
        preprocessor: "preprocessor.json",
        /// `split.json`.
        split: "split.json",
        /// `model.bpk`, the final weights.
        model: "model.bpk",
        /// `metrics.csv`.
        metrics_csv: "metrics.csv",
        /// `metrics.jsonl`.
        metrics_jsonl: "metrics.jsonl",
        /// `summary.json`.
        summary: "summary.json",
        /// `curves.svg`.
        curves: "curves.svg",
        /// `confusion.svg`.
        confusion: "confusion.svg",
        /// `report.html`.
        report: "report.html",
        /// `inspect.json`: what `ffn inspect` found inside the network, for the report.
        inspection: "inspect.json",
        /// `adapter.bpk`, the parameters a fine-tuning run trained.
        adapter: "adapter.bpk",
        /// `adapter.json`.
        adapter_info: "adapter.json",
        /// `block.json`, present in directories of imported blocks.
        block: "block.json",
        /// `tokenizer.json`, present in language-model runs.
        tokenizer: "tokenizer.json",
        /// `adapter_model.safetensors`: the final LoRA adapters of a fine-tuned pretrained
        /// language model, in Hugging Face PEFT's format.
        peft_weights: "adapter_model.safetensors",
        /// `adapter_config.json`: PEFT's config of those adapters.
        peft_config: "adapter_config.json",
        /// `finetune.json`: how a fine-tuned language model was fine-tuned.
        lm_finetune: "finetune.json",
        /// `dataset.json`: the file a tabular run trained on, with its size, rows and hash.
        dataset_record: "dataset.json",
        /// `manifest.json`: the SHA-256 of the run's weight and optimiser files.
        manifest: "manifest.json",
        /// `checkpoint/`.
        checkpoint_dir: "checkpoint",
        /// `checkpoint/state.json`.
        state: "checkpoint/state.json",
        /// `checkpoint/base-fingerprint`: the fingerprint of a fine-tuning run's pretrained weights.
        base_fingerprint: "checkpoint/base-fingerprint",
        /// `checkpoint/best-model.bpk`.
        best_model: "checkpoint/best-model.bpk",
    }

    /// `checkpoint/model-EPOCH.bpk`, or `model-EPOCH-BATCH.bpk` in the middle of a round.
    pub fn checkpoint_model(&self, point: CheckpointPoint) -> PathBuf {
        self.checkpoint_dir().join(point.file("model"))
    }
    /// `checkpoint/optimizer-EPOCH.bpk`, or `optimizer-EPOCH-BATCH.bpk` in the middle of a round.
    pub fn checkpoint_optimizer(&self, point: CheckpointPoint) -> PathBuf {
        self.checkpoint_dir().join(point.file("optimizer"))
    }

    /// Writes `value` as pretty JSON to `path`, atomically.
    pub fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<(), TrainError> {
        let mut text = serde_json::to_string_pretty(value).map_err(|e| TrainError::Run {
            path: path.to_path_buf(),
            reason: format!("cannot serialise: {e}"),
        })?;
        text.push('\n');
        self.write(path, text.as_bytes())
    }

    /// Reads `split.json`, checked: no row in two parts or twice in one.
    pub fn read_split(&self) -> Result<Split, TrainError> {
        let path = self.split();
        let split: Split = self.read_json(&path)?;
        match split.repeated_row() {
            Some(row) => Err(TrainError::Run {
                path,
                reason: format!(
                    "corrupt file: row {row} appears twice, so held-out rows would overlap the \
                     training rows"
                ),
            }),
            None => Ok(split),
        }
    }

    /// Reads `preprocessor.json`, checked (see [`Preprocessor::check`]).
    pub fn read_preprocessor(&self) -> Result<Preprocessor, TrainError> {
        let path = self.preprocessor();
        let preprocessor: Preprocessor = self.read_json(&path)?;
        preprocessor.check().map_err(|reason| TrainError::Run {
            path,
            reason: format!("corrupt file: {reason}"),
        })?;
        Ok(preprocessor)
    }

    /// Writes bytes to `path`, atomically.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
        ffn_model::write_atomically(path, bytes).map_err(|e| self.error(path, e))
    }

    /// Reads a JSON file of the run, saying which file is missing or corrupt.
    pub fn read_json<T: DeserializeOwned>(&self, path: &Path) -> Result<T, TrainError> {
        parse_json_file(
            path,
            |e| {
                format!(
                    "cannot read ({e}); is {} a run directory written by `ffn train`?",
                    self.root.display()
                )
            },
            |e| format!("corrupt file: {e}"),
        )
    }

    /// The error of an I/O failure on `path` inside the run.
    pub(crate) fn error(&self, path: &Path, e: std::io::Error) -> TrainError {
        TrainError::Run {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

/// Reads a JSON file given by the user (`what` names it in errors, e.g. "config").
pub(crate) fn read_json_file<T: DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<T, TrainError> {
    parse_json_file(
        path,
        |e| format!("cannot read {what}: {e}"),
        |e| format!("invalid {what} JSON: {e}"),
    )
}

/// Reads and parses the JSON file `path`, with the given reasons for each failure.
fn parse_json_file<T: DeserializeOwned>(
    path: &Path,
    unreadable: impl FnOnce(std::io::Error) -> String,
    invalid: impl FnOnce(serde_json::Error) -> String,
) -> Result<T, TrainError> {
    let fail = |reason| TrainError::Run {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|e| fail(unreadable(e)))?;
    let bytes = ffn_data::InputLimits::from_env().read(path, file, false)?;
    serde_json::from_slice(&bytes).map_err(|e| fail(invalid(e)))
}
