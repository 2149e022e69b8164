//! The local side of a bridge: an in-process connection to this broker (served like a
//! socket, flagged as a bridge, ACL applied under the bridge's client id) holding a
//! persistent session — the durable outbound queue — plus the bridge's state topic and
//! the router's view of that session for the statistics.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::DuplexStream;
use tokio::sync::oneshot;

use crate::broker::links::{BridgeDrop, BridgeStats};
use crate::broker::router::watch::Query;
use crate::broker::stats::ClientStats;
use crate::broker::{Context, Peer, RouterMsg};
use crate::config::BridgeConfig;
use crate::mqtt::conn::{self, ClientError, ConnectOptions, Connected};
use crate::protocol::{
    ByteStr, LastWill, Packet, Properties, Props, ProtocolVersion, Publish, QoS, QosPid,
    SubscriptionOptions,
};

/// How long the in-process CONNECT may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The local side's keep-alive (it is in-process; this only keeps the broker content).
pub const LOCAL_KEEP_ALIVE: u16 = 60;
/// Packet id of the local SUBSCRIBE (our own id space toward the broker).
pub const SUBSCRIBE_PID: u16 = 1;

/// The local side's connection.
pub type Local = Connected<DuplexStream>;

/// An in-process bridge connection to this broker.
fn open(ctx: &Arc<Context>, cfg: &BridgeConfig) -> DuplexStream {
    let (client, server) = tokio::io::duplex(256 * 1024);
    let peer = Peer {
        address: format!("bridge:{}", cfg.name),
        bridge: true,
        max_queued: Some(cfg.max_queued_messages),
        ..Peer::default()
    };
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let Ok(permit) = ctx.connections.clone().try_acquire_owned() else {
            return;
        };
        crate::broker::serve(server, peer, permit, ctx).await;
    });
    client
}

/// Connect the local side: MQTT 5, the bridge's client id, a session that never expires
/// (so QoS ≥ 1 messages for the remote are stored before their publisher's ack and
/// survive restarts), at most `receive_maximum` messages in flight to us, and a will of
/// "0" on the state topic. `clean` discards the session (a removed bridge).
///
/// # Errors
/// The broker refused or the in-process connection failed.
pub async fn connect(
    ctx: &Arc<Context>,
    cfg: &BridgeConfig,
    receive_maximum: u16,
    clean: bool,
) -> Result<Local, ClientError> {
    let mut o = ConnectOptions::new(&cfg.client_id, LOCAL_KEEP_ALIVE);
    o.protocol = ProtocolVersion::V5;
    o.clean_start = clean;
    o.session_expiry = Some(if clean { 0 } else { u32::MAX });
    o.receive_maximum = Some(receive_maximum.max(1));
    o.will = Some(LastWill {
        topic: ByteStr::from(cfg.state_topic().as_str()),
        payload: Bytes::from_static(b"0"),
        qos: QoS::AtMostOnce,
        retain: true,
        properties: Props::default(),
    });
    conn::handshake(open(ctx, cfg), &o, TIMEOUT).await
}

/// The retained state message: "1" up, "0" down (Mosquitto's notification).
pub fn state(cfg: &BridgeConfig, up: bool) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::Level0,
        retain: true,
        topic: ByteStr::from(cfg.state_topic().as_str()),
        properties: Props::default(),
        payload: Bytes::from_static(if up { b"1" } else { b"0" }),
    })
}

/// The SUBSCRIBE for the `out` lines (with local prefixes), at each line's QoS. The
/// broker adds No Local and Retain As Published for a bridge.
pub fn subscribe_out(cfg: &BridgeConfig) -> Option<Packet> {
    let filters: Vec<(String, SubscriptionOptions)> = cfg
        .topics
        .iter()
        .filter(|t| t.direction.out())
        .map(|t| {
            (
                t.local_filter(),
                SubscriptionOptions {
                    qos: t.qos,
                    ..SubscriptionOptions::default()
                },
            )
        })
        .collect();
    let pid = std::num::NonZeroU16::new(SUBSCRIBE_PID)?;
    (!filters.is_empty()).then(|| conn::subscribe(pid, filters, Properties::default()))
}

