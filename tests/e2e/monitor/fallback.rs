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
