//! How much of a language model must train to move it to a new domain? A character GPT is
//! pretrained on `datasets/shakespeare.txt` (the reference recipe), then given the same step
//! budget on `datasets/austen.txt` five ways: not at all (the pretrained model as is), LoRA on
//! the FFN projections only, LoRA on attention and FFN, full fine-tuning, and a model trained
//! from scratch on Austen. Reported per way, averaged over seeds: the validation loss on Austen
//! (adaptation) and on Shakespeare (forgetting), on the last 10 % of each text, the trainable
//! parameters and their share, and the training time.
//!
//! `cargo run --release --example domain_finetune [-- --seeds 0,1,2] [--pretrain-steps N]
//! [--steps N] [--backend flex|ndarray|wgpu|auto]`

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use ffn::model::LoraConfig;
use ffn::train::{
    LmConfig, LmFinetune, LmRun, LmSummary, LoraTargets, Progress, finetune_lm, mean_sd, train_lm,
};

/// Seeded batches of 12 windows behind each validation loss.
const EVAL_BATCHES: usize = 100;

/// One way to spend the step budget on Austen.
#[derive(Clone, Copy)]
enum Way {
    AsIs,
    Lora(LoraTargets),
    Full,
    Scratch,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::AsIs => "pretrained, as is",
            Way::Lora(LoraTargets::Ffn) => "LoRA r=8 on FFN",
            Way::Lora(_) => "LoRA r=8 on attention + FFN",
            Way::Full => "full fine-tuning",
            Way::Scratch => "from scratch on Austen",
        }
    }
}

/// One way's results for one seed.
struct Outcome {
    austen: f64,
    shakespeare: f64,
    trainable: usize,
    share: f64,
    seconds: f64,
}

fn main() -> anyhow::Result<()> {
    let backend = ffn::example_backend()?;
    let seeds = ffn::example_seeds(&[0, 1, 2])?;
    let pretrain_steps: usize =
        ffn::example_arg("--pretrain-steps").map_or(Ok(2000), |s| s.parse())?;
    let steps: usize = ffn::example_arg("--steps").map_or(Ok(500), |s| s.parse())?;
    let datasets = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
    let work = tempfile::tempdir()?;
    let held_out = |name: &str| -> anyhow::Result<PathBuf> {
        let text = std::fs::read_to_string(datasets.join(name))?;
        let chars: Vec<char> = text.chars().collect();
        let path = work.path().join(format!("valid-{name}"));
        std::fs::write(
            &path,
            chars[chars.len() * 9 / 10..].iter().collect::<String>(),
        )?;
        Ok(path)
    };
    let (austen_valid, shakespeare_valid) = (held_out("austen.txt")?, held_out("shakespeare.txt")?);
    let recipe = |text: &str, steps: usize, seed: u64| LmConfig {
        text: datasets.join(text),
        steps,
        eval_interval: steps.min(250),
        backend,
        seed,
        ..LmConfig::default()
    };
    let ways = [
        Way::AsIs,
        Way::Lora(LoraTargets::Ffn),
        Way::Lora(LoraTargets::All),
        Way::Full,
        Way::Scratch,
    ];
    let mut table: Vec<Vec<Outcome>> = ways.iter().map(|_| Vec::new()).collect();
    for &seed in &seeds {
        eprintln!("seed {seed}: pretraining on Shakespeare ({pretrain_steps} steps)");
        let base = work.path().join(format!("base-{seed}"));
        train_lm(
            &recipe("shakespeare.txt", pretrain_steps, seed),
            &base,
            &mut quiet,
        )?;
        for (index, (way, outcomes)) in ways.iter().zip(&mut table).enumerate() {
            eprintln!("seed {seed}: {}", way.name());
            let out = work.path().join(format!("way{index}-seed{seed}"));
            let austen = recipe("austen.txt", steps, seed);
            let finetune = |lora: Option<LoraTargets>| LmFinetune {
                from: base.clone(),
                lora: lora.map(|_| LoraConfig {
                    rank: 8,
                    alpha: 16.0,
                    ..LoraConfig::default()
                }),
                lora_targets: lora.unwrap_or_default(),
                ..LmFinetune::default()
            };
            let (run, summary): (PathBuf, Option<LmSummary>) = match way {
                Way::AsIs => (base.clone(), None),
                Way::Lora(targets) => {
                    let s = finetune_lm(&austen, &finetune(Some(*targets)), &out, &mut quiet)?;
                    (out, Some(s))
                }
                Way::Full => (
                    out.clone(),
                    Some(finetune_lm(&austen, &finetune(None), &out, &mut quiet)?),
                ),
                Way::Scratch => (out.clone(), Some(train_lm(&austen, &out, &mut quiet)?)),
            };
            let run = LmRun::open(&run)?;
            let device = ffn::train::open_device(backend, None)?.device;
            let loss = |text: &Path| -> anyhow::Result<f64> {
                Ok(run.evaluate_text(text, EVAL_BATCHES, &device)?.0.loss)
            };
            outcomes.push(Outcome {
                austen: loss(&austen_valid)?,
                shakespeare: loss(&shakespeare_valid)?,
                trainable: summary.as_ref().map_or(0, |s| s.trainable_params),
                share: summary.as_ref().map_or(0.0, |s| s.trainable_fraction),
                seconds: summary.as_ref().map_or(0.0, |s| s.train_seconds),
            });
        }
    }
    println!(
        "pretrained {pretrain_steps} steps on Shakespeare, then {steps} steps on Austen; seeds \
         {seeds:?}, {backend}; validation loss in nats per character (mean ± sd)"
    );
    println!(
        "{:<28} {:>17} {:>17} {:>10} {:>8} {:>8}",
        "way", "Austen (adapt)", "Shakespeare", "trainable", "share", "train s"
    );
    for (way, outcomes) in ways.iter().zip(&table) {
        let column =
            |pick: fn(&Outcome) -> f64| mean_sd(&outcomes.iter().map(pick).collect::<Vec<_>>());
        let (austen, austen_sd) = column(|o| o.austen);
        let (old, old_sd) = column(|o| o.shakespeare);
        let (seconds, _) = column(|o| o.seconds);
        println!(
            "{:<28} {:>8.4} ± {:<6.4} {:>8.4} ± {:<6.4} {:>10} {:>7.1}% {:>8.1}",
            way.name(),
            austen,
            austen_sd,
            old,
            old_sd,
            outcomes[0].trainable,
            100.0 * outcomes[0].share,
            seconds
        );
    }
    Ok(())
}

/// Training progress, not shown.
fn quiet(_: Progress) -> ControlFlow<()> {
    ControlFlow::Continue(())
}
