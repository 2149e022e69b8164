//! CONNECT / CONNACK: protocol levels, identifiers, takeover, keep-alive, limits.

use std::time::{Duration, Instant};

use midge::protocol::{Packet, ProtocolVersion, ReasonCode};

use crate::bytes as b;
use crate::support::{start_broker, start_broker_with, within, Raw, Read};

#[tokio::test]
async fn protocol_levels_3_4_5_are_accepted() {
    let broker = start_broker().await;
    for (level, version) in [
        (3, ProtocolVersion::V3_1),
        (4, ProtocolVersion::V3_1_1),
        (5, ProtocolVersion::V5),
    ] {
        let props = (level == 5).then_some(&[0u8][..]);
        let id = format!("level{level}");
        let (mut raw, ack) = Raw::connect_with(
            broker.addr(),
            version,
            &b::connect(level, &id, true, 0, props, None),
        )
        .await;
        assert_eq!(ack.reason, ReasonCode::Success, "level {level}");
        assert!(!ack.session_present);
        // The connection is usable: PINGREQ → PINGRESP.
        assert!(raw.sync().await.is_empty());
    }
}

#[tokio::test]
async fn protocol_level_6_gets_connack_0x01_then_close() {
    let broker = start_broker().await;
    let mut raw = Raw::open(broker.addr()).await;
    raw.send(&b::connect(6, "six", true, 0, None, None)).await;
    // [MQTT-3.1.2-2]: return code 0x01 in the 3.1.1 encoding (the client's own version is
    // unknown to us, and every 3.x client reads this form).
    let bytes = raw.read_all_until_close().await;
    assert_eq!(bytes, vec![0x20, 0x02, 0x00, 0x01]);
}

#[tokio::test]
async fn bad_protocol_name_is_closed_without_connack() {
    let broker = start_broker().await;
    let mut raw = Raw::open(broker.addr()).await;
    // [MQTT-3.1.2-1]: a wrong protocol name may be closed without CONNACK.
    raw.send(&b::connect_named("MQTX", 4, "x", true, 0, None, None))
        .await;
    assert!(raw.read_all_until_close().await.is_empty());
}

#[tokio::test]
async fn first_packet_not_connect_is_closed() {
    let broker = start_broker().await;
    let mut raw = Raw::open(broker.addr()).await;
    // [MQTT-3.1.0-1]
    raw.send(&b::pingreq()).await;
    assert!(raw.read_all_until_close().await.is_empty());
}

#[tokio::test]
async fn second_connect_closes_v4() {
    let broker = start_broker().await;
    let (mut raw, _) = Raw::v4(broker.addr(), "twice", true).await;
    // [MQTT-3.1.0-2]
    raw.send(&b::connect(4, "twice", true, 0, None, None)).await;
    assert!(raw.expect_closed().await.is_empty());
}

#[tokio::test]
async fn second_connect_v5_gets_disconnect_0x82() {
    let broker = start_broker().await;
    let (mut raw, _) = Raw::v5(broker.addr(), "twice5", true, &[0]).await;
    raw.send(&b::connect(5, "twice5", true, 0, Some(&[0]), None))
        .await;
    let seen = raw.expect_closed().await;
    assert!(
        matches!(&seen[..], [Packet::Disconnect(d)] if d.reason == ReasonCode::ProtocolError),
        "{seen:?}"
    );
}

#[tokio::test]
async fn empty_client_id_rules() {
    let broker = start_broker().await;
    // 3.1.1 with clean session: accepted [MQTT-3.1.3-6].
    let (mut raw, ack) = Raw::v4(broker.addr(), "", true).await;
    assert_eq!(ack.reason, ReasonCode::Success);
    assert!(raw.sync().await.is_empty());

    // 3.1.1 persistent: identifier rejected, 0x02 [MQTT-3.1.3-8].
    let (mut raw, ack) = Raw::connect_with(
        broker.addr(),
        ProtocolVersion::V3_1_1,
        &b::connect(4, "", false, 0, None, None),
    )
    .await;
    assert_eq!(ack.reason, ReasonCode::ClientIdentifierNotValid);
    assert!(raw.expect_closed().await.is_empty());

    // 5.0: accepted with an Assigned Client Identifier [MQTT-3.2.2-16].
    let (mut raw, ack) = Raw::v5(broker.addr(), "", true, &[0]).await;
    let assigned = ack
        .properties
        .assigned_client_identifier
        .clone()
        .expect("assigned client identifier");
    assert!(!assigned.is_empty());
    assert!(raw.sync().await.is_empty());
}

#[tokio::test]
async fn session_takeover_closes_the_old_connection() {
    let broker = start_broker().await;
    let (mut old, _) = Raw::v4(broker.addr(), "same", true).await;
    let (mut new, _) = Raw::v4(broker.addr(), "same", true).await;
    // [MQTT-3.1.4-3]
    assert!(old.expect_closed().await.is_empty());
    assert!(new.sync().await.is_empty());
}

