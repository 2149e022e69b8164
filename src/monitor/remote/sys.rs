//! The Overview of a broker that is not midge: counters from the `$SYS/broker/…` topics
//! Mosquitto publishes (other brokers that follow its names work too), and counts of what
//! this client sees on `#` where the broker publishes nothing.

use midge_model::Counters;

/// What `$SYS` told us so far, and what we counted ourselves.
#[derive(Debug, Default, Clone)]
pub struct SysState {
    /// Counters from `$SYS`; `None` where the broker never published the topic.
    pub counters: Counters,
    /// `$SYS/broker/version`.
    pub version: Option<String>,
    /// `$SYS/broker/uptime` in seconds, and when we read it (unix ms).
    pub uptime: Option<(u64, u64)>,
    /// Whether `publish/messages/*` (PUBLISH only) was seen; it wins over `messages/*`,
    /// which Mosquitto counts over every packet type.
    publish_counts: bool,
    /// Messages and payload bytes this client received through its `#` tap.
    pub seen_messages: u64,
    pub seen_bytes: u64,
    /// When a `$SYS` counter last changed (unix ms).
    last_update_ms: Option<u64>,
    /// The counters as of the last burst of `$SYS` updates that has settled, and when.
    settled: Option<(u64, Counters)>,
}

/// A broker publishes its `$SYS` topics in a burst; counters are taken once it is over,
/// so one sample never mixes two intervals.
const SETTLE_MS: u64 = 150;

impl SysState {
    /// Take in one message. Returns whether the topic was a `$SYS` one we understood.
    pub fn apply(&mut self, topic: &str, payload: &[u8], now_ms: u64) -> bool {
        let Some(name) = topic.strip_prefix("$SYS/broker/") else {
            return false;
        };
        let text = std::str::from_utf8(payload).unwrap_or("").trim();
        let c = &mut self.counters;
        match name {
            "version" => {
                self.version = Some(text.to_owned());
                return true;
            }
            "uptime" => {
                // Mosquitto: "1234 seconds".
                if let Some(n) = leading_number(text) {
                    self.uptime = Some((n, now_ms));
                }
                return true;
            }
            "publish/messages/received" => {
                self.publish_counts = true;
                c.messages_received = leading_number(text);
            }
            "publish/messages/sent" => {
                self.publish_counts = true;
                c.messages_sent = leading_number(text);
            }
            "messages/received" if !self.publish_counts => {
                c.messages_received = leading_number(text)
            }
            "messages/sent" if !self.publish_counts => c.messages_sent = leading_number(text),
            "bytes/received" => c.bytes_received = leading_number(text),
            "bytes/sent" => c.bytes_sent = leading_number(text),
            "publish/messages/dropped" => c.publish_dropped = leading_number(text),
            "clients/connected" | "clients/active" => c.clients_online = leading_number(text),
            "clients/disconnected" | "clients/inactive" => {
                c.clients_offline = leading_number(text);
            }
            "clients/total" => c.clients_total = leading_number(text),
            "subscriptions/count" => c.subscriptions = leading_number(text),
            "retained messages/count" => c.retained = leading_number(text),
            _ => return false,
        }
        self.last_update_ms = Some(now_ms);
        true
    }

    /// Counters for a snapshot taken at `now_ms`, and when they were sampled: `$SYS`
    /// counters as of their last settled burst; without `$SYS`, this client's own counts
    /// (sampled now, `None`).
    pub fn sampled(&mut self, now_ms: u64) -> (Counters, Option<u64>) {
        let Some(last) = self.last_update_ms else {
            return (self.counters(), None);
        };
        if now_ms.saturating_sub(last) >= SETTLE_MS {
            self.settled = Some((last, self.counters()));
        }
        match self.settled {
            Some((at, c)) => (c, Some(at)),
            None => (Counters::default(), Some(last)),
        }
    }

    /// Count one message of the tap (not `$SYS`).
    pub fn count(&mut self, payload_len: usize) {
        self.seen_messages += 1;
        self.seen_bytes += payload_len as u64;
    }

    /// The counters to show: `$SYS` where known, else what this client saw arrive
    /// (every message the broker routed to `#`, a fair stand-in for received).
    pub fn counters(&self) -> Counters {
        let mut c = self.counters;
        if c.messages_received.is_none() {
            c.messages_received = Some(self.seen_messages);
        }
        if c.bytes_received.is_none() {
            c.bytes_received = Some(self.seen_bytes);
        }
        c
    }

