//! Packet tracing for one client, for the dashboard's Trace view. Off unless someone
//! watches: a client task pays one relaxed atomic load per packet otherwise.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::SystemTime;

use tokio::sync::mpsc;

use crate::protocol::{Packet, ReasonCode};

/// One traced packet.
#[derive(Clone, Debug)]
pub struct TraceRecord {
    pub at: SystemTime,
    pub client_id: String,
    /// From the client to the broker.
    pub inbound: bool,
    pub packet: &'static str,
    pub detail: String,
    pub reason: Option<String>,
}

#[derive(Debug, Default)]
pub struct TraceHub {
    active: AtomicBool,
    target: Mutex<Option<(String, mpsc::Sender<TraceRecord>)>>,
}

impl TraceHub {
    /// Trace `client_id` into `sink`, or stop with `None`.
    pub fn set(&self, target: Option<(String, mpsc::Sender<TraceRecord>)>) {
        let on = target.is_some();
        if let Ok(mut t) = self.target.lock() {
            *t = target;
        }
        self.active.store(on, Relaxed);
    }

    #[inline]
    /// Whether a trace is running (callers may skip building what `record` would take).
    pub fn is_active(&self) -> bool {
        self.active.load(Relaxed)
    }

    pub fn record(&self, client_id: &str, inbound: bool, packet: &Packet) {
        if !self.active.load(Relaxed) {
            return;
        }
        let Ok(t) = self.target.lock() else { return };
        let Some((id, sink)) = t.as_ref() else { return };
        if id != client_id {
            return;
        }
        let (detail, reason) = summary(packet);
        let _ = sink.try_send(TraceRecord {
            at: SystemTime::now(),
            client_id: client_id.to_owned(),
            inbound,
            packet: packet.name(),
            detail,
            reason: reason.map(|r| format!("{r:?} (0x{:02X})", r as u8)),
        });
    }
}

/// A one-line description of a packet (never the payload itself).
pub fn summary(p: &Packet) -> (String, Option<ReasonCode>) {
    match p {
        Packet::Connect(c) => (
            format!(
                "v{} id={} clean={} keepalive={}s{}",
                c.protocol.level(),
                c.client_id,
                c.clean_start,
                c.keep_alive,
                if c.will.is_some() { " will" } else { "" }
            ),
            None,
        ),
        Packet::ConnAck(a) => (
            format!("session_present={}", a.session_present),
            Some(a.reason),
        ),
        Packet::Publish(p) => (
            format!(
                "{}qos={} topic={}{} {} B",
                p.qos_pid
                    .pid()
                    .map(|i| format!("pid={i} "))
                    .unwrap_or_default(),
                p.qos_pid.qos() as u8,
                p.topic,
                if p.retain { " retain" } else { "" },
                p.payload.len()
            ),
            None,
        ),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            (format!("pid={}", a.pid), Some(a.reason))
        }
        Packet::Subscribe(s) => (
            format!(
                "pid={} {}",
                s.pid,
                s.filters
                    .iter()
                    .map(|(f, o)| format!("{f}@{}", o.qos as u8))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            None,
        ),
        Packet::SubAck(s) => (
            format!(
                "pid={} {}",
                s.pid,
                s.reasons
                    .iter()
                    .map(|r| format!("0x{:02X}", *r as u8))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            None,
        ),
        Packet::Unsubscribe(u) => (
            format!(
                "pid={} {}",
                u.pid,
                u.filters
                    .iter()
                    .map(|f| f.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            None,
        ),
        Packet::UnsubAck(u) => (format!("pid={}", u.pid), None),
        Packet::PingReq | Packet::PingResp => (String::new(), None),
        Packet::Disconnect(d) => (String::new(), Some(d.reason)),
        Packet::Auth(a) => (String::new(), Some(a.reason)),
    }
}
