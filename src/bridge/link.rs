//! One bridge's life: set up its local session at start-up (state "0", subscriptions,
//! queue bound), then connect to the remote (addresses in order), forward while both
//! sides are up, and reconnect with capped exponential backoff and jitter. While the
//! remote is down the local side is disconnected, so messages for the remote wait in
//! the bridge's durable offline session (up to `max_queued_messages`).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::broker::links::{BridgeStats, LinkState};
use crate::broker::Context;
use crate::config::BridgeConfig;
use crate::protocol::{Packet, Props};

use super::forward::{Forward, LinkError};
use super::{local, remote};

const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// In flight from the remote to us at once (our v5 Receive Maximum there).
const RECEIVE_MAXIMUM_IN: u16 = 100;
/// In flight from the local broker to the remote at most: its Receive Maximum up to this
/// (a v3 remote announces none, a v5 one that leaves it out means 65,535). Picking a
/// packet id costs the same at any window (the session's id bitmap); the cap bounds
/// what a remote that is slow to acknowledge holds of ours, and what a reconnect resends.
const WINDOW_MAX: u16 = 1000;

/// Run the bridge until `stop` turns true.
pub async fn run(
    ctx: Arc<Context>,
    cfg: BridgeConfig,
    stats: Arc<BridgeStats>,
    mut stop: watch::Receiver<bool>,
) {
    let watcher = tokio::spawn(local::watch_queue(ctx.clone(), stats.clone()));
    serve(&ctx, &cfg, &stats, &mut stop).await;
    watcher.abort();
    stats.set_state(LinkState::Stopped);
    stats.connected_since_ms.store(0, Relaxed);
}

async fn serve(
    ctx: &Arc<Context>,
    cfg: &BridgeConfig,
    stats: &BridgeStats,
    stop: &mut watch::Receiver<bool>,
) {
    // Start-up: "0" until the first connection, and the session exists with its
    // subscriptions and queue bound even if the remote never comes.
    match local::connect(ctx, cfg, RECEIVE_MAXIMUM_IN, false).await {
        Ok(mut l) => {
            if let Some(u) = local::unsubscribe_stale(ctx, cfg).await {
                l.writer.push(&u);
            }
            if let Some(s) = local::subscribe_out(cfg) {
                l.writer.push(&s);
            }
            local::close(l, cfg, Some(false)).await;
        }
        Err(e) => stats.set_last_error(Some(format!("local broker: {e}"))),
    }
    let connector = match remote::connector(cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(bridge = %cfg.name, error = %e, "bridge TLS setup");
            stats.set_last_error(Some(e.to_string()));
            stats.set_state(LinkState::Down);
            let _ = stop.wait_for(|s| *s).await;
            return;
        }
    };
    let mut backoff = BACKOFF_MIN;
    while !*stop.borrow() {
        stats.set_state(LinkState::Connecting);
        let attempt = remote::connect(cfg, connector.as_ref(), RECEIVE_MAXIMUM_IN, |u| {
            stats.set_remote(Some(u.to_string()));
        });
        let res = tokio::select! {
            r = attempt => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match res {
            Ok((mut rem, url)) => {
                let window = rem
                    .connack
                    .properties
                    .receive_maximum
                    .unwrap_or(WINDOW_MAX)
                    .min(WINDOW_MAX);
                match local::connect(ctx, cfg, window, false).await {
                    Ok(mut loc) => {
                        if let Some(s) = local::subscribe_out(cfg) {
                            loc.writer.push(&s);
                        }
                        stats.connects.fetch_add(1, Relaxed);
                        stats
                            .connected_since_ms
                            .store(crate::os::unix_ms_now(), Relaxed);
                        stats.set_last_error(None);
                        tracing::info!(bridge = %cfg.name, remote = %url, "bridge up");
                        backoff = BACKOFF_MIN;
                        let why = Forward::new(cfg, stats, &rem)
                            .run(&mut rem, &mut loc, stop)
                            .await;
                        stats.set_state(LinkState::Down);
                        stats.connected_since_ms.store(0, Relaxed);
                        local::close(loc, cfg, Some(false)).await;
                        if let LinkError::Stopped = why {
                            rem.writer.push(&local::disconnect());
                            let _ =
                                tokio::time::timeout(Duration::from_secs(2), rem.writer.flush())
                                    .await;
                            return;
                        }
                        tracing::warn!(bridge = %cfg.name, remote = %url, error = %why, "bridge down");
                        stats.set_last_error(Some(why.to_string()));
                    }
                    Err(e) => {
                        stats.set_last_error(Some(format!("local broker: {e}")));
                        rem.writer
                            .push(&Packet::Disconnect(crate::protocol::Disconnect {
                                reason: crate::protocol::ReasonCode::Success,
                                properties: Props::default(),
                            }));
                        let _ = rem.writer.flush().await;
                    }
                }
            }
            Err(e) => {
                tracing::debug!(bridge = %cfg.name, error = %e, "bridge connect failed");
                stats.set_last_error(Some(e.to_string()));
            }
        }
        stats.set_state(LinkState::Down);
        tokio::select! {
            () = tokio::time::sleep(jitter(backoff)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// A delay in [d/2, d]: bridges that lost the same remote don't return in lockstep.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 8];
    let r = if getrandom::fill(&mut b).is_ok() {
        u64::from_le_bytes(b)
    } else {
        u64::from(crate::os::unix_ms_now().wrapping_mul(2_654_435_761) as u32)
    };
    let half = d / 2;
    let span = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
    half + Duration::from_micros(r % span)
}

/// A removed bridge: its local session (and whatever it queued) is discarded.
pub async fn forget(ctx: &Arc<Context>, cfg: &BridgeConfig) {
    if let Ok(l) = local::connect(ctx, cfg, 1, true).await {
        local::close(l, cfg, Some(false)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_half_to_full() {
        for _ in 0..100 {
            let j = jitter(Duration::from_secs(4));
            assert!(
                j >= Duration::from_secs(2) && j <= Duration::from_secs(4),
                "{j:?}"
            );
        }
    }
}
