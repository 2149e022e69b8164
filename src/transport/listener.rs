//! Accept loops: one per configured listener. A connection beyond `max_connections` is
//! closed at once; accept errors (e.g. out of file descriptors) back off instead of
//! spinning.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::broker::{Context, Peer};
use crate::config::ListenerConfig;

pub async fn accept_loop(
    listener: TcpListener,
    cfg: ListenerConfig,
    ctx: Arc<Context>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
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
            tracing::warn!(%peer, "max_connections reached: refusing connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let _ = &cfg;
        tokio::spawn(async move {
            let peer = Peer {
                address: peer.to_string(),
                ..Peer::default()
            };
            crate::broker::serve(stream, peer, ctx).await;
            drop(permit);
        });
    }
}
