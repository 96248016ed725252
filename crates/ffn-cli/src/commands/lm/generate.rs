//! `ffn lm generate`: text from a trained run or a pretrained GGUF model, streamed as it is
//! generated.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ffn_data::Tokenizer;
use ffn_model::CausalLm;
use ffn_train::{LmRun, Sampling, TrainError};
use serde_json::json;

use super::open_pretrained;
use crate::args::LmGenerateArgs;
use crate::printer;

/// What generation needs from either source.
struct Source {
    model: CausalLm,
    tokenizer: Tokenizer,
    prompt: Vec<u32>,
    /// The token that ends generation (a pretrained model's end of turn).
    stop: Option<u32>,
}

pub fn run(args: LmGenerateArgs) -> Result<()> {
    if args.tokens == 0 {
        bail!("--tokens must be at least 1");
    }
    let device = args.compute.open()?;
    let source = match (&args.run, &args.pretrained.gguf) {
        (Some(run), _) => trained_source(&LmRun::open(run)?, &args.prompt, &device.device)?,
        (None, Some(file)) => {
            let lm = open_pretrained(&args.pretrained, file, &device.device)?;
            let prompt = lm.text.prompt_ids(&args.prompt, args.chat)?;
            let context = lm.model.block_size();
            if prompt.len() >= context {
                bail!(
                    "the prompt has {} tokens; the model's context is {context}: shorten the \
                     prompt{}",
                    prompt.len(),
                    if args.pretrained.context.is_some() {
                        " or raise --context"
                    } else {
                        ""
                    }
                );
            }
            Source {
                stop: lm.text.eos,
                model: lm.model,
                tokenizer: lm.text.tokenizer,
                prompt,
            }
        }
        (None, None) => bail!("give --run DIR or --gguf FILE"),
    };
    let sampling = Sampling {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        seed: args.seed,
        stop: source.stop,
    };
    sampling.validate()?;
    let stream = !args.output.json;
    let mut generated = Vec::new();
    let mut shown = String::new();
    if stream && !args.chat {
        printer::line_part(&args.prompt)?;
    }
    let started = Instant::now();
    let mut first_token = None;
    let tokens = ffn_train::generate(
        &source.model,
        &source.prompt,
        args.tokens,
        &sampling,
        !args.no_cache,
        &device.device,
        &mut |token| {
            first_token.get_or_insert_with(|| started.elapsed().as_secs_f64());
            if Some(token) == source.stop {
                return Ok(());
            }
            generated.push(token);
            if stream {
                // Decode everything so far: a token may end a character that earlier ones began.
                let text = source.tokenizer.decode(&generated)?;
                if let Some(new) = text.strip_prefix(shown.as_str()) {
                    printer::line_part(new).map_err(|e| TrainError::Device(e.to_string()))?;
                }
                shown = text;
            }
            Ok(())
        },
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let text = source.tokenizer.decode(&generated)?;
    let rate = tokens.len() as f64 / seconds.max(1e-9);
    // The prompt's pass (prefill) ends with the first token; the others are one position each.
    let prefill = first_token.unwrap_or(seconds);
    let decode_rate = (tokens.len().saturating_sub(1)) as f64 / (seconds - prefill).max(1e-9);
    if args.output.json {
        return printer::json(&json!({
            "run_dir": args.run,
            "gguf": args.pretrained.gguf,
            "prompt": args.prompt,
            "prompt_tokens": source.prompt.len(),
            "chat": args.chat,
            "text": text,
            "token_ids": tokens,
            "tokens": tokens.len(),
            "seconds": seconds,
            "tokens_per_second": rate,
            "prefill_seconds": prefill,
            "prefill_tokens_per_second": source.prompt.len() as f64 / prefill.max(1e-9),
            "decode_tokens_per_second": decode_rate,
            "cached": !args.no_cache,
        }));
    }
    printer::line("")?;
    let _ = std::io::stdout().flush();
    eprintln!(
        "{} tokens in {seconds:.2}s ({rate:.1} tokens/s; prompt of {} tokens in {prefill:.2}s, \
         then {decode_rate:.1} tokens/s)",
        tokens.len(),
        source.prompt.len()
    );
    Ok(())
}

/// A trained run's model and the prompt's ids, cropped to the run's context with a note.
fn trained_source(run: &LmRun, prompt: &str, device: &burn::prelude::Device) -> Result<Source> {
    let model = run.model(device)?;
    let mut ids = prompt_ids(&run.tokenizer, prompt)?;
    let block = run.config.model.block;
    if ids.len() > block {
        eprintln!(
            "note: the prompt has {} tokens; only its last {block} (the model's context) are used",
            ids.len()
        );
        ids.drain(..ids.len() - block);
    }
    Ok(Source {
        model,
        tokenizer: run.tokenizer.clone(),
        prompt: ids,
        stop: None,
    })
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