/// An UNSUBSCRIBE of the session's filters no `out` line asks for any more (the topic
/// list changed while the session was kept), read from the router's view of it.
pub async fn unsubscribe_stale(ctx: &Context, cfg: &BridgeConfig) -> Option<Packet> {
    let (tx, rx) = oneshot::channel();
    let q = Query::Describe {
        clients: vec![Arc::from(cfg.client_id.as_str())],
        inflight: 0,
        reply: tx,
    };
    ctx.router.send(RouterMsg::Observe(q)).await.ok()?;
    let described = tokio::time::timeout(TIMEOUT, rx).await.ok()?.ok()?;
    let wanted: Vec<String> = cfg
        .topics
        .iter()
        .filter(|t| t.direction.out())
        .map(crate::config::BridgeTopic::local_filter)
        .collect();
    let stale: Vec<ByteStr> = described
        .sessions
        .first()?
        .subscriptions
        .iter()
        .filter(|(f, _, _)| !wanted.iter().any(|w| w.as_str() == &**f))
        .map(|(f, _, _)| f.clone())
        .collect();
    let pid = std::num::NonZeroU16::new(SUBSCRIBE_PID + 1)?;
    (!stale.is_empty()).then(|| {
        Packet::Unsubscribe(crate::protocol::Unsubscribe {
            pid,
            properties: Props::default(),
            filters: stale,
        })
    })
}

/// A graceful DISCONNECT (no will).
pub fn disconnect() -> Packet {
    Packet::Disconnect(crate::protocol::Disconnect {
        reason: crate::protocol::ReasonCode::Success,
        properties: Props::default(),
    })
}

/// Publish the state and say goodbye; errors are moot (the connection ends anyway).
pub async fn close(mut local: Local, cfg: &BridgeConfig, up_state: Option<bool>) {
    if let Some(up) = up_state {
        local.writer.push(&state(cfg, up));
    }
    local.writer.push(&disconnect());
    let _ = tokio::time::timeout(TIMEOUT, local.writer.flush()).await;
    // Wait for the broker to close its end, so the session is offline before we go on.
    let _ = tokio::time::timeout(TIMEOUT, async {
        while let Ok(Some(_)) = local.reader.read_packet().await {}
    })
    .await;
}

/// Refreshes the bridge's queue numbers from the router's view of its session, once a
/// second, until the bridge stops: queued messages (and in flight to the bridge), the
/// bytes and age of the queue's head, and drops for a full queue.
pub async fn watch_queue(ctx: Arc<Context>, stats: Arc<BridgeStats>) {
    let client: crate::broker::message::ClientId = Arc::from(stats.client_id.as_str());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Drops are counted per connection (ClientStats); earlier connections' are kept here.
    let mut seen: Option<Arc<ClientStats>> = None;
    let mut dropped_before = 0u64;
    let mut counted = 0u64;
    loop {
        tick.tick().await;
        let (tx, rx) = oneshot::channel();
        let q = Query::Describe {
            clients: vec![client.clone()],
            inflight: 0,
            reply: tx,
        };
        if ctx.router.send(RouterMsg::Observe(q)).await.is_err() {
            return;
        }
        let Ok(described) = rx.await else { return };
        let (tx, rx) = oneshot::channel();
        let q = Query::Stats {
            client: client.clone(),
            reply: tx,
        };
        if ctx.router.send(RouterMsg::Observe(q)).await.is_err() {
            return;
        }
        let cstats = rx.await.ok().flatten();
        let Some(s) = described.sessions.first() else {
            continue;
        };
        let inflight = match (s.offline_inflight, &cstats) {
            (Some((out, _)), _) => u64::from(out),
            (None, Some(c)) => u64::from(c.inflight_out.load(Relaxed)),
            (None, None) => 0,
        };
        stats
            .queued_messages
            .store(s.queued as u64 + inflight, Relaxed);
        stats.queued_bytes.store(s.queued_bytes, Relaxed);
        let oldest = s.queue_head.first().map_or(0, |q| {
            let age = crate::broker::clock::now().saturating_duration_since(q.received_at);
            crate::os::unix_ms_now().saturating_sub(age.as_millis() as u64)
        });
        stats.oldest_queued_ms.store(oldest, Relaxed);
        if let Some(c) = cstats {
            if seen.as_ref().is_some_and(|s| !Arc::ptr_eq(s, &c)) {
                dropped_before += seen.as_ref().map_or(0, |s| s.dropped.load(Relaxed));
            }
            let total = dropped_before + c.dropped.load(Relaxed);
            stats.drop_many(BridgeDrop::QueueFull, total.saturating_sub(counted));
            counted = counted.max(total);
            seen = Some(c);
        }
    }
}
