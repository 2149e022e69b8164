//! Listeners: binding every configured `[[listener]]`, and the TLS and WebSocket
//! handshakes that unwrap a connection ([`Stack::handshake`]) before the broker's client
//! task sees it. The accept loops are the broker's (`broker::server`): transport knows
//! nothing of the broker. Also the [`ListenerSet`] handle to reload certificates.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;

use super::tls::TlsContext;
use super::{ws, Error, Flushing};
use crate::config::{ListenerConfig, ListenerKind};

/// How connections on one listener are unwrapped before the client task sees them.
pub struct Stack {
    kind: ListenerKind,
    ws_path: String,
    tls: Option<Arc<TlsContext>>,
    stats: Arc<ListenerStats>,
}

/// The connections of one listener, for `/metrics`. The label is bounded by the config:
/// one per `[[listener]]`.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// `mqtt://127.0.0.1:1883`: the listener's scheme and bound address.
    pub name: String,
    /// Gauge: connections open now, from accept (before any handshake) until closed.
    pub open: AtomicU64,
    /// Connections accepted since start (refused ones beyond `max_connections` included).
    pub accepted: AtomicU64,
}

/// Counts one open connection of a listener until dropped.
pub struct OpenConnection(Arc<ListenerStats>);

impl ListenerStats {
    /// A connection was accepted: counted as open while the returned guard lives.
    pub fn accepted(self: &Arc<Self>) -> OpenConnection {
        self.accepted.fetch_add(1, Relaxed);
        self.open.fetch_add(1, Relaxed);
        OpenConnection(self.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Relaxed);
    }
}

/// A handle on the TLS settings of every listener, and their connection counts; cheap to
/// clone.
#[derive(Clone, Debug, Default)]
pub struct ListenerSet {
    tls: Arc<[Arc<TlsContext>]>,
    stats: Arc<[Arc<ListenerStats>]>,
}

impl ListenerSet {
    /// Every TLS file the listeners read (certificates, keys, client CAs).
    pub fn tls_files(&self) -> Vec<std::path::PathBuf> {
        self.tls
            .iter()
            .flat_map(|t| {
                t.files()
                    .map(std::path::Path::to_path_buf)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every listener's connection counts, in config order.
    pub fn stats(&self) -> &[Arc<ListenerStats>] {
        &self.stats
    }

    /// Re-reads every TLS listener's certificate, key and client CA (SIGHUP). All or
    /// nothing: if any file is bad, every listener keeps its current certificates. New
    /// handshakes use the new ones; open connections are not touched.
    ///
    /// # Errors
    /// The first file that cannot be loaded, named in the error.
    pub fn reload(&self) -> Result<(), Error> {
        let fresh = self
            .tls
            .iter()
            .map(|t| t.prepare())
            .collect::<Result<Vec<_>, _>>()?;
        for (t, config) in self.tls.iter().zip(fresh) {
            t.install(config);
        }
        tracing::info!(listeners = self.tls.len(), "TLS certificates reloaded");
        Ok(())
    }
}

/// Bound sockets, not yet accepting.
pub struct Bound {
    listeners: Vec<(TcpListener, Arc<Stack>)>,
    addrs: Vec<SocketAddr>,
    set: ListenerSet,
}

impl Bound {
    /// Loads every listener's TLS files, then binds every socket, in config order.
    ///
    /// # Errors
    /// A TLS file that cannot be used ([`Error`] names it) or an address that cannot be
    /// bound.
    pub async fn bind(configs: &[ListenerConfig]) -> Result<Self, Error> {
        let mut stacks = Vec::with_capacity(configs.len());
        let mut tls_all = Vec::new();
        for c in configs {
            let tls = c
                .tls
                .as_ref()
                .map(|t| TlsContext::load(t).map(Arc::new))
                .transpose()?;
            tls_all.extend(tls.clone());
            stacks.push(Stack {
                kind: c.kind,
                ws_path: c.ws_path.clone(),
                tls,
                stats: Arc::default(),
            });
        }
        let mut listeners = Vec::with_capacity(configs.len());
        let mut addrs = Vec::with_capacity(configs.len());
        let mut stats = Vec::with_capacity(configs.len());
        for (c, mut stack) in configs.iter().zip(stacks) {
            let bind_err = |source| Error::Bind {
                addr: c.bind,
                source,
            };
            let listener = TcpListener::bind(c.bind).await.map_err(bind_err)?;
            let addr = listener.local_addr().map_err(bind_err)?;
            tracing::info!(address = %addr, transport = stack.describe(), "listening");
            stack.stats = Arc::new(ListenerStats {
                name: format!("{}://{addr}", stack.describe()),
                ..ListenerStats::default()
            });
            stats.push(stack.stats.clone());
            addrs.push(addr);
            listeners.push((listener, Arc::new(stack)));
        }
        Ok(Self {
            listeners,
            addrs,
            set: ListenerSet {
                tls: tls_all.into(),
                stats: stats.into(),
            },
        })
    }

    /// The bound addresses (ephemeral ports resolved), in config order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn handle(&self) -> ListenerSet {
        self.set.clone()
    }

    /// The sockets and how to unwrap their connections, for the accept loops.
    pub fn into_listeners(self) -> Vec<(TcpListener, Arc<Stack>)> {
        self.listeners
    }
}

/// A connection after its handshakes, with what TLS learnt of the peer.
pub struct Wrapped {
    pub stream: Stream,
    /// The client certificate's identity (mutual TLS); `None` without one.
    pub cert_identity: Option<String>,
}

/// The unwrapped byte stream, by stack.
#[expect(
    clippy::large_enum_variant,
    reason = "moved once into the client task, which boxes nothing per variant"
)]
pub enum Stream {
    Ws(Flushing<ws::WsStream<TcpStream>>),
    Tls(Flushing<TlsStream<TcpStream>>),
    Wss(Flushing<ws::WsStream<TlsStream<TcpStream>>>),
}

