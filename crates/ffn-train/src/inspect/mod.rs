//! Inside a trained network: what its hidden units do and which inputs drive its outputs
//! (tabular runs), or what its FFN neurons fire on and promote (language models). Backs
//! `ffn inspect`; the result is saved in the run as `inspect.json`, which the report draws.

mod attribution;
mod memories;
mod tally;
mod units;

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use ffn_data::{Text, TokenSplit};
use serde::{Deserialize, Serialize};

pub use attribution::{
    Attributions, COMPLETENESS_TOLERANCE, FeatureImportance, MAX_STEPS, RowAttribution,
};
pub(crate) use memories::FfnActivityTally;
pub use memories::{LmInspection, Neuron, NeuronContext, PromotedToken};
pub use units::{LayerUnits, SATURATED_SHARE, UnitStats};

use crate::{Artifact, LmRun, RunDir, SavedRun, SplitChoice, TrainError};
use attribution::AttributionSettings;

/// What to inspect and how. Options of one kind of run are refused for the other; `None`
/// takes the default.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InspectOptions {
    /// A layer by name or index (tabular: a hidden layer, default all; language models: a
    /// block, default the last).
    pub layer: Option<String>,
    /// Rows listed per table (tabular) or contexts and promoted tokens per neuron (language
    /// models); default 10.
    pub top: Option<usize>,
    /// Tabular: rows of this CSV instead of a split of the run's dataset.
    pub dataset: Option<PathBuf>,
    /// Tabular: the split inspected; default test.
    pub split: Option<SplitChoice>,
    /// Tabular: steps of the integrated-gradients path; default 64.
    pub steps: Option<usize>,
    /// Tabular: permutations per feature; default 5.
    pub repeats: Option<usize>,
    /// Tabular: seeds the permutations; default 0.
    pub seed: Option<u64>,
    /// Language models: this text instead of the validation part of the run's own.
    pub text: Option<PathBuf>,
    /// Language models: at most this many tokens of the text; default 32,768.
    pub max_tokens: Option<usize>,
}

impl InspectOptions {
    /// Rows or contexts listed.
    pub fn top(&self) -> usize {
        self.top.unwrap_or(10)
    }

    fn tabular_given(&self) -> Option<&'static str> {
        [
            (self.dataset.is_some(), "--dataset"),
            (self.split.is_some(), "--split"),
            (self.steps.is_some(), "--steps"),
            (self.repeats.is_some(), "--repeats"),
            (self.seed.is_some(), "--seed"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }

    fn lm_given(&self) -> Option<&'static str> {
        [
            (self.text.is_some(), "--text"),
            (self.max_tokens.is_some(), "--max-tokens"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }

    /// Fails on a zero count or too many steps.
    fn check(&self) -> Result<(), TrainError> {
        let counts = [
            ("--top", self.top),
            ("--steps", self.steps),
            ("--repeats", self.repeats),
            ("--max-tokens", self.max_tokens),
        ];
        for (name, value) in counts {
            if value == Some(0) {
                return Err(TrainError::InvalidConfig(format!(
                    "{name} must be at least 1"
                )));
            }
        }
        if self.steps.is_some_and(|s| s > MAX_STEPS) {
            return Err(TrainError::InvalidConfig(format!(
                "--steps must be at most {MAX_STEPS}"
            )));
        }
        Ok(())
    }
}

/// What a tabular network does over a set of rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabularInspection {
    /// The rows inspected: a split of the run's dataset or another file.
    pub rows_from: String,
    /// Rows inspected.
    pub rows: usize,
    /// Class names, for classification.
    pub classes: Option<Vec<String>>,
    /// The chosen hidden layers.
    pub layers: Vec<LayerUnits>,
    /// Feature attributions.
    pub attributions: Attributions,
}

/// What `ffn inspect` found, as saved in `inspect.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Inspection {
    /// A tabular run.
    Tabular(Box<TabularInspection>),
    /// A language model.
    Lm(Box<LmInspection>),
}

impl Inspection {
    /// Reads the inspection saved in `run`, if any.
    pub fn read(run: &RunDir) -> Result<Option<Self>, TrainError> {
        let path = run.inspection();
        match path.exists() {
            true => run.read_json(&path).map(Some),
            false => Ok(None),
        }
    }

    /// Saves it in `run` as `inspect.json` (atomically).
    pub fn save(&self, run: &RunDir) -> Result<(), TrainError> {
        run.write_json(&run.inspection(), self)
    }
}

