//! Retained messages and `$SYS`.

use crate::bytes as b;
use crate::support::{raw_sub, start_broker, start_broker_with, sys_until, Raw};

#[tokio::test]
async fn retained_is_stored_replaced_and_cleared() {
    let broker = start_broker().await;
    let addr = broker.addr();
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    publ.send(&b::publish("r/t", 0, 0, false, true, b"v1", None))
        .await;
    publ.sync().await;

    // [MQTT-3.3.1-6] / [MQTT-3.3.1-8]: sent on subscribe, with the retain flag.
    let mut s1 = raw_sub(addr, "s1", "r/#", 0).await;
    let p = s1.recv_publish().await;
    assert!(p.retain);
    assert_eq!((&*p.topic, &p.payload[..]), ("r/t", &b"v1"[..]));
    assert!(s1.quiet().await.is_empty());

    // Replaced [MQTT-3.3.1-5].
    publ.send(&b::publish("r/t", 0, 0, false, true, b"v2", None))
        .await;
    assert_eq!(&s1.recv_publish().await.payload[..], b"v2");
    let mut s2 = raw_sub(addr, "s2", "r/t", 0).await;
    let p = s2.recv_publish().await;
    assert_eq!(&p.payload[..], b"v2");
    assert!(s2.quiet().await.is_empty(), "only the latest is kept");

    // Cleared by an empty retained payload [MQTT-3.3.1-10]... and that one is forwarded.
    publ.send(&b::publish("r/t", 0, 0, false, true, b"", None))
        .await;
    assert!(s1.recv_publish().await.payload.is_empty());
    let mut s3 = raw_sub(addr, "s3", "r/#", 0).await;
    assert!(s3.quiet().await.is_empty());
}

#[tokio::test]
async fn sys_topics_are_published() {
    let broker = start_broker_with(|c| c.sys.interval_secs = 1).await;
    let addr = broker.addr();
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    for i in 1..=3u16 {
        publ.publish1("counted", i, b"x").await;
    }
    let version = sys_until(addr, "$SYS/broker/version", |_| true).await;
    assert!(version.starts_with("midge"), "{version}");
    let uptime = sys_until(addr, "$SYS/broker/uptime", |_| true).await;
    assert!(uptime.ends_with(" seconds"), "{uptime}");
    let n = |v: &str| v.parse::<u64>().unwrap_or(0);
    // Our publisher plus the $SYS watcher itself.
    sys_until(addr, "$SYS/broker/clients/connected", |v| n(v) >= 2).await;
    sys_until(addr, "$SYS/broker/messages/received", |v| n(v) >= 3).await;
    sys_until(addr, "$SYS/broker/subscriptions/count", |v| n(v) >= 1).await;
}
