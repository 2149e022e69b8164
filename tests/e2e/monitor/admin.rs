//! The remote source against a headless midge over the admin channel: sessions and
//! in-flight state for a user the ACL allows, nothing (no sessions, logs, replies or routed
//! requests) for anyone else, and no admin channel at all without an ACL.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use midge::auth::Authenticator;
use midge::broker::{Access, Open};
use midge_model::{Event, InflightState};

use super::{start_midge, until_snapshot, v5_client, watch, WAIT};

/// The ACL of the admin tests: anonymous and `eve` may use ordinary topics (and `eve` may
/// read the reply namespace, to prove replies are not routed); only `admin` may write the
/// admin request topic.
fn acl_access(dir: &Path) -> Arc<dyn Access> {
    let acl = dir.join("acl");
    std::fs::write(
        &acl,
        "topic readwrite #\n\
         \n\
         user admin\n\
         topic readwrite #\n\
         topic readwrite $CONTROL/midge/v1/#\n\
         \n\
         user eve\n\
         topic readwrite #\n\
         topic read $CONTROL/#\n",
    )
    .expect("write acl");
    Arc::new(Authenticator::new(true, None, Some(&acl)).expect("acl loads"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_midge_admin_channel_is_for_admins_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start_midge("127.0.0.1:0".parse().expect("addr"), acl_access(dir.path())).await;
    let port = broker.local_addrs()[0].port();

    // A bystander on `#` and an unauthorised user reading the whole `$CONTROL` tree.
    let (anon, mut anon_rx) = v5_client(port, "bystander", None);
    anon.subscribe("#", rumqttc::v5::mqttbytes::QoS::AtMostOnce)
        .await
        .expect("subscribe #");
    let (eve, mut eve_rx) = v5_client(port, "eve-client", Some("eve"));
    eve.subscribe("$CONTROL/#", rumqttc::v5::mqttbytes::QoS::AtMostOnce)
        .await
        .expect("subscribe $CONTROL/#");

    // A subscriber that never acknowledges: QoS 1 deliveries to it stay in flight.
    let (slow, _slow_rx) = v5_client(port, "slowpoke", None);
    slow.subscribe("work/#", rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
        .await
        .expect("subscribe work/#");

    // rumqttc acknowledges everything, so in-flight state needs a raw, silent subscriber.
    // (Connected early: a client task refreshes its in-flight detail at most every
    // 250 ms, when it wakes up.)
    let silent = RawSilent::subscribe(port, "silent", "work/#").await;

    let mut admin = watch(&format!("mqtt://admin@127.0.0.1:{port}"));
    let mut admin_seen = Vec::new();
    let mut eve_link = watch(&format!("mqtt://eve:pw@127.0.0.1:{port}"));
    let mut eve_seen = Vec::new();

    let snap = until_snapshot(
        &mut admin,
        &mut admin_seen,
        "sessions over the admin channel",
        |s| {
            s.source.connected
                && s.connections
                    .as_ref()
                    .is_some_and(|c| c.iter().any(|c| c.client_id == "slowpoke" && c.online))
        },
    )
    .await;
    assert!(snap
        .source
        .version
        .as_deref()
        .unwrap_or("")
        .starts_with("midge"));
    assert!(snap.counters.connections_total.is_some());
    let slowpoke = snap
        .connections
        .as_ref()
        .and_then(|c| c.iter().find(|c| c.client_id == "slowpoke"))
        .expect("slowpoke listed");
    assert_eq!(slowpoke.subscriptions[0].filter, "work/#");

    let (publisher, _p_rx) = v5_client(port, "publisher", None);
    publisher
        .publish(
            "work/job",
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            "do it",
        )
        .await
        .expect("publish");
    let snap = until_snapshot(
        &mut admin,
        &mut admin_seen,
        "in-flight to the silent client",
        |s| {
            s.inflight.as_ref().is_some_and(|v| {
                v.iter().any(|i| {
                    i.client_id == "silent"
                        && i.topic == "work/job"
                        && i.state == InflightState::AwaitingPubAck
                })
            })
        },
    )
    .await;
    let silent_info = snap
        .connections
        .as_ref()
        .and_then(|c| c.iter().find(|c| c.client_id == "silent"))
        .expect("silent listed");
    assert_eq!(silent_info.inflight_out, 1);
    drop(silent);

    // eve's monitor connected and probed the admin channel: no sessions, no logs.
    let eve_snap = until_snapshot(&mut eve_link, &mut eve_seen, "eve connected", |s| {
        s.source.connected
    })
    .await;
    // Give eve's probe (sent on its first tick) time to be answered if it were.
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        let s = eve_link.snapshots.borrow_and_update().clone();
        assert_eq!(s.connections, None, "eve must not see sessions");
        assert_eq!(s.inflight, None, "eve must not see in-flight messages");
        let _ =
            tokio::time::timeout(Duration::from_millis(300), eve_link.snapshots.changed()).await;
    }
    assert!(eve_snap.source.connected);
    while let Ok(e) = eve_link.events.try_recv() {
        assert!(
            !matches!(&e, Event::Log(_)),
            "eve must not get broker logs: {e:?}"
        );
    }

    // eve asking by hand, with a reply topic she may read: no reply, and the request is
    // not routed to her `$CONTROL/#` subscription either.
    let props = rumqttc::v5::mqttbytes::v5::PublishProperties {
        response_topic: Some("$CONTROL/midge/v1/reply/eve".to_owned()),
        correlation_data: Some(bytes::Bytes::from_static(b"1")),
        ..Default::default()
    };
    eve.publish_with_properties(
        "$CONTROL/midge/v1/snapshot",
        rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        false,
        "",
        props,
    )
    .await
    .expect("publish request");
    // A marker published after the request, to know the broker handled it.
    publisher
        .publish(
            "work/marker",
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            "m",
        )
        .await
        .expect("publish marker");
    let saw_marker = tokio::time::timeout(WAIT, async {
        while let Some((topic, _)) = anon_rx.recv().await {
            assert!(
                !topic.starts_with("$CONTROL"),
                "the bystander on # saw {topic}"
            );
            if topic == "work/marker" {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(saw_marker, Ok(true));
    // eve's own subscription sees no admin traffic at all (requests or replies).
    let quiet = tokio::time::timeout(Duration::from_millis(500), eve_rx.recv()).await;
    assert!(quiet.is_err(), "eve received {quiet:?}");
    let anon_late = tokio::time::timeout(Duration::from_millis(300), async {
        while let Some((topic, _)) = anon_rx.recv().await {
            if topic.starts_with("$CONTROL") {
                return topic;
            }
        }
        String::new()
    })
    .await;
    assert!(anon_late.is_err(), "the bystander saw {anon_late:?}");

    drop((admin, eve_link));
    broker.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_acl_the_admin_channel_is_off() {
    let broker = start_midge(
        "127.0.0.1:0".parse().expect("addr"),
        Arc::new(Open {
            allow_anonymous: true,
        }),
    )
    .await;
    let port = broker.local_addrs()[0].port();
    let mut link = watch(&format!("mqtt://admin@127.0.0.1:{port}"));
    let mut seen = Vec::new();
    until_snapshot(&mut link, &mut seen, "connected", |s| s.source.connected).await;
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        let s = link.snapshots.borrow_and_update().clone();
        assert_eq!(s.connections, None);
        let _ = tokio::time::timeout(Duration::from_millis(300), link.snapshots.changed()).await;
    }
    drop(link);
    broker.shutdown(Duration::from_secs(2)).await;
}

/// A v3.1.1 subscriber written as raw bytes that never acknowledges anything.
struct RawSilent {
    _stream: tokio::net::TcpStream,
}

impl RawSilent {
    async fn subscribe(port: u16, id: &str, filter: &str) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        // CONNECT v3.1.1, clean session, keep-alive 0.
        let mut connect = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x00];
        connect.extend_from_slice(&u16::try_from(id.len()).expect("short id").to_be_bytes());
        connect.extend_from_slice(id.as_bytes());
        let mut pkt = vec![0x10, u8::try_from(connect.len()).expect("short connect")];
        pkt.extend_from_slice(&connect);
        // SUBSCRIBE pid 1, QoS 1.
        let mut sub = vec![0x00, 0x01];
        sub.extend_from_slice(&u16::try_from(filter.len()).expect("short").to_be_bytes());
        sub.extend_from_slice(filter.as_bytes());
        sub.push(0x01);
        pkt.push(0x82);
        pkt.push(u8::try_from(sub.len()).expect("short subscribe"));
        pkt.extend_from_slice(&sub);
        s.write_all(&pkt).await.expect("write");
        // CONNACK (4 bytes) and SUBACK (5 bytes).
        let mut buf = [0u8; 9];
        tokio::time::timeout(WAIT, s.read_exact(&mut buf))
            .await
            .expect("acks in time")
            .expect("read acks");
        assert_eq!(buf[..4], [0x20, 0x02, 0x00, 0x00], "CONNACK accepted");
        assert_eq!(buf[4..], [0x90, 0x03, 0x00, 0x01, 0x01], "SUBACK QoS 1");
        Self { _stream: s }
    }
}