    /// Unix ms when the broker started, from its uptime.
    pub fn started_at_ms(&self) -> Option<u64> {
        self.uptime
            .map(|(secs, at)| at.saturating_sub(secs.saturating_mul(1000)))
    }
}

/// The number at the start of a `$SYS` payload ("42", "42 seconds", "1.5" → 1).
fn leading_number(text: &str) -> Option<u64> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mosquitto_names() {
        let mut s = SysState::default();
        let feed = [
            ("$SYS/broker/version", "mosquitto version 2.0.21"),
            ("$SYS/broker/uptime", "120 seconds"),
            ("$SYS/broker/messages/received", "500"),
            ("$SYS/broker/messages/sent", "600"),
            ("$SYS/broker/bytes/received", "7000"),
            ("$SYS/broker/bytes/sent", "8000"),
            ("$SYS/broker/clients/connected", "3"),
            ("$SYS/broker/clients/disconnected", "1"),
            ("$SYS/broker/clients/total", "4"),
            ("$SYS/broker/subscriptions/count", "9"),
            ("$SYS/broker/retained messages/count", "12"),
            ("$SYS/broker/publish/messages/dropped", "2"),
        ];
        for (t, p) in feed {
            assert!(s.apply(t, p.as_bytes(), 1_000_000), "{t}");
        }
        let c = s.counters();
        assert_eq!(c.messages_received, Some(500));
        assert_eq!(c.messages_sent, Some(600));
        assert_eq!(c.bytes_received, Some(7000));
        assert_eq!(c.bytes_sent, Some(8000));
        assert_eq!(c.clients_online, Some(3));
        assert_eq!(c.clients_offline, Some(1));
        assert_eq!(c.clients_total, Some(4));
        assert_eq!(c.subscriptions, Some(9));
        assert_eq!(c.retained, Some(12));
        assert_eq!(c.publish_dropped, Some(2));
        assert_eq!(c.connections_total, None);
        assert_eq!(s.version.as_deref(), Some("mosquitto version 2.0.21"));
        assert_eq!(s.started_at_ms(), Some(1_000_000 - 120_000));

        // PUBLISH-only counts win over all-packet counts, whatever the order.
        s.apply("$SYS/broker/publish/messages/received", b"400", 0);
        s.apply("$SYS/broker/messages/received", b"510", 0);
        assert_eq!(s.counters().messages_received, Some(400));
    }

    #[test]
    fn falls_back_to_what_was_seen_and_ignores_junk() {
        let mut s = SysState::default();
        assert!(!s.apply("a/b", b"1", 0));
        assert!(!s.apply("$SYS/broker/load/messages/received/1min", b"3.5", 0));
        assert!(s.apply("$SYS/broker/clients/total", b"\xff\xfe", 0));
        assert_eq!(s.counters().clients_total, None);
        s.count(10);
        s.count(5);
        let c = s.counters();
        assert_eq!((c.messages_received, c.bytes_received), (Some(2), Some(15)));
        assert_eq!(c.messages_sent, None);
    }

    #[test]
    fn counters_are_sampled_once_a_burst_has_settled() {
        let mut s = SysState::default();
        assert_eq!(
            s.sampled(1_000).1,
            None,
            "no $SYS yet: own counts, sampled now"
        );
        s.apply("$SYS/broker/messages/received", b"100", 10_000);
        // Mid-burst: the new value is not used yet.
        let (c, at) = s.sampled(10_050);
        assert_eq!((c.messages_received, at), (None, Some(10_000)));
        s.apply("$SYS/broker/messages/sent", b"200", 10_060);
        let (c, at) = s.sampled(10_300);
        assert_eq!(
            (c.messages_received, c.messages_sent, at),
            (Some(100), Some(200), Some(10_060))
        );
        // Until the next burst, every snapshot reports the same sample time, so the
        // dashboard's rate spans whole intervals.
        assert_eq!(s.sampled(15_000).1, Some(10_060));
        s.apply("$SYS/broker/messages/received", b"1100", 20_000);
        let (c, at) = s.sampled(20_500);
        assert_eq!((c.messages_received, at), (Some(1100), Some(20_000)));
    }
}
