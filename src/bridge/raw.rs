//! A PUBLISH from the local broker read in place, without decoding it: just enough to
//! tell whether its bytes can go to the remote as they are. With a line without
//! prefixes and no QoS downgrade (most bridges) the PUBLISH the local broker encoded
//! (v5) is the one the decoding path would build — same packet id, DUP and retain flags,
//! topic, properties and payload — for a v5 remote, and the same without its properties
//! for a v3 one; so decoding and re-encoding it is skipped. Anything else, or anything
//! unexpected, is left to the decoding path.

use std::ops::Range;

use crate::protocol::QoS;

const PUBLISH: u8 = 3;

/// What the forwarder checks before sending a PUBLISH as it is.
#[derive(Debug, PartialEq, Eq)]
pub struct RawPublish<'a> {
    pub qos: QoS,
    pub topic: &'a str,
    /// Where the properties are in the frame (their length field included).
    pub properties: Range<usize>,
    /// A Subscription Identifier or Topic Alias is among them: those are per hop and the
    /// decoding path strips them (`Forward::carried`).
    pub per_hop: bool,
}

/// A Variable Byte Integer at the front of `b`: (value, its length).
fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, byte) in b.iter().take(4).enumerate() {
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

/// `frame` (one whole v5 packet, fixed header included) as a PUBLISH; `None` for other
/// packets and for anything that does not parse.
pub fn publish(frame: &[u8]) -> Option<RawPublish<'_>> {
    let first = *frame.first()?;
    if first >> 4 != PUBLISH {
        return None;
    }
    let qos = QoS::try_from((first >> 1) & 0b11).ok()?;
    let (remaining, n) = varint(frame.get(1..)?)?;
    let body = frame.get(1 + n..)?;
    if body.len() != remaining {
        return None;
    }
    let topic_len = u16_at(body, 0)?;
    let topic = std::str::from_utf8(body.get(2..2 + topic_len)?).ok()?;
    let mut at = 2 + topic_len + if qos == QoS::AtMostOnce { 0 } else { 2 };
    let props_at = at;
    let (props_len, n) = varint(body.get(at..)?)?;
    at += n;
    let mut props = body.get(at..at + props_len)?;
    let mut per_hop = false;
    while let Some((&id, rest)) = props.split_first() {
        let len = match id {
            // Payload Format Indicator; Message Expiry Interval.
            0x01 => 1,
            0x02 => 4,
            // Content Type, Response Topic (strings); Correlation Data (binary).
            0x03 | 0x08 | 0x09 => 2 + u16_at(rest, 0)?,
            // User Property: a string pair.
            0x26 => {
                let k = 2 + u16_at(rest, 0)?;
                k + 2 + u16_at(rest, k)?
            }
            // Topic Alias; Subscription Identifier.
            0x23 => {
                per_hop = true;
                2
            }
            0x0B => {
                per_hop = true;
                varint(rest)?.1
            }
            // Not a PUBLISH property.
            _ => return None,
        };
        props = rest.get(len..)?;
    }
    let base = 1 + n_header(frame)?;
    Some(RawPublish {
        qos,
        topic,
        properties: base + props_at..base + at + props_len,
        per_hop,
    })
}

fn n_header(frame: &[u8]) -> Option<usize> {
    varint(frame.get(1..)?).map(|(_, n)| n)
}

