//! One compute device as `--backend` and `--devices` name it: a local backend (with a wgpu
//! adapter index where one is given) or the device of an `ffn serve` server.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Backend;
use crate::TrainError;

/// A device of a run: `flex`, `ndarray`, `wgpu`, `wgpu:N` (the N-th discrete GPU), `auto`, or
/// `remote:ws://HOST:PORT` (the device an `ffn serve` process hosts). Saved in configs as that
/// text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    /// A backend of this machine; `index` picks a wgpu adapter.
    Local {
        /// The backend.
        backend: Backend,
        /// The wgpu adapter (the N-th discrete GPU); wgpu's own choice when `None`.
        index: Option<usize>,
    },
    /// The device of a remote `ffn serve` server.
    Remote {
        /// The server's WebSocket address, `ws://HOST:PORT`.
        url: String,
    },
}

/// How `--help` and errors name the accepted forms.
pub const DEVICE_FORMS: &str = "flex, ndarray, wgpu, wgpu:N, auto or remote:ws://HOST:PORT";

impl DeviceSpec {
    /// A local backend on its default device.
    pub fn local(backend: Backend) -> Self {
        Self::Local {
            backend,
            index: None,
        }
    }

    /// Whether the device is on another machine (or another process).
    pub fn is_remote(&self) -> bool {
        matches!(self, Self::Remote { .. })
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local {
                backend,
                index: None,
            } => write!(f, "{backend}"),
            Self::Local {
                backend,
                index: Some(index),
            } => write!(f, "{backend}:{index}"),
            Self::Remote { url } => write!(f, "remote:{url}"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = TrainError;

    fn from_str(text: &str) -> Result<Self, TrainError> {
        let bad = |why: &str| {
            TrainError::InvalidConfig(format!(
                "device `{text}` {why}; a device is one of {DEVICE_FORMS}"
            ))
        };
        let text = text.trim();
        if let Some(url) = text.strip_prefix("remote:") {
            return remote_url(url)
                .map(|url| Self::Remote { url })
                .map_err(|why| bad(&why));
        }
        let (name, index) = match text.split_once(':') {
            Some((name, index)) => {
                let index = index
                    .parse::<usize>()
                    .map_err(|_| bad("has an adapter index that is not a number"))?;
                (name, Some(index))
            }
            None => (text, None),
        };
        let backend: Backend = name.parse().map_err(|_| bad("names no backend"))?;
        if index.is_some() && backend != Backend::Wgpu {
            return Err(bad("has an adapter index, which only wgpu takes"));
        }
        Ok(Self::Local { backend, index })
    }
}

/// `url` checked to be `ws://HOST:PORT` (a path is refused: a server serves at its root), in the
/// form the URL standard writes it.
fn remote_url(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("is not a URL ({e})"))?;
    if parsed.scheme() != "ws" {
        return Err(format!(
            "uses `{}://`; an ffn server speaks WebSocket: ws://HOST:PORT",
            parsed.scheme()
        ));
    }
    let host = parsed.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err("has no host".into());
    }
    // The URL standard drops a port equal to the scheme's default (80): it counts as written.
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split('/').next().unwrap_or_default();
    let written = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    let (Some(port), true) = (parsed.port_or_known_default(), written) else {
        return Err("has no port: write ws://HOST:PORT, the port `ffn serve` listens on".into());
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("holds credentials; pass the token with --token-file instead".into());
    }
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
        return Err("has a path; write ws://HOST:PORT".into());
    }
    Ok(format!("ws://{host}:{port}"))
}

impl TryFrom<String> for DeviceSpec {
    type Error = TrainError;

    fn try_from(text: String) -> Result<Self, TrainError> {
        text.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(spec: DeviceSpec) -> String {
        spec.to_string()
    }
}

/// The device flags of a command (`--backend`, `--device`, `--devices`), each overriding only
/// what it names in a run's config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFlags {
    /// `--backend`: a local backend, or one remote device.
    pub backend: Option<DeviceSpec>,
    /// `--device`: the wgpu adapter index.
    pub device: Option<usize>,
    /// `--devices`: the devices of a data-parallel run, the first holding the model.
    pub devices: Option<Vec<DeviceSpec>>,
}

impl DeviceFlags {
    /// Whether no flag was given.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Applies the flags to a config's `backend`, `device_index` and `devices`: a local
    /// `--backend` computes on one device of that backend (the devices list is emptied), a
    /// remote one makes that server's device the only device, and `--devices` replaces the list.
    pub fn apply(
        &self,
        backend: &mut Backend,
        device_index: &mut Option<usize>,
        devices: &mut Vec<DeviceSpec>,
    ) {
        match &self.backend {
            Some(DeviceSpec::Local {
                backend: local,
                index,
            }) => {
                *backend = *local;
                *device_index = *index;
                devices.clear();
            }
            Some(remote) => *devices = vec![remote.clone()],
            None => {}
        }
        if self.device.is_some() {
            *device_index = self.device;
        }
        if let Some(list) = &self.devices {
            devices.clone_from(list);
        }
    }
}

