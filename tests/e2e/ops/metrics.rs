//! The store's fsync histogram and the per-listener connection families, on a durable
//! broker with two listeners, parsed by a Prometheus text parser; and `promtool check
//! metrics` finding nothing to say about the whole page.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::bytes as b;
use crate::http::{scrape, value};
use crate::support::{have, within, Raw, PROMTOOL};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_histogram_and_listener_connections_follow_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let (_midge, mqtt, http) = super::spawn(
        &[
            "--data-dir",
            data,
            "-l",
            "127.0.0.1:0",
            "-l",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ],
        2,
    )
    .await;
    let http = http.expect("operations endpoint");
    let (a, b_) = (mqtt[0], mqtt[1]);
    let (la, lb) = (format!("mqtt://{a}"), format!("mqtt://{b_}"));

    // Every listener is there from start-up, at 0.
    let m = scrape(http).await;
    for l in [&la, &lb] {
        let open = value(&m, "midge_listener_connections", &[("listener", l)]);
        assert_eq!(open, 0.0, "{l}");
        let total = value(&m, "midge_listener_connections_total", &[("listener", l)]);
        assert_eq!(total, 0.0, "{l}");
    }
    let before = fsyncs(&m);

    // Three clients on the first listener, one on the second; a QoS 1 message to a
    // persistent session is stored (and fsynced) before its PUBACK.
    let (mut keeper, _) = Raw::v4(a, "keeper", false).await;
    assert_eq!(keeper.subscribe(1, "fs/#", 1).await, vec![1]);
    let (_a2, _) = Raw::v4(a, "a2", true).await;
    let (mut a3, _) = Raw::v4(a, "a3", true).await;
    let (mut publ, _) = Raw::v4(b_, "feeder", true).await;
    for pid in 1..=3 {
        publ.publish1("fs/x", pid, b"durable").await;
    }
    for _ in 0..3 {
        keeper.recv_publish().await;
    }
    let m = scrape(http).await;
    assert_eq!(
        value(&m, "midge_listener_connections", &[("listener", &la)]),
        3.0
    );
    assert_eq!(
        value(&m, "midge_listener_connections", &[("listener", &lb)]),
        1.0
    );
    assert_eq!(
        value(&m, "midge_listener_connections_total", &[("listener", &la)]),
        3.0
    );
    let (count, buckets) = histogram(&m);
    assert!(count >= before + 1.0, "count {count}, before {before}");
    // Buckets are cumulative, end at +Inf, and +Inf equals the count.
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "{buckets:?}"
    );
    let last = buckets.last().expect("buckets");
    assert!(last.0.is_infinite() && last.1 == count, "{buckets:?}");

    // A client leaves: the gauge falls, the counter stays.
    a3.send(&b::disconnect(None)).await;
    a3.expect_closed().await;
    within(5.0, async {
        loop {
            let m = scrape(http).await;
            if value(&m, "midge_listener_connections", &[("listener", &la)]) == 2.0 {
                assert_eq!(
                    value(&m, "midge_listener_connections_total", &[("listener", &la)]),
                    3.0
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    if !have(&[PROMTOOL]) {
        return;
    }
    let body = crate::http::metrics_text(http).await;
    let mut promtool = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("promtool runs");
    let mut stdin = promtool.stdin.take().expect("stdin");
    stdin.write_all(body.as_bytes()).await.expect("write");
    drop(stdin);
    let out = within(10.0, promtool.wait_with_output())
        .await
        .expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{body}"
    );
}

/// `midge_store_fsync_duration_seconds`: its count, and (upper bound, cumulative count)
/// per bucket.
fn histogram(m: &prometheus_parse::Scrape) -> (f64, Vec<(f64, f64)>) {
    let s = m
        .samples
        .iter()
        .find(|s| s.metric == "midge_store_fsync_duration_seconds")
        .expect("the fsync histogram");
    let prometheus_parse::Value::Histogram(buckets) = &s.value else {
        panic!("not a histogram: {:?}", s.value);
    };
    let count = m
        .samples
        .iter()
        .find(|s| s.metric == "midge_store_fsync_duration_seconds_count")
        .map(|s| match s.value {
            prometheus_parse::Value::Untyped(v) | prometheus_parse::Value::Counter(v) => v,
            ref other => panic!("{other:?}"),
        })
        .expect("the histogram's count");
    (
        count,
        buckets.iter().map(|b| (b.less_than, b.count)).collect(),
    )
}

fn fsyncs(m: &prometheus_parse::Scrape) -> f64 {
    histogram(m).0
}
