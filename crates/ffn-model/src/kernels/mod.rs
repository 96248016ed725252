//! CPU kernels of this crate on Burn's flex backend, plugged in through Burn's backend-extension
//! mechanism: exact GELU and SiLU (one multi-threaded SIMD pass each way), the dense layer's
//! matrix products (`x·W + b` as one product whose output starts as the bias; on AVX2 CPUs
//! without AVX-512 through this crate's own product, elsewhere through gemm), causal attention
//! (one pass per batch and head, forward and backward), and Adam's and AdamW's update (one pass
//! over parameter, gradient and moments). With the `wgpu` feature, GELU and SiLU are also CubeCL
//! kernels for Burn's wgpu backend. While parallel kernels follow each other, rayon's other
//! threads spin rather than sleep ([`warm`]). Other backends keep Burn's own operations;
//! [`buffers::on_flex`] and [`activation::serves`] decide which tensors the kernels serve.

mod activation;
mod adam;
mod attention;
mod backward;
mod buffers;
#[cfg(feature = "wgpu")]
mod cube_activation;
mod dense;
mod elementwise;
mod matrix;
#[cfg(target_arch = "x86_64")]
mod sgemm;
mod warm;

pub(crate) use activation::{gelu_erf, serves as activation_kernels_serve, silu};
pub use adam::{AdamHyper, AdamStep, fused_adam_step};
pub(crate) use attention::causal_attention;
pub(crate) use buffers::on_flex;
pub(crate) use dense::{linear_rows, matmul};