/// Append `frame` without its properties: the v3 PUBLISH with the same flags, topic,
/// packet id and payload.
pub fn without_properties(frame: &[u8], p: &RawPublish<'_>, out: &mut impl FnMut(&[u8])) {
    let Some(n) = n_header(frame) else { return };
    let body = frame.len() - 1 - n - p.properties.len();
    let mut head = [0u8; 5];
    head[0] = frame[0];
    let mut len = 1;
    let mut v = body;
    loop {
        let mut b = (v % 128) as u8;
        v /= 128;
        if v > 0 {
            b |= 0x80;
        }
        head[len] = b;
        len += 1;
        if v == 0 || len == head.len() {
            break;
        }
    }
    out(&head[..len]);
    out(frame.get(1 + n..p.properties.start).unwrap_or_default());
    out(frame.get(p.properties.end..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{encode, ByteStr, Packet, Properties, ProtocolVersion, Publish, QosPid};
    use bytes::{Bytes, BytesMut};

    fn encoded(qos_pid: QosPid, properties: Properties) -> BytesMut {
        let mut b = BytesMut::new();
        let p = Packet::Publish(Publish {
            dup: true,
            qos_pid,
            retain: true,
            topic: ByteStr::from("a/b"),
            properties: properties.into(),
            payload: Bytes::from_static(b"hello"),
        });
        encode(&p, ProtocolVersion::V5, &mut b);
        b
    }

    fn pid(n: u16) -> crate::protocol::PacketId {
        crate::protocol::PacketId::new(n).expect("non-zero")
    }

    #[test]
    fn carried_properties_pass() {
        let props = Properties {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(30),
            content_type: Some(ByteStr::from("text/plain")),
            response_topic: Some(ByteStr::from("r/t")),
            correlation_data: Some(Bytes::from_static(b"\x00\x01")),
            user_properties: vec![(ByteStr::from("midge-origin"), ByteStr::from("ab:7"))],
            ..Properties::default()
        };
        let f = encoded(QosPid::Level2(pid(300)), props);
        let p = publish(&f).expect("a PUBLISH");
        assert_eq!(
            (p.qos, p.topic, p.per_hop),
            (QoS::ExactlyOnce, "a/b", false)
        );
        let f = encoded(QosPid::Level0, Properties::default());
        assert_eq!(publish(&f).map(|p| p.qos), Some(QoS::AtMostOnce));
    }

    /// The v3 form of a v5 PUBLISH is what the v3 encoder makes of it.
    #[test]
    fn without_properties_is_the_v3_encoding() {
        for (qos_pid, payload) in [
            (QosPid::Level1(pid(7)), 5),
            (QosPid::Level2(pid(65_535)), 200),
            (QosPid::Level0, 20_000),
        ] {
            let props = Properties {
                user_properties: vec![(ByteStr::from("midge-origin"), ByteStr::from("1:2"))],
                subscription_identifiers: vec![9],
                ..Properties::default()
            };
            let p = Publish {
                dup: false,
                qos_pid,
                retain: false,
                topic: ByteStr::from("x/y"),
                properties: crate::protocol::Props::from(props),
                payload: Bytes::from(vec![7u8; payload]),
            };
            let mut v5 = BytesMut::new();
            encode(&Packet::Publish(p.clone()), ProtocolVersion::V5, &mut v5);
            let mut v3 = BytesMut::new();
            encode(&Packet::Publish(p), ProtocolVersion::V3_1_1, &mut v3);
            let raw = publish(&v5).expect("a PUBLISH");
            assert!(raw.per_hop);
            let mut out = Vec::new();
            without_properties(&v5, &raw, &mut |b: &[u8]| out.extend_from_slice(b));
            assert_eq!(out, v3.to_vec());
        }
    }

    #[test]
    fn per_hop_properties_are_flagged_and_other_packets_are_none() {
        let sub_id = Properties {
            subscription_identifiers: vec![5],
            ..Properties::default()
        };
        let f = encoded(QosPid::Level1(pid(1)), sub_id);
        assert_eq!(publish(&f).map(|p| p.per_hop), Some(true));
        let alias = Properties {
            topic_alias: Some(3),
            ..Properties::default()
        };
        let f = encoded(QosPid::Level1(pid(1)), alias);
        assert_eq!(publish(&f).map(|p| p.per_hop), Some(true));
        let mut b = BytesMut::new();
        encode(
            &Packet::PubAck(crate::protocol::Ack::new(pid(1))),
            ProtocolVersion::V5,
            &mut b,
        );
        assert_eq!(publish(&b), None);
        // Truncated: never trusted.
        let f = encoded(QosPid::Level1(pid(1)), Properties::default());
        assert_eq!(publish(&f[..f.len() - 1]), None);
    }
}
