//! `ffn info`: what a run directory holds.

use anyhow::Result;
use burn::module::Module;
use ffn_train::{Artifact, Backend, RunDescription, open_device};
use serde_json::json;

use crate::args::InfoArgs;
use crate::printer;

pub fn run(args: InfoArgs) -> Result<()> {
    let artifact = Artifact::open(&args.run)?;
    let cpu = open_device(Backend::Flex, None)?;
    // An unfinished run has no final model: it is described without layers and parameters.
    let network = artifact.network(&cpu.device).ok();
    if !args.output.json {
        for text in RunDescription::of(&artifact, network.as_ref()).text_lines() {
            printer::line(text)?;
        }
        return Ok(());
    }
    let value = match &artifact {
        Artifact::Block(block) => json!({ "run_dir": args.run, "block": block.info }),
        Artifact::Lm(lm) => json!({
            "run_dir": args.run,
            "language_model": lm.config,
            "tokenizer": lm.tokenizer.kind(),
            "vocab_size": lm.tokenizer.vocab_size(),
            "summary": lm.summary,
        }),
        Artifact::Trained(run) => {
            let pre = &run.preprocessor;
            json!({
                "run_dir": args.run,
                "dataset": run.config.dataset,
                "task": pre.task,
                "features": pre.feature_names,
                "target": pre.target_name,
                "classes": pre.labels.as_ref().map(|l| l.classes()),
                "model": run.config.model,
                "finetune": run.config.finetune,
                "layers": network.as_ref().map(|n| n.layer_names()),
                "params": network.as_ref().map(Module::num_params),
                "optimizer": run.config.optimizer,
                "summary": run.summary,
            })
        }
    };
    printer::json(&value)
}
