//! The three layers side by side: a dense layer, an MLP with RMSNorm, and LLaMA's feed-forward
//! block on `[batch, seq, d_model]`, saved and loaded back.
//!
//! `cargo run --release --example layers [-- --backend flex|ndarray|wgpu|auto]`

use burn::module::Module;
use burn::prelude::*;
use ffn::model::{
    Activation, FeedForwardConfig, MlpConfig, NormKind, TransformerFfnConfig, load_module,
    save_module,
};
use ffn::train::open_device;

fn main() -> anyhow::Result<()> {
    let device = open_device(ffn::example_backend()?, None)?.device;
    // Keras' Dense(128, activation="relu") on 64 inputs: [batch, 64] -> [batch, 128].
    let dense = FeedForwardConfig::new(64, 128, "relu".parse::<Activation>()?).init(&device)?;
    // An MLP 64 -> 256 -> 256 -> 10 with RMSNorm and dropout in the hidden layers.
    let mlp = MlpConfig::new(64, vec![256, 256], 10)
        .with_norm(Some(NormKind::RmsNorm))
        .with_dropout(0.1)
        .init(&device)?;
    // LLaMA's block: pre-RMSNorm, SwiGLU, no bias, residual.
    let llama = TransformerFfnConfig::llama(512, 1376).init(&device)?;

    let x = Tensor::<2>::ones([4, 64], &device);
    println!(
        "dense {:?} -> {:?}, {} parameters",
        x.dims(),
        dense.forward(x.clone())?.dims(),
        dense.num_params()
    );
    println!(
        "mlp   {:?} -> {:?}, {} parameters",
        x.dims(),
        mlp.forward(x)?.dims(),
        mlp.num_params()
    );
    let h = Tensor::<3>::ones([2, 16, 512], &device);
    let y = llama.forward(h.clone())?;
    println!(
        "llama {:?} -> {:?}, {} parameters",
        h.dims(),
        y.dims(),
        llama.num_params()
    );

    let path = std::env::temp_dir().join(format!("ffn-llama-{}.bpk", std::process::id()));
    save_module(&llama, &path)?;
    let loaded = load_module(TransformerFfnConfig::llama(512, 1376).init(&device)?, &path)?;
    let same = loaded.forward(h)?.equal(y).all().into_scalar::<bool>();
    println!(
        "saved and loaded {}: outputs identical = {same}",
        path.display()
    );
    std::fs::remove_file(&path)?;
    Ok(())
}
