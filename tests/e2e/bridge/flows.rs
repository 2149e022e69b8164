//! Bridges with midge in process and a real Mosquitto as the remote.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use midge::bridge::Bridges;
use midge::broker::links::{BridgeDrop, LinkState};
use midge::protocol::QoS;

use super::{bridge, bridge_url, no_more, publish2, take, topics_payloads, until_state, Mosquitto};
use crate::bytes as b;
use crate::support::{have, raw_sub, start_broker, within, Raw, MOSQUITTO};

/// Out and in with prefixes at QoS 0, 1 and 2 (exactly once), and a `both` line whose
/// messages are not echoed back, over MQTT 3.1.1 (try_private) and 5 (No Local).
#[tokio::test]
async fn each_direction_with_prefixes_every_qos_and_no_echo() {
    if !have(&[MOSQUITTO]) {
        return;
    }
    for protocol in ["3.1.1", "5"] {
        let m = Mosquitto::start("").await;
        let midge = start_broker().await;
        let cfg = bridge(
            "b",
            m.addr(),
            &format!(
                "protocol = \"{protocol}\"\nclient_id = \"b-{protocol}\"\ntopics = [\"sensors/# out 2 site/ cloud/\", \"cmd/# in 2 local/ remote/\", \"echo/# both 1\"]"
            ),
        );
        let mut remote_sub = raw_sub(m.addr(), "rsub", "cloud/#", 2).await;
        let mut remote_echo = raw_sub(m.addr(), "recho", "echo/#", 1).await;
        let mut local_sub = raw_sub(midge.addr(), "lsub", "local/#", 2).await;
        let mut local_echo = raw_sub(midge.addr(), "lecho", "echo/#", 1).await;
        let bridges = Bridges::start(midge.broker.context(), std::slice::from_ref(&cfg)).await;
        until_state(midge.addr(), &cfg.client_id, "1").await;

        // Out: local site/… → remote cloud/…, each QoS, then a marker.
        let (mut p, _) = Raw::v4(midge.addr(), "lpub", true).await;
        p.publish0("site/sensors/0", b"zero").await;
        p.publish1("site/sensors/1", 1, b"one").await;
        publish2(&mut p, "site/sensors/2", 2, b"two").await;
        p.publish1("site/sensors/end", 3, b"end").await;
        let mut got = take(&mut remote_sub, 4).await;
        // Order holds per QoS level only (Mosquitto delivers a QoS 2 message at PUBREL).
        got.sort_by(|a, b| a.topic.cmp(&b.topic));
        assert_eq!(
            topics_payloads(&got),
            [
                ("cloud/sensors/0".into(), "zero".into()),
                ("cloud/sensors/1".into(), "one".into()),
                ("cloud/sensors/2".into(), "two".into()),
                ("cloud/sensors/end".into(), "end".into()),
            ],
            "{protocol}"
        );
        let qos: Vec<QoS> = got.iter().map(|p| p.qos_pid.qos()).collect();
        assert_eq!(
            qos,
            [
                QoS::AtMostOnce,
                QoS::AtLeastOnce,
                QoS::ExactlyOnce,
                QoS::AtLeastOnce
            ]
        );
        no_more(&mut remote_sub).await;

        // In: remote remote/cmd/… → local local/cmd/…, QoS 1 and 2 exactly once.
        let (mut rp, _) = Raw::v4(m.addr(), "rpub", true).await;
        rp.publish1("remote/cmd/a", 1, b"A").await;
        publish2(&mut rp, "remote/cmd/b", 2, b"B").await;
        let mut got = take(&mut local_sub, 2).await;
        got.sort_by(|a, b| a.topic.cmp(&b.topic));
        assert_eq!(
            topics_payloads(&got),
            [
                ("local/cmd/a".into(), "A".into()),
                ("local/cmd/b".into(), "B".into())
            ],
            "{protocol}"
        );
        no_more(&mut local_sub).await;

        // Both: a local message reaches the remote once and does not come back.
        p.publish1("echo/x", 4, b"local").await;
        let got = take(&mut remote_echo, 1).await;
        assert_eq!(topics_payloads(&got), [("echo/x".into(), "local".into())]);
        let got = take(&mut local_echo, 1).await;
        assert_eq!(topics_payloads(&got), [("echo/x".into(), "local".into())]);
        // And a remote one reaches midge once and does not go back out.
        rp.publish1("echo/y", 3, b"remote").await;
        let got = take(&mut local_echo, 1).await;
        assert_eq!(topics_payloads(&got), [("echo/y".into(), "remote".into())]);
        let got = take(&mut remote_echo, 1).await;
        assert_eq!(topics_payloads(&got), [("echo/y".into(), "remote".into())]);
        no_more(&mut local_echo).await;
        no_more(&mut remote_echo).await;

        let stats = midge.broker.links().bridges();
        assert_eq!(stats.len(), 1);
        assert_eq!(stats[0].forwarded_out.load(Relaxed), 5, "{protocol}");
        assert_eq!(stats[0].forwarded_in.load(Relaxed), 3, "{protocol}");
        assert_eq!(stats[0].connects.load(Relaxed), 1);
        bridges.stop_all().await;
        until_state(midge.addr(), &cfg.client_id, "0").await;
        midge.shutdown().await;
    }
}

