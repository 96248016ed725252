//! `ffn export`: a trained run's weights for PyTorch.

use anyhow::{Context, Result};
use serde_json::json;

use crate::args::ExportArgs;
use crate::printer;

pub fn run(args: ExportArgs) -> Result<()> {
    let info = ffn_train::export_run(&args.run, &args.out)
        .with_context(|| format!("cannot export {}", args.run.display()))?;
    if args.output.json {
        return printer::json(&json!(info));
    }
    let modules: Vec<String> = info
        .sequential
        .iter()
        .map(|m| m["module"].as_str().unwrap_or("?").to_string())
        .collect();
    printer::line(format!(
        "wrote {} tensors to {}: torch.nn.Sequential({})",
        info.tensors.len(),
        info.path.display(),
        modules.join(", ")
    ))?;
    printer::line("load with safetensors.torch.load_file, then load_state_dict (see README)")
}
