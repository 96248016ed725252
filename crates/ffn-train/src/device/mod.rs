//! Choosing the compute device at run time: flex or ndarray on the CPU, wgpu on a GPU, or the
//! device of a remote `ffn serve` server; and pinning Burn's default device to the CPU for the
//! few Burn internals that use it.

mod remote;
mod spec;

use std::sync::Once;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::TrainError;

pub(crate) use remote::surviving_lost_devices;
pub use remote::{CONNECT_TIMEOUT, SessionRequest, read_token, serve, set_remote_token};
pub use spec::{DEVICE_FORMS, DeviceFlags, DeviceSpec, check_devices, run_devices};

/// A compute backend, as named on the command line.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize
)]
#[derive(strum::Display, strum::EnumString, strum::VariantNames)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", ascii_case_insensitive)]
#[strum(parse_err_ty = TrainError, parse_err_fn = unknown_backend)]
pub enum Backend {
    /// Burn's flex CPU backend (pure Rust, SIMD, multi-threaded): the default.
    #[default]
    #[strum(to_string = "flex", serialize = "cpu")]
    Flex,
    /// Burn's ndarray CPU backend.
    Ndarray,
    /// Burn's wgpu backend: Vulkan, Metal or DirectX on a GPU (or a CPU Vulkan driver).
    #[strum(to_string = "wgpu", serialize = "gpu")]
    Wgpu,
    /// wgpu on a real (discrete or integrated) GPU when one is present, flex otherwise.
    Auto,
}

/// The error of a backend name that is not one of [`Backend`]'s.
fn unknown_backend(name: &str) -> TrainError {
    TrainError::UnknownBackend(name.to_string())
}

/// A device ready for tensors, with the backend that was actually chosen.
#[derive(Debug, Clone)]
pub struct OpenedDevice {
    /// The device (without autodiff).
    pub device: Device,
    /// The device as named (`auto` resolved to the backend it chose).
    pub spec: DeviceSpec,
    /// What was picked and why, for the user.
    pub description: String,
}

impl OpenedDevice {
    /// Whether the device is a local wgpu adapter.
    pub fn is_wgpu(&self) -> bool {
        matches!(
            self.spec,
            DeviceSpec::Local {
                backend: Backend::Wgpu,
                ..
            }
        )
    }
}

/// Opens the device `spec` names: a local backend, or a remote server's device (connecting to
/// it with the token set by [`set_remote_token`]).
pub fn open_spec(spec: &DeviceSpec) -> Result<OpenedDevice, TrainError> {
    match spec {
        DeviceSpec::Local { backend, index } => open_device(*backend, *index),
        DeviceSpec::Remote { url } => remote::connect(url),
    }
}

/// Opens every device of a data-parallel run, the first (which holds the model) first.
pub fn open_devices(specs: &[DeviceSpec]) -> Result<Vec<OpenedDevice>, TrainError> {
    specs.iter().map(open_spec).collect()
}

/// Opens the devices a run's config names ([`run_devices`]): the main device, which holds the
/// model and the optimiser and whose description names them all, and the others, which compute
/// shares of every batch.
pub(crate) fn open_run_devices(
    backend: Backend,
    device_index: Option<usize>,
    devices: &[DeviceSpec],
) -> Result<(OpenedDevice, Vec<OpenedDevice>), TrainError> {
    let mut opened = open_devices(&run_devices(backend, device_index, devices))?;
    let others = opened.split_off(1);
    let mut main = opened.remove(0);
    if !others.is_empty() {
        let names: Vec<&str> = others.iter().map(|d| d.description.as_str()).collect();
        main.description = format!(
            "data parallel over {} devices: {} (holds the model), {}",
            others.len() + 1,
            main.description,
            names.join(", ")
        );
    }
    Ok((main, others))
}

/// Opens `backend`; `adapter` picks the N-th discrete GPU for wgpu (default: wgpu's choice).
/// A wgpu request on a machine without an adapter is an error naming the backends that work.
pub fn open_device(backend: Backend, adapter: Option<usize>) -> Result<OpenedDevice, TrainError> {
    if let (Backend::Flex | Backend::Ndarray, Some(index)) = (backend, adapter) {
        return Err(TrainError::InvalidConfig(format!(
            "device {index} names a wgpu adapter, but the {backend} backend computes on the CPU; \
             drop --device or use --backend wgpu"
        )));
    }
    match backend {
        Backend::Flex => Ok(OpenedDevice {
            device: Device::flex(),
            spec: DeviceSpec::local(backend),
            description: "flex (CPU)".into(),
        }),
        Backend::Ndarray => Ok(OpenedDevice {
            device: ndarray_device()?,
            spec: DeviceSpec::local(backend),
            description: "ndarray (CPU)".into(),
        }),
        Backend::Wgpu => {
            if !cfg!(feature = "wgpu") {
                return Err(TrainError::NotBuilt("wgpu"));
            }
            let kind = adapter.map_or(DeviceKind::DefaultDevice, DeviceKind::DiscreteGpu);
            let (device, name) = wgpu_device(kind.clone()).map_err(|reason| TrainError::NoGpu {
                requested: format!("wgpu ({kind:?})"),
                reason,
            })?;
            Ok(OpenedDevice {
                device,
                spec: DeviceSpec::Local {
                    backend,
                    index: adapter,
                },
                description: format!("wgpu ({kind:?}{name})"),
            })
        }
        Backend::Auto => {
            let gpu = [DeviceKind::DiscreteGpu(0), DeviceKind::IntegratedGpu(0)]
                .into_iter()
                .find_map(|kind| wgpu_device(kind.clone()).ok().map(|d| (kind, d)));
            Ok(match gpu {
                Some((kind, (device, adapter))) => OpenedDevice {
                    device,
                    spec: DeviceSpec::local(Backend::Wgpu),
                    description: format!("auto: wgpu on a GPU ({kind:?}{adapter})"),
                },
                None => OpenedDevice {
                    device: Device::flex(),
                    spec: DeviceSpec::local(Backend::Flex),
                    description: "auto: no GPU adapter found, flex (CPU)".into(),
                },
            })
        }
    }
}

