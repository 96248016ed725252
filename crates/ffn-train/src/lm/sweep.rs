//! A sweep over FFN variants: the same language-model recipe trained with each variant at an
//! equal parameter count per block and for each seed, every run kept in one sweep directory,
//! summarised as a table (mean and spread of the validation loss over seeds) and a plot of the
//! validation curves.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use ffn_model::{FfnSpec, FfnVariant};
use serde::{Deserialize, Serialize};

use super::{LmConfig, LmRun, LmSummary, train_lm};
use crate::report::{Panel, Series, panels_svg};
use crate::run::metrics_log;
use crate::{Progress, ResumeOptions, RunDir, TrainError};

/// What a sweep trains: `base` once per variant and seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepConfig {
    /// The recipe; its `model.d_ff` is the width of the dense (ungated) variants.
    pub base: LmConfig,
    /// The FFN variants compared.
    pub variants: Vec<FfnSpec>,
    /// The seeds each variant trains with (initialisation and batch order).
    pub seeds: Vec<u64>,
}

/// One variant's results over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantResult {
    /// The FFN variant.
    pub variant: FfnSpec,
    /// Its FFN width (2/3 of the dense width for gated variants, a multiple of 8; per expert
    /// for mixtures).
    pub d_ff: usize,
    /// Parameters of the whole model.
    pub params: usize,
    /// Final validation loss of each seed's run, in seed order.
    pub valid_losses: Vec<f64>,
    /// Their mean.
    pub valid_loss_mean: f64,
    /// Their sample standard deviation (0 for one seed).
    pub valid_loss_std: f64,
    /// Mean bits per character on the validation part.
    pub bits_per_char: f64,
    /// Mean training time per run, in seconds.
    pub train_seconds: f64,
}

/// What a sweep found: one row per variant, in the order asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSummary {
    /// The sweep directory.
    pub dir: PathBuf,
    /// The config it ran.
    pub config: SweepConfig,
    /// One row per variant.
    pub results: Vec<VariantResult>,
}

/// The FFN width of `variant` for a block whose dense FFN is `dense_d_ff` wide, so that every
/// variant computes with as many parameters per token: the same for dense variants; 2/3 of it
/// for gated ones (three matrices instead of two, as Shazeer 2020 matched them); for a mixture
/// whose tokens each use `k` experts, `1/k` of that expert kind's width (the same *active*
/// parameters; the router's are left out). Rounded to a multiple of 8.
pub fn equal_parameter_d_ff(variant: FfnSpec, dense_d_ff: usize) -> usize {
    let matrices = match variant.kind().variant() {
        FfnVariant::Standard => 2.0,
        FfnVariant::Gated => 3.0,
    };
    let per_token = match variant {
        FfnSpec::Dense(_) => 1.0,
        FfnSpec::Moe { top_k, .. } => top_k as f64,
    };
    let width = (2 * dense_d_ff) as f64 / matrices / per_token;
    if matrices == 2.0 && per_token == 1.0 {
        return dense_d_ff;
    }
    (width / 8.0).round().max(1.0) as usize * 8
}

/// The config of one run of the sweep.
pub fn variant_config(base: &LmConfig, variant: FfnSpec, seed: u64) -> LmConfig {
    let mut config = base.clone();
    config.model.ffn = variant;
    config.model.d_ff = equal_parameter_d_ff(variant, base.model.d_ff);
    config.seed = seed;
    config
}

