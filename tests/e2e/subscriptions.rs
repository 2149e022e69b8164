//! Subscriptions: filter validation, wildcards, `$SYS` isolation, overlaps, QoS
//! downgrade, the v5 subscription options, shared subscriptions and UNSUBSCRIBE.

use std::collections::HashSet;

use midge::protocol::{Packet, ProtocolVersion, QoS, ReasonCode};

use crate::bytes as b;
use crate::support::{raw_sub, start_broker, start_broker_with, sys_until, within, Raw};

async fn v5(addr: std::net::SocketAddr, id: &str) -> Raw {
    Raw::v5(addr, id, true, &[0]).await.0
}

#[tokio::test]
async fn invalid_filters_are_refused_per_filter() {
    let broker = start_broker().await;
    let mut c5 = v5(broker.addr(), "five").await;
    c5.send(&b::subscribe(
        1,
        &[("a/#/b", 0), ("ok/+", 1), ("a+", 0), ("", 0)],
        Some(&[]),
    ))
    .await;
    match c5.recv().await {
        Packet::SubAck(s) => assert_eq!(
            s.reasons,
            vec![
                ReasonCode::TopicFilterInvalid,
                ReasonCode::GrantedQoS1,
                ReasonCode::TopicFilterInvalid,
                ReasonCode::TopicFilterInvalid,
            ]
        ),
        other => panic!("{other:?}"),
    }
    let (mut c4, _) = Raw::v4(broker.addr(), "four", true).await;
    c4.send(&b::subscribe(1, &[("x/#/y", 1), ("ok", 2)], None))
        .await;
    // 3.1.1 has one failure code, 0x80 [MQTT-3.9.3-2].
    let bytes = c4.read_raw_packet().await;
    assert_eq!(bytes, vec![0x90, 0x04, 0x00, 0x01, 0x80, 0x02]);
}

#[tokio::test]
async fn single_and_multi_level_wildcards() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let mut plus = raw_sub(addr, "plus", "a/+/c", 0).await;
    let mut hash = raw_sub(addr, "hash", "a/#", 0).await;
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    for t in ["a", "a/b", "a/b/c", "a/b/d", "a/b/c/d", "b/a"] {
        publ.publish0(t, b"").await;
    }
    publ.publish0("a/end/c", b"").await;
    let mut got_plus = Vec::new();
    loop {
        let p = plus.recv_publish().await;
        got_plus.push(p.topic.to_string());
        if &*p.topic == "a/end/c" {
            break;
        }
    }
    assert_eq!(got_plus, ["a/b/c", "a/end/c"]);
    let mut got_hash = Vec::new();
    loop {
        let p = hash.recv_publish().await;
        got_hash.push(p.topic.to_string());
        if &*p.topic == "a/end/c" {
            break;
        }
    }
    // [MQTT-4.7.1-2]: "a/#" also matches the parent "a".
    assert_eq!(
        got_hash,
        ["a", "a/b", "a/b/c", "a/b/d", "a/b/c/d", "a/end/c"]
    );
    assert!(plus.quiet().await.is_empty());
    assert!(hash.quiet().await.is_empty());
}

#[tokio::test]
async fn wildcards_do_not_match_sys_topics() {
    let broker = start_broker_with(|c| c.sys.interval_secs = 1).await;
    let addr = broker.addr();
    let mut all = raw_sub(addr, "all", "#", 0).await;
    let mut plus = raw_sub(addr, "plus", "+/broker/#", 0).await;
    // Sync point: $SYS is being published (uptime moves past its first value).
    let first = sys_until(addr, "$SYS/broker/uptime", |_| true).await;
    sys_until(addr, "$SYS/broker/uptime", |v| v != first).await;
    // [MQTT-4.7.2-1]
    for sub in [&mut all, &mut plus] {
        let seen = sub.quiet().await;
        assert!(seen.is_empty(), "{seen:?}");
    }
}

