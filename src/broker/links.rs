//! Published statistics of the broker's links to elsewhere: bridges to other brokers and
//! the MQTT-SN gateway's clients. Their owners (`crate::bridge`, `crate::mqttsn`) write
//! atomics and, when something changes, short-lived mutexes; observers (the snapshot,
//! `/metrics`, `$SYS`) read. Nothing here is on the publish path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::protocol::ProtocolVersion;

/// Takes a mutex even if a writer panicked: these are statistics, never invariants.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every link the broker has, shared by its owners and its observers.
#[derive(Debug, Default)]
pub struct Links {
    bridges: Mutex<Vec<Arc<BridgeStats>>>,
    /// The MQTT-SN gateway; untouched (all zero) without one.
    pub sn: SnStats,
}

impl Links {
    /// Registers a bridge (replacing one of the same name).
    pub fn add_bridge(&self, stats: Arc<BridgeStats>) {
        let mut all = lock(&self.bridges);
        all.retain(|b| b.name != stats.name);
        all.push(stats);
        all.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Forgets a bridge (it was removed from the configuration).
    pub fn remove_bridge(&self, name: &str) {
        lock(&self.bridges).retain(|b| b.name != name);
    }

    /// The registered bridges, by name.
    pub fn bridges(&self) -> Vec<Arc<BridgeStats>> {
        lock(&self.bridges).clone()
    }
}

/// Where a link stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    Connecting = 0,
    Up = 1,
    Down = 2,
    Stopped = 3,
}

/// Why a bridge dropped a message; each is exported from start-up at 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum BridgeDrop {
    /// The queue for the remote was full (`max_queued_messages`).
    QueueFull = 0,
    /// The local ACL refused a remote → local publish under the bridge's identity.
    Acl = 1,
    /// The message had already passed through this broker (the loop guard).
    Loop = 2,
    /// Larger than the remote's Maximum Packet Size.
    TooLarge = 3,
}

impl BridgeDrop {
    pub const ALL: [BridgeDrop; 4] = [
        BridgeDrop::QueueFull,
        BridgeDrop::Acl,
        BridgeDrop::Loop,
        BridgeDrop::TooLarge,
    ];

    /// The label value in metrics and the dashboard.
    pub fn label(self) -> &'static str {
        match self {
            BridgeDrop::QueueFull => "queue_full",
            BridgeDrop::Acl => "acl",
            BridgeDrop::Loop => "loop",
            BridgeDrop::TooLarge => "too_large",
        }
    }
}

/// One bridge's live numbers. Counters are totals since start.
#[derive(Debug)]
pub struct BridgeStats {
    pub name: String,
    pub client_id: String,
    pub protocol: ProtocolVersion,
    state: AtomicU8,
    /// The address in use or last tried.
    remote: Mutex<Option<String>>,
    last_error: Mutex<Option<String>>,
    /// Round-trip time of the last PINGREQ in µs; 0 = not measured yet.
    pub rtt_micros: AtomicU64,
    pub queued_messages: AtomicU64,
    pub queued_bytes: AtomicU64,
    /// Unix ms when the oldest queued message arrived; 0 = queue empty.
    pub oldest_queued_ms: AtomicU64,
    pub forwarded_in: AtomicU64,
    pub forwarded_out: AtomicU64,
    dropped: [AtomicU64; 4],
    /// Unix ms of the current connection; 0 = not connected.
    pub connected_since_ms: AtomicU64,
    pub connects: AtomicU64,
}

impl BridgeStats {
    pub fn new(name: &str, client_id: &str, protocol: ProtocolVersion) -> Self {
        Self {
            name: name.to_owned(),
            client_id: client_id.to_owned(),
            protocol,
            state: AtomicU8::new(LinkState::Down as u8),
            remote: Mutex::new(None),
            last_error: Mutex::new(None),
            rtt_micros: AtomicU64::new(0),
            queued_messages: AtomicU64::new(0),
            queued_bytes: AtomicU64::new(0),
            oldest_queued_ms: AtomicU64::new(0),
            forwarded_in: AtomicU64::new(0),
            forwarded_out: AtomicU64::new(0),
            dropped: Default::default(),
            connected_since_ms: AtomicU64::new(0),
            connects: AtomicU64::new(0),
        }
    }

    pub fn state(&self) -> LinkState {
        match self.state.load(Relaxed) {
            0 => LinkState::Connecting,
            1 => LinkState::Up,
            3 => LinkState::Stopped,
            _ => LinkState::Down,
        }
    }

    pub fn set_state(&self, state: LinkState) {
        self.state.store(state as u8, Relaxed);
    }

    pub fn remote(&self) -> Option<String> {
        lock(&self.remote).clone()
    }

    pub fn set_remote(&self, remote: Option<String>) {
        *lock(&self.remote) = remote;
    }

    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    pub fn set_last_error(&self, error: Option<String>) {
        *lock(&self.last_error) = error;
    }

    pub fn drop_one(&self, why: BridgeDrop) {
        self.drop_many(why, 1);
    }

    pub fn drop_many(&self, why: BridgeDrop, n: u64) {
        self.dropped[why as usize].fetch_add(n, Relaxed);
    }