/// Runs the sweep into `dir`: `dir/VARIANT-sSEED/` per run, then `sweep.json` and `curves.svg`.
/// A sweep started before continues: finished runs are read back, interrupted ones resumed.
/// `progress` hears each run's events, and `on_run` the name of each run as it starts.
pub fn sweep_lm(
    config: &SweepConfig,
    dir: &Path,
    on_run: &mut dyn FnMut(&str),
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<SweepSummary, TrainError> {
    if config.variants.is_empty() || config.seeds.is_empty() {
        return Err(TrainError::InvalidConfig(
            "a sweep needs at least one variant and one seed".into(),
        ));
    }
    config.base.validate()?;
    std::fs::create_dir_all(dir).map_err(|e| TrainError::Run {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut results = Vec::new();
    let mut panel = Vec::new();
    for &variant in &config.variants {
        let mut summaries: Vec<LmSummary> = Vec::new();
        let mut curves: Vec<Vec<(f64, f64)>> = Vec::new();
        for &seed in &config.seeds {
            let name = format!("{variant}-s{seed}");
            on_run(&name);
            let run_dir = dir.join(&name);
            summaries.push(run_once(
                &variant_config(&config.base, variant, seed),
                &run_dir,
                progress,
            )?);
            let history = metrics_log::read(&RunDir::new(&run_dir))?;
            curves.push(
                history
                    .iter()
                    .filter_map(|r| r.valid.as_ref().map(|v| (r.step as f64, v.loss)))
                    .collect(),
            );
        }
        let (points, band) = mean_and_range(&curves);
        panel.push(Series {
            name: variant.to_string(),
            points,
            band,
        });
        results.push(summarise(variant, &config.base, &summaries));
    }
    let summary = SweepSummary {
        dir: dir.to_path_buf(),
        config: config.clone(),
        results,
    };
    let sweep = RunDir::new(dir);
    sweep.write_json(&dir.join("sweep.json"), &summary)?;
    let panels = [Panel {
        title: "validation loss (mean over seeds; shaded: their range)".into(),
        x_desc: "step".into(),
        y_desc: "loss (nats/token)".into(),
        series: panel,
    }];
    let svg = panels_svg("FFN variants at equal parameters", &panels, 900)?;
    sweep.write(&dir.join("curves.svg"), svg.as_bytes())?;
    Ok(summary)
}

/// Trains (or continues, or reads back) one run of the sweep; a run there of another recipe is
/// an error.
fn run_once(
    config: &LmConfig,
    dir: &Path,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<LmSummary, TrainError> {
    if !dir.exists() {
        return train_lm(config, dir, progress);
    }
    let run = LmRun::open(dir)?;
    if run.config != *config {
        return Err(TrainError::Run {
            path: dir.to_path_buf(),
            reason: "holds a run of another recipe (its config.json differs from this sweep's); \
                     choose another sweep directory"
                .into(),
        });
    }
    if let Some(summary) = run.summary {
        return Ok(summary);
    }
    super::resume_lm(dir, &ResumeOptions::default(), progress)
}

/// The mean of curves sampled at the same steps (the runs of one recipe), and their range
/// `(step, lowest, highest)` at each step.
type MeanAndRange = (Vec<(f64, f64)>, Vec<(f64, f64, f64)>);

fn mean_and_range(curves: &[Vec<(f64, f64)>]) -> MeanAndRange {
    let shortest = curves.iter().map(Vec::len).min().unwrap_or(0);
    (0..shortest)
        .map(|i| {
            let step = curves[0][i].0;
            let values: Vec<f64> = curves.iter().map(|c| c[i].1).collect();
            let (low, high) = values
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                    (l.min(v), h.max(v))
                });
            ((step, mean_sd(&values).0), (step, low, high))
        })
        .unzip()
}

/// The mean of `values` and their sample standard deviation (0 for a single value).
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = match values.len() {
        0 | 1 => 0.0,
        _ => (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt(),
    };
    (mean, sd)
}

fn summarise(variant: FfnSpec, base: &LmConfig, runs: &[LmSummary]) -> VariantResult {
    let losses: Vec<f64> = runs.iter().map(|s| s.valid.loss).collect();
    let (mean, std) = mean_sd(&losses);
    let mean_of =
        |pick: fn(&LmSummary) -> f64| mean_sd(&runs.iter().map(pick).collect::<Vec<_>>()).0;
    VariantResult {
        variant,
        d_ff: equal_parameter_d_ff(variant, base.model.d_ff),
        params: runs[0].params,
        valid_loss_mean: mean,
        valid_loss_std: std,
        valid_losses: losses,
        bits_per_char: mean_of(|s| s.valid.bits_per_char.unwrap_or(f64::NAN)),
        train_seconds: mean_of(|s| s.train_seconds),
    }
}
