//! Last wills: published on an abnormal end (QoS and retain honoured), not on a normal
//! DISCONNECT, on v5 DISCONNECT 0x04, after the v5 Will Delay Interval unless the client
//! came back in time.

use std::time::{Duration, Instant};

use midge::protocol::{QoS, QosPid};

use crate::bytes::{self as b, Will};
use crate::support::{raw_sub, start_broker, Raw};

fn will<'a>(qos: u8, retain: bool, props: &'a [u8]) -> Will<'a> {
    Will {
        topic: "wills/dead",
        payload: b"gone",
        qos,
        retain,
        props,
    }
}

#[tokio::test]
async fn abnormal_close_publishes_the_will_with_its_qos() {
    let broker = start_broker().await;
    let mut sub = raw_sub(broker.addr(), "watcher", "wills/#", 2).await;
    let (victim, _) = Raw::connect_with(
        broker.addr(),
        midge::protocol::ProtocolVersion::V3_1_1,
        &b::connect(4, "dies", true, 0, None, Some(&will(1, false, &[]))),
    )
    .await;
    drop(victim); // [MQTT-3.1.2-8]: closed without DISCONNECT
    let p = sub.recv_publish().await;
    assert_eq!(&*p.topic, "wills/dead");
    assert_eq!(&p.payload[..], b"gone");
    assert_eq!(p.qos_pid.qos(), QoS::AtLeastOnce);
    assert!(!p.retain);
    sub.send(&b::puback(p.qos_pid.pid().expect("pid").get()))
        .await;
    assert!(sub.quiet().await.is_empty());
}

#[tokio::test]
async fn normal_disconnect_discards_the_will() {
    let broker = start_broker().await;
    let mut sub = raw_sub(broker.addr(), "watcher", "wills/#", 0).await;
    let (mut victim, _) = Raw::connect_with(
        broker.addr(),
        midge::protocol::ProtocolVersion::V3_1_1,
        &b::connect(4, "polite", true, 0, None, Some(&will(0, false, &[]))),
    )
    .await;
    // [MQTT-3.1.2-10]
    victim.send(&b::disconnect(None)).await;
    assert!(victim.expect_closed().await.is_empty());
    // Sync point: a later message on the same subscription arrives alone.
    let (mut other, _) = Raw::v4(broker.addr(), "other", true).await;
    other.publish0("wills/marker", b"m").await;
    assert_eq!(&*sub.recv_publish().await.topic, "wills/marker");
    assert!(sub.quiet().await.is_empty());
}

#[tokio::test]
async fn v5_disconnect_with_will_message_publishes_it() {
    let broker = start_broker().await;
    let mut sub = raw_sub(broker.addr(), "watcher", "wills/#", 0).await;
    let (mut victim, _) = Raw::connect_with(
        broker.addr(),
        midge::protocol::ProtocolVersion::V5,
        &b::connect(5, "asks", true, 0, Some(&[0]), Some(&will(0, false, &[]))),
    )
    .await;
    victim.send(&b::disconnect(Some(0x04))).await;
    victim.expect_closed().await;
    let p = sub.recv_publish().await;
    assert_eq!(&*p.topic, "wills/dead");
}

#[tokio::test]
async fn retained_will_is_stored_as_retained() {
    let broker = start_broker().await;
    let (victim, _) = Raw::connect_with(
        broker.addr(),
        midge::protocol::ProtocolVersion::V3_1_1,
        &b::connect(4, "dies", true, 0, None, Some(&will(1, true, &[]))),
    )
    .await;
    // A live subscriber sees it without the retain flag [MQTT-3.3.1-9]...
    let mut live = raw_sub(broker.addr(), "live", "wills/dead", 0).await;
    drop(victim);
    let p = live.recv_publish().await;
    assert!(!p.retain);
    // ...and a later subscriber gets the stored copy with it.
    let mut late = raw_sub(broker.addr(), "late", "wills/dead", 1).await;
    let p = late.recv_publish().await;
    assert_eq!(&p.payload[..], b"gone");
    assert!(p.retain);
    assert!(matches!(p.qos_pid, QosPid::Level1(_)));
}

/// v5 client with a will delayed by `delay` s and a session expiry of 60 s.
fn delayed_connect(id: &str, clean: bool, delay: u32) -> Vec<u8> {
    let conn_props = b::props(&[b::p_u32(b::SESSION_EXPIRY, 60)]);
    let will_props = b::props(&[b::p_u32(b::WILL_DELAY, delay)]);
    b::connect(
        5,
        id,
        clean,
        0,
        Some(&conn_props),
        Some(&will(0, false, &will_props)),
    )
}

#[tokio::test]
async fn v5_will_delay_postpones_the_will() {
    let broker = start_broker().await;
    let mut sub = raw_sub(broker.addr(), "watcher", "wills/#", 0).await;
    let (victim, _) = Raw::connect_with(
        broker.addr(),
        midge::protocol::ProtocolVersion::V5,
        &delayed_connect("later", true, 1),
    )
    .await;
    let start = Instant::now();
    drop(victim);
    // [MQTT-3.1.3-9]: not before the delay.
    let p = sub.recv_publish().await;
    let waited = start.elapsed();
    assert_eq!(&*p.topic, "wills/dead");
    assert!(
        waited >= Duration::from_millis(900),
        "will after {waited:?}"
    );
}

#[tokio::test]
async fn v5_will_delay_is_cancelled_by_a_reconnect() {
    let broker = start_broker().await;
    let mut sub = raw_sub(broker.addr(), "watcher", "wills/#", 0).await;
    let (victim, _) = Raw::connect_with(
        broker.addr(),
        midge::protocol::ProtocolVersion::V5,
        &delayed_connect("back", false, 1),
    )
    .await;
    let start = Instant::now();
    drop(victim);
    let (mut back, ack) = Raw::connect_with(
        broker.addr(),
        midge::protocol::ProtocolVersion::V5,
        &b::connect(
            5,
            "back",
            false,
            0,
            Some(&b::props(&[b::p_u32(b::SESSION_EXPIRY, 60)])),
            None,
        ),
    )
    .await;
    assert!(ack.session_present);
    assert!(
        start.elapsed() < Duration::from_millis(800),
        "reconnect too slow for the test"
    );
    // Wait past the delay: the will must not come.
    back.sync().await;
    let marker_at = start + Duration::from_millis(1500);
    let left = marker_at.saturating_duration_since(Instant::now());
    if let Some(r) = sub.read_within(left).await {
        panic!("unexpected {r:?}");
    }
}