#[tokio::test]
async fn session_takeover_v5_sends_disconnect_0x8e() {
    let broker = start_broker().await;
    let (mut old, _) = Raw::v5(broker.addr(), "same5", true, &[0]).await;
    let (mut new, _) = Raw::v5(broker.addr(), "same5", true, &[0]).await;
    let seen = old.expect_closed().await;
    assert!(
        matches!(&seen[..], [Packet::Disconnect(d)] if d.reason == ReasonCode::SessionTakenOver),
        "{seen:?}"
    );
    assert!(new.sync().await.is_empty());
}

#[tokio::test]
async fn silent_client_is_closed_after_one_and_a_half_keep_alives() {
    let broker = start_broker().await;
    let mut raw = Raw::open(broker.addr()).await;
    raw.send(&b::connect(4, "sleepy", true, 1, None, None))
        .await;
    assert!(matches!(raw.recv().await, Packet::ConnAck(_)));
    let start = Instant::now();
    // [MQTT-3.1.2-24]: nothing for 1.5 × keep-alive → closed.
    assert!(raw.expect_closed().await.is_empty());
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1450),
        "closed early: {waited:?}"
    );
    assert!(
        waited <= Duration::from_millis(2500),
        "closed late: {waited:?}"
    );
}

#[tokio::test]
async fn v5_server_keep_alive_caps_the_client() {
    let broker = start_broker_with(|c| c.limits.max_keepalive_secs = 10).await;
    let (_raw, ack) = Raw::connect_with(
        broker.addr(),
        ProtocolVersion::V5,
        &b::connect(5, "ka", true, 60, Some(&[0]), None),
    )
    .await;
    assert_eq!(ack.reason, ReasonCode::Success);
    // [MQTT-3.2.2-21]
    assert_eq!(ack.properties.server_keep_alive, Some(10));

    // A client within the limit is not told anything.
    let (_raw, ack) = Raw::connect_with(
        broker.addr(),
        ProtocolVersion::V5,
        &b::connect(5, "ka2", true, 5, Some(&[0]), None),
    )
    .await;
    assert_eq!(ack.properties.server_keep_alive, None);
}

#[tokio::test]
async fn v5_connack_announces_capabilities() {
    let broker = start_broker_with(|c| c.limits.max_packet_size = 4096).await;
    let (_raw, ack) = Raw::v5(broker.addr(), "caps", true, &[0]).await;
    let p = &ack.properties;
    assert!(p.receive_maximum.is_some_and(|n| n > 0), "{p:?}");
    assert_eq!(p.maximum_packet_size, Some(4096));
    assert!(p.topic_alias_maximum.is_some_and(|n| n > 0), "{p:?}");
    assert_eq!(p.retain_available, Some(true));
    assert_eq!(p.wildcard_subscription_available, Some(true));
    assert_eq!(p.subscription_identifier_available, Some(true));
    assert_eq!(p.shared_subscription_available, Some(true));
}

#[tokio::test]
async fn silent_socket_is_closed_after_connect_timeout() {
    let broker = start_broker_with(|c| c.limits.connect_timeout_secs = 1).await;
    let mut raw = Raw::open(broker.addr()).await;
    let start = Instant::now();
    assert!(raw.read_all_until_close().await.is_empty());
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed early: {waited:?}"
    );
    assert!(
        waited <= Duration::from_millis(2500),
        "closed late: {waited:?}"
    );
}

#[tokio::test]
async fn connection_over_max_connections_is_closed_without_connack() {
    let broker = start_broker_with(|c| c.limits.max_connections = 2).await;
    let (mut a, _) = Raw::v4(broker.addr(), "a", true).await;
    let (mut b_, _) = Raw::v4(broker.addr(), "b", true).await;
    let mut third = Raw::open(broker.addr()).await;
    third.send(&b::connect(4, "c", true, 0, None, None)).await;
    assert!(third.read_all_until_close().await.is_empty());
    // The two admitted clients are unaffected.
    assert!(a.sync().await.is_empty());
    assert!(b_.sync().await.is_empty());
    // A slot freed by a client leaving is usable again.
    drop(a);
    let mut retry = within(5.0, async {
        loop {
            let mut r = Raw::open(broker.addr()).await;
            r.send(&b::connect(4, "c", true, 0, None, None)).await;
            if let Some(Read::Packet(Packet::ConnAck(_))) =
                r.read_within(Duration::from_secs(1)).await
            {
                return r;
            }
        }
    })
    .await;
    assert!(retry.sync().await.is_empty());
}

#[tokio::test]
async fn shutdown_disconnects_clients_v5_with_0x8b() {
    let broker = start_broker().await;
    let (mut c5, _) = Raw::v5(broker.addr(), "five", true, &[0]).await;
    let (mut c4, _) = Raw::v4(broker.addr(), "four", true).await;
    within(5.0, broker.shutdown()).await;
    let seen = c5.expect_closed().await;
    assert!(
        matches!(&seen[..], [Packet::Disconnect(d)] if d.reason == ReasonCode::ServerShuttingDown),
        "{seen:?}"
    );
    assert!(c4.expect_closed().await.is_empty());
}
