//! `ffn lm generate`: text from a language model, streamed as it is generated.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ffn_data::Tokenizer;
use ffn_train::{LmRun, Sampling, TrainError};
use serde_json::json;

use crate::args::LmGenerateArgs;
use crate::printer;

pub fn run(args: LmGenerateArgs) -> Result<()> {
    if args.tokens == 0 {
        bail!("--tokens must be at least 1");
    }
    let sampling = Sampling {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        seed: args.seed,
    };
    sampling.validate()?;
    let run = LmRun::open(&args.run)?;
    let device = args.compute.open()?;
    let model = run.model(&device.device)?;
    let mut prompt = prompt_ids(&run.tokenizer, &args.prompt)?;
    let block = run.config.model.block;
    if prompt.len() > block {
        eprintln!(
            "note: the prompt has {} tokens; only its last {block} (the model's context) are used",
            prompt.len()
        );
        prompt.drain(..prompt.len() - block);
    }
    let stream = !args.output.json;
    let mut generated = Vec::new();
    let mut shown = String::new();
    if stream {
        printer::line_part(&args.prompt)?;
    }
    let started = Instant::now();
    let tokens = ffn_train::generate(
        &model,
        &prompt,
        args.tokens,
        &sampling,
        !args.no_cache,
        &device.device,
        &mut |token| {
            generated.push(token);
            if stream {
                // Decode everything so far: a token may end a character that earlier ones began.
                let text = run.tokenizer.decode(&generated)?;
                if let Some(new) = text.strip_prefix(shown.as_str()) {
                    printer::line_part(new).map_err(|e| TrainError::Device(e.to_string()))?;
                }
                shown = text;
            }
            Ok(())
        },
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let text = run.tokenizer.decode(&tokens)?;
    let rate = tokens.len() as f64 / seconds.max(1e-9);
    if args.output.json {
        return printer::json(&json!({
            "run_dir": args.run,
            "prompt": args.prompt,
            "text": text,
            "tokens": tokens.len(),
            "seconds": seconds,
            "tokens_per_second": rate,
            "cached": !args.no_cache,
        }));
    }
    printer::line("")?;
    let _ = std::io::stdout().flush();
    eprintln!(
        "{} tokens in {seconds:.2}s ({rate:.1} tokens/s)",
        tokens.len()
    );
    Ok(())
}

/// The ids of `prompt`; a `char` tokenizer refuses characters outside its vocabulary, listing
/// them.
fn prompt_ids(tokenizer: &Tokenizer, prompt: &str) -> Result<Vec<u32>> {
    if prompt.is_empty() {
        bail!("--prompt is empty: give at least one character to continue");
    }
    let encoded = tokenizer
        .encode(prompt)
        .context("cannot encode the prompt")?;
    if !encoded.unknown.is_empty() {
        let listed: Vec<String> = encoded.unknown.keys().map(|c| format!("{c:?}")).collect();
        bail!(
            "the prompt has characters the model's vocabulary lacks: {}",
            listed.join(", ")
        );
    }
    Ok(encoded.ids)
}