#[tokio::test]
async fn overlapping_subscriptions_deliver_once_with_every_id() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let mut c = v5(addr, "overlap").await;
    let id1 = b::props(&[b::p_var(b::SUBSCRIPTION_ID, 1)]);
    let id2 = b::props(&[b::p_var(b::SUBSCRIPTION_ID, 2)]);
    assert_eq!(c.subscribe_props(1, "o/#", 1, &id1).await, vec![1]);
    assert_eq!(c.subscribe_props(2, "o/+", 0, &id2).await, vec![0]);
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.publish1("o/x", 1, b"once").await;
    let p = c.recv_publish().await;
    let mut ids = p.properties.subscription_identifiers.clone();
    ids.sort_unstable();
    // [MQTT-3.3.4-2] one copy, the highest granted QoS; [MQTT-3.3.4-3] both ids.
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(p.qos_pid.qos(), QoS::AtLeastOnce);
    c.send(&b::puback(p.qos_pid.pid().expect("pid").get()))
        .await;
    assert!(c.quiet().await.is_empty());
}

#[tokio::test]
async fn delivery_qos_is_the_minimum_of_publish_and_grant() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let mut q1 = raw_sub(addr, "q1", "q", 1).await;
    let mut q2 = raw_sub(addr, "q2", "q", 2).await;
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.send(&b::publish("q", 2, 1, false, false, b"two", None))
        .await;
    assert!(matches!(publ.recv().await, Packet::PubRec(_)));
    publ.send(&b::pubrel(1)).await;
    assert!(matches!(publ.recv().await, Packet::PubComp(_)));
    // [MQTT-3.8.4-8]
    let p = q1.recv_publish().await;
    assert_eq!(p.qos_pid.qos(), QoS::AtLeastOnce);
    q1.send(&b::puback(p.qos_pid.pid().expect("pid").get()))
        .await;
    let p = q2.recv_publish().await;
    assert_eq!(p.qos_pid.qos(), QoS::ExactlyOnce);
    publ.publish0("q", b"zero").await;
    assert_eq!(q2.recv_publish().await.qos_pid.qos(), QoS::AtMostOnce);
}

#[tokio::test]
async fn v5_no_local() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let mut c = v5(addr, "self").await;
    c.subscribe(1, "nl", 0x04).await;
    // [MQTT-3.8.3-3]: not sent back to the publisher...
    c.publish0("nl", b"mine").await;
    let (mut other, _) = Raw::v4(addr, "other", true).await;
    other.publish0("nl", b"theirs").await;
    // ...while other publishers' messages still arrive.
    let p = c.recv_publish().await;
    assert_eq!(&p.payload[..], b"theirs");
    assert!(c.quiet().await.is_empty());
}

#[tokio::test]
async fn v5_retain_as_published() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let mut rap = v5(addr, "rap").await;
    rap.subscribe(1, "rp", 0x08).await;
    let mut plain = v5(addr, "plain").await;
    plain.subscribe(1, "rp", 0x00).await;
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.send(&b::publish("rp", 0, 0, false, true, b"kept", None))
        .await;
    // [MQTT-3.3.1-12] / [MQTT-3.3.1-13]
    assert!(rap.recv_publish().await.retain);
    assert!(!plain.recv_publish().await.retain);
}

#[tokio::test]
async fn v5_retain_handling() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.send(&b::publish("rh", 1, 1, false, true, b"kept", None))
        .await;
    assert!(matches!(publ.recv().await, Packet::PubAck(_)));

    // 0: on every subscribe [MQTT-3.3.1-9].
    let mut c = v5(addr, "rh0").await;
    c.subscribe(1, "rh", 0x00).await;
    assert!(c.recv_publish().await.retain);
    c.subscribe(2, "rh", 0x00).await;
    assert!(c.recv_publish().await.retain);
    assert!(c.quiet().await.is_empty());

    // 1: only when the subscription is new [MQTT-3.3.1-10].
    let mut c = v5(addr, "rh1").await;
    c.subscribe(1, "rh", 0x10).await;
    assert!(c.recv_publish().await.retain);
    c.subscribe(2, "rh", 0x10).await;
    assert!(c.quiet().await.is_empty());

    // 2: never [MQTT-3.3.1-11].
    let mut c = v5(addr, "rh2").await;
    c.subscribe(1, "rh", 0x20).await;
    assert!(c.quiet().await.is_empty());
}

