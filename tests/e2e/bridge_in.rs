//! Bridges from other brokers into midge: a Mosquitto-style bridge connection (protocol
//! level 0x84 / 0x83, `try_private`) is accepted, never gets its own messages back, sees
//! retained flags as published, and may report its state on its own
//! `$SYS/broker/connection/<id>/state`; ordinary clients still may not. Then a real
//! Mosquitto with a default bridge configuration into midge; and the loop guard's
//! `midge-origin` property between two v5 bridge connections.

use std::time::Duration;

use midge::protocol::{Packet, ProtocolVersion};

use crate::bytes as b;
use crate::support::{have, raw_sub, start_broker, within, Raw, MOSQUITTO};

const STATE: &str = "$SYS/broker/connection/site.bridge/state";

/// A 3.x bridge CONNECT (level | 0x80) with its will on its state topic, as Mosquitto
/// sends it (`notifications true`, the default).
fn bridge_connect(level: u8, id: &str) -> Vec<u8> {
    let topic = format!("$SYS/broker/connection/{id}/state");
    let will = b::Will {
        topic: &topic,
        payload: b"0",
        qos: 1,
        retain: true,
        props: &[],
    };
    let name = if level & 0x7f == 3 { "MQIsdp" } else { "MQTT" };
    b::connect_named(name, level, id, false, 60, None, Some(&will))
}

