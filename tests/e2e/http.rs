//! The operations endpoint of the real binary (`--http`), asked with raw HTTP/1.1 bytes:
//! metrics that follow MQTT traffic, health and readiness, 404/405, an oversized head
//! refused, and an idle connection that does not hold a scrape up.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::bytes as b;
use crate::support::{within, Raw};

/// `midge --headless --in-memory -l 127.0.0.1:0 --http 127.0.0.1:0`; its MQTT and HTTP
/// addresses, read from its log.
async fn spawn() -> (tokio::process::Child, SocketAddr, SocketAddr) {
    let (child, addrs) = crate::support::spawn_midge_with(
        &["--http", "127.0.0.1:0"],
        &[],
        &["listening", "operations endpoint"],
    )
    .await;
    (child, addrs[0], addrs[1])
}

/// Sends `request` as it is and reads the whole response (the server closes).
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = within(5.0, TcpStream::connect(addr))
        .await
        .expect("connect");
    s.write_all(request).await.expect("write");
    let mut out = Vec::new();
    within(5.0, s.read_to_end(&mut out)).await.expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

async fn get(addr: SocketAddr, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: midge\r\nConnection: close\r\n\r\n");
    exchange(addr, req.as_bytes()).await
}

/// The value of an unlabelled sample.
fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in\n{text}"))
}

#[tokio::test]
async fn metrics_health_and_refusals() {
    let (_midge, mqtt, http) = spawn().await;

    // An idle connection that never sends a request holds nothing up.
    let _idle = TcpStream::connect(http).await.expect("idle connect");

    let (mut sub, _) = Raw::v4(mqtt, "watcher", true).await;
    sub.send(&b::subscribe(1, &[("m/#", 0)], None)).await;
    sub.recv().await; // SUBACK
    let (mut publ, _) = Raw::v4(mqtt, "feeder", true).await;
    for i in 0..5u16 {
        publ.send(&b::publish("m/x", 1, i + 1, false, false, b"v", None))
            .await;
        publ.recv().await; // PUBACK
    }
    for _ in 0..5 {
        sub.recv().await;
    }

    let r = get(http, "/metrics").await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(
        r.to_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{r}"
    );
    let body = r.split("\r\n\r\n").nth(1).expect("a body");
    assert_eq!(sample(body, "midge_clients_connected"), 2);
    assert_eq!(sample(body, "midge_subscriptions"), 1);
    assert!(sample(body, "midge_messages_received_total") >= 5);
    assert!(sample(body, "midge_messages_sent_total") >= 5);
    for reason in ["queue_full", "too_large", "expired", "acl"] {
        let line = format!("midge_messages_dropped_total{{reason=\"{reason}\"}} 0");
        assert!(body.contains(&line), "{line} missing:\n{body}");
    }
    assert!(body.contains("# TYPE midge_store_unsynced_bytes gauge"));

    assert!(get(http, "/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(get(http, "/readyz").await.starts_with("HTTP/1.1 200"));
    assert!(get(http, "/nope").await.starts_with("HTTP/1.1 404"));
    let post = exchange(
        http,
        b"POST /metrics HTTP/1.1\r\nHost: midge\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");

    // More than 8 KiB of request head: refused, and the endpoint still serves.
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: midge\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(9 * 1024)
    );
    let r = exchange(http, big.as_bytes()).await;
    assert!(
        r.starts_with("HTTP/1.1 431") || r.starts_with("HTTP/1.1 400"),
        "{r}"
    );
    within(5.0, async {
        while !get(http, "/healthz").await.starts_with("HTTP/1.1 200") {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}
