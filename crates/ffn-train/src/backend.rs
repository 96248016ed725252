//! Choosing the compute backend at run time: flex or ndarray on the CPU, wgpu on a GPU.

use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use burn::prelude::*;
use burn::tensor::wgpu::WgpuInitError;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// A compute backend, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Burn's flex CPU backend (pure Rust, SIMD, multi-threaded): the default.
    #[default]
    Flex,
    /// Burn's ndarray CPU backend.
    Ndarray,
    /// Burn's wgpu backend: Vulkan, Metal or DirectX on a GPU (or a CPU Vulkan driver).
    Wgpu,
    /// wgpu on a real (discrete or integrated) GPU when one is present, flex otherwise.
    Auto,
}

impl Backend {
    /// Every backend name, for messages.
    pub const NAMES: &'static str = "flex, ndarray, wgpu, auto";
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
            Backend::Auto => "auto",
        })
    }
}

impl FromStr for Backend {
    type Err = TrainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "flex" | "cpu" => Ok(Backend::Flex),
            "ndarray" => Ok(Backend::Ndarray),
            "wgpu" | "gpu" => Ok(Backend::Wgpu),
            "auto" => Ok(Backend::Auto),
            other => Err(TrainError::UnknownBackend(other.to_string())),
        }
    }
}

/// A device ready for tensors, with the backend that was actually chosen.
#[derive(Debug, Clone)]
pub struct OpenedDevice {
    /// The device (without autodiff).
    pub device: Device,
    /// The backend in use (`Auto` resolved to a concrete one).
    pub backend: Backend,
    /// What was picked and why, for the user.
    pub description: String,
}

/// Opens `backend`; `adapter` picks the N-th discrete GPU for wgpu (default: wgpu's choice).
/// A wgpu request on a machine without an adapter is an error naming the backends that work.
pub fn open_device(backend: Backend, adapter: Option<usize>) -> Result<OpenedDevice, TrainError> {
    match backend {
        Backend::Flex => Ok(OpenedDevice {
            device: Device::flex(),
            backend,
            description: "flex (CPU)".into(),
        }),
        Backend::Ndarray => Ok(OpenedDevice {
            device: ndarray_device(),
            backend,
            description: "ndarray (CPU)".into(),
        }),
        Backend::Wgpu => {
            let kind = adapter.map_or(DeviceKind::DefaultDevice, DeviceKind::DiscreteGpu);
            let device = wgpu_device(kind.clone()).map_err(|reason| TrainError::NoGpu {
                requested: format!("wgpu ({kind:?})"),
                reason,
            })?;
            Ok(OpenedDevice {
                device,
                backend,
                description: format!("wgpu ({kind:?})"),
            })
        }
        Backend::Auto => {
            let gpu = [DeviceKind::DiscreteGpu(0), DeviceKind::IntegratedGpu(0)]
                .into_iter()
                .find_map(|kind| wgpu_device(kind.clone()).ok().map(|d| (kind, d)));
            Ok(match gpu {
                Some((kind, device)) => OpenedDevice {
                    device,
                    backend: Backend::Wgpu,
                    description: format!("auto: wgpu on a GPU ({kind:?})"),
                },
                None => OpenedDevice {
                    device: Device::flex(),
                    backend: Backend::Flex,
                    description: "auto: no GPU adapter found, flex (CPU)".into(),
                },
            })
        }
    }
}

#[allow(deprecated)]
fn ndarray_device() -> Device {
    Device::ndarray()
}

/// Initialises wgpu for `kind` once per process (wgpu refuses a second initialisation of the same
/// selector) and hands out the same device, or the same failure, afterwards.
fn wgpu_device(kind: DeviceKind) -> Result<Device, String> {
    type Opened = Vec<(String, Result<Device, String>)>;
    static OPENED: OnceLock<Mutex<Opened>> = OnceLock::new();
    let key = format!("{kind:?}");
    let mut opened = OPENED
        .get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, result)) = opened.iter().find(|(k, _)| *k == key) {
        return result.clone();
    }
    let result = match Device::wgpu_options().device_kind(kind.clone()).init() {
        Ok(device) => Ok(device),
        // Something already created this device's runtime lazily (a tensor on
        // `Device::wgpu(kind)`): that runtime serves the lazy handle.
        Err(WgpuInitError::Registration { .. }) => Ok(Device::wgpu(kind)),
        Err(error) => Err(error.to_string()),
    };
    opened.push((key, result.clone()));
    result
}