    pub fn dropped(&self, why: BridgeDrop) -> u64 {
        self.dropped[why as usize].load(Relaxed)
    }
}

/// Where an MQTT-SN client stands (MQTT-SN 1.2, section 6.14).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SnClientState {
    Active,
    Asleep,
    Awake,
    Lost,
}

/// How an SN client names a topic in its topic-id table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicIdKind {
    Normal,
    Predefined,
    Short,
}

/// The gateway's view of one SN client, beside its broker session. Replaced whole when
/// it changes, so readers never see half an update.
#[derive(Clone, Debug)]
pub struct SnClientView {
    pub state: SnClientState,
    pub topic_ids: Vec<(u16, TopicIdKind, String)>,
    /// The head of the sleep buffer: (topic, QoS, payload bytes).
    pub buffered: Vec<(String, u8, u32)>,
    pub buffered_total: u32,
}

/// The MQTT-SN gateway's numbers and its clients' views.
#[derive(Debug, Default)]
pub struct SnStats {
    pub datagrams_in: AtomicU64,
    pub datagrams_out: AtomicU64,
    /// Malformed, unexpected or over-limit datagrams, discarded.
    pub datagrams_dropped: AtomicU64,
    /// Whether a gateway listener is configured (metrics show its families only then).
    pub enabled: std::sync::atomic::AtomicBool,
    clients: Mutex<HashMap<String, Arc<SnClientView>>>,
    /// `datagrams_dropped` by [`SnDrop`] reason.
    dropped_by: [AtomicU64; SnDrop::ALL.len()],
}

/// Why the MQTT-SN gateway discarded a datagram; each is exported from start-up at 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum SnDrop {
    /// Not an MQTT-SN 1.2 message (short, lying length, unknown type, …).
    Malformed = 0,
    /// Over `[mqttsn] max_datagrams_per_sec` for its source address.
    RateLimited = 1,
    /// From an address with no session, and not a CONNECT, SEARCHGW or QoS −1 PUBLISH.
    NotConnected = 2,
    /// The client's gateway task was behind (its queue full).
    Overflow = 3,
    /// Well-formed but not served (e.g. forwarder encapsulation, a gateway's ADVERTISE).
    Unsupported = 4,
}

impl SnDrop {
    pub const ALL: [SnDrop; 5] = [
        SnDrop::Malformed,
        SnDrop::RateLimited,
        SnDrop::NotConnected,
        SnDrop::Overflow,
        SnDrop::Unsupported,
    ];

    /// The label value in metrics.
    pub fn label(self) -> &'static str {
        match self {
            SnDrop::Malformed => "malformed",
            SnDrop::RateLimited => "rate_limited",
            SnDrop::NotConnected => "not_connected",
            SnDrop::Overflow => "overflow",
            SnDrop::Unsupported => "unsupported",
        }
    }
}

impl SnStats {
    pub fn set_client(&self, client_id: &str, view: SnClientView) {
        lock(&self.clients).insert(client_id.to_owned(), Arc::new(view));
    }

    pub fn remove_client(&self, client_id: &str) {
        lock(&self.clients).remove(client_id);
    }

    /// Counts one discarded datagram (also in `datagrams_dropped`).
    pub fn drop_one(&self, why: SnDrop) {
        self.dropped_by[why as usize].fetch_add(1, Relaxed);
        self.datagrams_dropped.fetch_add(1, Relaxed);
    }

    pub fn dropped(&self, why: SnDrop) -> u64 {
        self.dropped_by[why as usize].load(Relaxed)
    }

    /// One client's view, for the rows a dashboard shows.
    pub fn client(&self, client_id: &str) -> Option<Arc<SnClientView>> {
        lock(&self.clients).get(client_id).cloned()
    }

    /// Clients by state: (active, asleep, awake, lost).
    pub fn counts(&self) -> [u64; 4] {
        let mut n = [0u64; 4];
        for v in lock(&self.clients).values() {
            n[v.state as usize] += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridges_are_kept_by_name_and_replaced() {
        let links = Links::default();
        links.add_bridge(Arc::new(BridgeStats::new("b", "b.h", ProtocolVersion::V5)));
        links.add_bridge(Arc::new(BridgeStats::new("a", "a.h", ProtocolVersion::V5)));
        links.add_bridge(Arc::new(BridgeStats::new("b", "b2", ProtocolVersion::V5)));
        let names: Vec<_> = links
            .bridges()
            .iter()
            .map(|b| b.client_id.clone())
            .collect();
        assert_eq!(names, ["a.h", "b2"]);
        links.remove_bridge("a");
        assert_eq!(links.bridges().len(), 1);
    }

    #[test]
    fn sn_counts_follow_views() {
        let sn = SnStats::default();
        let view = |state| SnClientView {
            state,
            topic_ids: Vec::new(),
            buffered: Vec::new(),
            buffered_total: 0,
        };
        sn.set_client("x", view(SnClientState::Asleep));
        sn.set_client("y", view(SnClientState::Active));
        sn.set_client("x", view(SnClientState::Awake));
        assert_eq!(sn.counts(), [1, 0, 1, 0]);
        sn.remove_client("y");
        assert_eq!(sn.counts(), [0, 0, 1, 0]);
    }
}
