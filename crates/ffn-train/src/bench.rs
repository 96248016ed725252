//! Benchmarks of the project's own layers and training step on the reference workloads
//! (`../shared/bench/README.md`, mirrored by `bench/torch_ffn_bench.py` for PyTorch):
//!
//! - W1: `TransformerFfn` 512 → 2048 → 512 (GELU, erf) train step on x `[16, 128, 512]`: MSE,
//!   backward, AdamW (lr 1e-3) — about 25.8 GFLOP.
//! - W2: an epoch of an `Mlp` 64 → 128 → 128 → 10 (ReLU): 28 batches of 64, cross-entropy, Adam.
//! - W3: the W1 block's forward pass without autodiff — about 8.6 GFLOP.
//! - W4: a train step of the reference language model (`ffn lm train`'s defaults: 4 layers, 4
//!   heads, d_model 128, FFN 512 GELU, block 64, tied head) on 12 random windows of random
//!   tokens (vocabulary 65): cross-entropy, backward, global-norm clipping at 1.0, AdamW.
//! - W5: the compute of a train step of a mixture-of-experts FFN (`MoeFfn`, 8 SwiGLU experts
//!   of width 1024, top-2, d_model 512) on W1's input: forward, MSE plus 0.01 × the
//!   load-balancing loss, backward to every parameter's gradient (the optimiser's update, which
//!   grows with the parameter count whatever the routing, is left out); timed alternately
//!   against the same with 32 experts (the baseline), which computes as much per token.
//! - W5-forward: that block's forward pass, timed alternately against computing every expert on
//!   every token and masking by the routing weights (the dense baseline).
//! - Decode: greedy generation of 256 tokens after a 64-token prompt by the W4 model with a
//!   320-token context, with the key/value cache, timed alternately against the same generation
//!   recomputing the whole context for every token (the baseline).
//!
//! Each measurement runs warm-up iterations, then `rounds` rounds of `iters` iterations; the device
//! is synchronised at the end of each round only, as a training loop that reads its loss once per
//! epoch would. Times are per iteration: the median of the rounds and their spread.

use std::time::Instant;

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::{Distribution, IndexingUpdateOp};
use ffn_model::{Activation, MlpConfig, MoeFfn, MoeFfnConfig, TransformerFfnConfig};
use serde::{Deserialize, Serialize};

use ffn_data::{SplitMix64, Windows};

use crate::{
    LmConfig, OpenedDevice, OptimizerKind, Sampling, Schedule, TrainError, clip_global_norm,
    cross_entropy, generate, mse,
};

