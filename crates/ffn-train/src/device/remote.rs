//! Devices on other machines through Burn's remote backend: connecting to an `ffn serve` server
//! with the shared token, and serving this machine's device to such clients.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use burn::prelude::*;
use burn::remote::{ConnectError, RemoteHost};
use burn::server::{
    AuthorizationRequest, PeerAuthorizer, RemoteServer, TokenAuthorizer, WebSocketTransport,
};

use super::{OpenedDevice, answer_within};
use crate::TrainError;

/// How long a server may take to answer a connection before it is an error, not a hang.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The token this process presents to remote servers, set once by the program.
static TOKEN: OnceLock<Mutex<Option<String>>> = OnceLock::new();

/// Sets the token presented to every remote server from now on (the binary reads it from
/// `--token-file` or `FFN_REMOTE_TOKEN`). Kept out of configs: it is never saved with a run.
pub fn set_remote_token(token: &str) {
    let slot = TOKEN.get_or_init(|| Mutex::new(None));
    let mut slot = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *slot = Some(token.to_string());
}

/// The token set by [`set_remote_token`].
fn remote_token() -> Option<String> {
    let slot = TOKEN.get()?;
    let slot = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    slot.clone()
}

/// The token read from a token file: its text without surrounding whitespace, refused when empty.
pub fn read_token(path: &std::path::Path) -> Result<String, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::Run {
        path: path.to_path_buf(),
        reason: format!("cannot read the token file: {e}"),
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TrainError::InvalidConfig(format!(
            "the token file {} is empty; write a secret (e.g. `openssl rand -hex 32`) into it",
            path.display()
        )));
    }
    Ok(token.to_string())
}

