//! Listeners: binding every configured `[[listener]]`, one accept loop per socket, and the
//! per-connection task that runs the TLS and WebSocket handshakes (never the accept loop:
//! a slow client must not hold up the others) before handing the stream to the client
//! task. Also the [`ListenerSet`] handle the broker keeps to reload certificates.
//!
//! A connection beyond `max_connections` is closed at once; accept errors (e.g. out of
//! file descriptors) back off instead of spinning.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::time::Instant;

use super::tls::TlsContext;
use super::{ws, Error, Flushing};
use crate::broker::{serve, Context, Peer};
use crate::config::{ListenerConfig, ListenerKind};

/// How connections on one listener are unwrapped before the client task sees them.
struct Stack {
    kind: ListenerKind,
    ws_path: String,
    tls: Option<Arc<TlsContext>>,
}

/// A handle on the TLS settings of every listener; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct ListenerSet {
    tls: Arc<[Arc<TlsContext>]>,
}

impl ListenerSet {
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
            stacks.push(Arc::new(Stack {
                kind: c.kind,
                ws_path: c.ws_path.clone(),
                tls,
            }));
        }
        let mut listeners = Vec::with_capacity(configs.len());
        let mut addrs = Vec::with_capacity(configs.len());
        for (c, stack) in configs.iter().zip(stacks) {
            let bind_err = |source| Error::Bind {
                addr: c.bind,
                source,
            };
            let listener = TcpListener::bind(c.bind).await.map_err(bind_err)?;
            let addr = listener.local_addr().map_err(bind_err)?;
            tracing::info!(address = %addr, transport = stack.describe(), "listening");
            addrs.push(addr);
            listeners.push((listener, stack));
        }
        Ok(Self {
            listeners,
            addrs,
            set: ListenerSet {
                tls: tls_all.into(),
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

    /// Starts one accept loop per socket; they end when `shutdown` turns true.
    pub fn spawn(self, ctx: &Arc<Context>, shutdown: &watch::Receiver<bool>) {
        for (listener, stack) in self.listeners {
            tokio::spawn(accept_loop(listener, stack, ctx.clone(), shutdown.clone()));
        }
    }
}

impl Stack {
    fn describe(&self) -> &'static str {
        match (self.kind, self.tls.is_some()) {
            (ListenerKind::Tcp, false) => "mqtt",
            (ListenerKind::Tcp, true) => "mqtts",
            (ListenerKind::Ws, false) => "ws",
            (ListenerKind::Ws, true) => "wss",
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    stack: Arc<Stack>,
    ctx: Arc<Context>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (stream, addr) = match accepted {
            Ok(a) => {
                backoff = Duration::from_millis(5);
                a
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(permit) = ctx.connections.clone().try_acquire_owned() else {
            tracing::warn!(peer = %addr, "max_connections reached: refusing connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let stack = stack.clone();
        // The permit is held through the handshakes (a stalled one still counts), then by
        // the client task.
        tokio::spawn(async move { connection(stream, addr, &stack, permit, ctx).await });
    }
}

/// Unwraps TLS and WebSocket as configured, all under one deadline of `connect_timeout`,
/// then serves the connection. A failed or stalled handshake is logged and closed.
async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    stack: &Stack,
    permit: OwnedSemaphorePermit,
    ctx: Arc<Context>,
) {
    let address = addr.to_string();
    if stack.kind == ListenerKind::Tcp && stack.tls.is_none() {
        // Plain TCP: the client task gets the socket itself.
        let peer = Peer {
            address,
            ..Peer::default()
        };
        return serve(stream, peer, permit, ctx).await;
    }
    // Boxed: the TLS and WebSocket handshakes are large futures, and every plain TCP
    // connection's task would otherwise be sized for them (memory per connection).
    Box::pin(wrapped(stream, address, stack, permit, ctx)).await;
}

/// A TLS and/or WebSocket connection: handshakes under `connect_timeout`, then serve.
async fn wrapped(
    stream: TcpStream,
    address: String,
    stack: &Stack,
    permit: OwnedSemaphorePermit,
    ctx: Arc<Context>,
) {
    let deadline = Instant::now() + ctx.options.connect_timeout;
    let max_packet = ctx.options.max_packet_size;
    match &stack.tls {
        None => {
            let Some(ws) = ws_handshake(stream, stack, &address, deadline, max_packet).await else {
                return;
            };
            let peer = Peer {
                address,
                ..Peer::default()
            };
            serve(Flushing::new(ws), peer, permit, ctx).await;
        }
        Some(tls) => {
            let Some((stream, cert_identity)) =
                tls_handshake(tls, stream, &address, deadline).await
            else {
                return;
            };
            let peer = Peer {
                address,
                tls: true,
                cert_identity,
                internal: false,
            };
            if stack.kind == ListenerKind::Tcp {
                return serve(Flushing::new(stream), peer, permit, ctx).await;
            }
            let Some(ws) = ws_handshake(stream, stack, &peer.address, deadline, max_packet).await
            else {
                return;
            };
            serve(Flushing::new(ws), peer, permit, ctx).await;
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
