//! `midge monitor` against a broker that speaks only MQTT 3.1.1: a v5 CONNECT is refused
//! with return code 1 (unacceptable protocol version), so the monitor asks again at once
//! with 3.1.1 and then sees traffic. The broker here is hand-written bytes.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{until_event, until_snapshot, watch};
use midge_model::Event;

/// A broker that refuses protocol level 5 and serves one tap message to level 4.
async fn v3_only_broker() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..4 {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 512];
            let Ok(n) = s.read(&mut buf).await else {
                continue;
            };
            // 0x10, remaining length (one byte here), "MQTT" (2 + 4 bytes), level.
            let level = buf.get(8).copied();
            if n < 9 || buf[0] != 0x10 || level != Some(4) {
                let _ = s.write_all(&[0x20, 0x02, 0x00, 0x01]).await;
                continue;
            }
            let _ = s.write_all(&[0x20, 0x02, 0x00, 0x00]).await;
            let Ok(n) = s.read(&mut buf).await else {
                continue;
            };
            if n >= 4 && buf[0] == 0x82 {
                let _ = s.write_all(&[0x90, 0x04, buf[2], buf[3], 0x00, 0x00]).await;
            }
            let publish = [&[0x30, 14, 0x00, 0x0a][..], b"fallback/t", b"v3"].concat();
            let _ = s.write_all(&publish).await;
            // Keep the connection until the monitor goes.
            while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            return;
        }
    });
    addr
}

#[tokio::test]
async fn monitor_falls_back_to_3_1_1_when_a_broker_refuses_5() {
    let addr = v3_only_broker().await;
    let mut link = watch(&format!("mqtt://{addr}"));
    let mut seen = Vec::new();
    until_snapshot(&mut link, &mut seen, "connected", |s| s.source.connected).await;
    until_event(
        &mut link,
        &mut seen,
        "the v3 tap message",
        |e| matches!(e, Event::Tap(m) if m.topic == "fallback/t" && m.payload.as_ref() == b"v3"),
    )
    .await;
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Notice(t) if t.contains("trying 3.1.1"))),
        "{seen:?}"
    );
}

/// rumqttd 0.20's v4 listener speaks MQTT 3.1.1 only: `midge monitor` falls back and
/// shows its traffic. rumqttd comes from crates.io (`scripts/test-deps` installs it into
/// `bench/.tools`, where `bench/compare.sh` finds it too).
#[tokio::test]
async fn monitor_watches_rumqttd_over_3_1_1() {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/.tools/bin/rumqttd");
    if !bin.exists() {
        let why = "bench/.tools/bin/rumqttd missing: scripts/test-deps installs it \
                   (cargo install rumqttd --version 0.20.0 --root bench/.tools)";
        assert!(
            !matches!(std::env::var("CI").as_deref(), Ok("true" | "1")),
            "{why}"
        );
        eprintln!("SKIPPED: {why}");
        return;
    }
    if !crate::support::have(&[crate::support::MOSQUITTO_PUB]) {
        return;
    }
    let port = crate::support::free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("rumqttd.toml");
    let template = include_str!("../../../bench/rumqttd.toml");
    std::fs::write(&conf, template.replace("@PORT@", &port.to_string())).expect("write conf");
    let _rumqttd = tokio::process::Command::new(&bin)
        .args(["-q", "-c"])
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("rumqttd runs");
    crate::support::until_listening(port).await;
    let mut link = watch(&format!("mqtt://127.0.0.1:{port}"));
    let mut seen = Vec::new();
    until_snapshot(&mut link, &mut seen, "connected", |s| s.source.connected).await;
    // The monitor's `#` subscription may land after the first publish: repeat until seen.
    let p = port.to_string();
    crate::support::within(15.0, async {
        loop {
            let _ = tokio::process::Command::new("mosquitto_pub")
                .args(["-p", &p, "-V", "mqttv311", "-t", "rumq/t", "-m", "hi"])
                .status()
                .await;
            let got = tokio::time::timeout(
                std::time::Duration::from_millis(500),
                until_event(
                    &mut link,
                    &mut seen,
                    "rumqttd traffic",
                    |e| matches!(e, Event::Tap(m) if m.topic == "rumq/t"),
                ),
            )
            .await;
            if got.is_ok() {
                return;
            }
        }
    })
    .await;
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Notice(t) if t.contains("trying 3.1.1"))),
        "{seen:?}"
    );
}
