//! The whole-state snapshot a source publishes every ~250 ms. Counters are monotonic
//! totals (the dashboard derives rates); anything a source may not know is `Option`.

/// The state of a source at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Snapshot {
    /// Unix milliseconds when the snapshot was taken: the dashboard's clock for ages.
    pub taken_at_ms: u64,
    pub source: SourceInfo,
    pub counters: Counters,
    /// When `counters` were sampled, if not at `taken_at_ms`: a remote broker's `$SYS`
    /// counters change only every `sys_interval`, and rates must span those updates.
    pub counters_at_ms: Option<u64>,
    /// Sessions, online and offline; `None` when the source cannot see sessions. Without
    /// `page`, every session; with it, the requested page first (see [`crate::Page`]).
    pub connections: Option<Vec<ConnectionInfo>>,
    /// Set when the source sorted, filtered and paged `connections` for the last
    /// [`crate::Watch`]; the dashboard then shows them in this order.
    pub page: Option<crate::Page>,
    /// Sessions with a subscription matching each topic of [`crate::Watch::topic`] and
    /// [`crate::Watch::topics`], when the source counts them (empty otherwise).
    pub subscribers: Vec<(String, u64)>,
    /// Every QoS 1/2 message in flight across all sessions; `None` when unknown.
    pub inflight: Option<Vec<InflightInfo>>,
    /// Dropped messages aggregated by (client, topic, reason); bounded by the source.
    pub drops: Option<Vec<DropInfo>>,
    /// Events the source could not deliver to the dashboard because its channel was full.
    pub events_dropped: u64,
    /// The durable store; `None` when the broker runs in memory or the source can't see it.
    pub store: Option<StoreInfo>,
    /// Configured bridges; `None` when the source can't see them.
    pub bridges: Option<Vec<crate::BridgeInfo>>,
}

/// The broker's durable store: size, commit activity, and the window a crash would lose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StoreInfo {
    /// `always`, `interval` or `never`.
    pub sync: String,
    pub bytes_on_disk: u64,
    /// Keys held: retained messages, sessions, queued and in-flight messages.
    pub live_keys: u64,
    /// Batches committed since start (a commit groups many messages).
    pub commits: u64,
    /// Commits per second over the last snapshot interval, as measured by the source.
    pub commits_per_sec: u64,
    pub fsyncs: u64,
    pub last_fsync_micros: u64,
    /// Durability lag: operations and bytes accepted but not yet on disk.
    pub pending_ops: u64,
    pub pending_bytes: u64,
    /// Unix ms of the last successful flush (0 = none yet).
    pub last_durable_ms: u64,
    /// The last commit failed (disk full, read-only): QoS ≥ 1 publishes to persistent
    /// sessions are being refused.
    pub failed: bool,
}

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SourceKind {
    /// The broker in this process.
    Embedded,
    /// A broker watched over MQTT.
    Remote { url: String },
}

/// Facts about the source.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SourceInfo {
    pub kind: SourceKind,
    pub version: Option<String>,
    /// Listener descriptions, e.g. `mqtt://127.0.0.1:1883`.
    pub listeners: Vec<String>,
    /// Unix milliseconds when the broker started.
    pub started_at_ms: Option<u64>,
    /// Whether the link to a remote broker is up (always true when embedded).
    pub connected: bool,
    /// The client id the dashboard's own commands use, so the UI can mark it and not
    /// count it as "clients connected" when asking to confirm quitting.
    pub own_client_id: Option<String>,
}

impl Default for SourceInfo {
    fn default() -> Self {
        Self {
            kind: SourceKind::Embedded,
            version: None,
            listeners: Vec::new(),
            started_at_ms: None,
            connected: true,
            own_client_id: None,
        }
    }
}

/// Monotonic totals and gauges. `None` means "not known from this source".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Counters {
    /// PUBLISH packets received from clients (total).
    pub messages_received: Option<u64>,
    /// PUBLISH packets sent to clients (total).
    pub messages_sent: Option<u64>,
    pub bytes_received: Option<u64>,
    pub bytes_sent: Option<u64>,
    /// Messages not delivered to a subscriber (queue full, too large, expired, ACL).
    pub publish_dropped: Option<u64>,
    /// Gauge: clients connected now.
    pub clients_online: Option<u64>,
    /// Gauge: persistent sessions whose client is not connected.
    pub clients_offline: Option<u64>,
    /// Gauge: all sessions.
    pub clients_total: Option<u64>,
    /// Gauge: subscriptions across all sessions.
    pub subscriptions: Option<u64>,
    /// Gauge: retained messages stored.
    pub retained: Option<u64>,
    /// Total connections accepted since start.
    pub connections_total: Option<u64>,
    /// Total failed authentications since start.
    pub auth_failures: Option<u64>,
    /// MQTT-SN gateway datagrams (totals); `None` without a gateway.
    pub datagrams_in: Option<u64>,
    pub datagrams_out: Option<u64>,
    /// Malformed, unexpected or over-limit datagrams that were discarded.
    pub datagrams_dropped: Option<u64>,
}

