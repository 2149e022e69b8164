//! Malformed input: each bad packet closes only its own connection (v5: after a
//! DISCONNECT with the reason), and an already-connected pair keeps working.

use midge::protocol::{Packet, ProtocolVersion, ReasonCode};

use crate::bytes as b;
use crate::support::{raw_sub, start_broker_with, Raw, TestBroker};

/// Connect a witness pair, let a client of `level` (3.1.1 or 5; 0 = no CONNECT at all)
/// send `bad`, assert it is closed after exactly the packets in `expect`, and that the
/// witnesses still round-trip a message.
async fn bad_input(broker: &TestBroker, level: u8, bad: &[u8], expect: Option<ReasonCode>) {
    let addr = broker.addr();
    let mut sub = raw_sub(addr, "witness-sub", "w", 1).await;
    let (mut publ, _) = Raw::v4(addr, "witness-pub", true).await;

    let mut victim = match level {
        0 => Raw::open(addr).await,
        4 => Raw::v4(addr, "victim", true).await.0,
        _ => Raw::v5(addr, "victim", true, &[0]).await.0,
    };
    if level == 5 {
        victim.version = ProtocolVersion::V5;
    }
    victim.send(bad).await;
    let seen = victim.expect_closed().await;
    match expect {
        None => assert!(seen.is_empty(), "{seen:?}"),
        Some(r) => assert!(
            matches!(&seen[..], [Packet::Disconnect(d)] if d.reason == r),
            "expected DISCONNECT {r:?}, got {seen:?}"
        ),
    }

    publ.publish1("w", 7, b"still here").await;
    let p = sub.recv_publish().await;
    assert_eq!(&p.payload[..], b"still here");
}

async fn broker() -> TestBroker {
    start_broker_with(|c| c.limits.max_packet_size = 1024).await
}

#[tokio::test]
async fn garbage_before_connect() {
    let b = broker().await;
    bad_input(&b, 0, b"\xde\xad\xbe\xef garbage \x00\x01", None).await;
}

#[tokio::test]
async fn garbage_after_connect_v4() {
    let b = broker().await;
    bad_input(&b, 4, b"\xff\xff\xff\xff\xff\xff", None).await;
}

#[tokio::test]
async fn reserved_packet_type_0() {
    let b = broker().await;
    // [MQTT-2.2.2-?] type 0 is reserved.
    bad_input(&b, 4, &[0x00, 0x00], None).await;
}

#[tokio::test]
async fn auth_packet_is_reserved_in_v4() {
    let b = broker().await;
    bad_input(&b, 4, &[0xF0, 0x00], None).await;
}

#[tokio::test]
async fn subscribe_with_bad_flags() {
    let b = broker().await;
    // [MQTT-3.8.1-1]: SUBSCRIBE flags must be 0010.
    let mut p = b::subscribe(1, &[("t", 0)], None);
    p[0] = 0x80;
    bad_input(&b, 4, &p, None).await;
}

#[tokio::test]
async fn publish_with_qos_3() {
    let b = broker().await;
    // [MQTT-3.3.1-4]
    let mut p = b::publish("t", 1, 1, false, false, b"x", None);
    p[0] = 0x36;
    bad_input(&b, 4, &p, None).await;
}

#[tokio::test]
async fn publish_with_qos_3_v5_gets_0x81() {
    let b = broker().await;
    let mut p = b::publish("t", 1, 1, false, false, b"x", Some(&[]));
    p[0] = 0x36;
    bad_input(&b, 5, &p, Some(ReasonCode::MalformedPacket)).await;
}

#[tokio::test]
async fn remaining_length_overflow() {
    let b = broker().await;
    // A fifth continuation byte: Remaining Length is at most four bytes (1.5.5).
    bad_input(&b, 4, &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], None).await;
}

#[tokio::test]
async fn remaining_length_overflow_v5_gets_0x81() {
    let b = broker().await;
    bad_input(
        &b,
        5,
        &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        Some(ReasonCode::MalformedPacket),
    )
    .await;
}

#[tokio::test]
async fn truncated_packet_then_eof() {
    let b = broker().await;
    let addr = b.addr();
    let mut sub = raw_sub(addr, "witness-sub", "w", 1).await;
    let (mut publ, _) = Raw::v4(addr, "witness-pub", true).await;
    let (mut victim, _) = Raw::v4(addr, "victim", true).await;
    let p = b::publish("w", 0, 0, false, false, b"never complete", None);
    victim.send(&p[..p.len() - 4]).await;
    victim.shutdown_write().await;
    assert!(victim.expect_closed().await.is_empty());
    // The half packet was not delivered; the witnesses still work.
    publ.publish1("w", 1, b"after").await;
    assert_eq!(&sub.recv_publish().await.payload[..], b"after");
    assert!(sub.quiet().await.is_empty());
}

#[tokio::test]
async fn packet_over_max_size_is_refused_from_the_header() {
    let b = broker().await;
    // Only the fixed header, claiming 10 MB against a 1 KB limit: no body ever follows,
    // so a close proves the check happened on the header.
    let mut header = vec![0x30];
    header.extend(b::varint(10 * 1024 * 1024));
    bad_input(&b, 4, &header, None).await;
}

#[tokio::test]
async fn packet_over_max_size_v5_gets_0x95() {
    let b = broker().await;
    let mut header = vec![0x30];
    header.extend(b::varint(10 * 1024 * 1024));
    bad_input(&b, 5, &header, Some(ReasonCode::PacketTooLarge)).await;
}
