//! The minimal use of the dense layer: a `FeedForward` of 128 ReLU units on a random batch.
//!
//! `cargo run --release --example dense_layer [-- --backend flex|ndarray|wgpu|auto]`
//! (or set `FFN_BACKEND`).

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use ffn::model::{Activation, FeedForwardConfig};
use ffn::train::open_device;

fn main() -> anyhow::Result<()> {
    let backend = ffn::example_backend()?;
    let opened = open_device(backend, None)?;
    println!("backend: {}", opened.description);
    let device = opened.device;

    let layer = FeedForwardConfig::new(64, 128, Activation::Relu).init(&device)?;
    let x = Tensor::<2>::random([32, 64], Distribution::Normal(0.0, 1.0), &device);
    let y = layer.forward(x)?;
    let active = y
        .clone()
        .greater_elem(0.0)
        .float()
        .mean()
        .into_scalar::<f32>();
    println!(
        "FeedForward(64 → 128, relu): {} parameters; output {:?}; {:.1}% of units active",
        layer.num_params(),
        y.dims(),
        active * 100.0
    );
    Ok(())
}