/// One of the reference workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[derive(strum::Display, strum::EnumString, strum::VariantNames)]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
#[strum(parse_err_ty = TrainError, parse_err_fn = unknown_workload)]
pub enum Workload {
    /// Transformer FFN train step.
    W1,
    /// Small-MLP epoch.
    W2,
    /// Transformer FFN forward pass.
    W3,
    /// Character-level GPT train step.
    W4,
    /// Mixture-of-experts forward and backward, 8 experts against 32.
    W5,
    /// Mixture-of-experts forward, sparse against dense.
    #[strum(serialize = "w5-forward")]
    W5Forward,
    /// KV-cache decoding against recomputation.
    Decode,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 7] = [
        Workload::W1,
        Workload::W2,
        Workload::W3,
        Workload::W4,
        Workload::W5,
        Workload::W5Forward,
        Workload::Decode,
    ];

    /// The name PyTorch's reference script prints for it.
    pub fn name(self) -> &'static str {
        match self {
            Workload::W1 => "W1_ffn_train_step",
            Workload::W2 => "W2_mlp_epoch",
            Workload::W3 => "W3_ffn_forward",
            Workload::W4 => "W4_char_gpt_train_step",
            Workload::W5 => "W5_moe_fwd_bwd_e8_vs_e32",
            Workload::W5Forward => "W5_moe_forward_sparse_vs_dense",
            Workload::Decode => "decode_256_kv_cache",
        }
    }

    /// What the baseline timed alternately with the workload is, for the workloads that have
    /// one.
    pub fn baseline(self) -> Option<&'static str> {
        match self {
            Workload::W5 => Some("32 experts"),
            Workload::W5Forward => Some("every expert on every token, masked"),
            Workload::Decode => Some("recomputing the context for every token"),
            Workload::W1 | Workload::W2 | Workload::W3 | Workload::W4 => None,
        }
    }

    /// Floating-point operations of one iteration, when the workload is compute-bound.
    pub fn flops(self) -> Option<f64> {
        let (tokens, d_model, d_ff) = (2048.0, 512.0, 2048.0);
        let forward = 2.0 * 2.0 * tokens * d_model * d_ff;
        match self {
            Workload::W1 => Some(3.0 * forward),
            Workload::W3 => Some(forward),
            Workload::W2 | Workload::W4 | Workload::W5 | Workload::W5Forward | Workload::Decode => {
                None
            }
        }
    }

    /// Iterations per round by default: fewer on the CPU, where one takes tens of milliseconds.
    pub fn default_iters(self, gpu: bool) -> usize {
        match (self, gpu) {
            (Workload::W1, false) => 10,
            (Workload::W3, false) => 20,
            (Workload::W2, false) => 5,
            (Workload::W4, false) => 20,
            (Workload::W4, true) => 100,
            (Workload::W1, true) => 100,
            (Workload::W3, true) => 200,
            (Workload::W2, true) => 20,
            (Workload::W5, false) => 3,
            (Workload::W5Forward, false) => 5,
            (Workload::W5, true) => 50,
            (Workload::W5Forward, true) => 100,
            (Workload::Decode, _) => 1,
        }
    }
}

/// The error of a workload name that is not one of [`Workload`]'s.
fn unknown_workload(name: &str) -> TrainError {
    TrainError::InvalidConfig(format!(
        "unknown workload '{name}'; valid workloads: {}",
        <Workload as strum::VariantNames>::VARIANTS.join(", ")
    ))
}

/// The timing of one workload on one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// Workload name, as PyTorch's script prints it.
    pub workload: String,
    /// The device, in words.
    pub device: String,
    /// Median over rounds of the time per iteration, in milliseconds.
    pub ms: f64,
    /// Fastest round's time per iteration.
    pub min_ms: f64,
    /// Slowest round's time per iteration.
    pub max_ms: f64,
    /// Iterations per round.
    pub iters: usize,
    /// Rounds.
    pub rounds: usize,
    /// Throughput at the median time (compute-bound workloads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gflops: Option<f64>,
    /// Training samples per second at the median time (W2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples_per_s: Option<f64>,
    /// Median time per iteration of the baseline timed alternately with the workload (decode:
    /// recomputing the context for every token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_ms: Option<f64>,
    /// Peak resident memory of the process so far, in MiB (Linux), host side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_mib: Option<f64>,
}

/// Runs `workload` on `device`: `warmup` iterations, then `rounds` rounds of `iters`.
pub fn bench(
    workload: Workload,
    device: &OpenedDevice,
    iters: usize,
    rounds: usize,
    warmup: usize,
) -> Result<BenchResult, TrainError> {
    if iters == 0 || rounds == 0 {
        return Err(TrainError::InvalidConfig(
            "bench needs at least one iteration and one round".into(),
        ));
    }
    let mut runs = vec![workload_runner(workload, &device.device, false)?];
    if workload.baseline().is_some() {
        runs.push(workload_runner(workload, &device.device, true)?);
    }
    for run in &mut runs {
        for _ in 0..warmup {
            run()?;
        }
    }
    sync(&device.device)?;
    let mut per_run = vec![Vec::with_capacity(rounds); runs.len()];
    for _ in 0..rounds {
        for (run, times) in runs.iter_mut().zip(&mut per_run) {
            let started = Instant::now();
            for _ in 0..iters {
                run()?;
            }
            sync(&device.device)?;
            times.push(started.elapsed().as_secs_f64() * 1e3 / iters as f64);
        }
    }
    for times in &mut per_run {
        times.sort_by(f64::total_cmp);
    }
    let median = |times: &Vec<f64>| times[times.len() / 2];
    let per_iter = &per_run[0];
    let ms = median(per_iter);
    Ok(BenchResult {
        workload: workload.name().to_string(),
        device: device.description.clone(),
        ms,
        min_ms: per_iter[0],
        max_ms: per_iter[per_iter.len() - 1],
        iters,
        rounds,
        gflops: workload.flops().map(|f| f / (ms * 1e-3) / 1e9),
        samples_per_s: match workload {
            Workload::W2 => Some(W2_SAMPLES as f64 / (ms * 1e-3)),
            Workload::W4 => Some(W4_TOKENS as f64 / (ms * 1e-3)),
            _ => None,
        },
        baseline_ms: per_run.get(1).map(median),
        peak_rss_mib: peak_rss_mib(),
    })
}

