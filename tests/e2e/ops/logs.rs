//! `--log-format json`: every line the headless binary writes to stderr is one JSON object
//! with timestamp, level, target and message, and the event's fields beside them.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::{within, Raw};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_parse_and_carry_their_fields() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_midge"))
        .args(["--headless", "--in-memory", "-l", "127.0.0.1:0"])
        .args(["--log-format", "json"])
        .env("MIDGE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("midge runs");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen: Vec<serde_json::Value> = Vec::new();
    let parse = |line: &str| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line:?}"));
        assert!(v.is_object(), "{line}");
        v
    };
    let addr: std::net::SocketAddr = within(10.0, async {
        loop {
            let line = lines
                .next_line()
                .await
                .expect("read stderr")
                .expect("midge exited before listening");
            let v = parse(&line);
            seen.push(v.clone());
            if v["message"] == "listening" {
                let a = v["address"].as_str().expect("address is a field");
                return a.parse().expect("a socket address");
            }
        }
    })
    .await;

    let (mut raw, _) = Raw::v4(addr, "json-logger", true).await;
    raw.send(&crate::bytes::disconnect(None)).await;
    raw.expect_closed().await;

    let pid = rustix::process::Pid::from_raw(
        i32::try_from(child.id().expect("pid")).expect("a pid fits i32"),
    )
    .expect("a non-zero pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    within(10.0, async {
        while let Some(line) = lines.next_line().await.expect("read stderr") {
            seen.push(parse(&line));
        }
    })
    .await;
    let status = within(10.0, child.wait()).await.expect("wait");
    assert_eq!(status.code(), Some(0));

    for v in &seen {
        let ts = v["timestamp"].as_str().unwrap_or_else(|| panic!("{v}"));
        // RFC 3339 in UTC: 2026-12-05T06:30:00.123456Z.
        assert!(
            ts.len() >= 20 && ts.as_bytes()[10] == b'T' && ts.ends_with('Z'),
            "{ts}"
        );
        let level = v["level"].as_str().unwrap_or_else(|| panic!("{v}"));
        assert!(
            ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&level),
            "{v}"
        );
        assert!(
            v["target"].as_str().is_some_and(|t| t.starts_with("midge")),
            "{v}"
        );
        assert!(v["message"].is_string(), "{v}");
    }
    // The event's fields sit beside the message.
    let bye = seen
        .iter()
        .find(|v| v["message"] == "client disconnected")
        .unwrap_or_else(|| panic!("no disconnect line in {seen:?}"));
    assert_eq!(bye["client_id"], "json-logger", "{bye}");
    assert!(
        seen.iter().any(|v| v["message"] == "shutting down"),
        "{seen:?}"
    );
}