impl Stack {
    /// This listener's connection counts.
    pub fn stats(&self) -> &Arc<ListenerStats> {
        &self.stats
    }

    /// Plain TCP: the client task gets the socket as it is.
    pub fn is_plain(&self) -> bool {
        self.kind == ListenerKind::Tcp && self.tls.is_none()
    }

    /// Runs the TLS and/or WebSocket handshakes by `deadline`; `None` (logged) when one
    /// fails or stalls. Not for plain TCP ([`Stack::is_plain`]).
    pub async fn handshake(
        &self,
        stream: TcpStream,
        address: &str,
        deadline: Instant,
        max_packet: u32,
    ) -> Option<Wrapped> {
        match &self.tls {
            None => {
                let ws = ws_handshake(stream, self, address, deadline, max_packet).await?;
                Some(Wrapped {
                    stream: Stream::Ws(Flushing::new(ws)),
                    cert_identity: None,
                })
            }
            Some(tls) => {
                let (stream, cert_identity) = tls_handshake(tls, stream, address, deadline).await?;
                let stream = if self.kind == ListenerKind::Tcp {
                    Stream::Tls(Flushing::new(stream))
                } else {
                    let ws = ws_handshake(stream, self, address, deadline, max_packet).await?;
                    Stream::Wss(Flushing::new(ws))
                };
                Some(Wrapped {
                    stream,
                    cert_identity,
                })
            }
        }
    }

    fn describe(&self) -> &'static str {
        match (self.kind, self.tls.is_some()) {
            (ListenerKind::Tcp, false) => "mqtt",
            (ListenerKind::Tcp, true) => "mqtts",
            (ListenerKind::Ws, false) => "ws",
            (ListenerKind::Ws, true) => "wss",
            // Bound by the MQTT-SN gateway, never here.
            (ListenerKind::Mqttsn, _) => "mqtt-sn/udp",
        }
    }
}

async fn tls_handshake(
    tls: &TlsContext,
    stream: TcpStream,
    address: &str,
    deadline: Instant,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, Option<String>)> {
    match tokio::time::timeout_at(deadline, tls.accept(stream)).await {
        Ok(Ok(ok)) => Some(ok),
        Ok(Err(e)) => {
            tracing::info!(%address, error = %e, "TLS handshake failed: closing");
            None
        }
        Err(_) => {
            tracing::info!(%address, "TLS handshake not done within connect_timeout: closing");
            None
        }
    }
}

async fn ws_handshake<S>(
    stream: S,
    stack: &Stack,
    address: &str,
    deadline: Instant,
    max_packet: u32,
) -> Option<ws::WsStream<S>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout_at(deadline, ws::accept(stream, &stack.ws_path, max_packet)).await {
        Ok(Ok(ws)) => Some(ws),
        Ok(Err(e)) => {
            tracing::info!(%address, error = %e, "WebSocket handshake failed: closing");
            None
        }
        Err(_) => {
            tracing::info!(
                %address,
                "WebSocket handshake not done within connect_timeout: closing"
            );
            None
        }
    }
}