/// The ndarray device, when this build has the backend (deprecated in Burn 0.22, still
/// supported here).
#[allow(deprecated)]
fn ndarray_device() -> Result<Device, TrainError> {
    #[cfg(feature = "ndarray")]
    return Ok(Device::ndarray());
    #[cfg(not(feature = "ndarray"))]
    Err(TrainError::NotBuilt("ndarray"))
}

/// Without the `wgpu` feature there is no adapter to open.
#[cfg(not(feature = "wgpu"))]
fn wgpu_device(_kind: DeviceKind) -> Result<(Device, String), String> {
    Err("this build has no wgpu backend".into())
}

/// How long an adapter may take to answer before opening it is an error, not a hang.
#[cfg(feature = "wgpu")]
const ADAPTER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Initialises wgpu for `kind` once per process (wgpu refuses a second initialisation of the same
/// selector) and hands out the same device, or the same failure, afterwards, with the adapter
/// as the description shows it (`", NAME"`, and whether it is a software adapter on the CPU).
/// An adapter that does not answer within [`ADAPTER_TIMEOUT`] is a failure.
#[cfg(feature = "wgpu")]
fn wgpu_device(kind: DeviceKind) -> Result<(Device, String), String> {
    use std::sync::{Mutex, OnceLock};

    use burn::tensor::wgpu::{WgpuInitError, wgpu};
    type Opened = Vec<(String, Result<(Device, String), String>)>;
    static OPENED: OnceLock<Mutex<Opened>> = OnceLock::new();
    let key = format!("{kind:?}");
    let mut opened = OPENED
        .get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, result)) = opened.iter().find(|(k, _)| *k == key) {
        return result.clone();
    }
    let asked = kind.clone();
    let answer = answer_within(ADAPTER_TIMEOUT, move || {
        Device::wgpu_options().device_kind(asked).init_with_setup()
    });
    let result = match answer {
        Some(Ok((device, setup))) => {
            let info = setup.adapter.get_info();
            let software = match info.device_type {
                wgpu::DeviceType::Cpu => {
                    ", a software adapter on the CPU: for correctness, not speed"
                }
                _ => "",
            };
            Ok((device, format!(", {}{software}", info.name)))
        }
        // Something already created this device's runtime lazily (a tensor on
        // `Device::wgpu(kind)`): that runtime serves the lazy handle.
        Some(Err(WgpuInitError::Registration { .. })) => Ok((Device::wgpu(kind), String::new())),
        Some(Err(error)) => Err(error.to_string()),
        None => Err(format!(
            "the adapter did not answer within {} s",
            ADAPTER_TIMEOUT.as_secs()
        )),
    };
    opened.push((key, result.clone()));
    result
}

/// `work`'s result when it comes within `timeout`, `None` otherwise: for calls that can hang on
/// hardware or a network (the thread running `work` is left to finish on its own).
pub(crate) fn answer_within<T: Send + 'static>(
    timeout: std::time::Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (answer, answered) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = answer.send(work());
    });
    answered.recv_timeout(timeout).ok()
}

/// Makes Burn's default device the flex CPU device for this process, unless `BURN_DEVICE`
/// already names one. Burn materialises loaded optimiser state on its default device (moving
/// it to the parameters' device at the next step), and that default is wgpu whenever wgpu is
/// compiled in: on a machine without a wgpu adapter, [`crate::resume`] would fail without this.
/// Later calls do nothing.
///
/// # Safety
///
/// It sets an environment variable: no other thread may read or write the environment while
/// it runs. Call it at the start of `main`, before any thread is spawned.
#[allow(unsafe_code)]
pub unsafe fn pin_default_device() {
    static PIN: Once = Once::new();
    PIN.call_once(|| {
        if std::env::var_os("BURN_DEVICE").is_none() {
            // SAFETY: the caller guarantees that no other thread touches the environment.
            unsafe { std::env::set_var("BURN_DEVICE", "flex") };
        }
    });
}
