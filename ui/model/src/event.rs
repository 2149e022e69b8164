//! Streamed events (source → dashboard) and commands (dashboard → source).

use bytes::Bytes;

/// One message seen by the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Unix milliseconds when the source saw it.
    pub at_ms: u64,
    pub topic: String,
    pub payload: Bytes,
    pub qos: u8,
    pub retain: bool,
    /// MQTT 5 Content Type, when the publisher set one.
    pub content_type: Option<String>,
    /// MQTT 5 Response Topic, when the publisher set one.
    pub response_topic: Option<String>,
    /// MQTT 5 User Properties, in order.
    pub user_properties: Vec<(String, String)>,
}

impl Message {
    /// A plain message without v5 properties.
    #[must_use]
    pub fn new(
        at_ms: u64,
        topic: impl Into<String>,
        payload: impl Into<Bytes>,
        qos: u8,
        retain: bool,
    ) -> Self {
        Self {
            at_ms,
            topic: topic.into(),
            payload: payload.into(),
            qos,
            retain,
            content_type: None,
            response_topic: None,
            user_properties: Vec::new(),
        }
    }
}

/// Severity of a log line, most severe first (so `Ord` sorts Error < Trace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    /// All levels, most severe first.
    pub const ALL: [Level; 5] = [
        Level::Error,
        Level::Warn,
        Level::Info,
        Level::Debug,
        Level::Trace,
    ];

    /// Upper-case label as tracing prints it.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }
}

/// One tracing event of the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LogLine {
    pub at_ms: u64,
    pub level: Level,
    /// The tracing target, e.g. `midge::broker`.
    pub target: String,
    pub message: String,
}

/// One packet of a traced client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TraceLine {
    pub at_ms: u64,
    pub client_id: String,
    pub direction: crate::Direction,
    /// Packet type, e.g. `PUBLISH`.
    pub packet: String,
    /// Short description, e.g. `pid=3 qos=1 topic=a/b 12 B`.
    pub detail: String,
    /// The v5 reason code name, when the packet carries one.
    pub reason: Option<String>,
}

/// What a source streams to the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Every message published on the broker (feeds the topic tree).
    Tap(Message),
    /// A message matching one of the dashboard's own subscriptions.
    Delivered(Message),
    Log(LogLine),
    Trace(TraceLine),
    /// The result of a command ("subscribed to a/#", "kicked x", errors).
    Notice(String),
}

/// What the dashboard asks the source to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Publish {
        topic: String,
        payload: Bytes,
        qos: u8,
        retain: bool,
        content_type: Option<String>,
        response_topic: Option<String>,
        user_properties: Vec<(String, String)>,
        /// MQTT 5 Message Expiry Interval, in seconds.
        message_expiry_secs: Option<u32>,
        /// MQTT 5 Correlation Data.
        correlation_data: Option<Bytes>,
    },
    Subscribe {
        filter: String,
        qos: u8,
    },
    Unsubscribe {
        filter: String,
    },
    /// Disconnect a client (v5: reason 0x98 Administrative action).
    Kick {
        client_id: String,
    },
    /// Start tracing one client's packets; `None` stops tracing.
    Trace {
        client_id: Option<String>,
    },
    /// What the dashboard shows now (sent whenever it changes; latest wins).
    Watch(crate::Watch),
}
