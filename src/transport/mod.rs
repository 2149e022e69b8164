//! Sockets: the listeners (plain TCP, TLS, WebSocket, TLS + WebSocket), the framed packet
//! reader/writer, and the errors a transport can hit at start-up. Only this module and
//! the broker's client task touch I/O.
//!
//! Stacks, outermost first (the client task is generic over the stream, so plain TCP
//! pays for nothing it does not use):
//! - `tcp`: `TcpStream`
//! - `tcp` + TLS: `Flushing<TlsStream<TcpStream>>`
//! - `ws`: `Flushing<WsStream<TcpStream>>`
//! - `ws` + TLS: `Flushing<WsStream<TlsStream<TcpStream>>>`
//!
//! each inside a `Counted`, which keeps the listener's open-connection gauge.

pub mod connection;
mod counted;
mod flush;
pub mod listener;
mod park;
pub mod tls;
pub mod watch;
pub mod ws;
mod x509;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use counted::Counted;
pub use flush::Flushing;
pub use listener::{Bound, ListenerSet};
pub use park::{Parkable, Socket};
pub use ws::WsStream;

/// Why a listener could not be set up (at start-up or on reload). Every message names the
/// address or the file at fault, because a user has to find and fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no PEM certificate found (expected a `BEGIN CERTIFICATE` block)", path.display())]
    NoCertificate { path: PathBuf },
    #[error(
        "{}: no PEM private key found (expected `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY`)",
        path.display()
    )]
    NoKey { path: PathBuf },
    #[error("{}: malformed PEM: {reason}", path.display())]
    Pem { path: PathBuf, reason: String },
    #[error("{} / {}: certificate and key not usable: {source}", cert.display(), key.display())]
    CertKey {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("{}: bad client CA: {reason}", path.display())]
    ClientCa { path: PathBuf, reason: String },
    #[error("TLS setup: {0}")]
    Tls(rustls::Error),
}
