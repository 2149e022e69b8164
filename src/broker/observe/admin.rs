//! The admin channel: how `midge monitor` sees inside a headless midge (sessions,
//! in-flight QoS state, queues, drops, log) over plain MQTT 5, with no extra listener.
//!
//! Protocol (version 1):
//! - The monitor publishes to [`SNAPSHOT_TOPIC`] (`$CONTROL/midge/v1/snapshot`) with a
//!   Response Topic under [`REPLY_PREFIX`] (`$CONTROL/midge/v1/reply/…`) and Correlation
//!   Data; the payload is a JSON [`Request`] (or empty).
//! - The router hands every publish under `$CONTROL/midge/` to the observer with its
//!   authorisation ([`AdminRequest`]): it is never retained, tapped or routed to
//!   subscribers, so nobody subscribed to `$CONTROL/#` ever sees a request.
//! - The requester is authorised when the ACL lets it *write* the request topic (e.g.
//!   `user admin` / `topic readwrite $CONTROL/midge/v1/#` in the Mosquitto-syntax ACL
//!   file). With no ACL file the channel is off for every network client; only the
//!   broker's in-process clients may use it. An unauthorised request gets no reply.
//! - The reply is one QoS 0 PUBLISH of a JSON [`Reply`] to the response topic, with the
//!   request's Correlation Data [MQTT-3.3.2-16], handed to the requester alone (never
//!   through the subscription trie) and still subject to the ACL's read check on the
//!   response topic, so the admin user needs `readwrite`.
//! - A request's `watch` says what the monitor's dashboard shows (its table page, open
//!   detail), as for the embedded dashboard; without one, the first sessions by client id.
//! - Log lines: the process's ring ([`crate::logs::ring`]), filled only while the observer
//!   is attached (requests in the last [`super::IDLE`]); a request's `log_after` picks the
//!   lines it has not yet seen.
//!
//! Cost while nobody watches: one prefix comparison per publish on the router and one
//! atomic load per tracing event.

use std::sync::Arc;

use bytes::Bytes;
use midge_model::{LogLine, Snapshot, TableQuery, Watch};
use serde::{Deserialize, Serialize};

use crate::broker::message::{Delivery, Message};
use crate::broker::router::watch::AdminRequest;
use crate::broker::router::RouterMsg;
use crate::protocol::{ByteStr, Properties, QoS};

use super::{SourceFacts, Task};

pub use crate::broker::router::watch::{is_reserved, RESERVED_PREFIX};
/// Ask for a snapshot (and new log lines).
pub const SNAPSHOT_TOPIC: &str = "$CONTROL/midge/v1/snapshot";
/// Response topics must start with this (so one ACL rule covers request and reply).
pub const REPLY_PREFIX: &str = "$CONTROL/midge/v1/reply/";
/// Rows sent to a requester that did not say what it shows.
const DEFAULT_ROWS: u32 = 1000;

/// The payload of a request (JSON; an empty payload means all defaults).
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Request {
    /// Only log lines with a sequence number above this.
    pub log_after: u64,
    /// What the requester's dashboard shows.
    pub watch: Option<Watch>,
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

/// Answer one request handed over by the router; `false`: the router is gone.
pub(super) async fn serve(task: &mut Task, req: AdminRequest) -> bool {
    let AdminRequest {
        client,
        authorised,
        msg,
    } = req;
    if !authorised {
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
    let watch = request.watch.unwrap_or_else(|| Watch {
        table: Some(TableQuery {
            limit: DEFAULT_ROWS,
            ..TableQuery::default()
        }),
        ..Watch::default()
    });
    let facts = SourceFacts {
        own_client_id: Some(client.to_string()),
        ..SourceFacts::default()
    };
    let Some(snapshot) = task.build(&watch, &facts, 0).await else {
        return false;
    };
    let (log, log_next) = crate::logs::ring().lines_after(request.log_after);
    let reply = Reply {
        snapshot,
        log: log
            .into_iter()
            .map(|(seq, r)| (seq, crate::broker::observe::log_line(r)))
            .collect(),
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
    let delivery = Delivery {
        msg: Arc::new(out),
        qos: QoS::AtMostOnce,
        retain: false,
        sub_ids: Vec::new(),
        seq: None,
    };
    task.parts
        .router
        .send(RouterMsg::DeliverTo { client, delivery })
        .await
        .is_ok()
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
    fn request_json_defaults() {
        let r: Request = serde_json::from_slice(b"{}").expect("empty object");
        assert_eq!(r, Request::default());
        let r: Request = serde_json::from_slice(br#"{"log_after":7}"#).expect("log_after");
        assert_eq!(r.log_after, 7);
        assert!(r.watch.is_none());
        let w = Watch {
            clients: vec!["c1".into()],
            ..Watch::default()
        };
        let json = serde_json::to_vec(&Request {
            log_after: 0,
            watch: Some(w.clone()),
        })
        .expect("serialize");
        let back: Request = serde_json::from_slice(&json).expect("round trip");
        assert_eq!(back.watch, Some(w));
    }
}
