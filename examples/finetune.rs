//! Transfer between tasks on the shipped handwritten digits. An MLP (64 → 256 → 256) is
//! pretrained, then fine-tuned to tell digits 5–9 apart from few labels (15 % of the 5–9 rows
//! train, the rest validate and test) three ways — all layers, a frozen body with a new head,
//! LoRA adapters with a new head — and compared with training on the same rows from scratch:
//! test accuracy, epochs until the validation accuracy first reaches 95 %, trainable parameters.
//! Two pretraining tasks: digits 0–4 (other classes), and all ten digits on rows disjoint from
//! the fine-tuning rows. Averages over seeds.
//!
//! `cargo run --release --example finetune [-- --seeds N] [--backend flex|ndarray|wgpu|auto]`

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use ffn::model::LoraConfig;
use ffn::train::{FinetuneSpec, LoraSpec, Progress, Summary, TrainConfig};

/// Validation accuracy whose first epoch is reported.
const TARGET: f64 = 0.95;

/// One way to obtain a 5–9 classifier.
struct Method {
    name: &'static str,
    finetune: Option<FinetuneSpec>,
}

/// Results of one method, summed over seeds.
#[derive(Default)]
struct Tally {
    accuracy: f64,
    epochs_to_target: f64,
    reached: usize,
    trainable: usize,
    fraction: f64,
}

fn main() -> anyhow::Result<()> {
    let backend = ffn::example_backend()?;
    let seeds: u64 = ffn::example_arg("--seeds").map_or(Ok(3), |s| s.parse())?;
    let work = tempfile::tempdir()?;
    let scenarios = write_datasets(work.path())?;
    let config = |dataset: &Path, seed: u64| {
        let mut config = TrainConfig {
            dataset: dataset.to_path_buf(),
            backend,
            seed,
            ..TrainConfig::default()
        };
        config.model.hidden = vec![256, 256];
        config
    };
    let methods = |base: PathBuf| {
        let from = |spec: FinetuneSpec| {
            Some(FinetuneSpec {
                from: base.clone(),
                ..spec
            })
        };
        [
            Method {
                name: "from scratch",
                finetune: None,
            },
            Method {
                name: "fine-tune all layers",
                finetune: from(FinetuneSpec::default()),
            },
            Method {
                name: "frozen body, new head",
                finetune: from(FinetuneSpec {
                    freeze: vec!["body".into()],
                    ..FinetuneSpec::default()
                }),
            },
            Method {
                name: "LoRA r=8, new head",
                finetune: from(FinetuneSpec {
                    lora: Some(LoraSpec {
                        config: LoraConfig {
                            rank: 8,
                            alpha: 16.0,
                            dropout: 0.0,
                        },
                        targets: Vec::new(),
                    }),
                    ..FinetuneSpec::default()
                }),
            },
        ]
    };

    for (scenario, (title, pretrain, target)) in scenarios.into_iter().enumerate() {
        println!("\n== pretrained on {title}, fine-tuned on digits 5–9 ==");
        let mut tallies: Vec<Tally> = (0..4).map(|_| Tally::default()).collect();
        let mut names = Vec::new();
        for seed in 0..seeds {
            let base = work
                .path()
                .join(format!("{}-seed{seed}", pretrain.display()));
            let base = work.path().join(base.file_name().unwrap_or_default());
            let pretrained = ffn::train::train(&config(&pretrain, seed), &base, &mut |_| {
                ControlFlow::Continue(())
            })?;
            let before = pretrained.test.as_ref().and_then(|m| m.accuracy);
            names.clear();
            let mut after = Vec::new();
            for (index, method) in methods(base).into_iter().enumerate() {
                let out = work
                    .path()
                    .join(format!("tuned-{scenario}-{index}-seed{seed}"));
                let run = TrainConfig {
                    finetune: method.finetune,
                    valid_fraction: 0.3,
                    test_fraction: 0.55,
                    ..config(&target, seed)
                };
                let (summary, first) = train_tracking(&run, &out)?;
                let accuracy = summary
                    .test
                    .as_ref()
                    .and_then(|m| m.accuracy)
                    .unwrap_or_default();
                let tally = &mut tallies[index];
                tally.accuracy += accuracy;
                if let Some(epoch) = first {
                    tally.epochs_to_target += epoch as f64;
                    tally.reached += 1;
                }
                tally.trainable = summary.trainable_params;
                tally.fraction = summary.trainable_fraction;
                names.push(method.name);
                after.push(format!("{accuracy:.3}"));
            }
            println!(
                "seed {seed}: before, test accuracy on the pretraining task {:.3}; after, on \
                 5–9: {}",
                before.unwrap_or_default(),
                after.join(" / ")
            );
        }
        println!("mean over {seeds} seeds ({backend:?} backend):");
        println!(
            "{:<24} {:>13} {:>22} {:>20}",
            "method", "test accuracy", "epochs to 95 % valid", "trainable params"
        );
        for (name, tally) in names.iter().zip(&tallies) {
            let epochs = if tally.reached == 0 {
                "never".to_string()
            } else {
                format!(
                    "{:.1} ({}/{seeds})",
                    tally.epochs_to_target / tally.reached as f64,
                    tally.reached
                )
            };
            println!(
                "{name:<24} {:>13.3} {epochs:>22} {:>11} ({:>5.1} %)",
                tally.accuracy / seeds as f64,
                tally.trainable,
                100.0 * tally.fraction
            );
        }
    }
    Ok(())
}