/// The state topic is "0" before the first connection, "1" while up, "0" when the remote
/// goes; messages published meanwhile queue (counted in the bridge's statistics) and
/// arrive in order when it returns.
#[tokio::test]
async fn remote_down_then_up_delivers_the_queue_in_order() {
    if !have(&[MOSQUITTO]) {
        return;
    }
    let mut m =
        Mosquitto::start("persistence true\npersistence_location {dir}/\nautosave_interval 0\n")
            .await;
    // A persistent subscriber on the remote, offline while the messages travel.
    let (mut rsub, _) = Raw::v4(m.addr(), "rsub", false).await;
    assert_eq!(rsub.subscribe(1, "cloud/#", 1).await, [1]);
    rsub.send(&b::disconnect(None)).await;
    m.stop().await;

    let midge = start_broker().await;
    let cfg = bridge(
        "q",
        m.addr(),
        "client_id = \"q.test\"\ntopics = [\"# out 1 \\\"\\\" cloud/\"]",
    );
    let bridges = Bridges::start(midge.broker.context(), std::slice::from_ref(&cfg)).await;
    until_state(midge.addr(), "q.test", "0").await;
    m.restart().await;
    until_state(midge.addr(), "q.test", "1").await;
    m.stop().await;
    until_state(midge.addr(), "q.test", "0").await;
    let stats = midge.broker.links().bridges()[0].clone();
    assert_ne!(stats.state(), LinkState::Up);
    assert!(stats.last_error().is_some());

    let (mut p, _) = Raw::v4(midge.addr(), "lpub", true).await;
    for i in 0..20u16 {
        p.publish1(&format!("t/{i}"), i + 1, format!("m{i}").as_bytes())
            .await;
    }
    within(10.0, async {
        while stats.queued_messages.load(Relaxed) != 20 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(stats.oldest_queued_ms.load(Relaxed) > 0);

    m.restart().await;
    until_state(midge.addr(), "q.test", "1").await;
    let (mut rsub, ack) = Raw::v4(m.addr(), "rsub", false).await;
    assert!(
        ack.session_present,
        "mosquitto kept the subscriber's session"
    );
    let got = take(&mut rsub, 20).await;
    let want: Vec<(String, String)> = (0..20)
        .map(|i| (format!("cloud/t/{i}"), format!("m{i}")))
        .collect();
    assert_eq!(topics_payloads(&got), want);
    no_more(&mut rsub).await;
    within(10.0, async {
        while stats.queued_messages.load(Relaxed) != 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(stats.connects.load(Relaxed) >= 2);
    bridges.stop_all().await;
    midge.shutdown().await;
}

/// `mqtts://` with the right CA connects; with a wrong CA the bridge stays down and
/// says why (the dashboard and the snapshot show `last_error`).
#[tokio::test]
async fn tls_with_the_right_ca_and_a_wrong_one() {
    if !have(&[MOSQUITTO]) {
        return;
    }
    let pki = super::process::Pki::new();
    let other = super::process::Pki::new();
    let plain = crate::support::free_port();
    let m = Mosquitto::start_listener(
        &format!("listener {plain} 127.0.0.1"),
        &format!(
            "cafile {}\ncertfile {}\nkeyfile {}",
            pki.ca().display(),
            pki.server_cert().display(),
            pki.server_key().display()
        ),
    )
    .await;
    let midge = start_broker().await;
    let url = format!("mqtts://127.0.0.1:{}", m.port);
    let good = bridge_url(
        "good",
        &url,
        &format!(
            "client_id = \"good\"\ntopics = [\"s/# out 1\"]\n[bridge.tls]\nca = \"{}\"",
            pki.ca().display()
        ),
    );
    let bad = bridge_url(
        "bad",
        &url,
        &format!(
            "client_id = \"bad\"\ntopics = [\"s/# out 1\"]\n[bridge.tls]\nca = \"{}\"",
            other.ca().display()
        ),
    );
    let mut rsub = raw_sub(([127, 0, 0, 1], plain).into(), "rsub", "s/#", 1).await;
    let bridges = Bridges::start(midge.broker.context(), &[good, bad]).await;
    until_state(midge.addr(), "good", "1").await;
    let (mut p, _) = Raw::v4(midge.addr(), "lpub", true).await;
    p.publish1("s/1", 1, b"tls").await;
    let got = take(&mut rsub, 1).await;
    assert_eq!(topics_payloads(&got), [("s/1".into(), "tls".into())]);
    let bad_stats = midge
        .broker
        .links()
        .bridges()
        .into_iter()
        .find(|b| b.name == "bad")
        .expect("registered");
    let err = within(10.0, async {
        loop {
            if let Some(e) = bad_stats.last_error() {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        err.contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );
    assert_ne!(bad_stats.state(), LinkState::Up);
    bridges.stop_all().await;
    midge.shutdown().await;
}

/// While the remote is down the bridge's queue holds `max_queued_messages` (its own
/// bound, not `[limits]`); the overflow is dropped and counted as `queue_full`.
#[tokio::test]
async fn a_full_bridge_queue_drops_and_counts_queue_full() {
    let nobody = crate::support::free_port();
    let midge = start_broker().await;
    let cfg = bridge(
        "full",
        ([127, 0, 0, 1], nobody).into(),
        "client_id = \"full.test\"\nmax_queued_messages = 5\ntopics = [\"f/# out 1\"]",
    );
    let bridges = Bridges::start(midge.broker.context(), &[cfg]).await;
    until_state(midge.addr(), "full.test", "0").await;
    let (mut p, _) = Raw::v4(midge.addr(), "lpub", true).await;
    for i in 0..8u16 {
        p.publish1("f/x", i + 1, b"m").await;
    }
    let stats = midge.broker.links().bridges()[0].clone();
    within(10.0, async {
        while stats.dropped(BridgeDrop::QueueFull) != 3 || stats.queued_messages.load(Relaxed) != 5
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    bridges.stop_all().await;
    midge.shutdown().await;
}

/// An ACL that refuses publishing under `local/secret/`, for anyone.
struct DenySecret;

impl midge::broker::Access for DenySecret {
    fn authenticate(
        &self,
        _: Option<&str>,
        _: Option<&[u8]>,
    ) -> Result<(), midge::protocol::ReasonCode> {
        Ok(())
    }
    fn has_acl(&self) -> bool {
        true
    }
    fn allow_publish(&self, _: &str, _: Option<&str>, topic: &str) -> bool {
        !topic.starts_with("local/secret/")
    }
}

/// Remote → local publishes pass the local ACL under the bridge's identity: a refused
/// one is counted as `acl` (and acknowledged to the remote, so it is not resent forever).
#[tokio::test]
async fn inbound_publishes_pass_the_local_acl() {
    if !have(&[MOSQUITTO]) {
        return;
    }
    let m = Mosquitto::start("").await;
    let midge = crate::support::start_broker_access(std::sync::Arc::new(DenySecret), |_| {}).await;
    let cfg = bridge(
        "acl",
        m.addr(),
        "client_id = \"acl.test\"\ntopics = [\"# in 1 local/ \\\"\\\"\"]",
    );
    let mut local_sub = raw_sub(midge.addr(), "lsub", "local/#", 1).await;
    let bridges = Bridges::start(midge.broker.context(), &[cfg]).await;
    until_state(midge.addr(), "acl.test", "1").await;
    let (mut rp, _) = Raw::v4(m.addr(), "rpub", true).await;
    rp.publish1("secret/a", 1, b"no").await;
    rp.publish1("open/a", 2, b"yes").await;
    let got = take(&mut local_sub, 1).await;
    assert_eq!(
        topics_payloads(&got),
        [("local/open/a".into(), "yes".into())]
    );
    no_more(&mut local_sub).await;
    let stats = midge.broker.links().bridges()[0].clone();
    assert_eq!(stats.dropped(BridgeDrop::Acl), 1);
    assert_eq!(stats.forwarded_in.load(Relaxed), 1);
    bridges.stop_all().await;
    midge.shutdown().await;
}

/// A v5 remote whose Maximum QoS is 1 (Mosquitto's `max_qos 1`, which disconnects a client
/// that sends QoS 2): QoS 2 messages go out at QoS 1, once each, and the local QoS 2
/// exchange still completes (nothing stays queued).
#[tokio::test]
async fn qos2_goes_out_at_the_remotes_maximum_qos() {
    if !have(&[MOSQUITTO]) {
        return;
    }
    let m = Mosquitto::start_listener("", "max_qos 1").await;
    let midge = start_broker().await;
    let cfg = bridge(
        "mq",
        m.addr(),
        "protocol = \"5\"\nclient_id = \"mq.test\"\ntopics = [\"q/# out 2\"]",
    );
    let mut rsub = raw_sub(m.addr(), "rsub", "q/#", 1).await;
    let bridges = Bridges::start(midge.broker.context(), std::slice::from_ref(&cfg)).await;
    until_state(midge.addr(), "mq.test", "1").await;
    let (mut p, _) = Raw::v4(midge.addr(), "lpub", true).await;
    publish2(&mut p, "q/1", 1, b"one").await;
    publish2(&mut p, "q/2", 2, b"two").await;
    let got = take(&mut rsub, 2).await;
    assert_eq!(
        topics_payloads(&got),
        [("q/1".into(), "one".into()), ("q/2".into(), "two".into())]
    );
    assert!(got.iter().all(|p| p.qos_pid.qos() == QoS::AtLeastOnce));
    no_more(&mut rsub).await;
    let stats = midge.broker.links().bridges()[0].clone();
    assert_eq!(stats.forwarded_out.load(Relaxed), 2);
    assert_eq!(stats.connects.load(Relaxed), 1, "never disconnected");
    within(10.0, async {
        while stats.queued_messages.load(Relaxed) != 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    bridges.stop_all().await;
    midge.shutdown().await;
}
