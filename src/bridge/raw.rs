//! A PUBLISH from the local broker read in place, without decoding it: just enough to
//! tell whether its bytes can go to the remote as they are. For a v5 remote, a line
//! without prefixes and no QoS downgrade (most bridges) the PUBLISH the local broker
//! encoded is the one the slow path would build — same packet id, DUP and retain flags,
//! topic, properties and payload — so decoding and re-encoding it is skipped. Anything
//! else, or anything unexpected, is left to the decoding path.

use crate::protocol::QoS;

const PUBLISH: u8 = 3;

/// What the forwarder checks before sending a PUBLISH as it is.
#[derive(Debug, PartialEq, Eq)]
pub struct RawPublish<'a> {
    pub qos: QoS,
    pub topic: &'a str,
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

/// `frame` (one whole v5 packet, fixed header included) as a PUBLISH whose properties
/// all travel unchanged to the next hop. `None` for other packets and for a PUBLISH
/// with a Subscription Identifier or Topic Alias: those are per hop and the decoding
/// path strips them (`Forward::carried`).
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
    let (props_len, n) = varint(body.get(at..)?)?;
    at += n;
    let mut props = body.get(at..at + props_len)?;
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
            // Subscription Identifier, Topic Alias, or not a PUBLISH property at all.
            _ => return None,
        };
        props = rest.get(len..)?;
    }
    Some(RawPublish { qos, topic })
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
            properties,
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
        assert_eq!(
            publish(&f),
            Some(RawPublish {
                qos: QoS::ExactlyOnce,
                topic: "a/b"
            })
        );
        let f = encoded(QosPid::Level0, Properties::default());
        assert_eq!(publish(&f).map(|p| p.qos), Some(QoS::AtMostOnce));
    }

    #[test]
    fn per_hop_properties_and_other_packets_do_not() {
        let sub_id = Properties {
            subscription_identifiers: vec![5],
            ..Properties::default()
        };
        assert_eq!(publish(&encoded(QosPid::Level1(pid(1)), sub_id)), None);
        let alias = Properties {
            topic_alias: Some(3),
            ..Properties::default()
        };
        assert_eq!(publish(&encoded(QosPid::Level1(pid(1)), alias)), None);
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
