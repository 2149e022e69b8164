//! Statistics the core publishes for observers (`broker/observe`) to read without asking
//! the router: broker-wide counters and gauges, each client's numbers, and which clients
//! changed since an observer last looked. Atomics, cheap enough to keep always on; the
//! change list and the in-flight detail are fed only while someone watches.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use crate::protocol::{ProtocolVersion, QoS};

use super::message::ClientId;

/// Broker-wide counters. Monotonic totals unless said otherwise.
#[derive(Debug, Default)]
pub struct Metrics {
    pub messages_received: AtomicU64,
    pub messages_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub publish_dropped: AtomicU64,
    pub connections_total: AtomicU64,
    pub auth_failures: AtomicU64,
    pub protocol_errors: AtomicU64,
    /// Bridged messages not routed because this broker had seen them (the loop guard).
    pub loop_dropped: AtomicU64,
    /// Gauge: clients online now.
    pub clients_connected: AtomicU64,
    /// Gauge: idle connections parked without a task (`broker::park`).
    pub parked: AtomicU64,
    /// Parked connections served again (woken by their socket, a delivery or keep-alive).
    pub resumed: AtomicU64,
    /// Gauge: the most clients online at once.
    pub clients_maximum: AtomicU64,
    /// Gauge: sessions kept, online and offline (the router's client table).
    pub sessions: AtomicU64,
    /// Gauge: subscriptions across all sessions.
    pub subscriptions: AtomicU64,
    /// Gauge: retained messages stored.
    pub retained: AtomicU64,
    /// Messages the dashboard's tap could not take (its channel was full).
    pub tap_dropped: AtomicU64,
    /// Set while a dashboard (or monitor) watches: clients then refresh their detail and
    /// report their changes in `changed`.
    pub watched: AtomicBool,
    /// Clients whose numbers changed since the observer last drained this (each listed
    /// once: see [`ClientStats::touch`]).
    changed: Mutex<Vec<ClientId>>,
}

impl Metrics {
    /// Clients that changed since the last call. The observer clears each one's flag
    /// ([`ClientStats::clear_dirty`]) before reading its numbers, so a change racing with
    /// the read is reported again.
    pub fn take_changed(&self) -> Vec<ClientId> {
        std::mem::take(
            &mut *self
                .changed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// An observer started or stopped watching: clients report changes only meanwhile.
    pub fn set_watched(&self, on: bool) {
        self.watched.store(on, std::sync::atomic::Ordering::Relaxed);
        if !on {
            self.take_changed();
        }
    }

    /// Sessions whose client is not connected.
    pub fn offline_sessions(&self) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        self.sessions
            .load(Relaxed)
            .saturating_sub(self.clients_connected.load(Relaxed))
    }
}

/// What the client said about itself at CONNECT, fixed for the connection's life.
#[derive(Clone, Debug)]
pub struct ClientInfo {
    pub client_id: ClientId,
    pub address: String,
    pub protocol: ProtocolVersion,
    pub username: Option<String>,
    pub tls: bool,
    pub keep_alive: u16,
    pub connected_since: SystemTime,
    pub clean_start: bool,
    /// The broker's own in-process client: exempt from authentication and the ACL.
    pub internal: bool,
    /// A bridge between brokers: an incoming one (protocol level 0x83/0x84, or v5 with
    /// the user property `midge-bridge`) or the local side of one of ours. It is never
    /// sent its own messages back, sees the retain flag as published, and may report
    /// its state on `$SYS/broker/connection/<client_id>/state`.
    pub bridge: bool,
}

/// Which acknowledgement a QoS 1/2 exchange waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    PubAck,
    PubRec,
    PubRel,
    PubComp,
}

#[derive(Clone, Debug)]
pub struct InflightDetail {
    pub outgoing: bool,
    pub packet_id: u16,
    pub topic: crate::protocol::ByteStr,
    pub qos: QoS,
    pub state: Stage,
    pub since: Instant,
    pub resends: u32,
}

/// One connection's live numbers.
#[derive(Debug)]
pub struct ClientStats {
    pub info: ClientInfo,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub inflight_out: AtomicU32,
    pub inflight_in: AtomicU32,
    pub dropped: AtomicU64,
    /// Messages queued in the offline session (kept by the router; online, the observer
    /// reads the client's inbox).
    pub queued_offline: AtomicU32,
    /// Listed in `Metrics::changed` and not yet taken.
    dirty: AtomicBool,
    /// In-flight detail, refreshed by the client task only while `Metrics::watched`.
    pub detail: Mutex<Vec<InflightDetail>>,
}

impl ClientStats {
    pub fn new(info: ClientInfo) -> Arc<Self> {
        Arc::new(Self {
            info,
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            inflight_out: AtomicU32::new(0),
            inflight_in: AtomicU32::new(0),
            dropped: AtomicU64::new(0),
            queued_offline: AtomicU32::new(0),
            dirty: AtomicBool::new(false),
            detail: Mutex::new(Vec::new()),
        })
    }

    /// Report a change of this client's numbers to a watching observer: one relaxed load
    /// while nobody watches, and one list entry per client per observation interval.
    #[inline]
    pub fn touch(&self, metrics: &Metrics) {
        use std::sync::atomic::Ordering::Relaxed;
        if metrics.watched.load(Relaxed)
            && !self.dirty.load(Relaxed)
            && !self.dirty.swap(true, Relaxed)
        {
            metrics
                .changed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(self.info.client_id.clone());
        }
    }

    /// The observer took this client's change: the next change is reported again.
    pub fn clear_dirty(&self) {
        self.dirty
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

pub use crate::os::unix_ms;
