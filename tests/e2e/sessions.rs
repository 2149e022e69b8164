//! Sessions: 3.1.1 persistent sessions (subscriptions, offline queue, its bound), v5
//! Clean Start and Session Expiry, and the resend of in-flight state on reconnect.

use std::time::{Duration, Instant};

use midge::protocol::{Packet, ProtocolVersion, QoS};

use crate::bytes as b;
use crate::support::{start_broker, start_broker_with, sys_until, Raw};

#[tokio::test]
async fn persistent_session_keeps_subscriptions_and_qos1_2_messages() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let (mut sub, ack) = Raw::v4(addr, "keeper", false).await;
    assert!(!ack.session_present);
    assert_eq!(sub.subscribe(1, "keep/#", 2).await, vec![2]);
    sub.send(&b::disconnect(None)).await;
    sub.expect_closed().await;

    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.publish0("keep/q0", b"zero").await;
    publ.publish1("keep/q1", 1, b"one").await;
    publ.send(&b::publish("keep/q2", 2, 2, false, false, b"two", None))
        .await;
    assert!(matches!(publ.recv().await, Packet::PubRec(_)));
    publ.send(&b::pubrel(2)).await;
    assert!(matches!(publ.recv().await, Packet::PubComp(_)));

    let (mut sub, ack) = Raw::v4(addr, "keeper", false).await;
    // [MQTT-3.2.2-3]
    assert!(ack.session_present);
    let a = sub.recv_publish().await;
    let c = sub.recv_publish().await;
    assert_eq!((&*a.topic, a.qos_pid.qos()), ("keep/q1", QoS::AtLeastOnce));
    assert_eq!((&*c.topic, c.qos_pid.qos()), ("keep/q2", QoS::ExactlyOnce));
    sub.send(&b::puback(a.qos_pid.pid().expect("pid").get()))
        .await;
    sub.send(&b::pubrec(c.qos_pid.pid().expect("pid").get()))
        .await;
    assert!(matches!(sub.recv().await, Packet::PubRel(_)));
    sub.send(&b::pubcomp(c.qos_pid.pid().expect("pid").get()))
        .await;
    // QoS 0 was not queued; the subscription itself still works.
    assert!(sub.quiet().await.is_empty());
    publ.publish0("keep/live", b"live").await;
    assert_eq!(&*sub.recv_publish().await.topic, "keep/live");
}

#[tokio::test]
async fn offline_queue_is_bounded_and_drops_are_counted() {
    let broker = start_broker_with(|c| {
        c.limits.max_queued_messages = 3;
        c.sys.interval_secs = 1;
    })
    .await;
    let addr = broker.addr();
    let (mut sub, _) = Raw::v4(addr, "small", false).await;
    sub.subscribe(1, "q", 1).await;
    sub.send(&b::disconnect(None)).await;
    sub.expect_closed().await;

    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    for i in 1..=6u16 {
        publ.publish1("q", i, format!("m{i}").as_bytes()).await;
    }
    let (mut sub, ack) = Raw::v4(addr, "small", false).await;
    assert!(ack.session_present);
    let mut got = Vec::new();
    for _ in 0..3 {
        let p = sub.recv_publish().await;
        sub.send(&b::puback(p.qos_pid.pid().expect("pid").get()))
            .await;
        got.push(String::from_utf8_lossy(&p.payload).into_owned());
    }
    assert!(sub.quiet().await.is_empty(), "more than the bound: {got:?}");
    let dropped = sys_until(addr, "$SYS/broker/publish/messages/dropped", |v| {
        v.parse::<u64>().is_ok_and(|n| n >= 3)
    })
    .await;
    assert_eq!(dropped, "3");
}

fn v5_connect(id: &str, clean: bool, expiry: u32) -> Vec<u8> {
    let props = b::props(&[b::p_u32(b::SESSION_EXPIRY, expiry)]);
    b::connect(5, id, clean, 0, Some(&props), None)
}

async fn v5_session(addr: std::net::SocketAddr, id: &str, clean: bool, expiry: u32) -> (Raw, bool) {
    let (raw, ack) =
        Raw::connect_with(addr, ProtocolVersion::V5, &v5_connect(id, clean, expiry)).await;
    assert!(!ack.reason.is_error());
    (raw, ack.session_present)
}

