//! PUBLISH flows on the wire: QoS 2 exactly once, the outgoing window, the inbound
//! Receive Maximum, topic aliases both ways, message expiry, property forwarding and the
//! client's Maximum Packet Size.

use std::time::Duration;

use midge::protocol::{Packet, QoS, ReasonCode};

use crate::bytes as b;
use crate::support::{raw_sub, start_broker, start_broker_with, Raw};

#[tokio::test]
async fn qos2_duplicate_before_pubrel_is_delivered_once() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let mut sub = raw_sub(addr, "sub", "x", 2).await;
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.send(&b::publish("x", 2, 5, false, false, b"once", None))
        .await;
    assert!(matches!(publ.recv().await, Packet::PubRec(a) if a.pid.get() == 5));
    // The PUBREC "got lost": the client resends with DUP [MQTT-4.3.3-10].
    publ.send(&b::publish("x", 2, 5, true, false, b"once", None))
        .await;
    assert!(matches!(publ.recv().await, Packet::PubRec(a) if a.pid.get() == 5));
    publ.send(&b::pubrel(5)).await;
    assert!(matches!(publ.recv().await, Packet::PubComp(a) if a.pid.get() == 5));

    let p = sub.recv_publish().await;
    assert_eq!(&p.payload[..], b"once");
    let pid = p.qos_pid.pid().expect("pid").get();
    sub.send(&b::pubrec(pid)).await;
    assert!(matches!(sub.recv().await, Packet::PubRel(_)));
    sub.send(&b::pubcomp(pid)).await;
    assert!(sub.quiet().await.is_empty());
}

#[tokio::test]
async fn outgoing_window_holds_back_until_acked() {
    let broker = start_broker_with(|c| c.limits.max_inflight = 2).await;
    let addr = broker.addr();
    let mut sub = raw_sub(addr, "slow", "w", 1).await;
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    for i in 1..=5u16 {
        publ.publish1("w", i, format!("m{i}").as_bytes()).await;
    }
    let first = sub.recv_publish().await;
    let second = sub.recv_publish().await;
    // Only two in flight.
    assert!(sub.quiet().await.is_empty());
    sub.send(&b::puback(first.qos_pid.pid().expect("pid").get()))
        .await;
    let third = sub.recv_publish().await;
    assert_eq!(&third.payload[..], b"m3");
    assert!(sub.quiet().await.is_empty());
    for p in [&second, &third] {
        sub.send(&b::puback(p.qos_pid.pid().expect("pid").get()))
            .await;
    }
    let mut rest = [sub.recv_publish().await, sub.recv_publish().await];
    rest.sort_by(|a, b| a.payload.cmp(&b.payload));
    assert_eq!(&rest[0].payload[..], b"m4");
    assert_eq!(&rest[1].payload[..], b"m5");
}

#[tokio::test]
async fn inbound_receive_maximum_exceeded_gets_0x93() {
    let broker = start_broker().await;
    let (mut c, ack) = Raw::v5(broker.addr(), "flood", true, &[0]).await;
    let max = ack.properties.receive_maximum.expect("receive maximum");
    let mut all = Vec::new();
    for pid in 1..=max + 1 {
        all.extend(b::publish("f", 2, pid, false, false, b"", Some(&[])));
    }
    c.send(&all).await;
    // [MQTT-3.3.4-9]: one more unreleased QoS 2 than announced.
    let seen = c.expect_closed().await;
    let recs = seen
        .iter()
        .filter(|p| matches!(p, Packet::PubRec(_)))
        .count();
    assert_eq!(recs, usize::from(max));
    assert!(
        matches!(seen.last(), Some(Packet::Disconnect(d)) if d.reason == ReasonCode::ReceiveMaximumExceeded),
        "{:?}",
        seen.last()
    );
}

#[tokio::test]
async fn inbound_topic_alias_is_resolved() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let mut sub = raw_sub(addr, "sub", "alias/#", 0).await;
    let (mut c, _) = Raw::v5(addr, "aliaser", true, &[0]).await;
    let alias = b::props(&[b::p_u16(b::TOPIC_ALIAS, 3)]);
    c.send(&b::publish(
        "alias/t",
        0,
        0,
        false,
        false,
        b"1",
        Some(&alias),
    ))
    .await;
    c.send(&b::publish("", 0, 0, false, false, b"2", Some(&alias)))
        .await;
    // [MQTT-3.3.2-12]
    for payload in [b"1", b"2"] {
        let p = sub.recv_publish().await;
        assert_eq!((&*p.topic, &p.payload[..]), ("alias/t", &payload[..]));
    }
}

