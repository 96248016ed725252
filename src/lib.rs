//! ffn: feedforward layers (dense, MLP, Transformer FFN) on any Burn backend, with the data and
//! training crates. This root package re-exports the three crates and hosts the examples.

pub use ffn_data as data;
pub use ffn_model as model;
pub use ffn_train as train;

/// The backend an example runs on: `--backend NAME` on its command line, else the `FFN_BACKEND`
/// environment variable, else flex.
pub fn example_backend() -> Result<train::Backend, train::TrainError> {
    let args: Vec<String> = std::env::args().collect();
    let flag = args
        .iter()
        .position(|a| a == "--backend")
        .and_then(|i| args.get(i + 1).cloned());
    flag.or_else(|| std::env::var("FFN_BACKEND").ok())
        .unwrap_or_else(|| "flex".into())
        .parse()
}