async fn leave(mut raw: Raw) {
    raw.send(&b::disconnect(Some(0))).await;
    raw.expect_closed().await;
}

#[tokio::test]
async fn v5_session_expiry_zero_ends_with_the_connection() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let (mut s, present) = v5_session(addr, "brief", true, 0).await;
    assert!(!present);
    s.subscribe(1, "t", 1).await;
    leave(s).await;
    let (mut s, present) = v5_session(addr, "brief", false, 0).await;
    // [MQTT-3.1.2-23] the session did not outlive the connection.
    assert!(!present);
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.publish1("t", 1, b"x").await;
    assert!(s.quiet().await.is_empty());
}

#[tokio::test]
async fn v5_session_expiry_keeps_then_ends_the_session() {
    let broker = start_broker_with(|c| c.sys.interval_secs = 1).await;
    let addr = broker.addr();
    let (mut s, _) = v5_session(addr, "two", true, 2).await;
    s.subscribe(1, "t", 1).await;
    leave(s).await;
    let (s, present) = v5_session(addr, "two", false, 2).await;
    assert!(present, "session kept within its expiry");
    leave(s).await;
    let left = Instant::now();
    // The event: $SYS counts the offline session, then stops counting it.
    let topic = "$SYS/broker/clients/disconnected";
    sys_until(addr, topic, |v| v == "1").await;
    sys_until(addr, topic, |v| v == "0").await;
    assert!(
        left.elapsed() >= Duration::from_millis(1900),
        "expired early"
    );
    let (mut s, present) = v5_session(addr, "two", false, 2).await;
    assert!(!present, "session outlived its expiry");
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.publish1("t", 1, b"x").await;
    assert!(s.quiet().await.is_empty());
}

#[tokio::test]
async fn v5_clean_start_discards_the_session() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let (mut s, _) = v5_session(addr, "fresh", true, 60).await;
    s.subscribe(1, "t", 1).await;
    leave(s).await;
    let (mut s, present) = v5_session(addr, "fresh", true, 60).await;
    // [MQTT-3.1.2-4]
    assert!(!present);
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.publish1("t", 1, b"x").await;
    assert!(s.quiet().await.is_empty());
}

#[tokio::test]
async fn unacked_qos1_is_resent_with_dup_and_same_id() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let (mut sub, _) = Raw::v4(addr, "forgetful", false).await;
    sub.subscribe(1, "r", 1).await;
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.publish1("r", 9, b"again").await;
    let first = sub.recv_publish().await;
    assert!(!first.dup);
    drop(sub); // no PUBACK
    let (mut sub, ack) = Raw::v4(addr, "forgetful", false).await;
    assert!(ack.session_present);
    // [MQTT-4.4.0-1]
    let again = sub.recv_publish().await;
    assert!(again.dup);
    assert_eq!(again.qos_pid, first.qos_pid);
    assert_eq!(again.payload, first.payload);
    sub.send(&b::puback(again.qos_pid.pid().expect("pid").get()))
        .await;
    assert!(sub.quiet().await.is_empty());
}

#[tokio::test]
async fn unfinished_qos2_resends_pubrel() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let (mut sub, _) = Raw::v4(addr, "halfway", false).await;
    sub.subscribe(1, "r", 2).await;
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.send(&b::publish("r", 2, 3, false, false, b"x", None))
        .await;
    assert!(matches!(publ.recv().await, Packet::PubRec(_)));
    let p = sub.recv_publish().await;
    let pid = p.qos_pid.pid().expect("pid");
    sub.send(&b::pubrec(pid.get())).await;
    match sub.recv().await {
        Packet::PubRel(a) => assert_eq!(a.pid, pid),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    drop(sub); // no PUBCOMP
    let (mut sub, ack) = Raw::v4(addr, "halfway", false).await;
    assert!(ack.session_present);
    match sub.recv().await {
        Packet::PubRel(a) => assert_eq!(a.pid, pid),
        other => panic!("expected PUBREL again, got {other:?}"),
    }
    sub.send(&b::pubcomp(pid.get())).await;
    assert!(sub.quiet().await.is_empty());
}