/// Samples per W2 epoch.
const W2_SAMPLES: usize = 1792;
/// Tokens per W4 step: 12 windows of 64.
const W4_TOKENS: usize = 12 * 64;

/// A closure running one iteration of `workload` (or of its `baseline`), with its model, data and
/// optimiser built.
fn workload_runner(
    workload: Workload,
    device: &Device,
    baseline: bool,
) -> Result<Box<dyn FnMut() -> Result<(), TrainError>>, TrainError> {
    device.seed(0);
    match workload {
        Workload::W1 => {
            let autodiff = device.clone().autodiff();
            let mut ffn = Some(TransformerFfnConfig::new(512, 2048).init(&autodiff)?);
            let mut optimizer = OptimizerKind::Adamw.defaults().init();
            let x = normal([16, 128, 512], &autodiff);
            let y = normal([16 * 128, 512], &autodiff);
            Ok(Box::new(move || {
                let model = ffn.take().ok_or_else(lost_model)?;
                let out = model.forward(x.clone())?.reshape([16 * 128, 512]);
                let loss = mse(out, y.clone());
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                ffn = Some(optimizer.step(1e-3, model, grads));
                Ok(())
            }))
        }
        Workload::W3 => {
            let ffn = TransformerFfnConfig::new(512, 2048).init(device)?;
            let x = normal([16, 128, 512], device);
            let mut outputs = Vec::new();
            Ok(Box::new(move || {
                // Kept until the next call so a lazy backend cannot skip the work.
                outputs.clear();
                outputs.push(ffn.forward(x.clone())?);
                Ok(())
            }))
        }
        Workload::W4 => {
            let autodiff = device.clone().autodiff();
            let config = LmConfig::default();
            let mut model = Some(config.model.model_config(65).init(&autodiff)?);
            let mut optimizer =
                crate::lm::optimizer(&config, model.as_ref().ok_or_else(lost_model)?);
            let mut rng = SplitMix64::new(0);
            let tokens: Vec<u32> = (0..100_000).map(|_| rng.below(65) as u32).collect();
            let mut step = 0;
            Ok(Box::new(move || {
                let windows = Windows::new(&tokens, config.model.block, config.batch, "W4")?;
                let lm = model.take().ok_or_else(lost_model)?;
                let loss = crate::lm::token_loss(&lm, windows.sample(&mut rng, &autodiff))?;
                let mut grads = GradientsParams::from_grads(loss.backward(), &lm);
                clip_global_norm(&lm, &mut grads, 1.0);
                let lr =
                    Schedule::new(config.schedule.clone(), config.lr, config.steps).lr(step, 0);
                model = Some(optimizer.step(lr, lm, grads));
                step += 1;
                Ok(())
            }))
        }
        Workload::W5 => {
            let autodiff = device.clone().autodiff();
            let experts = if baseline { 32 } else { 8 };
            let moe = w5_block(experts, &autodiff)?;
            let x = normal([16, 128, 512], &autodiff);
            let y = normal([16 * 128, 512], &autodiff);
            let mut kept = Vec::new();
            Ok(Box::new(move || {
                let (out, stats) = moe.forward(x.clone())?;
                let loss =
                    mse(out.reshape([16 * 128, 512]), y.clone()) + stats.load_balancing * 0.01;
                // Kept until the next call so a lazy backend cannot skip the work.
                kept.clear();
                kept.push(GradientsParams::from_grads(loss.backward(), &moe));
                Ok(())
            }))
        }
        Workload::W5Forward => {
            let moe = w5_block(8, device)?;
            let x = normal([16 * 128, 512], device);
            let mut outputs = Vec::new();
            Ok(Box::new(move || {
                outputs.clear();
                outputs.push(match baseline {
                    true => dense_mixture(&moe, x.clone())?,
                    false => moe.forward(x.clone())?.0,
                });
                Ok(())
            }))
        }
        Workload::Decode => {
            let mut spec = LmConfig::default().model;
            spec.block = 320;
            let model = spec.model_config(65).init(device)?;
            let mut rng = SplitMix64::new(0);
            let prompt: Vec<u32> = (0..64).map(|_| rng.below(65) as u32).collect();
            let device = device.clone();
            Ok(Box::new(move || {
                let greedy = Sampling::greedy();
                generate(
                    &model,
                    &prompt,
                    256,
                    &greedy,
                    !baseline,
                    &device,
                    &mut |_| Ok(()),
                )?;
                Ok(())
            }))
        }
        Workload::W2 => {
            let autodiff = device.clone().autodiff();
            let mut mlp = Some(
                MlpConfig::new(64, vec![128, 128], 10)
                    .with_activation(Activation::Relu)
                    .init(&autodiff)?,
            );
            let mut optimizer = OptimizerKind::Adam.defaults().init();
            let xs = normal([W2_SAMPLES, 64], &autodiff);
            let ys =
                Tensor::<1, Int>::random([W2_SAMPLES], Distribution::Uniform(0.0, 10.0), &autodiff);
            Ok(Box::new(move || {
                for start in (0..W2_SAMPLES).step_by(64) {
                    let model = mlp.take().ok_or_else(lost_model)?;
                    let x = xs.clone().narrow(0, start, 64);
                    let y = ys.clone().narrow(0, start, 64);
                    let loss = cross_entropy(model.forward(x)?, y, None, 0.0);
                    let grads = GradientsParams::from_grads(loss.backward(), &model);
                    mlp = Some(optimizer.step(1e-3, model, grads));
                }
                Ok(())
            }))
        }
    }
}