/// Inspects the run in `artifact` on `device` (see [`InspectOptions`]); `progress(done, total)`
/// reports the work done. Returns the result with the seconds it took.
pub fn inspect(
    artifact: &Artifact,
    options: &InspectOptions,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Inspection, f64), TrainError> {
    let started = Instant::now();
    options.check()?;
    let inspection = match artifact {
        Artifact::Lm(lm) => {
            refuse(options.tabular_given(), "tabular runs")?;
            Inspection::Lm(Box::new(inspect_lm(lm, options, device, progress)?))
        }
        other => {
            let run = other.clone().into_trained("inspect")?;
            refuse(options.lm_given(), "language models")?;
            Inspection::Tabular(Box::new(inspect_tabular(&run, options, device, progress)?))
        }
    };
    Ok((inspection, started.elapsed().as_secs_f64()))
}

fn refuse(given: Option<&str>, kind: &str) -> Result<(), TrainError> {
    match given {
        Some(option) => Err(TrainError::InvalidConfig(format!(
            "{option} applies to {kind} only; leave it out for this run"
        ))),
        None => Ok(()),
    }
}

fn inspect_tabular(
    run: &SavedRun,
    options: &InspectOptions,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<TabularInspection, TrainError> {
    let model = run.model(device)?;
    let views = model.hidden_layers();
    let names: Vec<String> = views.iter().map(|v| v.name.clone()).collect();
    let chosen = match &options.layer {
        None => (0..names.len()).collect(),
        Some(layer) => vec![choose_layer(layer, &names)?],
    };
    let split = options.split.unwrap_or(SplitChoice::Test);
    // The run's own dataset is read once for the inspected split and the training split.
    let (examples, train) = match options.dataset.as_deref() {
        Some(path) => (
            run.examples(Some(path), split)?,
            run.split_examples(&[SplitChoice::Train])?.remove(0),
        ),
        None => {
            let mut both = run.split_examples(&[split, SplitChoice::Train])?;
            let train = both.remove(1);
            (both.remove(0), train)
        }
    };
    let layers = units::unit_stats(&model, &chosen, &examples, &train, device)?;
    let tracked = run.model(&device.clone().autodiff())?.freeze();
    let settings = AttributionSettings {
        steps: options.steps.unwrap_or(64),
        repeats: options.repeats.unwrap_or(5),
        seed: options.seed.unwrap_or(0),
    };
    let attributions = attribution::attributions(
        &model,
        &tracked,
        &examples,
        &run.preprocessor.feature_names,
        &settings,
        device,
        progress,
    )?;
    Ok(TabularInspection {
        rows_from: match &options.dataset {
            Some(path) => path.display().to_string(),
            None => format!("{split} split"),
        },
        rows: examples.len(),
        classes: run
            .preprocessor
            .labels
            .as_ref()
            .map(|l| l.classes().to_vec()),
        layers,
        attributions,
    })
}

fn inspect_lm(
    lm: &LmRun,
    options: &InspectOptions,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<LmInspection, TrainError> {
    let model = lm.model(device)?;
    let names: Vec<String> = (0..model.blocks.len()).map(|i| i.to_string()).collect();
    let layer = match &options.layer {
        None => names.len() - 1,
        Some(layer) => choose_layer(layer.trim_start_matches("blocks."), &names)?,
    };
    let (source, tokens) = match &options.text {
        Some(path) => {
            let (split, _) = TokenSplit::new(&Text::read(path)?, &lm.tokenizer, 0.0)?;
            (path.display().to_string(), split.train)
        }
        None => {
            let text = Text::read(&lm.config.text)?;
            let (split, _) = TokenSplit::new(&text, &lm.tokenizer, lm.config.valid_fraction)?;
            let source = format!("validation part of {}", lm.config.text.display());
            (source, split.valid)
        }
    };
    if tokens.is_empty() {
        return Err(TrainError::InvalidConfig(format!(
            "{source} has no tokens to inspect"
        )));
    }
    let tokens = &tokens[..tokens.len().min(options.max_tokens.unwrap_or(32_768))];
    memories::neuron_memories(
        &model,
        &lm.tokenizer,
        tokens,
        source,
        layer,
        options.top(),
        lm.config.batch,
        device,
        progress,
    )
}

/// The index of `layer` (a name or an index) among `names`, or an error listing them.
fn choose_layer(layer: &str, names: &[String]) -> Result<usize, TrainError> {
    let found = names
        .iter()
        .position(|name| name == layer)
        .or_else(|| layer.parse::<usize>().ok().filter(|&i| i < names.len()));
    found.ok_or_else(|| {
        let valid = match names.is_empty() {
            true => "none: the network has no hidden layer".to_string(),
            false => names
                .iter()
                .enumerate()
                .map(|(i, name)| match name.parse::<usize>() {
                    Ok(_) => name.clone(),
                    Err(_) => format!("{i} ({name})"),
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        TrainError::InvalidConfig(format!("unknown layer '{layer}'; valid layers: {valid}"))
    })
}