#[tokio::test]
async fn shared_subscription_round_robins_between_members() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let mut a = v5(addr, "member-a").await;
    let mut m = v5(addr, "member-b").await;
    assert_eq!(a.subscribe(1, "$share/g/jobs", 0).await, vec![0]);
    assert_eq!(m.subscribe(1, "$share/g/jobs", 0).await, vec![0]);
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    const N: usize = 20;
    for i in 0..N {
        publ.publish1("jobs", 1 + i as u16, format!("{i}").as_bytes())
            .await;
    }
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    within(5.0, async {
        while got_a.len() + got_b.len() < N {
            tokio::select! {
                p = a.recv_publish() => got_a.push(p.payload),
                p = m.recv_publish() => got_b.push(p.payload),
            }
        }
    })
    .await;
    assert!(a.quiet().await.is_empty());
    assert!(m.quiet().await.is_empty());
    let all: HashSet<_> = got_a.iter().chain(&got_b).collect();
    assert_eq!(all.len(), N, "duplicates");
    for got in [&got_a, &got_b] {
        assert!(
            (N / 4..=3 * N / 4).contains(&got.len()),
            "{} / {}",
            got_a.len(),
            got_b.len()
        );
    }
}

#[tokio::test]
async fn unsubscribe_stops_delivery_and_reports_unknown_filters() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let mut c = v5(addr, "unsub").await;
    c.subscribe(1, "u", 0).await;
    c.send(&b::unsubscribe(2, &["u", "never"], true)).await;
    match c.recv().await {
        // [MQTT-3.11.3-1]; 0x11 No subscription existed.
        Packet::UnsubAck(u) => assert_eq!(
            u.reasons,
            vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
        ),
        other => panic!("{other:?}"),
    }
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.publish1("u", 1, b"x").await;
    assert!(c.quiet().await.is_empty());

    // 3.1.1: UNSUBACK carries only the packet id.
    let (mut c4, _) = Raw::v4(addr, "unsub4", true).await;
    c4.subscribe(1, "u", 0).await;
    c4.send(&b::unsubscribe(7, &["u"], false)).await;
    assert_eq!(c4.read_raw_packet().await, vec![0xB0, 0x02, 0x00, 0x07]);
    publ.publish1("u", 2, b"x").await;
    assert!(c4.quiet().await.is_empty());
}

#[tokio::test]
async fn v3_1_clients_subscribe_too() {
    let broker = start_broker().await;
    let (mut c, ack) = Raw::connect_with(
        broker.addr(),
        ProtocolVersion::V3_1,
        &b::connect(3, "old", true, 0, None, None),
    )
    .await;
    assert_eq!(ack.reason, ReasonCode::Success);
    assert_eq!(c.subscribe(1, "old/+", 1).await, vec![1]);
    let (mut publ, _) = Raw::v4(broker.addr(), "pub", true).await;
    publ.publish1("old/x", 1, b"hi").await;
    assert_eq!(&c.recv_publish().await.payload[..], b"hi");
}

/// Issue 11: B sends SUBSCRIBE without waiting for its SUBACK, and A publishes right
/// after B's SUBSCRIBE was written. The SUBSCRIBE reached the broker first, so it applies
/// to the PUBLISH. Against the real binary (its runtime is the one under test) with one
/// worker thread, so the order is the scheduler's alone: with tokio's LIFO slot, when one
/// poll of the I/O driver found both packets, A's task ran first and B missed the message.
/// (With more workers, two tasks woken together may also run at once on two threads.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_applies_to_a_publish_that_arrived_after_it() {
    let (_midge, addr) = crate::support::spawn_midge(&[("TOKIO_WORKER_THREADS", "1")]).await;
    assert_eq!(subscribe_then_publish(addr, 50, false).await, 50);
}

