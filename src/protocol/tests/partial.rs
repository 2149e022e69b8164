//! Incremental decoding: a strict prefix of a packet is `Ok(None)` and consumes nothing;
//! several packets in one buffer come out one at a time.

use bytes::{Bytes, BytesMut};

use super::super::{decode, Ack, Disconnect, Properties, Props, Publish, QosPid, ReasonCode};
use super::{enc, pid, s, Packet, V4, V5};

fn samples() -> Vec<Packet> {
    let big = Publish {
        dup: false,
        qos_pid: QosPid::Level1(pid(7)),
        retain: true,
        topic: s("a/b"),
        properties: Props::from(Properties {
            message_expiry_interval: Some(60),
            user_properties: vec![(s("k"), s("v"))],
            ..Properties::default()
        }),
        // Over 127 bytes, so the Remaining Length takes two bytes.
        payload: Bytes::from(vec![0xAB; 300]),
    };
    vec![
        Packet::Publish(big),
        Packet::PubAck(Ack {
            reason: ReasonCode::QuotaExceeded,
            ..Ack::new(pid(3))
        }),
        Packet::PingReq,
        Packet::Disconnect(Disconnect::new(ReasonCode::ServerShuttingDown)),
    ]
}

#[test]
fn every_strict_prefix_is_incomplete_and_consumes_nothing() {
    for packet in samples() {
        let bytes = enc(&packet, V5);
        for cut in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..cut]);
            assert_eq!(
                decode(&mut buf, V5, 1 << 20),
                Ok(None),
                "{} cut at {cut}",
                packet.name()
            );
            assert_eq!(&buf[..], &bytes[..cut], "prefix consumed");
        }
        let mut buf = BytesMut::from(&bytes[..]);
        assert_eq!(decode(&mut buf, V5, 1 << 20), Ok(Some(packet)));
        assert!(buf.is_empty());
    }
}

#[test]
fn packets_back_to_back_decode_one_by_one() {
    let packets = samples();
    let mut buf = BytesMut::new();
    for p in &packets {
        super::super::encode(p, V5, &mut buf);
    }
    // Half of the next packet is already there too.
    let tail = enc(&Packet::PingResp, V5);
    buf.extend_from_slice(&tail[..1]);
    for p in packets {
        assert_eq!(decode(&mut buf, V5, 1 << 20), Ok(Some(p)));
    }
    assert_eq!(decode(&mut buf, V5, 1 << 20), Ok(None));
    buf.extend_from_slice(&tail[1..]);
    assert_eq!(decode(&mut buf, V5, 1 << 20), Ok(Some(Packet::PingResp)));
    assert!(buf.is_empty());
}

#[test]
fn v3_stream_of_publishes() {
    let mut buf = BytesMut::new();
    let mut sent = Vec::new();
    for i in 1..=5u16 {
        let p = Packet::Publish(Publish {
            dup: false,
            qos_pid: QosPid::Level2(pid(i)),
            retain: false,
            topic: s("t"),
            properties: Props::default(),
            payload: Bytes::from(vec![u8::try_from(i).expect("small"); usize::from(i) * 50]),
        });
        super::super::encode(&p, V4, &mut buf);
        sent.push(p);
    }
    for p in sent {
        assert_eq!(decode(&mut buf, V4, 1 << 20), Ok(Some(p)));
    }
    assert!(buf.is_empty());
}
