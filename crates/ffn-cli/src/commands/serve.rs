//! `ffn serve`: this machine's device for remote clients, through Burn's remote backend.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use anyhow::{Context, Result, bail};
use ffn_train::{DeviceSpec, SessionRequest, open_device};

use crate::args::ServeArgs;
use crate::printer;

pub fn run(args: ServeArgs, token: Option<&str>) -> Result<()> {
    let Some(token) = token else {
        bail!(
            "ffn serve needs a token that clients must present: --token-file FILE (or \
             FFN_REMOTE_TOKEN); e.g. `openssl rand -hex 32 > token`"
        );
    };
    let (backend, index) = match args.backend {
        DeviceSpec::Local { backend, index } => (backend, args.device.or(index)),
        DeviceSpec::Remote { .. } => {
            bail!("a server serves a device of its own machine, not a remote one")
        }
    };
    let address = listen_address(&args.listen)?;
    let device = open_device(backend, index)?;
    if !address.ip().is_loopback() {
        eprintln!(
            "warning: serving on {address}, reachable from other machines; WebSocket is \
             unencrypted: keep it on a trusted network or behind a tunnel"
        );
    }
    let listener =
        TcpListener::bind(address).with_context(|| format!("cannot listen on {address}"))?;
    let bound = listener.local_addr()?;
    printer::line(format!(
        "serving {} on ws://{bound} (Ctrl+C to stop)",
        device.description
    ))?;
    ffn_train::serve(&device, listener, token, log_session)?;
    eprintln!("server on {bound} stopped");
    Ok(())
}

/// The address `--listen` names: `ADDR:PORT`, or a port alone on the loopback interface.
fn listen_address(listen: &str) -> Result<SocketAddr> {
    if let Ok(port) = listen.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    let mut addresses = listen.to_socket_addrs().with_context(|| {
        format!("--listen {listen} is not ADDR:PORT (e.g. 127.0.0.1:3000) or a port")
    })?;
    addresses
        .next()
        .with_context(|| format!("--listen {listen} names no address"))
}

/// One line on stderr per session a client asks for.
fn log_session(request: SessionRequest) {
    let SessionRequest {
        client,
        device_index,
        refused,
    } = request;
    match refused {
        None => eprintln!("session opened for {client} (device {device_index})"),
        Some(reason) => eprintln!("session refused: {reason}"),
    }
}
