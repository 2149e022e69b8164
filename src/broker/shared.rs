//! State that a client task publishes for the router, `$SYS` and the dashboard to read:
//! atomics (cheap enough to keep always on) and a detail block refreshed only while
//! someone watches.

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
    /// Gauge: clients online now.
    pub clients_connected: AtomicU64,
    /// Gauge: the most clients online at once.
    pub clients_maximum: AtomicU64,
    /// Set while a dashboard (or monitor) watches: clients then refresh their detail.
    pub watched: AtomicBool,
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
            detail: Mutex::new(Vec::new()),
        })
    }
}
