//! The operations endpoint of the real binary (`--http`), asked with raw HTTP/1.1 bytes:
//! metrics (parsed by a Prometheus text parser) that follow MQTT traffic, health and
//! readiness, 404/405, an oversized head refused, and idle connections (one, and 200)
//! that do not hold a scrape up.

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

/// `/metrics` parsed by a Prometheus text-format parser (not by our own string matching).
pub(crate) fn parse(body: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .unwrap_or_else(|e| panic!("not Prometheus text ({e}):\n{body}"))
}

/// The value of the sample `name` whose labels include `labels`; fails when there is none.
pub(crate) fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    use prometheus_parse::Value;
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"));
    match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{name} is not a single value: {other:?}"),
    }
}

/// The body of `/metrics`, after checking status and content type.
pub(crate) async fn metrics_text(http: SocketAddr) -> String {
    let r = get(http, "/metrics").await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(
        r.to_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{r}"
    );
    r.split("\r\n\r\n").nth(1).expect("a body").to_owned()
}

/// `/metrics`, parsed.
pub(crate) async fn scrape(http: SocketAddr) -> prometheus_parse::Scrape {
    parse(&metrics_text(http).await)
}

fn sample(scrape: &prometheus_parse::Scrape, name: &str) -> f64 {
    value(scrape, name, &[])
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

    let m = scrape(http).await;
    assert_eq!(sample(&m, "midge_clients_connected"), 2.0);
    assert_eq!(sample(&m, "midge_subscriptions"), 1.0);
    assert!(sample(&m, "midge_messages_received_total") >= 5.0);
    assert!(sample(&m, "midge_messages_sent_total") >= 5.0);
    for reason in ["queue_full", "too_large", "expired", "acl"] {
        assert_eq!(
            value(&m, "midge_messages_dropped_total", &[("reason", reason)]),
            0.0
        );
    }
    assert!(matches!(
        m.samples
            .iter()
            .find(|s| s.metric == "midge_store_unsynced_bytes")
            .map(|s| &s.value),
        Some(prometheus_parse::Value::Gauge(_))
    ));

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

/// 200 connections that never send a byte (more than the endpoint serves at once) do not
/// keep a scrape out: the silent ones make room.
#[tokio::test]
async fn two_hundred_idle_connections_do_not_block_a_scrape() {
    let (_midge, _mqtt, http) = spawn().await;
    let mut idle = Vec::with_capacity(200);
    for _ in 0..200 {
        idle.push(
            within(5.0, TcpStream::connect(http))
                .await
                .expect("idle connect"),
        );
    }
    // Before the fix, the scrape queued behind them until header timeouts freed slots
    // (5 s per 64 connections).
    let m = within(3.0, scrape(http)).await;
    assert_eq!(sample(&m, "midge_clients_connected"), 0.0);
    // The endpoint still serves after the flood.
    assert!(get(http, "/healthz").await.starts_with("HTTP/1.1 200"));
    drop(idle);
}