#[tokio::test]
async fn topic_alias_zero_or_too_big_gets_0x94() {
    let broker = start_broker().await;
    for bad in [0, 0xFFFF] {
        let (mut c, ack) = Raw::v5(broker.addr(), "bad-alias", true, &[0]).await;
        assert!(ack
            .properties
            .topic_alias_maximum
            .is_some_and(|m| m < bad || bad == 0));
        let alias = b::props(&[b::p_u16(b::TOPIC_ALIAS, bad)]);
        c.send(&b::publish("t", 0, 0, false, false, b"", Some(&alias)))
            .await;
        // [MQTT-3.3.2-8], [MQTT-3.3.2-9]
        let seen = c.expect_closed().await;
        assert!(
            matches!(&seen[..], [Packet::Disconnect(d)] if d.reason == ReasonCode::TopicAliasInvalid),
            "alias {bad}: {seen:?}"
        );
    }
}

#[tokio::test]
async fn outbound_topic_aliases_for_a_client_that_allows_them() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let props = b::props(&[b::p_u16(b::TOPIC_ALIAS_MAXIMUM, 4)]);
    let (mut sub, _) = Raw::v5(addr, "aliased", true, &props).await;
    sub.subscribe(1, "long/topic/name", 0).await;
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.publish0("long/topic/name", b"1").await;
    publ.publish0("long/topic/name", b"2").await;
    let first = sub.recv_publish().await;
    let alias = first
        .properties
        .topic_alias
        .expect("alias set on first use");
    assert!((1..=4).contains(&alias));
    assert_eq!(&*first.topic, "long/topic/name");
    let second = sub.recv_publish().await;
    assert_eq!(second.properties.topic_alias, Some(alias));
    assert!(second.topic.is_empty(), "alias alone on reuse");

    // A client that announced nothing gets no aliases [MQTT-3.3.2-10].
    let (mut plain, _) = Raw::v5(addr, "plain", true, &[0]).await;
    plain.subscribe(1, "long/topic/name", 0).await;
    publ.publish0("long/topic/name", b"3").await;
    let p = plain.recv_publish().await;
    assert_eq!(p.properties.topic_alias, None);
    assert_eq!(&*p.topic, "long/topic/name");
}

#[tokio::test]
async fn message_expiry_is_forwarded_as_remaining_time() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let (mut sub, _) = Raw::v5(addr, "sub", true, &[0]).await;
    sub.subscribe(1, "e", 1).await;
    let (mut publ, _) = Raw::v5(addr, "pub", true, &[0]).await;
    let props = b::props(&[b::p_u32(b::MESSAGE_EXPIRY, 30)]);
    publ.send(&b::publish("e", 1, 1, false, false, b"x", Some(&props)))
        .await;
    let p = sub.recv_publish().await;
    // [MQTT-3.3.2-6]
    let left = p
        .properties
        .message_expiry_interval
        .expect("expiry forwarded");
    assert!((1..=30).contains(&left), "{left}");
}

#[tokio::test]
async fn expired_message_is_not_delivered_to_a_returning_session() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let (mut sub, _) = Raw::v4(addr, "away", false).await;
    sub.subscribe(1, "e", 1).await;
    sub.send(&b::disconnect(None)).await;
    sub.expect_closed().await;
    let (mut publ, _) = Raw::v5(addr, "pub", true, &[0]).await;
    let short = b::props(&[b::p_u32(b::MESSAGE_EXPIRY, 1)]);
    publ.send(&b::publish("e", 1, 1, false, false, b"stale", Some(&short)))
        .await;
    assert!(matches!(publ.recv().await, Packet::PubAck(_)));
    // The behaviour under test is the passage of time itself: there is no event to wait for.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    publ.send(&b::publish("e", 1, 2, false, false, b"fresh", Some(&[])))
        .await;
    assert!(matches!(publ.recv().await, Packet::PubAck(_)));
    let (mut sub, ack) = Raw::v4(addr, "away", false).await;
    assert!(ack.session_present);
    // [MQTT-3.3.2-5]
    let p = sub.recv_publish().await;
    assert_eq!(&p.payload[..], b"fresh");
    sub.send(&b::puback(p.qos_pid.pid().expect("pid").get()))
        .await;
    assert!(sub.quiet().await.is_empty());
}

