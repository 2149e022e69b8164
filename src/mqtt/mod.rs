//! midge's own MQTT client core, shared by everything that talks to a broker as a client
//! (`midge monitor`, the dashboard's in-process client, bridges): broker URLs ([`url`]),
//! the TCP/TLS connection ([`tls`]), and the protocol steps every client repeats
//! ([`conn`]: CONNECT/CONNACK for 3.1, 3.1.1 and 5 with the v5 → 3.1.1 fallback, packet
//! ids, SUBSCRIBE, keep-alive with round-trip time). It owns no policy: what to publish,
//! subscribe and acknowledge is up to the caller.

pub mod conn;
pub mod tls;
pub mod url;

use tokio::io::{AsyncRead, AsyncWrite};

pub use conn::{ClientError, ConnectOptions, Connected, KeepAlive, PidAlloc};
pub use tls::{TlsError, TlsOptions};
pub use url::{BrokerUrl, UrlError};

/// Any byte stream a client can run over (TCP, TLS, an in-process duplex).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
}
