//! The admin channel: how `midge monitor` sees inside a headless midge (sessions,
//! in-flight QoS state, queues, drops, log) over plain MQTT 5, with no extra listener.
//!
//! Protocol (version 1):
//! - The monitor publishes to [`SNAPSHOT_TOPIC`] (`$CONTROL/midge/v1/snapshot`) with a
//!   Response Topic under [`REPLY_PREFIX`] (`$CONTROL/midge/v1/reply/…`) and Correlation
//!   Data; the payload is a JSON [`Request`] (or empty).
//! - The router intercepts every publish under `$CONTROL/midge/` ([`intercept`]): it is
//!   never retained, tapped or routed to subscribers, so nobody subscribed to
//!   `$CONTROL/#` ever sees a request.
//! - The requester is authorised when the ACL lets it *write* the request topic (e.g.
//!   `user admin` / `topic readwrite $CONTROL/midge/v1/#` in the Mosquitto-syntax ACL
//!   file). With no ACL file the channel is off for every network client; only the
//!   broker's in-process clients may use it. An unauthorised request gets no reply.
//! - The reply is one QoS 0 PUBLISH of a JSON [`Reply`] to the response topic, with the
//!   request's Correlation Data [MQTT-3.3.2-16], handed to the requester alone (never
//!   through the subscription trie) and still subject to the ACL's read check on the
//!   response topic, so the admin user needs `readwrite`.
//! - Log lines: a bounded ring filled by [`log_layer`] only while an admin has asked in
//!   the last [`WATCH_WINDOW_MS`]; a request's `log_after` picks the lines it has not yet
//!   seen. Likewise `Metrics::watched` (per-client in-flight detail) is held on only
//!   while requests keep coming.
//!
//! Cost while nobody watches: one prefix comparison per publish on the router and one
//! atomic load per tracing event.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use midge_model::{Event, LogLine, Snapshot};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::protocol::{ByteStr, Properties, QoS};

use super::message::{Delivery, Message};
use super::router::Router;
use super::shared::Metrics;
use super::snapshot::{self, unix_ms, SourceFacts};

/// Every topic under this prefix is the broker's own: intercepted, never routed.
pub const RESERVED_PREFIX: &str = "$CONTROL/midge/";
/// Ask for a snapshot (and new log lines).
pub const SNAPSHOT_TOPIC: &str = "$CONTROL/midge/v1/snapshot";
/// Response topics must start with this (so one ACL rule covers request and reply).
pub const REPLY_PREFIX: &str = "$CONTROL/midge/v1/reply/";
/// An admin counts as watching for this long after its last request.
pub const WATCH_WINDOW_MS: u64 = 5_000;
/// Log lines kept for admins.
const LOG_RING: usize = 500;

/// The payload of a request (JSON; an empty payload means all defaults).
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Request {
    /// Only log lines with a sequence number above this.
    pub log_after: u64,
}

/// The payload of a reply (JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reply {
    pub snapshot: Snapshot,
    /// New log lines with their sequence numbers, oldest first.
    pub log: Vec<(u64, LogLine)>,
    /// The sequence number the next log line will get (lower than the requester's
    /// `log_after` after a broker restart).
    pub log_next: u64,
}

/// Whether `topic` is in the broker's reserved admin namespace.
pub fn is_reserved(topic: &str) -> bool {
    topic.starts_with(RESERVED_PREFIX)
}

/// Called by the router for every publish: returns `true` when the message was an admin
/// request (answered or ignored), which must then not be routed.
pub(crate) fn intercept(r: &mut Router, msg: &Message) -> bool {
    // Cheap first test: most topics do not start with '$'.
    if !msg.topic.starts_with('$') || !is_reserved(&msg.topic) {
        return false;
    }
    let Some(client) = msg.publisher.clone() else {
        // A will or a broker message on the reserved topics: dropped.
        return true;
    };
    let Some(entry) = r.clients.get(&client) else {
        return true;
    };
    let info = &entry.stats.info;
    let access = &r.options.access;
    // The broker's own namespace, authorised by the ACL's write permission on the
    // request topic (see the module header).
    let allowed = info.internal
        || (access.has_acl()
            && access.allow_publish(&client, info.username.as_deref(), &msg.topic));
    if !allowed {
        tracing::debug!(client_id = %client, topic = %msg.topic, "admin request refused");
        return true;
    }
    if &*msg.topic != SNAPSHOT_TOPIC {
        return true;
    }
    let Some(reply_to) = msg
        .properties()
        .response_topic
        .as_ref()
        .filter(|t| t.starts_with(REPLY_PREFIX))
        .cloned()
    else {
        return true;
    };
    let request: Request = if msg.payload.is_empty() {
        Request::default()
    } else {
        match serde_json::from_slice(&msg.payload) {
            Ok(q) => q,
            Err(_) => return true,
        }
    };
    hub().watch(&r.metrics);
    let started_at_ms =
        unix_ms(SystemTime::now()).saturating_sub(r.started.elapsed().as_millis() as u64);
    let facts = SourceFacts {
        listeners: Vec::new(),
        started_at_ms,
        own_client_id: Some(client.to_string()),
        ..SourceFacts::default()
    };
    let (log, log_next) = hub().lines_after(request.log_after);
    let reply = Reply {
        snapshot: snapshot::build(r, &facts, 0),
        log,
        log_next,
    };
    let Ok(payload) = serde_json::to_vec(&reply) else {
        return true;
    };
    let properties = Properties {
        content_type: Some(ByteStr::from("application/json")),
        // Echoed so the requester can match the reply [MQTT-3.3.2-16].
        correlation_data: msg.properties().correlation_data.clone(),
        ..Properties::default()
    };
    let mut out = Message::internal(&reply_to, Bytes::from(payload), QoS::AtMostOnce, false);
    out.properties = Some(Box::new(properties));
    r.deliver(
        &client,
        Delivery {
            msg: Arc::new(out),
            qos: QoS::AtMostOnce,
            retain: false,
            sub_ids: Vec::new(),
            seq: None,
        },
    );
    true
}

