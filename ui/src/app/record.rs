//! Recording the messages of the dashboard's subscriptions (Pub/Sub, `R`) as JSON Lines,
//! one message a line, the format `midge replay` reads:
//!
//! `{"t":1749988800000,"topic":"a/b","qos":1,"retain":false,"payload":"21.5"}`
//!
//! The payload is `payload` when it is UTF-8, else `payload_base64`; MQTT 5 properties,
//! when set, are `content_type`, `response_topic` and `user_properties` (`[[k, v], …]`).
//! `update` only encodes lines into `pending`; the terminal loop writes them (no I/O in
//! `update`). Bounded by bytes: at the limit the recording stops and says so.

use std::path::PathBuf;

use base64::Engine as _;
use midge_model::Message;
use serde_json::{json, Map, Value};

use crate::derive::traffic::{Traffic, Window};

/// A recording stops at this size unless configured otherwise.
pub const DEFAULT_LIMIT_BYTES: u64 = 256 << 20;

/// One recording in progress.
#[derive(Debug, Clone)]
pub struct Recording {
    pub path: PathBuf,
    pub started_ms: u64,
    pub messages: u64,
    pub bytes: u64,
    pub limit_bytes: u64,
    /// Encoded lines not yet written by the terminal loop.
    pub pending: Vec<String>,
    traffic: Traffic,
}

/// What recording a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Kept,
    /// The line would pass the limit: the recording is full and stops.
    Full,
}

impl Recording {
    #[must_use]
    pub fn new(path: PathBuf, now_ms: u64, limit_bytes: u64) -> Self {
        Self {
            path,
            started_ms: now_ms,
            messages: 0,
            bytes: 0,
            limit_bytes,
            pending: Vec::new(),
            traffic: Traffic::default(),
        }
    }

    /// Encodes `m` as one line for the file, unless that would pass the limit.
    pub fn record(&mut self, m: &Message) -> Recorded {
        let line = line(m);
        let n = line.len() as u64 + 1;
        if self.bytes + n > self.limit_bytes {
            return Recorded::Full;
        }
        self.bytes += n;
        self.messages += 1;
        self.traffic.add(m.at_ms, 1, n);
        self.pending.push(line);
        Recorded::Kept
    }

    /// Messages per second recorded over the last 10 s.
    #[must_use]
    pub fn rate(&self, now_ms: u64) -> f64 {
        self.traffic.rate(now_ms, Window::Secs10).0
    }
}

/// One message as a JSON line (without the newline).
#[must_use]
pub fn line(m: &Message) -> String {
    let mut o = Map::new();
    o.insert("t".into(), json!(m.at_ms));
    o.insert("topic".into(), json!(m.topic));
    o.insert("qos".into(), json!(m.qos));
    o.insert("retain".into(), json!(m.retain));
    match std::str::from_utf8(&m.payload) {
        Ok(s) => o.insert("payload".into(), json!(s)),
        Err(_) => o.insert(
            "payload_base64".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(&m.payload)),
        ),
    };
    if let Some(ct) = &m.content_type {
        o.insert("content_type".into(), json!(ct));
    }
    if let Some(rt) = &m.response_topic {
        o.insert("response_topic".into(), json!(rt));
    }
    if !m.user_properties.is_empty() {
        o.insert("user_properties".into(), json!(m.user_properties));
    }
    Value::Object(o).to_string()
}

/// `midge-20250615-120000.jsonl`: the recording's file name for a start time (UTC).
#[must_use]
pub fn file_name(now_ms: u64) -> String {
    let secs = now_ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let (y, mo, d) = civil(days);
    let s = secs % 86_400;
    format!(
        "midge-{y:04}{mo:02}{d:02}-{:02}{:02}{:02}.jsonl",
        s / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_limits() {
        let mut m = Message::new(1_749_988_800_000, "a/b", "21.5", 1, true);
        assert_eq!(
            line(&m),
            r#"{"payload":"21.5","qos":1,"retain":true,"t":1749988800000,"topic":"a/b"}"#
        );
        m.payload = bytes::Bytes::from_static(&[0xff, 0x00]);
        m.user_properties = vec![("k".into(), "v".into())];
        m.response_topic = Some("r".into());
        let l = line(&m);
        assert!(l.contains(r#""payload_base64":"/wA=""#), "{l}");
        assert!(l.contains(r#""user_properties":[["k","v"]]"#), "{l}");
        assert!(l.contains(r#""response_topic":"r""#), "{l}");

        let mut r = Recording::new("x.jsonl".into(), 0, 200);
        assert_eq!(r.record(&m), Recorded::Kept);
        assert_eq!(
            r.record(&m),
            Recorded::Full,
            "the second line passes 200 bytes"
        );
        assert_eq!((r.messages, r.pending.len()), (1, 1));
        assert_eq!(r.bytes, l.len() as u64 + 1);
        assert_eq!(file_name(1_749_988_800_000), "midge-20250615-120000.jsonl");
    }
}
