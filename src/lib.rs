//! ffn: feedforward layers (dense, MLP, Transformer FFN) on any Burn backend, with the data and
//! training crates. This root package re-exports the three crates and hosts the examples.

pub use ffn_data as data;
pub use ffn_model as model;
pub use ffn_train as train;

/// The backend an example runs on: `--backend NAME` on its command line, else the `FFN_BACKEND`
/// environment variable, else flex.
pub fn example_backend() -> Result<train::Backend, train::TrainError> {
    example_arg("--backend")
        .or_else(|| std::env::var("FFN_BACKEND").ok())
        .unwrap_or_else(|| "flex".into())
        .parse()
}

/// The value after `name` on an example's command line, if given.
pub fn example_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).cloned()
}

/// The seeds an example runs with: `--seeds 0,1,2` on its command line, else `default`.
pub fn example_seeds(default: &[u64]) -> Result<Vec<u64>, std::num::ParseIntError> {
    match example_arg("--seeds") {
        Some(list) => list.split(',').map(|s| s.trim().parse()).collect(),
        None => Ok(default.to_vec()),
    }
}