/// MQTT protocol version of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ProtocolLabel {
    /// MQTT 3.1 (protocol level 3, "MQIsdp").
    V31,
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

impl ProtocolLabel {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            ProtocolLabel::V31 => "3.1",
            ProtocolLabel::V311 => "3.1.1",
            ProtocolLabel::V5 => "5.0",
        }
    }
}

/// One subscription of a session, with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SubscriptionInfo {
    /// The topic filter without any `$share/group/` prefix.
    pub filter: String,
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    /// 0 = send retained at subscribe, 1 = only if new, 2 = never.
    pub retain_handling: u8,
    pub subscription_id: Option<u32>,
    pub share_group: Option<String>,
}

impl SubscriptionInfo {
    /// A plain subscription with default v5 options.
    #[must_use]
    pub fn new(filter: impl Into<String>, qos: u8) -> Self {
        Self {
            filter: filter.into(),
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: 0,
            subscription_id: None,
            share_group: None,
        }
    }
}

/// One message waiting in a session's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct QueuedInfo {
    pub topic: String,
    pub qos: u8,
    pub bytes: u32,
}

/// One session, online or offline.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConnectionInfo {
    pub client_id: String,
    pub online: bool,
    /// Peer address; `None` when offline or unknown.
    pub address: Option<String>,
    pub protocol: ProtocolLabel,
    pub username: Option<String>,
    pub tls: bool,
    pub keep_alive_secs: u16,
    /// Unix ms of the last CONNECT (for an offline session: of its last connection).
    pub connected_since_ms: u64,
    pub subscriptions: Vec<SubscriptionInfo>,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// QoS 1/2 messages sent to the client and not yet fully acknowledged.
    pub inflight_out: u32,
    /// QoS 2 messages received from the client awaiting PUBREL.
    pub inflight_in: u32,
    pub queued: u32,
    pub queue_capacity: u32,
    pub dropped: u64,
    /// The head of the queue, at most ~20 entries.
    pub queue_preview: Vec<QueuedInfo>,
    /// How the client reaches the broker when not plain MQTT, e.g. `mqtt-sn/udp`.
    pub transport: Option<String>,
    /// The MQTT-SN gateway's view of the client (topic ids, sleep state).
    pub sn: Option<crate::SnClientInfo>,
}

/// Direction of a packet or an in-flight message, seen from the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Direction {
    /// From the client to the broker.
    In,
    /// From the broker to the client.
    Out,
}

/// Where a QoS 1/2 exchange stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum InflightState {
    AwaitingPubAck,
    AwaitingPubRec,
    AwaitingPubRel,
    AwaitingPubComp,
}

impl InflightState {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            InflightState::AwaitingPubAck => "PUBACK",
            InflightState::AwaitingPubRec => "PUBREC",
            InflightState::AwaitingPubRel => "PUBREL",
            InflightState::AwaitingPubComp => "PUBCOMP",
        }
    }
}

/// One QoS 1/2 message in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InflightInfo {
    pub client_id: String,
    pub direction: Direction,
    pub packet_id: u16,
    pub topic: String,
    pub qos: u8,
    pub state: InflightState,
    /// Unix ms when the exchange started.
    pub since_ms: u64,
    pub resends: u32,
}

/// Why a message was not delivered to a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum DropReason {
    /// The session's queue was full.
    QueueFull,
    /// Larger than the client's Maximum Packet Size [MQTT-3.1.2-25].
    TooLarge,
    /// Message Expiry Interval elapsed while queued [MQTT-3.3.2-5].
    Expired,
    /// The ACL denied delivery.
    Acl,
}

impl DropReason {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue full",
            DropReason::TooLarge => "too large",
            DropReason::Expired => "expired",
            DropReason::Acl => "ACL",
        }
    }
}

/// Drops aggregated by (client, topic, reason).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DropInfo {
    pub client_id: String,
    pub topic: String,
    pub reason: DropReason,
    pub count: u64,
    pub last_ms: u64,
}