/// Trains (or fine-tunes) `config` into `out`; returns the summary and the first epoch whose
/// validation accuracy reached [`TARGET`].
fn train_tracking(config: &TrainConfig, out: &Path) -> anyhow::Result<(Summary, Option<usize>)> {
    let mut first = None;
    let start = match config.finetune {
        Some(_) => ffn::train::finetune,
        None => ffn::train::train,
    };
    let summary = start(config, out, &mut |event| {
        if let Progress::Epoch(record) = event {
            let accuracy = record.valid.as_ref().and_then(|m| m.accuracy);
            if first.is_none() && accuracy.is_some_and(|a| a >= TARGET) {
                first = Some(record.epoch);
            }
        }
        ControlFlow::Continue(())
    })?;
    Ok((summary, first))
}

/// Writes the datasets of the two scenarios into `dir`: (title, pretraining CSV, target CSV).
/// The shipped digits are split by label (0–4, 5–9) and by row parity (even rows of all ten
/// digits pretrain, odd rows of 5–9 are the target of the second scenario).
fn write_datasets(dir: &Path) -> anyhow::Result<Vec<(&'static str, PathBuf, PathBuf)>> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/digits.csv"))?;
    let mut lines = text.lines();
    let header = lines
        .next()
        .ok_or_else(|| anyhow::anyhow!("empty digits.csv"))?;
    let mut files: [String; 4] = std::array::from_fn(|_| format!("{header}\n"));
    let [low, high, even_all, odd_high] = &mut files;
    for (row, line) in lines.enumerate() {
        let label: u32 = line.rsplit(',').next().unwrap_or_default().trim().parse()?;
        let push = |file: &mut String| {
            file.push_str(line);
            file.push('\n');
        };
        push(if label < 5 { &mut *low } else { &mut *high });
        if row % 2 == 0 {
            push(even_all);
        } else if label >= 5 {
            push(odd_high);
        }
    }
    let names = [
        "digits-0-4",
        "digits-5-9",
        "digits-even-rows",
        "digits-5-9-odd-rows",
    ];
    let mut paths = Vec::new();
    for (name, contents) in names.iter().zip(&files) {
        let path = dir.join(format!("{name}.csv"));
        std::fs::write(&path, contents)?;
        paths.push(path);
    }
    Ok(vec![
        ("digits 0–4", paths[0].clone(), paths[1].clone()),
        (
            "all ten digits (even rows)",
            paths[2].clone(),
            paths[3].clone(),
        ),
    ])
}
