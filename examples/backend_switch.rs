//! The same `TransformerFfn` and `Mlp` on every backend this machine has: max |difference| of
//! outputs and input gradients against the flex CPU reference, and the time of a forward+backward.
//!
//! `cargo run --release --example backend_switch [-- --iters N]`
//! Tolerances checked: 1e-4 between the CPU backends, 1e-3 to wgpu (fp32).

use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use ffn::model::{MlpConfig, NormKind, TransformerFfnConfig};
use ffn::train::{Backend, open_device};

/// Builds a layer under test on a device.
type Builder = Box<dyn Fn(&Device) -> anyhow::Result<Box<dyn Layer>>>;

/// A layer under test, by name.
struct Case {
    name: &'static str,
    build: Builder,
}

/// What the comparison needs of a layer: a forward pass on `[batch, seq, d]` and its weights.
trait Layer {
    fn run(&self, x: Tensor<3>) -> anyhow::Result<Tensor<3>>;
    fn record(&self) -> burn::store::ModuleRecord;
    fn load(&mut self, record: burn::store::ModuleRecord) -> anyhow::Result<()>;
}

macro_rules! layer {
    ($ty:ty) => {
        impl Layer for $ty {
            fn run(&self, x: Tensor<3>) -> anyhow::Result<Tensor<3>> {
                Ok(self.forward(x)?)
            }
            fn record(&self) -> burn::store::ModuleRecord {
                self.clone().into_record()
            }
            fn load(&mut self, record: burn::store::ModuleRecord) -> anyhow::Result<()> {
                *self = self.clone().try_load_record(record)?;
                Ok(())
            }
        }
    };
}
layer!(ffn::model::TransformerFfn);
layer!(ffn::model::Mlp);

fn main() -> anyhow::Result<()> {
    let iters = arg("--iters").unwrap_or(5);
    let (batch, seq, d_model) = (8, 64, 256);
    let cases = [
        Case {
            name: "TransformerFfn llama (SwiGLU, RMSNorm)",
            build: Box::new(move |d| {
                Ok(Box::new(
                    TransformerFfnConfig::llama(d_model, 4 * d_model).init(d)?,
                ))
            }),
        },
        Case {
            name: "TransformerFfn bert (GELU, LayerNorm)",
            build: Box::new(move |d| {
                Ok(Box::new(
                    TransformerFfnConfig::bert(d_model, 4 * d_model).init(d)?,
                ))
            }),
        },
        Case {
            name: "Mlp 256-512-512-256 (LayerNorm)",
            build: Box::new(move |d| {
                Ok(Box::new(
                    MlpConfig::new(d_model, vec![512, 512], d_model)
                        .with_norm(Some(NormKind::LayerNorm))
                        .init(d)?,
                ))
            }),
        },
    ];
    let mut backends = vec![(Backend::Flex, 0.0), (Backend::Ndarray, 1e-4)];
    match open_device(Backend::Wgpu, None) {
        Ok(opened) => {
            println!("wgpu adapter: {}", opened.description);
            backends.push((Backend::Wgpu, 1e-3));
        }
        Err(error) => println!("wgpu skipped: {error}"),
    }
    let reference_device = Device::flex();
    reference_device.seed(0);
    let x: Vec<f32> = Tensor::<3>::random(
        [batch, seq, d_model],
        Distribution::Normal(0.0, 1.0),
        &reference_device,
    )
    .into_data()
    .try_into_vec_as()?;
    let mut all_ok = true;
    for case in &cases {
        println!("\n{} on x [{batch}, {seq}, {d_model}]", case.name);
        let reference = (case.build)(&reference_device)?;
        let mut flex_result: Option<(Vec<f32>, Vec<f32>)> = None;
        for &(backend, tolerance) in &backends {
            let device = open_device(backend, None)?.device.autodiff();
            let mut layer = (case.build)(&device)?;
            layer.load(reference.record())?;
            let input = || {
                Tensor::<3>::from_data(TensorData::new(x.clone(), [batch, seq, d_model]), &device)
                    .require_grad()
            };
            let step = |x: Tensor<3>| -> anyhow::Result<(Tensor<3>, Tensor<3>)> {
                let y = layer.run(x.clone())?;
                let grads = y.clone().sum().backward();
                let g = x
                    .grad(&grads)
                    .ok_or_else(|| anyhow::anyhow!("no input gradient"))?;
                Ok((y, g))
            };
            let (y, g) = step(input())?;
            let values = (
                y.into_data().try_into_vec_as::<f32>()?,
                g.into_data().try_into_vec_as::<f32>()?,
            );
            let started = Instant::now();
            for _ in 0..iters {
                let (y, _) = step(input())?;
                device.sync().map_err(|e| anyhow::anyhow!("{e:?}"))?;
                drop(y);
            }
            let millis = started.elapsed().as_secs_f64() * 1e3 / iters as f64;
            match &flex_result {
                None => {
                    println!(
                        "  {:<8} reference                                   {millis:8.2} ms forward+backward",
                        backend.to_string()
                    );
                    flex_result = Some(values);
                }
                Some((y0, g0)) => {
                    let dy = max_diff(&values.0, y0);
                    let dg = max_diff(&values.1, g0);
                    let ok = dy <= tolerance && dg <= tolerance;
                    all_ok &= ok;
                    println!(
                        "  {:<8} max|Δy| {dy:.2e}  max|Δgrad| {dg:.2e}  {} {millis:8.2} ms forward+backward",
                        backend.to_string(),
                        if ok {
                            format!("≤ {tolerance:.0e} ok ")
                        } else {
                            format!("> {tolerance:.0e} FAIL")
                        }
                    );
                }
            }
        }
    }
    anyhow::ensure!(
        all_ok,
        "a backend differs from flex by more than its tolerance"
    );
    Ok(())
}

fn max_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .fold(0.0, f64::max)
}

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1)?.parse().ok())
}
