//! A trained run read back from its directory, to evaluate, predict or describe it.

use std::path::Path;

use burn::prelude::*;
use ffn_data::{Dataset, Examples, LoadOptions, Preprocessor, Split};

use crate::tabular::{Prediction, build_network, evaluate, predict};
use crate::{Metrics, Network, RunDir, Summary, TrainConfig, TrainError};

/// Which rows of the run's dataset to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[derive(strum::Display, strum::EnumString, strum::VariantNames)]
#[strum(serialize_all = "snake_case", ascii_case_insensitive)]
#[strum(parse_err_ty = TrainError, parse_err_fn = unknown_split)]
pub enum SplitChoice {
    /// The test rows.
    Test,
    /// The validation rows.
    #[strum(to_string = "valid", serialize = "validation")]
    Valid,
    /// The training rows.
    Train,
    /// Every row.
    All,
}

/// The error of a split name that is not one of [`SplitChoice`]'s.
fn unknown_split(name: &str) -> TrainError {
    TrainError::InvalidConfig(format!(
        "unknown split '{name}'; valid splits: {}",
        <SplitChoice as strum::VariantNames>::VARIANTS.join(", ")
    ))
}

/// A finished (or checkpointed) run read back from its directory.
#[derive(Debug, Clone)]
pub struct SavedRun {
    /// Its directory.
    pub run: RunDir,
    /// The configuration it was trained with.
    pub config: TrainConfig,
    /// Its preprocessing.
    pub preprocessor: Preprocessor,
    /// Its row split.
    pub split: Split,
    /// Its summary, if training finished.
    pub summary: Option<Summary>,
}

impl SavedRun {
    /// Reads the run in `dir`, failing clearly on a missing or corrupt file.
    pub fn open(dir: &Path) -> Result<Self, TrainError> {
        let run = RunDir::new(dir);
        if !dir.is_dir() {
            return Err(TrainError::Run {
                path: dir.to_path_buf(),
                reason: "no such run directory; pass the --out directory of `ffn train`".into(),
            });
        }
        Ok(Self {
            config: run.read_json(&run.config())?,
            preprocessor: run.read_preprocessor()?,
            split: run.read_split()?,
            summary: if run.summary().exists() {
                Some(run.read_json(&run.summary())?)
            } else {
                None
            },
            run,
        })
    }

    /// The final model on `device`.
    pub fn model(&self, device: &Device) -> Result<Network, TrainError> {
        let model = build_network(&self.config, &self.preprocessor, device)?;
        let path = self.run.model();
        if !path.exists() {
            return Err(TrainError::Run {
                path,
                reason:
                    "no final model: training has not finished; resume it with `ffn train --resume`"
                        .into(),
            });
        }
        self.run.load_weights(model, &path)
    }

    /// Metrics on `split` of the run's dataset, or on every row of `dataset` when given.
    pub fn evaluate(
        &self,
        dataset: Option<&Path>,
        split: SplitChoice,
        device: &Device,
    ) -> Result<Metrics, TrainError> {
        let examples = self.examples(dataset, split)?;
        evaluate(
            &self.model(device)?,
            &examples,
            &self.preprocessor,
            &self.config.loss,
            device,
        )
    }

    /// The encoded rows of `split` of the run's dataset, or every row of `dataset` when given
    /// (which must have the run's feature and target columns); fails on an empty split.
    pub fn examples(
        &self,
        dataset: Option<&Path>,
        split: SplitChoice,
    ) -> Result<Examples, TrainError> {
        match dataset {
            Some(path) => {
                let data = Dataset::from_csv(path, &self.load_options())?;
                let rows: Vec<usize> = (0..data.len()).collect();
                Ok(self.preprocessor.encode(&data, &rows)?)
            }
            None => Ok(self.split_examples(&[split])?.remove(0)),
        }
    }

    /// The encoded rows of each of `splits` of the run's dataset, read (and checked against
    /// its record) once; fails on an empty split.
    pub fn split_examples(&self, splits: &[SplitChoice]) -> Result<Vec<Examples>, TrainError> {
        let data = Dataset::from_csv(&self.config.dataset, &self.load_options())?;
        self.run.check_dataset(&self.config.dataset, data.len())?;
        splits
            .iter()
            .map(|&split| {
                let rows = match split {
                    SplitChoice::Train => self.split.train.clone(),
                    SplitChoice::Valid => self.split.valid.clone(),
                    SplitChoice::Test => self.split.test.clone(),
                    SplitChoice::All => (0..data.len()).collect(),
                };
                if rows.is_empty() {
                    return Err(TrainError::InvalidConfig(format!(
                        "the {split} split of this run is empty"
                    )));
                }
                Ok(self.preprocessor.encode(&data, &rows)?)
            })
            .collect()
    }

    /// How the run's dataset, or another with its columns, is read.
    fn load_options(&self) -> LoadOptions {
        LoadOptions {
            target: Some(self.preprocessor.target_name.clone()),
            task: Some(self.preprocessor.task),
            features: Some(self.preprocessor.feature_names.clone()),
            ..self.config.load_options()
        }
    }

    /// Predictions for every row of `input` (a CSV with the trained feature columns).
    pub fn predict_file(
        &self,
        input: &Path,
        device: &Device,
    ) -> Result<Vec<Prediction>, TrainError> {
        let features = self
            .preprocessor
            .read_inputs(input, self.config.no_header)?;
        predict(&self.model(device)?, &features, &self.preprocessor, device)
    }
}