/// The devices a run computes on: `devices` when the list is not empty, else `backend` on
/// adapter `device_index`.
pub fn run_devices(
    backend: Backend,
    device_index: Option<usize>,
    devices: &[DeviceSpec],
) -> Vec<DeviceSpec> {
    match devices.is_empty() {
        true => vec![DeviceSpec::Local {
            backend,
            index: device_index,
        }],
        false => devices.to_vec(),
    }
}

/// Checks the devices of a data-parallel run: at least one, none twice, and no more than the
/// rows of a batch (each device computes a share of every batch).
pub fn check_devices(devices: &[DeviceSpec], batch_rows: usize) -> Result<(), TrainError> {
    for (i, device) in devices.iter().enumerate() {
        if devices[..i].contains(device) {
            return Err(TrainError::InvalidConfig(format!(
                "device {device} is listed twice in --devices; name each device once"
            )));
        }
    }
    if devices.len() > batch_rows {
        return Err(TrainError::InvalidConfig(format!(
            "{} devices for batches of {batch_rows} rows: each device needs at least one row; \
             raise the batch size or name fewer devices",
            devices.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for (text, spec) in [
            ("flex", DeviceSpec::local(Backend::Flex)),
            ("cpu", DeviceSpec::local(Backend::Flex)),
            (
                "wgpu:1",
                DeviceSpec::Local {
                    backend: Backend::Wgpu,
                    index: Some(1),
                },
            ),
            (
                "remote:ws://127.0.0.1:3000",
                DeviceSpec::Remote {
                    url: "ws://127.0.0.1:3000".into(),
                },
            ),
            (
                "remote:ws://GPU-1.local:80/",
                DeviceSpec::Remote {
                    url: "ws://gpu-1.local:80".into(),
                },
            ),
        ] {
            assert_eq!(text.parse::<DeviceSpec>().unwrap(), spec, "{text}");
        }
        let upper: DeviceSpec = "remote:WS://Host:9000".parse().unwrap();
        assert_eq!(upper.to_string(), "remote:ws://host:9000");
        let spec: DeviceSpec = "remote:ws://[::1]:9000".parse().unwrap();
        assert_eq!(spec.to_string(), "remote:ws://[::1]:9000");
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(json, "\"remote:ws://[::1]:9000\"");
        assert_eq!(serde_json::from_str::<DeviceSpec>(&json).unwrap(), spec);
    }

    #[test]
    fn malformed_specs_say_what_is_wrong() {
        for (text, says) in [
            ("tpu", "names no backend"),
            ("flex:1", "only wgpu takes"),
            ("wgpu:x", "not a number"),
            ("remote:http://h:1", "speaks WebSocket"),
            ("remote:ws://h", "has no port"),
            ("remote:ws://h:1/x", "has a path"),
            ("remote:h:1", "ws://HOST:PORT"),
            ("remote:ws://secret@h:1", "holds credentials"),
        ] {
            let error = text.parse::<DeviceSpec>().unwrap_err().to_string();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn device_flags_override_only_what_they_name() {
        let remote: DeviceSpec = "remote:ws://127.0.0.1:7000".parse().unwrap();
        let apply = |flags: DeviceFlags| {
            let (mut backend, mut index, mut devices) =
                (Backend::Wgpu, Some(1), vec![remote.clone()]);
            flags.apply(&mut backend, &mut index, &mut devices);
            (backend, index, devices)
        };
        assert_eq!(
            apply(DeviceFlags::default()),
            (Backend::Wgpu, Some(1), vec![remote.clone()])
        );
        let flex = DeviceFlags {
            backend: Some(DeviceSpec::local(Backend::Flex)),
            ..DeviceFlags::default()
        };
        assert_eq!(apply(flex), (Backend::Flex, None, vec![]));
        let other: DeviceSpec = "remote:ws://127.0.0.1:7001".parse().unwrap();
        let one_remote = DeviceFlags {
            backend: Some(other.clone()),
            ..DeviceFlags::default()
        };
        assert_eq!(
            apply(one_remote),
            (Backend::Wgpu, Some(1), vec![other.clone()])
        );
        let list = DeviceFlags {
            devices: Some(vec![other.clone(), remote.clone()]),
            device: Some(0),
            ..DeviceFlags::default()
        };
        let (backend, index, devices) = apply(list);
        assert_eq!((backend, index), (Backend::Wgpu, Some(0)));
        assert_eq!(devices, [other, remote]);
        assert_eq!(
            run_devices(Backend::Flex, None, &devices),
            devices,
            "the list wins"
        );
        assert_eq!(
            run_devices(Backend::Wgpu, Some(2), &[]),
            ["wgpu:2".parse::<DeviceSpec>().unwrap()]
        );
    }

    #[test]
    fn duplicate_devices_and_too_few_rows_are_refused() {
        let a: DeviceSpec = "remote:ws://127.0.0.1:1".parse().unwrap();
        let b: DeviceSpec = "remote:ws://localhost:1".parse().unwrap();
        assert!(check_devices(&[a.clone(), b.clone()], 2).is_ok());
        let twice = check_devices(&[a.clone(), b.clone(), a.clone()], 8).unwrap_err();
        assert!(twice.to_string().contains("listed twice"), "{twice}");
        let rows = check_devices(&[a, b], 1).unwrap_err();
        assert!(rows.to_string().contains("at least one row"), "{rows}");
    }
}