#[tokio::test]
async fn a_try_private_bridge_is_accepted_and_never_echoed() {
    let broker = start_broker().await;
    for (level, version) in [
        (0x84, ProtocolVersion::V3_1_1),
        (0x83, ProtocolVersion::V3_1),
    ] {
        let id = format!("site{level:x}.bridge");
        let (mut bridge, ack) =
            Raw::connect_with(broker.addr(), version, &bridge_connect(level, &id)).await;
        assert!(!ack.reason.is_error(), "level {level:#x} refused: {ack:?}");
        let mut local = raw_sub(broker.addr(), &format!("local{level:x}"), "t/#", 0).await;
        assert_eq!(bridge.subscribe(1, "t/#", 0).await, vec![0]);
        bridge.publish0("t/from-bridge", b"b").await;
        local.publish0("t/from-local", b"l").await;
        // The local subscriber gets both; the bridge only the local one.
        let got = within(5.0, async {
            let a = local.recv_publish().await;
            let b = local.recv_publish().await;
            [a.topic.to_string(), b.topic.to_string()]
        })
        .await;
        assert!(got.contains(&"t/from-bridge".to_owned()), "{got:?}");
        let seen = bridge.quiet().await;
        let topics: Vec<String> = seen
            .iter()
            .filter_map(|p| match p {
                Packet::Publish(p) => Some(p.topic.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(topics, ["t/from-local"], "level {level:#x}");
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_bridge_reports_its_state_and_sees_retain_as_published() {
    let broker = start_broker().await;
    let (mut bridge, ack) = Raw::connect_with(
        broker.addr(),
        ProtocolVersion::V3_1_1,
        &bridge_connect(0x84, "site.bridge"),
    )
    .await;
    assert!(!ack.reason.is_error(), "{ack:?}");
    bridge
        .send(&b::publish(STATE, 0, 0, false, true, b"1", None))
        .await;
    bridge.sync().await;
    let mut watcher = raw_sub(broker.addr(), "watcher", STATE, 0).await;
    let state = within(5.0, watcher.recv_publish()).await;
    assert_eq!((&state.payload[..], state.retain), (&b"1"[..], true));

    // Retain As Published: a live retained message reaches the bridge with retain = 1
    // (an ordinary 3.1.1 subscriber gets 0 [MQTT-3.3.1-9]).
    assert_eq!(bridge.subscribe(2, "r/#", 0).await, vec![0]);
    watcher.send(&b::subscribe(2, &[("r/#", 0)], None)).await;
    assert!(matches!(watcher.recv().await, Packet::SubAck(_)));
    let mut publisher = Raw::v4(broker.addr(), "publisher", true).await.0;
    publisher
        .send(&b::publish("r/1", 0, 0, false, true, b"x", None))
        .await;
    let to_bridge = within(5.0, bridge.recv_publish()).await;
    let to_plain = within(5.0, watcher.recv_publish()).await;
    assert!(
        to_bridge.retain,
        "a bridge sees the retain flag as published"
    );
    assert!(
        !to_plain.retain,
        "[MQTT-3.3.1-9] live messages go out with retain 0"
    );

    // The bridge's will: "0" when it drops.
    drop(bridge);
    let gone = within(5.0, watcher.recv_publish()).await;
    assert_eq!(
        (gone.topic.to_string(), &gone.payload[..]),
        (STATE.to_owned(), &b"0"[..])
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn ordinary_clients_still_cannot_touch_sys() {
    let broker = start_broker().await;
    // A will on a bridge state topic from a plain 3.1.1 client is refused.
    let will = b::Will {
        topic: STATE,
        payload: b"0",
        qos: 0,
        retain: true,
        props: &[],
    };
    let (_c, ack) = Raw::connect_with(
        broker.addr(),
        ProtocolVersion::V3_1_1,
        &b::connect(4, "site.bridge", true, 0, None, Some(&will)),
    )
    .await;
    assert!(
        ack.reason.is_error(),
        "a plain client's will on $SYS: {ack:?}"
    );
    // A plain client publishing there is dropped.
    let mut watcher = raw_sub(broker.addr(), "watcher", "$SYS/broker/connection/#", 0).await;
    let (mut plain, _) = Raw::v4(broker.addr(), "site.bridge", true).await;
    plain
        .send(&b::publish(STATE, 0, 0, false, true, b"1", None))
        .await;
    plain.sync().await;
    assert!(
        watcher.quiet().await.is_empty(),
        "a plain client reached $SYS"
    );
    // And a bridge may not speak for another bridge.
    let (mut bridge, _) = Raw::connect_with(
        broker.addr(),
        ProtocolVersion::V3_1_1,
        &bridge_connect(0x84, "other.bridge"),
    )
    .await;
    bridge
        .send(&b::publish(STATE, 0, 0, false, true, b"1", None))
        .await;
    bridge.sync().await;
    assert!(
        watcher.quiet().await.is_empty(),
        "a bridge wrote another's state"
    );
    broker.shutdown().await;
}

/// The loop guard between v5 bridge connections: a message carrying `midge-origin` is
/// routed once however many paths bring it, and never back to the broker it started on.
#[tokio::test]
async fn midge_origin_delivers_once_per_broker() {
    let broker = start_broker().await;
    let bridge_props = b::props(&[b::p_pair("midge-bridge", "1")]);
    let (mut a, _) = Raw::v5(broker.addr(), "a.bridge", true, &bridge_props).await;
    let (mut c, _) = Raw::v5(broker.addr(), "c.bridge", true, &bridge_props).await;
    let mut local = raw_sub(broker.addr(), "local", "m/#", 0).await;
    assert_eq!(c.subscribe(1, "m/#", 0).await, vec![0]);
    let origin = b::props(&[b::p_pair("midge-origin", "00000000000000aa:7")]);
    // The same message by two paths (two bridge connections): routed once.
    for from in [&mut a, &mut c] {
        from.send(&b::publish("m/1", 0, 0, false, false, b"x", Some(&origin)))
            .await;
        from.sync().await;
    }
    let seen = local.quiet().await;
    assert_eq!(seen.len(), 1, "one delivery, got {seen:?}");
    // A local message reaches the bridge tagged with this broker's origin; the plain
    // subscriber never sees the property.
    local.publish0("m/2", b"y").await;
    let tagged = within(5.0, c.recv_publish()).await;
    let own = tagged
        .properties
        .user_properties
        .iter()
        .find(|(k, _)| &**k == "midge-origin")
        .map(|(_, v)| v.to_string())
        .expect("midge-origin on a delivery to a bridge");
    let echo = local.quiet().await;
    assert!(
        echo.iter().all(|p| match p {
            Packet::Publish(p) => p.properties.user_properties.is_empty(),
            _ => true,
        }),
        "{echo:?}"
    );
    // Coming back with this broker's own origin: not routed again.
    let back = b::props(&[b::p_pair("midge-origin", &own)]);
    a.send(&b::publish("m/2", 0, 0, false, false, b"y", Some(&back)))
        .await;
    a.sync().await;
    assert!(
        local.quiet().await.is_empty(),
        "a message came back round a loop"
    );
    // Both were counted (midge_bridge_loop_dropped_total).
    let looped = broker.broker.metrics();
    assert_eq!(
        looped
            .loop_dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    broker.shutdown().await;
}

/// A stock Mosquitto bridge (default `try_private`, `notifications`, protocol 3.1.1)
/// into midge: messages flow both ways, each once, and its state shows in `$SYS`.
#[tokio::test]
async fn a_default_mosquitto_bridge_into_midge() {
    if !have(&[MOSQUITTO]) {
        return;
    }
    let broker = start_broker().await;
    let mut state = raw_sub(broker.addr(), "state", "$SYS/broker/connection/+/state", 0).await;
    let mut central = raw_sub(broker.addr(), "central", "site/#", 1).await;
    let mosq = crate::bridge::Mosquitto::start(&format!(
        "connection central\naddress 127.0.0.1:{}\nremote_clientid site.bridge\n\
         topic site/# out 1\ntopic cmd/# in 1\n",
        broker.port()
    ))
    .await;
    let port = mosq.port;

    // The bridge says "1" on its own state topic (retained) once connected.
    let up = within(10.0, async {
        loop {
            let p = state.recv_publish().await;
            if &p.payload[..] == b"1" {
                return p.topic.to_string();
            }
        }
    })
    .await;
    assert_eq!(up, STATE);

    // Site → central through the bridge (out), central → site (in), each once.
    let mut site = within(5.0, Raw::v4(addr(port), "site-client", true))
        .await
        .0;
    assert_eq!(site.subscribe(1, "cmd/#", 1).await, vec![1]);
    site.publish1("site/temp", 1, b"21").await;
    let got = within(10.0, central.recv_publish()).await;
    assert_eq!(
        (got.topic.to_string(), &got.payload[..]),
        ("site/temp".to_owned(), &b"21"[..])
    );
    let mut commander = Raw::v4(broker.addr(), "commander", true).await.0;
    // The bridge subscribes to cmd/# asynchronously after connecting: retry until it flows.
    let cmd = within(10.0, async {
        loop {
            commander.publish1("cmd/valve", 1, b"open").await;
            if let Some(crate::support::Read::Packet(Packet::Publish(p))) =
                site.read_within(Duration::from_millis(300)).await
            {
                return p;
            }
        }
    })
    .await;
    assert_eq!(cmd.topic.to_string(), "cmd/valve");
    // No echo and no loop: nothing more arrives on either side.
    for p in central.quiet().await {
        assert!(
            !matches!(p, Packet::Publish(_)),
            "duplicate at central: {p:?}"
        );
    }
    drop(mosq);
    broker.shutdown().await;
}

fn addr(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

/// Under an ACL that says nothing of `$SYS`, a bridge still reports its own state (its
/// will and its retained "1"), and nothing else there.
#[tokio::test]
async fn a_bridge_reports_its_state_under_an_acl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let acl = dir.path().join("acl");
    std::fs::write(&acl, "topic readwrite t/#\ntopic read $SYS/#\n").expect("write acl");
    let access = std::sync::Arc::new(
        midge::broker::FileAccess::load(true, None, Some(acl)).expect("acl loads"),
    );
    let broker = crate::support::start_broker_access(access, |_| {}).await;
    let (mut bridge, ack) = Raw::connect_with(
        broker.addr(),
        ProtocolVersion::V3_1_1,
        &bridge_connect(0x84, "site.bridge"),
    )
    .await;
    assert!(
        !ack.reason.is_error(),
        "the bridge's will on its state: {ack:?}"
    );
    bridge
        .send(&b::publish(STATE, 0, 0, false, true, b"1", None))
        .await;
    bridge
        .send(&b::publish(
            "$SYS/broker/other",
            0,
            0,
            false,
            true,
            b"x",
            None,
        ))
        .await;
    bridge.sync().await;
    let mut watcher = raw_sub(broker.addr(), "watcher", "$SYS/broker/#", 0).await;
    let state = within(5.0, watcher.recv_publish()).await;
    assert_eq!(
        (state.topic.to_string(), &state.payload[..]),
        (STATE.to_owned(), &b"1"[..])
    );
    assert!(watcher.quiet().await.is_empty(), "only its own state");
    broker.shutdown().await;
}
