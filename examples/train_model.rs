//! Trains the default MLP on the shipped Iris data on the chosen backend, then predicts two new
//! flowers with the saved run.
//!
//! `cargo run --release --example train_model [-- --backend flex|ndarray|wgpu|auto]`
//! (or set `FFN_BACKEND`).

use std::ops::ControlFlow;

use ffn::train::{Prediction, Progress, SavedRun, TrainConfig, open_device};

fn main() -> anyhow::Result<()> {
    let backend = ffn::example_backend()?;
    let config = TrainConfig {
        dataset: concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/iris.csv").into(),
        backend,
        ..TrainConfig::default()
    };
    let work = tempfile::tempdir()?;
    let out = work.path().join("run");
    let started = std::time::Instant::now();
    let summary = ffn::train::train(&config, &out, &mut |event| {
        if let Progress::Start { device, .. } = event {
            println!("training on {device}");
        }
        ControlFlow::Continue(())
    })?;
    let test = summary.test.clone().unwrap_or_default();
    println!(
        "{} epochs (kept {}) in {:.2} s: test accuracy {:.3}, macro-F1 {:.3}",
        summary.epochs_run,
        summary.best_epoch,
        started.elapsed().as_secs_f64(),
        test.accuracy.unwrap_or_default(),
        test.macro_f1.unwrap_or_default()
    );

    let rows = work.path().join("new-flowers.csv");
    std::fs::write(
        &rows,
        "sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm\n5.0,3.4,1.5,0.2\n6.7,3.0,5.2,2.3\n",
    )?;
    let run = SavedRun::open(&out)?;
    let device = open_device(backend, None)?.device;
    let labels = run
        .preprocessor
        .labels
        .clone()
        .ok_or_else(|| anyhow::anyhow!("iris is a classification dataset"))?;
    for prediction in run.predict_file(&rows, &device)? {
        if let Prediction::Class {
            index,
            probabilities,
        } = prediction
        {
            println!(
                "  predicted {} (p = {:.3})",
                labels.name(index).unwrap_or("?"),
                probabilities[index]
            );
        }
    }
    Ok(())
}
