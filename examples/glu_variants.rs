//! Which FFN variant gives the best language model at equal parameters? The reference
//! character-GPT recipe (4 layers, d_model 128, 2000 steps on `datasets/shakespeare.txt`) is
//! trained with ReLU, GELU, SwiGLU, GEGLU and ReGLU FFNs, the gated ones at 2/3 of the dense
//! width so every block has the same parameters, over several seeds, and the validation losses
//! are set beside Shazeer 2020's ("GLU Variants Improve Transformer", T5-base on C4, held-out
//! log-perplexity after 65,536 steps).
//!
//! `cargo run --release --example glu_variants [-- --seeds 0,1,2] [--steps N] [--out DIR]
//! [--backend flex|ndarray|wgpu|auto]` (the runs are kept in DIR when given).

use std::path::Path;

use ffn::model::FfnKind;
use ffn::train::{LmConfig, SweepConfig, sweep_lm};

/// Shazeer 2020, table 1, 65,536 steps: held-out log-perplexity of T5-base with each FFN.
const PAPER: [(FfnKind, f64); 5] = [
    (FfnKind::Relu, 1.997),
    (FfnKind::Gelu, 1.983),
    (FfnKind::Swiglu, 1.944),
    (FfnKind::Geglu, 1.942),
    (FfnKind::Reglu, 1.953),
];

fn main() -> anyhow::Result<()> {
    let backend = ffn::example_backend()?;
    let seeds = ffn::example_seeds(&[0, 1, 2])?;
    let mut base = LmConfig {
        text: Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/shakespeare.txt"),
        backend,
        ..LmConfig::default()
    };
    if let Some(steps) = ffn::example_arg("--steps") {
        base.steps = steps.parse()?;
        base.eval_interval = base.eval_interval.min(base.steps);
    }
    let work = tempfile::tempdir()?;
    let out = ffn::example_arg("--out").map_or(work.path().join("sweep"), Into::into);
    let config = SweepConfig {
        base,
        variants: PAPER.iter().map(|(variant, _)| (*variant).into()).collect(),
        seeds,
    };
    let summary = sweep_lm(
        &config,
        &out,
        &mut |name| eprintln!("training {name}"),
        &mut |_| std::ops::ControlFlow::Continue(()),
    )?;
    println!(
        "{} steps, seeds {:?}, {}; validation loss in nats per character",
        config.base.steps, config.seeds, backend
    );
    println!(
        "{:<8} {:>5} {:>9} {:>20} {:>10} {:>9}   {:>14}",
        "variant", "d_ff", "params", "valid loss ± sd", "bits/char", "train s", "Shazeer 2020"
    );
    for (result, (_, paper)) in summary.results.iter().zip(PAPER) {
        println!(
            "{:<8} {:>5} {:>9} {:>12.4} ± {:<6.4} {:>10.4} {:>9.1}   {:>14.3}",
            result.variant.to_string(),
            result.d_ff,
            result.params,
            result.valid_loss_mean,
            result.valid_loss_std,
            result.bits_per_char,
            result.train_seconds,
            paper
        );
    }
    let order = |mut pairs: Vec<(String, f64)>| {
        pairs.sort_by(|a, b| a.1.total_cmp(&b.1));
        pairs
            .iter()
            .map(|(v, _)| v.as_str())
            .collect::<Vec<_>>()
            .join(" < ")
    };
    let ours = summary
        .results
        .iter()
        .map(|r| (r.variant.to_string(), r.valid_loss_mean))
        .collect();
    println!("best to worst here:         {}", order(ours));
    let paper = PAPER.iter().map(|(v, loss)| (v.to_string(), *loss));
    println!("best to worst in the paper: {}", order(paper.collect()));
    Ok(())
}
