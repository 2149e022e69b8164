//! Loops of midges: two brokers whose configurations both bridge `# both` to each other,
//! and a ring of three. With MQTT 5 links every message carries its origin
//! (`midge-origin`), so each broker delivers it exactly once and nothing circulates.

use std::net::SocketAddr;
use std::time::Duration;

use midge::protocol::Packet;

use crate::support::{free_port, raw_sub, spawn_midge_with, within, Raw, Read};

/// A midge listening on `port` with one v5 `# both` bridge to `to`; killed on drop.
async fn midge(
    dir: &std::path::Path,
    name: &str,
    port: u16,
    to: u16,
) -> (tokio::process::Child, SocketAddr) {
    let conf = dir.join(format!("{name}.toml"));
    std::fs::write(
        &conf,
        format!(
            "[[bridge]]\nname = \"{name}\"\n\
             address = \"mqtt://127.0.0.1:{to}\"\nprotocol = \"5\"\nclient_id = \"{name}\"\n\
             keep_alive_secs = 5\ntopics = [\"# both 1\"]\n"
        ),
    )
    .expect("write config");
    let conf = conf.to_string_lossy().into_owned();
    // `-l` flags replace the config's listeners: the test's ephemeral one and `port`.
    let listen = format!("127.0.0.1:{port}");
    let (child, _) = spawn_midge_with(&["-c", &conf, "-l", &listen], &[], &["listening"]).await;
    (child, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Waits until the bridge `client_id` reports "1" on the broker at `addr`.
async fn bridge_up(addr: SocketAddr, client_id: &str) {
    let topic = format!("$SYS/broker/connection/{client_id}/state");
    let mut watch = raw_sub(addr, &format!("watch-{client_id}"), &topic, 0).await;
    within(30.0, async {
        loop {
            // The bridge may be in its backoff for a while: wait past `recv`'s timeout.
            if let Some(Read::Packet(Packet::Publish(p))) =
                watch.read_within(Duration::from_secs(30)).await
            {
                if &p.payload[..] == b"1" {
                    return;
                }
            }
        }
    })
    .await;
}

/// Everything `sub` receives until it has been quiet for a second (at most 500: a
/// storm never goes quiet).
async fn drain(sub: &mut Raw) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < 500 {
        let Some(r) = sub.read_within(Duration::from_secs(1)).await else {
            break;
        };
        match r {
            Read::Packet(Packet::Publish(p)) => {
                got.push(String::from_utf8_lossy(&p.payload).into_owned());
                if let Some(pid) = p.qos_pid.pid() {
                    sub.send(&crate::bytes::puback(pid.get())).await;
                }
            }
            Read::Packet(_) => {}
            Read::Closed => break,
        }
    }
    got
}

#[tokio::test]
async fn two_midges_bridged_both_ways_deliver_once_per_side() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pa, pb) = (free_port(), free_port());
    let (_a, a) = midge(dir.path(), "a-to-b", pa, pb).await;
    let (_b, b) = midge(dir.path(), "b-to-a", pb, pa).await;
    bridge_up(a, "a-to-b").await;
    bridge_up(b, "b-to-a").await;
    let mut sub_a = raw_sub(a, "sub-a", "t/#", 1).await;
    let mut sub_b = raw_sub(b, "sub-b", "t/#", 1).await;
    // Both bridges subscribe asynchronously: probe until a message crosses each way.
    for (from, to) in [(a, &mut sub_b), (b, &mut sub_a)] {
        let mut p = Raw::v4(from, "probe", true).await.0;
        within(20.0, async {
            loop {
                p.publish1("t/probe", 1, b"probe").await;
                if let Some(Read::Packet(Packet::Publish(_))) =
                    to.read_within(Duration::from_millis(500)).await
                {
                    return;
                }
            }
        })
        .await;
    }
    drain(&mut sub_a).await;
    drain(&mut sub_b).await;

    let mut pub_a = Raw::v4(a, "pub-a", true).await.0;
    let mut pub_b = Raw::v4(b, "pub-b", true).await.0;
    for i in 0..10u16 {
        pub_a
            .publish1("t/x", i + 1, format!("a{i}").as_bytes())
            .await;
        pub_b
            .publish1("t/x", i + 1, format!("b{i}").as_bytes())
            .await;
    }
    let (mut got_a, mut got_b) = (drain(&mut sub_a).await, drain(&mut sub_b).await);
    got_a.sort();
    got_b.sort();
    let mut want: Vec<String> = (0..10)
        .flat_map(|i| [format!("a{i}"), format!("b{i}")])
        .collect();
    want.sort();
    assert_eq!(got_a, want, "on a: each message once");
    assert_eq!(got_b, want, "on b: each message once");
}

#[tokio::test]
async fn a_ring_of_three_does_not_storm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let (_a, a) = midge(dir.path(), "ring-a", pa, pb).await;
    let (_b, b) = midge(dir.path(), "ring-b", pb, pc).await;
    let (_c, c) = midge(dir.path(), "ring-c", pc, pa).await;
    for (addr, id) in [(a, "ring-a"), (b, "ring-b"), (c, "ring-c")] {
        bridge_up(addr, id).await;
    }
    let mut subs = Vec::new();
    for (addr, id) in [(a, "sub-a"), (b, "sub-b"), (c, "sub-c")] {
        subs.push(raw_sub(addr, id, "r/#", 1).await);
    }
    // Probe until a message from a reaches c the long way or the short way.
    let mut p = Raw::v4(a, "probe", true).await.0;
    within(20.0, async {
        loop {
            p.publish1("r/probe", 1, b"probe").await;
            if let Some(Read::Packet(Packet::Publish(_))) =
                subs[2].read_within(Duration::from_millis(500)).await
            {
                return;
            }
        }
    })
    .await;
    for s in &mut subs {
        drain(s).await;
    }
    let mut pub_b = Raw::v4(b, "pub-b", true).await.0;
    for i in 0..20u16 {
        pub_b
            .publish1("r/x", i + 1, format!("m{i}").as_bytes())
            .await;
    }
    let want: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    for (s, name) in subs.iter_mut().zip(["a", "b", "c"]) {
        let mut got = drain(s).await;
        got.sort();
        let mut want = want.clone();
        want.sort();
        assert_eq!(got, want, "on {name}: each message once, no storm");
    }
}
