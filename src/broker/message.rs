//! The message as the broker carries it: decoded once, shared by every subscriber.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::protocol::{ByteStr, LastWill, Properties, Props, Publish, QoS};

/// A client identifier, shared cheaply between the router, sessions and snapshots.
pub type ClientId = Arc<str>;

/// An application message on its way through the broker. Immutable once built; delivered
/// to each subscriber as an `Arc<Message>` so the payload is never copied per subscriber.
#[derive(Debug)]
pub struct Message {
    pub topic: ByteStr,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// Forwarded unchanged [MQTT-3.3.2-15..20]: payload format, content type, response
    /// topic, correlation data, user properties. Topic alias, subscription ids and the
    /// expiry interval are stripped: they are per hop and recomputed on send. Boxed only
    /// when there are some (most messages have none): see [`Props`].
    pub properties: Props,
    /// When the Message Expiry Interval runs out [MQTT-3.3.2-5].
    pub expires_at: Option<Instant>,
    /// Who published it, for No Local [MQTT-3.8.3-3]; `None` for wills and `$SYS`.
    pub publisher: Option<ClientId>,
    /// When its bytes were read: its place among other clients' packets.
    pub received_at: Instant,
    /// Its identity across bridged brokers (the loop guard): set when it arrives from a
    /// bridge carrying one, else on its first delivery to a bridge.
    pub origin: OnceLock<Origin>,
}

/// Which broker first accepted a message, and its number there. Carried between midges
/// as the v5 user property [`Origin::PROPERTY`] = `"<broker hex>:<seq>"`, so a message
/// that reaches a broker twice (two bridge paths, a ring) is delivered there once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub broker: u64,
    pub seq: u64,
}

impl Origin {
    pub const PROPERTY: &'static str = "midge-origin";

    pub fn parse(s: &str) -> Option<Self> {
        let (broker, seq) = s.split_once(':')?;
        Some(Self {
            broker: u64::from_str_radix(broker, 16).ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// `{:016x}:{}`, by hand and on the stack: it runs for every message delivered to a
    /// bridge (`write!` with two formatted integers, into a `String`, was ~2.5% of a
    /// bridging broker's time).
    pub fn text(&self) -> OriginText {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut b = [0u8; 16 + 1 + 20];
        for (i, c) in b.iter_mut().take(16).enumerate() {
            *c = HEX[((self.broker >> (60 - 4 * i)) & 0xF) as usize];
        }
        b[16] = b':';
        let mut digits = [0u8; 20];
        let (mut n, mut len) = (self.seq, 0);
        for d in digits.iter_mut() {
            *d = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for (dst, src) in b[17..].iter_mut().zip(digits[..len].iter().rev()) {
            *dst = *src;
        }
        OriginText { b, len: 17 + len }
    }
}

/// An [`Origin`] as its property value.
#[derive(Clone, Copy, Debug)]
pub struct OriginText {
    b: [u8; 37],
    len: usize,
}

impl OriginText {
    pub fn as_str(&self) -> &str {
        // Only ASCII hex, ':' and digits are ever written.
        std::str::from_utf8(&self.b[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text().as_str())
    }
}

impl Message {
    /// The message of a PUBLISH whose bytes were read at `now`.
    pub fn from_publish(
        p: Publish,
        topic: ByteStr,
        publisher: Option<ClientId>,
        now: Instant,
    ) -> Self {
        let mut properties = p.properties;
        let mut expires_at = None;
        if let Some(props) = properties.present_mut() {
            expires_at = props
                .message_expiry_interval
                .take()
                .map(|s| now + Duration::from_secs(u64::from(s)));
            props.topic_alias = None;
            props.subscription_identifiers.clear();
        }
        Self {
            topic,
            payload: p.payload,
            qos: p.qos_pid.qos(),
            retain: p.retain,
            // Stripping may leave none.
            properties: properties.into_box().into(),
            expires_at,
            publisher,
            received_at: now,
            origin: OnceLock::new(),
        }
    }

    pub fn from_will(will: LastWill) -> Self {
        let now = super::clock::now();
        let mut properties = will.properties.into_inner();
        properties.will_delay_interval = None;
        let expires_at = properties
            .message_expiry_interval
            .take()
            .map(|s| now + Duration::from_secs(u64::from(s)));
        Self {
            topic: will.topic,
            payload: will.payload,
            qos: will.qos,
            retain: will.retain,
            properties: properties.into(),
            expires_at,
            publisher: None,
            received_at: now,
            origin: OnceLock::new(),
        }
    }

    /// A broker-originated message (`$SYS`, dashboard).
    pub fn internal(topic: &str, payload: Bytes, qos: QoS, retain: bool) -> Self {
        Self {
            topic: ByteStr::from(topic),
            payload,
            qos,
            retain,
            properties: Props::default(),
            expires_at: None,
            publisher: None,
            received_at: super::clock::now(),
            origin: OnceLock::new(),
        }
    }

    /// The forwarded properties (empty when there are none).
    pub fn properties(&self) -> &Properties {
        &self.properties
    }

    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// Seconds left of the expiry interval, rounded up, for the forwarded PUBLISH
    /// [MQTT-3.3.2-6]. `None` when it has no expiry.
    pub fn remaining_expiry(&self, now: Instant) -> Option<u32> {
        self.expires_at.map(|t| {
            let left = t.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            u32::try_from(secs).unwrap_or(u32::MAX)
        })
    }
}

/// One message bound for one subscriber: the shared message plus what differs per
/// subscriber.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub msg: Arc<Message>,
    /// min(publish QoS, granted QoS) [MQTT-3.8.4-8]; for overlapping subscriptions, the
    /// highest of them.
    pub qos: QoS,
    /// The RETAIN flag to send: true for retained messages sent on subscribe, else the
    /// publish's flag only with Retain As Published [MQTT-3.3.1-12], [MQTT-3.3.1-13].
    pub retain: bool,
    /// Subscription identifiers of every matching subscription (v5) [MQTT-3.3.4-3].
    pub sub_ids: Vec<u32>,
    /// Sequence number of its stored copy (persistent sessions with a store); the
    /// packet id is derived from it so a resend after a restart reuses the same id.
    pub seq: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::Origin;

    #[test]
    fn origin_is_hex_broker_colon_decimal_seq_and_parses_back() {
        for (broker, seq) in [
            (0, 0),
            (1, 9),
            (0xab, 10),
            (u64::MAX, u64::MAX),
            (42, 1 << 40),
        ] {
            let o = Origin { broker, seq };
            assert_eq!(o.to_string(), format!("{broker:016x}:{seq}"));
            assert_eq!(Origin::parse(&o.to_string()), Some(o));
        }
    }
}
