//! The accept side of the broker: one accept loop per bound socket, and the task per
//! connection that unwraps TLS and WebSocket (never the accept loop: a slow client must
//! not hold up the others) and then runs the client task.
//!
//! A connection beyond `max_connections` is closed at once; accept errors (e.g. out of
//! file descriptors) back off instead of spinning.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::time::Instant;

use super::client::{serve, Peer};
use super::Context;
use crate::transport::listener::{OpenConnection, Stack, Stream};
use crate::transport::{Bound, Counted};

/// Starts one accept loop per socket; they end when `shutdown` turns true.
pub fn spawn(bound: Bound, ctx: &Arc<Context>, shutdown: &watch::Receiver<bool>) {
    for (listener, stack) in bound.into_listeners() {
        tokio::spawn(accept_loop(listener, stack, ctx.clone(), shutdown.clone()));
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
        let open = stack.stats().accepted();
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
        tokio::spawn(async move { connection(stream, addr, &stack, open, permit, ctx).await });
    }
}

/// Serves one accepted connection: plain TCP at once, anything else after its
/// handshakes (all under one deadline of `connect_timeout`).
/// `open` counts the connection on its listener until the client task drops the stream.
async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    stack: &Stack,
    open: OpenConnection,
    permit: OwnedSemaphorePermit,
    ctx: Arc<Context>,
) {
    let address = addr.to_string();
    if stack.is_plain() {
        let peer = Peer {
            address,
            ..Peer::default()
        };
        return serve(Counted::new(stream, open), peer, permit, ctx).await;
    }
    // Boxed: the TLS and WebSocket handshakes are large futures, and every plain TCP
    // connection's task would otherwise be sized for them (memory per connection).
    Box::pin(wrapped(stream, address, stack, open, permit, ctx)).await;
}

async fn wrapped(
    stream: TcpStream,
    address: String,
    stack: &Stack,
    open: OpenConnection,
    permit: OwnedSemaphorePermit,
    ctx: Arc<Context>,
) {
    let deadline = Instant::now() + ctx.options.connect_timeout;
    let max_packet = ctx.options.max_packet_size;
    let Some(wrapped) = stack
        .handshake(stream, &address, deadline, max_packet)
        .await
    else {
        return;
    };
    let peer = Peer {
        address,
        tls: !matches!(wrapped.stream, Stream::Ws(_)),
        cert_identity: wrapped.cert_identity,
        internal: false,
        bridge: false,
        max_queued: None,
    };
    match wrapped.stream {
        Stream::Ws(s) => serve(Counted::new(s, open), peer, permit, ctx).await,
        Stream::Tls(s) => serve(Counted::new(s, open), peer, permit, ctx).await,
        Stream::Wss(s) => serve(Counted::new(s, open), peer, permit, ctx).await,
    }
}
