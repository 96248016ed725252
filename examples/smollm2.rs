//! A real pretrained LLM end to end: SmolLM2-135M-Instruct, read from its GGUF file
//! (`scripts/fetch-model.sh smollm2`), continues a fixed prompt; then LoRA adapters (r = 8) on
//! its FFN projections only are fine-tuned on the first 90 % of `datasets/shakespeare.txt`, once
//! per seed. Reported: the perplexity on the last 10 % (the held-out tokens) before and after
//! (mean ± sd over the seeds), the trainable parameters and their share, the median step time,
//! the adapter's size, and the prompt's continuation after fine-tuning.
//!
//! `cargo run --release --example smollm2 [-- --seeds 0,1,2] [--steps N] [--batch N]
//! [--block N] [--eval-tokens N] [--backend flex|ndarray|wgpu|auto]`

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::prelude::Device;
use ffn::data::{Text, TokenSplit};
use ffn::model::{ADAPTER_WEIGHTS, CausalLm, LoraConfig};
use ffn::train::{
    LmConfig, LmFinetune, LmRun, LoraTargets, PretrainedLm, Progress, Sampling, finetune_lm,
    generate, mean_sd, mean_window_loss,
};

/// The prompt whose greedy continuation is shown before and after fine-tuning.
const PROMPT: &str = "ROMEO:\nBut soft, what light";
/// Tokens per window of the held-out perplexity.
const EVAL_WINDOW: usize = 512;

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(gguf) = ffn::train::fetched_smollm2(root) else {
        return Ok(());
    };
    let backend = ffn::example_backend()?;
    let seeds = ffn::example_seeds(&[0, 1, 2])?;
    let number = |name: &str, default: usize| -> anyhow::Result<usize> {
        Ok(ffn::example_arg(name).map_or(Ok(default), |s| s.parse())?)
    };
    let steps = number("--steps", 30)?;
    let batch = number("--batch", 4)?;
    let block = number("--block", 128)?;
    let eval_tokens = number("--eval-tokens", 8192)?;
    let text_path = root.join("datasets/shakespeare.txt");
    let cpu = Device::flex();

    let base = PretrainedLm::open(&gguf, None, &cpu)?;
    println!("{}: {} parameters", base.name, base.model.num_params());
    let split = TokenSplit::new(&Text::read(&text_path)?, &base.text.tokenizer, 0.1)?.0;
    let held_out = &split.valid[..eval_tokens.min(split.valid.len())];
    println!(
        "held out: the last 10 % of {} ({} tokens; {} evaluated in windows of {EVAL_WINDOW})",
        text_path.display(),
        split.valid.len(),
        held_out.len()
    );
    let before = mean_window_loss(&base.model, held_out, EVAL_WINDOW, &cpu)?;
    println!("before: perplexity {:.2}", before.exp());
    println!(
        "continuation before: {:?}",
        continuation(&base, &base.model, &cpu)?
    );

    let mut config = LmConfig::pretrained_lora();
    config.text = text_path.clone();
    config.model.block = block;
    config.batch = batch;
    config.steps = steps;
    config.eval_interval = steps;
    config.eval_batches = 1;
    config.final_eval_batches = 1;
    config.sample_tokens = 0;
    config.lr = 1e-3;
    config.schedule = ffn::train::ScheduleConfig::GptCosine {
        warmup_steps: (steps / 10).max(1),
        min_lr: 1e-4,
    };
    config.backend = backend;
    let finetune = LmFinetune {
        gguf: Some(gguf.clone()),
        lora: Some(LoraConfig {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
        }),
        lora_targets: LoraTargets::Ffn,
        ..LmFinetune::default()
    };
    let work = tempfile::tempdir()?;
    let mut after = Vec::new();
    for &seed in &seeds {
        config.seed = seed;
        let out = work.path().join(format!("seed{seed}"));
        let mut batch_times = Vec::new();
        let mut last = Instant::now();
        let summary = finetune_lm(&config, &finetune, &out, &mut |event| {
            if let Progress::Batch { batch, .. } = event {
                if batch > 0 {
                    batch_times.push(last.elapsed().as_secs_f64());
                }
                last = Instant::now();
            }
            ControlFlow::Continue(())
        })?;
        batch_times.sort_by(f64::total_cmp);
        let step = batch_times
            .get(batch_times.len() / 2)
            .copied()
            .unwrap_or(0.0);
        let tuned = LmRun::open(&out)?.model(&cpu)?;
        let loss = mean_window_loss(&tuned, held_out, EVAL_WINDOW, &cpu)?;
        let adapter = std::fs::metadata(out.join(ADAPTER_WEIGHTS))?.len();
        println!(
            "seed {seed}: {steps} steps of {batch}×{block} tokens, {:.2} s/step (median), \
             trainable {} ({:.2} %), adapter {:.1} MB: perplexity {:.2}",
            step,
            summary.trainable_params,
            100.0 * summary.trainable_fraction,
            adapter as f64 / 1e6,
            loss.exp()
        );
        if after.is_empty() {
            println!(
                "continuation after (seed {seed}): {:?}",
                continuation(&base, &tuned, &cpu)?
            );
        }
        after.push(loss);
    }
    let (mean, sd) = mean_sd(&after);
    println!(
        "held-out loss {before:.4} → {mean:.4} ± {sd:.4} over {} seeds (perplexity {:.2} → {:.2}); \
         the drop is {:.1} seed-to-seed standard deviations",
        seeds.len(),
        before.exp(),
        mean.exp(),
        (before - mean) / sd.max(1e-12)
    );
    Ok(())
}

/// The greedy 24-token continuation of [`PROMPT`] by `model`, with `base`'s tokenizer.
fn continuation(base: &PretrainedLm, model: &CausalLm, device: &Device) -> anyhow::Result<String> {
    let ids = base.text.prompt_ids(PROMPT, false)?;
    let sampling = Sampling {
        stop: base.text.eos,
        ..Sampling::greedy()
    };
    let tokens = generate(model, &ids, 24, &sampling, true, device, &mut |_| Ok(()))?;
    Ok(base.text.tokenizer.decode(&tokens)?)
}
