//! The broker's links to elsewhere as a source sees them: bridges to other brokers and
//! MQTT-SN clients behind the built-in gateway. Plain data for the Bridges view, the
//! Connections table and the client detail.

/// Where a bridge's link to its remote broker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum BridgeState {
    /// Opening a connection (TCP, TLS, CONNECT) to one of its addresses.
    Connecting,
    /// Connected; messages flow.
    Up,
    /// Not connected; waiting to retry (backoff).
    Down,
    /// Removed or stopped (e.g. by a reload); kept until the next snapshot.
    Stopped,
}

impl BridgeState {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            BridgeState::Connecting => "connecting",
            BridgeState::Up => "up",
            BridgeState::Down => "down",
            BridgeState::Stopped => "stopped",
        }
    }
}

/// One configured bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BridgeInfo {
    /// The `[[bridge]] name`.
    pub name: String,
    /// The client id it uses on both brokers.
    pub client_id: String,
    pub state: BridgeState,
    /// The address in use (or last tried), e.g. `mqtts://cloud.example:8883`.
    pub remote: Option<String>,
    pub protocol: crate::ProtocolLabel,
    /// Round-trip time of the last PINGREQ/PINGRESP.
    pub rtt_micros: Option<u64>,
    /// Messages waiting for the remote (QoS ≥ 1 ones are in the durable store).
    pub queued_messages: u64,
    pub queued_bytes: u64,
    /// Unix ms when the oldest queued message was received; `None` when the queue is empty.
    pub oldest_queued_ms: Option<u64>,
    /// Messages forwarded remote → local and local → remote (totals).
    pub forwarded_in: u64,
    pub forwarded_out: u64,
    /// Messages dropped, by reason (e.g. `queue_full`, `acl`, `loop`); totals.
    pub dropped: Vec<(String, u64)>,
    /// Unix ms of the current connection; `None` when not connected.
    pub connected_since_ms: Option<u64>,
    /// Connections made since start (1 after the first).
    pub connects: u64,
    /// Why the link last failed, e.g. a TLS reason or "connection refused".
    pub last_error: Option<String>,
}

/// Where an MQTT-SN client stands (MQTT-SN 1.2, section 6.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SnState {
    Active,
    Asleep,
    /// Woken by a PINGREQ; receiving its buffered messages.
    Awake,
    /// Sleep or keep-alive expired; its will was published.
    Lost,
}

impl SnState {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            SnState::Active => "active",
            SnState::Asleep => "asleep",
            SnState::Awake => "awake",
            SnState::Lost => "lost",
        }
    }
}

/// What the MQTT-SN gateway knows of one client, beside its broker session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SnClientInfo {
    pub state: SnState,
    /// The client's topic-id table: (id, kind, topic). Kind is `normal`, `predefined` or
    /// `short`.
    pub topic_ids: Vec<(u16, String, String)>,
    /// Messages buffered for it while asleep (the head, at most ~20).
    pub buffered: Vec<crate::QueuedInfo>,
    pub buffered_total: u32,
}