#[tokio::test]
async fn v5_properties_are_forwarded_unchanged() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let (mut sub, _) = Raw::v5(addr, "sub", true, &[0]).await;
    sub.subscribe(1, "props", 0).await;
    let (mut publ, _) = Raw::v5(addr, "pub", true, &[0]).await;
    let props = b::props(&[
        b::p_u8(b::PAYLOAD_FORMAT, 1),
        b::p_str(b::CONTENT_TYPE, "application/json"),
        b::p_str(b::RESPONSE_TOPIC, "reply/here"),
        b::p_str(b::CORRELATION_DATA, b"\x00\x01corr"),
        b::p_pair("k1", "v1"),
        b::p_pair("k1", "v2"),
        b::p_pair("other", ""),
    ]);
    publ.send(&b::publish(
        "props",
        0,
        0,
        false,
        false,
        b"{}",
        Some(&props),
    ))
    .await;
    // [MQTT-3.3.2-4], [MQTT-3.3.2-15], [MQTT-3.3.2-16], [MQTT-3.3.2-17], [MQTT-3.3.2-20]
    let p = sub.recv_publish().await;
    let q = &p.properties;
    assert_eq!(q.payload_format_indicator, Some(1));
    assert_eq!(q.content_type.as_deref(), Some("application/json"));
    assert_eq!(q.response_topic.as_deref(), Some("reply/here"));
    assert_eq!(q.correlation_data.as_deref(), Some(&b"\x00\x01corr"[..]));
    let pairs: Vec<(&str, &str)> = q
        .user_properties
        .iter()
        .map(|(k, v)| (&**k, &**v))
        .collect();
    assert_eq!(pairs, [("k1", "v1"), ("k1", "v2"), ("other", "")]);
}

#[tokio::test]
async fn nothing_larger_than_the_clients_maximum_packet_size_is_sent() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let props = b::props(&[b::p_u32(b::MAXIMUM_PACKET_SIZE, 100)]);
    let (mut small, _) = Raw::v5(addr, "small", true, &props).await;
    small.subscribe(1, "big", 0).await;
    let mut other = raw_sub(addr, "other", "big", 0).await;
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.publish0("big", &[7u8; 200]).await;
    publ.publish0("big", b"small one").await;
    // [MQTT-3.1.2-25]: dropped for `small`, delivered to the others.
    assert_eq!(other.recv_publish().await.payload.len(), 200);
    assert_eq!(&other.recv_publish().await.payload[..], b"small one");
    let p = small.recv_publish().await;
    assert_eq!(&p.payload[..], b"small one");
    assert!(small.quiet().await.is_empty());
}

#[tokio::test]
async fn an_alias_is_only_assumed_known_once_its_topic_was_sent() {
    // The first message on the topic is too large for the client and is dropped; the next
    // one must still carry the topic name with its new alias, or the client could never
    // resolve the alias [MQTT-3.3.2-12].
    let broker = start_broker().await;
    let addr = broker.addr();
    let props = b::props(&[
        b::p_u16(b::TOPIC_ALIAS_MAXIMUM, 4),
        b::p_u32(b::MAXIMUM_PACKET_SIZE, 100),
    ]);
    let (mut sub, _) = Raw::v5(addr, "aliased-small", true, &props).await;
    sub.subscribe(1, "alias/then/drop", 0).await;
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.publish0("alias/then/drop", &[7u8; 200]).await;
    publ.publish0("alias/then/drop", b"fits").await;
    let p = sub.recv_publish().await;
    assert_eq!(&p.payload[..], b"fits");
    assert_eq!(
        &*p.topic, "alias/then/drop",
        "the topic goes with the alias"
    );
    assert!(p.properties.topic_alias.is_some());
    assert!(sub.quiet().await.is_empty());
}

#[tokio::test]
async fn v3_publisher_v5_subscriber_and_back() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let (mut s5, _) = Raw::v5(addr, "s5", true, &[0]).await;
    s5.subscribe(1, "mix", 1).await;
    let mut s4 = raw_sub(addr, "s4", "mix", 1).await;
    let (mut p5, _) = Raw::v5(addr, "p5", true, &[0]).await;
    p5.publish1("mix", 1, b"from5").await;
    for s in [&mut s5, &mut s4] {
        let p = s.recv_publish().await;
        assert_eq!(
            (&p.payload[..], p.qos_pid.qos()),
            (&b"from5"[..], QoS::AtLeastOnce)
        );
    }
}