/// W5's block: `experts` SwiGLU experts of width 1024, top-2, d_model 512.
fn w5_block(experts: usize, device: &Device) -> Result<MoeFfn, TrainError> {
    Ok(MoeFfnConfig::new(512, 1024, experts, 2).init(device)?)
}

/// `moe`'s output on `[tokens, d_model]` computed densely: every expert on every token, each
/// scaled by its routing weight, zero for the experts a token did not choose.
fn dense_mixture(moe: &MoeFfn, x: Tensor<2>) -> Result<Tensor<2>, TrainError> {
    let [tokens, _] = x.dims();
    let probs = softmax(moe.router.forward(x.clone())?, 1);
    let (mut top, chosen) = probs.topk_with_indices(moe.top_k, 1);
    if moe.norm_topk_prob {
        top = top.clone() / top.sum_dim(1);
    }
    let weights = Tensor::<2>::zeros([tokens, moe.n_experts()], &x.device()).scatter(
        1,
        chosen,
        top,
        IndexingUpdateOp::Add,
    );
    let mut out = Tensor::<2>::zeros(x.dims(), &x.device());
    for (e, expert) in moe.experts.iter().enumerate() {
        out = out + expert.forward(x.clone())? * weights.clone().narrow(1, e, 1);
    }
    Ok(out)
}

/// The error of a step after an earlier failed step consumed the model.
fn lost_model() -> TrainError {
    TrainError::Device("the benchmark model was lost by an earlier failed step".into())
}

fn normal<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

fn sync(device: &Device) -> Result<(), TrainError> {
    device
        .sync()
        .map_err(|e| TrainError::Device(format!("cannot synchronise the device: {e:?}")))
}

/// The process's peak resident set (`VmHWM` in `/proc/self/status`), where the OS reports it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