/// The process-wide admin state: who watches until when, and the log ring.
struct Hub {
    /// Unix ms until which an admin counts as watching; 0 = nobody.
    until_ms: AtomicU64,
    log: Mutex<LogState>,
}

#[derive(Default)]
struct LogState {
    /// Fed by the log layer (bounded; full = the line is dropped).
    rx: Option<mpsc::Receiver<Event>>,
    ring: VecDeque<(u64, LogLine)>,
    next_seq: u64,
}

fn hub() -> &'static Hub {
    static HUB: OnceLock<Hub> = OnceLock::new();
    HUB.get_or_init(|| Hub {
        until_ms: AtomicU64::new(0),
        log: Mutex::new(LogState {
            next_seq: 1,
            ..LogState::default()
        }),
    })
}

impl Hub {
    fn watching(&self) -> bool {
        let until = self.until_ms.load(Relaxed);
        until != 0 && unix_ms(SystemTime::now()) < until
    }

    /// An authorised request arrived: keep logs and in-flight detail on for a while.
    fn watch(&'static self, metrics: &Arc<Metrics>) {
        let was = self
            .until_ms
            .swap(unix_ms(SystemTime::now()) + WATCH_WINDOW_MS, Relaxed);
        metrics.watched.store(true, Relaxed);
        if was != 0 {
            return;
        }
        // First request after a quiet spell: one task turns watching off when requests
        // stop (re-checking the deadline each time it wakes).
        let metrics = metrics.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                loop {
                    let until = self.until_ms.load(Relaxed);
                    let now = unix_ms(SystemTime::now());
                    if now >= until {
                        self.until_ms.store(0, Relaxed);
                        metrics.watched.store(false, Relaxed);
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(until - now)).await;
                }
            });
        }
    }

    /// Log lines numbered above `after`, and the next number.
    fn lines_after(&self, after: u64) -> (Vec<(u64, LogLine)>, u64) {
        let Ok(mut st) = self.log.lock() else {
            return (Vec::new(), 0);
        };
        let st = &mut *st;
        if let Some(rx) = st.rx.as_mut() {
            while let Ok(ev) = rx.try_recv() {
                if let Event::Log(line) = ev {
                    if st.ring.len() == LOG_RING {
                        st.ring.pop_front();
                    }
                    st.ring.push_back((st.next_seq, line));
                    st.next_seq += 1;
                }
            }
        }
        let lines = st
            .ring
            .iter()
            .filter(|(seq, _)| *seq > after)
            .cloned()
            .collect();
        (lines, st.next_seq)
    }
}

/// A tracing layer that feeds the admin log ring, only while an admin watches. Install
/// it once next to the stderr layer of a headless broker.
pub fn log_layer() -> AdminLogLayer {
    let (tx, rx) = mpsc::channel(1024);
    if let Ok(mut st) = hub().log.lock() {
        st.rx = Some(rx);
    }
    AdminLogLayer {
        inner: crate::monitor::logs::UiLogLayer::new(tx, Arc::new(AtomicU64::new(0))),
    }
}

/// See [`log_layer`].
pub struct AdminLogLayer {
    inner: crate::monitor::logs::UiLogLayer,
}

impl<S> tracing_subscriber::Layer<S> for AdminLogLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if hub().watching() {
            self.inner.on_event(event, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_namespace() {
        assert!(is_reserved(SNAPSHOT_TOPIC));
        assert!(is_reserved("$CONTROL/midge/v2/anything"));
        assert!(!is_reserved("$CONTROL/dynamic-security/v1"));
        assert!(!is_reserved("CONTROL/midge/v1/snapshot"));
        assert!(REPLY_PREFIX.starts_with(RESERVED_PREFIX));
    }

    #[test]
    fn log_lines_are_kept_only_while_watched() {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(log_layer());
        let _guard = tracing::subscriber::set_default(subscriber);
        tracing::info!("nobody watches this");
        let (lines, next) = hub().lines_after(0);
        assert!(lines.is_empty(), "{lines:?}");
        hub()
            .until_ms
            .store(unix_ms(SystemTime::now()) + WATCH_WINDOW_MS, Relaxed);
        tracing::warn!(client_id = "c1", "an admin sees this");
        let (lines, next2) = hub().lines_after(0);
        hub().until_ms.store(0, Relaxed);
        assert_eq!(next2, next + 1);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let (seq, line) = &lines[0];
        assert_eq!(*seq, next);
        assert_eq!(line.level, midge_model::Level::Warn);
        assert_eq!(line.message, "an admin sees this client_id=c1");
        assert!(hub().lines_after(*seq).0.is_empty());
    }

    #[test]
    fn request_json_defaults() {
        let r: Request = serde_json::from_slice(b"{}").unwrap_or_default();
        assert_eq!(r.log_after, 0);
        let r: Request = serde_json::from_slice(br#"{"log_after":7}"#).unwrap_or_default();
        assert_eq!(r.log_after, 7);
    }
}