/// The same sequence against the binary's default runtime (two workers on this machine),
/// 100 times: the measure. Ignored: it counts, for the record, what the OS
/// scheduler decides (a worker descheduled between two reads is invisible to the broker).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: cargo test --test e2e arrival_order_default_runtime -- --ignored --nocapture"]
async fn arrival_order_default_runtime() {
    let (_midge, addr) = crate::support::spawn_midge(&[]).await;
    let delivered = subscribe_then_publish(addr, 100, false).await;
    println!("subscribe-then-publish delivered in {delivered} of 100 runs");
    // In the same write as its CONNECT, the SUBSCRIBE may sit in a socket the broker has
    // not accepted yet while A's PUBLISH is read: counted, not asserted.
    let with_connect = subscribe_then_publish(addr, 100, true).await;
    println!("CONNECT+SUBSCRIBE-then-publish delivered in {with_connect} of 100 runs");
    assert!(delivered >= 99, "{delivered}/100");
}

/// B subscribes without waiting for its SUBACK (with `with_connect`, in the same write as
/// its CONNECT), A publishes right behind it; how many of `runs` times B got the message.
async fn subscribe_then_publish(addr: std::net::SocketAddr, runs: u16, with_connect: bool) -> u16 {
    let (mut a, _) = Raw::v5(addr, "order-a", true, &[0]).await;
    let mut delivered = 0;
    for run in 0..runs {
        let id = format!("order-b{run}");
        let topic = format!("order/{run}");
        let subscribe = b::subscribe(1, &[(&topic, 1)], Some(&[]));
        let mut b = if with_connect {
            let mut b = Raw::open(addr).await;
            b.version = midge::protocol::ProtocolVersion::V5;
            let mut both = b::connect(5, &id, true, 0, Some(&[0]), None);
            both.extend_from_slice(&subscribe);
            b.send(&both).await;
            b
        } else {
            let (mut b, _) = Raw::v5(addr, &id, true, &[0]).await;
            b.send(&subscribe).await;
            b
        };
        let publish = b::publish(&topic, 1, run + 1, false, false, b"req", Some(&[]));
        a.send(&publish).await;
        // The SUBACK and the message, in either order (or the SUBACK alone: a miss).
        let mut got = Vec::new();
        if with_connect {
            assert!(matches!(b.recv().await, Packet::ConnAck(_)), "run {run}");
        }
        while got.len() < 2 {
            match b.read_within(std::time::Duration::from_millis(500)).await {
                Some(crate::support::Read::Packet(p)) => got.push(p),
                _ => break,
            }
        }
        let is_req = |p: &Packet| matches!(p, Packet::Publish(m) if &m.payload[..] == b"req");
        if got.iter().any(is_req) {
            delivered += 1;
        }
        assert!(matches!(a.recv().await, Packet::PubAck(_)));
    }
    delivered
}

/// The dashboard's subscriber counts (Topics, Top talkers) come from the broker: each
/// watched topic with the sessions subscribed to it, whoever is online.
#[tokio::test]
async fn the_observer_counts_subscribers_of_watched_topics() {
    let broker = start_broker().await;
    let _a = raw_sub(broker.addr(), "a", "s/#", 0).await;
    let _b = raw_sub(broker.addr(), "b", "s/x", 1).await;
    let _c = raw_sub(broker.addr(), "c", "other", 0).await;
    let watch = midge_model::Watch {
        topic: Some("s/x".into()),
        topics: vec!["s/y".into(), "nobody/here".into()],
        ..midge_model::Watch::default()
    };
    let snap = within(
        5.0,
        broker
            .broker
            .observer()
            .snapshot(watch, midge::broker::observe::SourceFacts::default()),
    )
    .await
    .expect("a snapshot");
    let mut counts = snap.subscribers;
    counts.sort();
    assert_eq!(
        counts,
        [
            ("nobody/here".to_owned(), 0),
            ("s/x".to_owned(), 2),
            ("s/y".to_owned(), 1)
        ]
    );
    broker.shutdown().await;
}