/// Connects device 0 of the `ffn serve` server at `url` with the token set by
/// [`set_remote_token`]. A server that does not answer within [`CONNECT_TIMEOUT`] is an error.
pub(crate) fn connect(url: &str) -> Result<OpenedDevice, TrainError> {
    let fail = |reason: String| TrainError::Remote {
        device: format!("remote:{url}"),
        reason,
    };
    let Some(token) = remote_token() else {
        return Err(fail(
            "no token to present: set FFN_REMOTE_TOKEN or pass --token-file (the server's)".into(),
        ));
    };
    reachable(url).map_err(fail)?;
    let host = RemoteHost::websocket(url).with_credential(token);
    match answer_within(CONNECT_TIMEOUT, move || {
        Device::remote_options(&host).init()
    }) {
        Some(Ok(device)) => Ok(OpenedDevice {
            device,
            spec: super::DeviceSpec::Remote {
                url: url.to_string(),
            },
            description: format!("remote {url}"),
        }),
        Some(Err(error)) => Err(fail(connect_reason(&error))),
        None => Err(fail(format!(
            "no answer within {} s; check the address and that `ffn serve` runs there",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// Whether a TCP connection to the server of `url` (`ws://HOST:PORT`) opens within
/// [`CONNECT_TIMEOUT`]: a refused or unroutable address fails at once, with the system's reason,
/// rather than after Burn's retries.
fn reachable(url: &str) -> Result<(), String> {
    let address = url.trim_start_matches("ws://");
    let candidates = address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {address}: {e}"))?;
    let mut last = format!("{address} resolves to no address");
    for candidate in candidates {
        match TcpStream::connect_timeout(&candidate, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("cannot connect to {candidate}: {e}"),
        }
    }
    Err(format!("{last}; is `ffn serve` running there?"))
}

/// What to tell the user about a failed connection.
fn connect_reason(error: &ConnectError) -> String {
    match error {
        ConnectError::Unauthorized => {
            "the server refused the token; present the server's token with --token-file or \
             FFN_REMOTE_TOKEN"
                .into()
        }
        ConnectError::Unreachable { reason } => {
            format!("unreachable ({reason}); is `ffn serve` running there?")
        }
        ConnectError::IncompatibleProtocol {
            client_version,
            server_version,
        } => format!(
            "the server speaks Burn Remote protocol {server_version}, this client \
             {client_version}: run the same ffn release on both sides"
        ),
        other => other.to_string(),
    }
}

/// A session a client asked a server for, as the server's log shows it.
#[derive(Debug, Clone)]
pub struct SessionRequest {
    /// The address the client connected from.
    pub client: String,
    /// The device asked for.
    pub device_index: u32,
    /// Why it was refused; `None` when accepted.
    pub refused: Option<String>,
}

/// Serves `device` to clients on `listener` until SIGINT or SIGTERM, opening sessions only for
/// clients that present `token`; `on_session` is told every request. Blocks the calling thread.
pub fn serve(
    device: &OpenedDevice,
    listener: TcpListener,
    token: &str,
    on_session: impl Fn(SessionRequest) + Send + Sync + 'static,
) -> Result<(), TrainError> {
    let tokens = TokenAuthorizer::new(token).map_err(|_| {
        TrainError::InvalidConfig("the server's token is empty; a server needs a token".into())
    })?;
    let authorizer = LoggingAuthorizer {
        tokens,
        on_session: Arc::new(on_session),
    };
    let address = listener.local_addr().ok();
    RemoteServer::new([device.device.clone()])
        .with_authorizer(authorizer)
        .serve(WebSocketTransport::from_listener(listener))
        .map_err(|error| TrainError::Serve {
            address: address.map_or_else(|| "?".into(), |a: SocketAddr| a.to_string()),
            reason: error.to_string(),
        })
}

/// The token check, telling the server's log about every request.
struct LoggingAuthorizer {
    tokens: TokenAuthorizer,
    on_session: Arc<dyn Fn(SessionRequest) + Send + Sync>,
}

impl PeerAuthorizer for LoggingAuthorizer {
    fn authorize(&self, request: AuthorizationRequest<'_>) -> Result<(), String> {
        let client = request.client.to_string();
        let device_index = request.device_index;
        let verdict = self.tokens.authorize(request);
        (self.on_session)(SessionRequest {
            client,
            device_index,
            refused: verdict.as_ref().err().cloned(),
        });
        verdict
    }
}

/// How long a device may take to answer the probe that tells a lost server from a live one.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `work`, which computes on `devices`. When one of them is remote, a panic of Burn's
/// remote client (its server was stopped or cut off mid-run) becomes the error `lost` makes
/// from the device that no longer answers (`remote:URL`) and the panic's message, without the
/// panic printing anything. Any other panic goes on with its own message.
pub(crate) fn surviving_lost_devices<T>(
    devices: &[&OpenedDevice],
    work: impl FnOnce() -> Result<T, TrainError>,
    lost: impl FnOnce(String, String) -> TrainError,
) -> Result<T, TrainError> {
    let remote: Vec<&OpenedDevice> = devices
        .iter()
        .copied()
        .filter(|d| d.spec.is_remote())
        .collect();
    if remote.is_empty() {
        return work();
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
    std::panic::set_hook(previous);
    let payload = match outcome {
        Ok(result) => return result,
        Err(payload) => payload,
    };
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message")
        .to_string();
    match remote.into_iter().find(|device| !answers(device)) {
        Some(device) => Err(lost(device.spec.to_string(), message)),
        // Not a lost device but a bug: raised again under the restored hook, which prints it.
        None => panic!("{message}"),
    }
}

/// Whether `device` still computes and returns a value within [`PROBE_TIMEOUT`].
fn answers(device: &OpenedDevice) -> bool {
    let device = device.device.clone();
    answer_within(PROBE_TIMEOUT, move || {
        std::panic::catch_unwind(|| {
            Tensor::<1>::ones([1], &device)
                .sum()
                .try_into_data()
                .is_ok()
        })
        .unwrap_or(false)
    })
    .unwrap_or(false)
}
