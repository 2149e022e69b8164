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
//! - Kick and Trace ride on the same request, so the same ACL check guards them: `kick`
//!   disconnects a client (the reply's `notices` say whether it was connected); `trace`
//!   sets the one client whose packets are traced (`client_id: null` stops), and each
//!   reply carries the trace lines after the request's `trace_after`. A trace stops when
//!   the observer goes idle (no request for [`super::IDLE`]).
//!
//! Cost while nobody watches: one prefix comparison per publish on the router and one
//! atomic load per tracing event.

use std::sync::Arc;

use bytes::Bytes;
use midge_model::{Direction, LogLine, Snapshot, TableQuery, TraceLine, Watch};
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
    /// Disconnect this client.
    pub kick: Option<String>,
    /// Trace this client's packets (`client_id: None` stops); absent: no change.
    pub trace: Option<TraceAsk>,
    /// Only trace lines with a sequence number above this.
    pub trace_after: u64,
}

/// Which client to trace.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct TraceAsk {
    pub client_id: Option<String>,
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
    /// Results of the request's commands (a kick).
    #[serde(default)]
    pub notices: Vec<String>,
    /// Trace lines of the traced client after `trace_after`, oldest first.
    #[serde(default)]
    pub trace: Vec<(u64, TraceLine)>,
}

/// Trace lines kept for the admin channel between two requests.
const TRACE_LINES: usize = 2000;

/// The admin channel's packet trace: the target, the hub's sink, numbered lines.
#[derive(Default)]
pub(super) struct AdminTrace {
    target: Option<String>,
    rx: Option<tokio::sync::mpsc::Receiver<crate::broker::trace::TraceRecord>>,
    lines: std::collections::VecDeque<(u64, TraceLine)>,
    next: u64,
}

impl AdminTrace {
    /// Moves what the hub traced into the numbered ring.
    fn drain(&mut self) {
        let Some(rx) = &mut self.rx else { return };
        while let Ok(t) = rx.try_recv() {
            self.next += 1;
            self.lines.push_back((
                self.next,
                TraceLine {
                    at_ms: crate::broker::stats::unix_ms(t.at),
                    client_id: t.client_id,
                    direction: if t.inbound {
                        Direction::In
                    } else {
                        Direction::Out
                    },
                    packet: t.packet.to_owned(),
                    detail: t.detail,
                    reason: t.reason,
                },
            ));
            if self.lines.len() > TRACE_LINES {
                self.lines.pop_front();
            }
        }
    }
}

/// Stops a trace the admin channel started.
pub(super) fn stop_trace(task: &mut Task) {
    if task.trace.target.take().is_some() {
        if let Some(ctx) = task.parts.context.upgrade() {
            ctx.trace.set(None);
        }
    }
    task.trace.rx = None;
}

/// Applies a request's `trace`: a new target starts a fresh trace, `None` stops.
fn set_trace(task: &mut Task, ask: TraceAsk) {
    if ask.client_id == task.trace.target {
        return;
    }
    stop_trace(task);
    let Some(id) = ask.client_id else { return };
    let Some(ctx) = task.parts.context.upgrade() else {
        return;
    };
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    ctx.trace.set(Some((id.clone(), tx)));
    task.trace.target = Some(id);
    task.trace.rx = Some(rx);
    task.trace.lines.clear();
}

/// Disconnects `client_id`; the notice says what happened.
async fn kick(task: &Task, client_id: String) -> String {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let msg = RouterMsg::Kick {
        client_id: client_id.clone(),
        reply: Some(tx),
    };
    match task.parts.router.send(msg).await {
        Ok(()) if rx.await.unwrap_or(false) => {
            tracing::info!(client_id, "kicked over the admin channel");
            format!("disconnected {client_id}")
        }
        _ => format!("{client_id} is not connected"),
    }
}

/// Answer one request handed over by the router; `false`: the router is gone.
pub(super) async fn serve(task: &mut Task, req: AdminRequest) -> bool {
    let AdminRequest {
        client,
        conn_id,
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
    let mut notices = Vec::new();
    if let Some(id) = request.kick {
        notices.push(kick(task, id).await);
    }
    if let Some(ask) = request.trace {
        set_trace(task, ask);
    }
    task.trace.drain();
    let trace: Vec<(u64, TraceLine)> = task
        .trace
        .lines
        .iter()
        .filter(|(seq, _)| *seq > request.trace_after)
        .cloned()
        .collect();
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
        notices,
        trace,
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
    out.properties = properties.into();
    let delivery = Delivery {
        msg: Arc::new(out),
        qos: QoS::AtMostOnce,
        retain: false,
        sub_ids: Vec::new(),
        seq: None,
    };
    task.parts
        .router
        .send(RouterMsg::DeliverTo {
            client,
            conn_id,
            delivery,
        })
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
            watch: Some(w.clone()),
            ..Request::default()
        })
        .expect("serialize");
        let back: Request = serde_json::from_slice(&json).expect("round trip");
        assert_eq!(back.watch, Some(w));
    }
}
