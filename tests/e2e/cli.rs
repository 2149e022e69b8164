//! The real `midge` binary: headless start on an ephemeral port, SIGTERM, and the exit
//! status and message for a bad flag or a bad config file.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::{within, Raw};

fn midge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_midge"));
    c.env("NO_COLOR", "1")
        .env_remove("MIDGE_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Remove ANSI escape sequences, in case the log is coloured anyway.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_on_port_0_serves_and_exits_0_on_sigterm() {
    let mut child = midge()
        .args(["--headless", "--in-memory", "-l", "127.0.0.1:0"])
        .spawn()
        .expect("midge runs");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    // The log line "listening address=127.0.0.1:PORT" names the bound port.
    let addr: std::net::SocketAddr = within(10.0, async {
        loop {
            let line = lines
                .next_line()
                .await
                .expect("read stderr")
                .expect("midge exited before listening");
            let line = plain(&line);
            if let Some(rest) = line.split("listening address=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or("");
                return addr.parse().expect("a socket address");
            }
        }
    })
    .await;
    assert_ne!(addr.port(), 0);
    let (mut raw, _) = Raw::v4(addr, "cli", true).await;
    assert!(raw.sync().await.is_empty());

    let pid = child.id().expect("pid").to_string();
    let kill = within(5.0, Command::new("kill").args(["-TERM", &pid]).status())
        .await
        .expect("kill runs");
    assert!(kill.success());
    // Drain the log so the child never blocks on a full pipe while shutting down.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let status = within(10.0, child.wait()).await.expect("wait");
    assert_eq!(status.code(), Some(0));
    raw.expect_closed().await;
}

#[tokio::test]
async fn bad_flag_exits_2_with_usage() {
    let out = within(10.0, midge().arg("--no-such-flag").output())
        .await
        .expect("midge runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--no-such-flag"), "{err}");
    assert!(err.contains("Usage"), "{err}");
}

#[tokio::test]
async fn bad_config_exits_2_naming_key_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("midge.toml");
    std::fs::write(&path, "[limits]\nmax_inflight = \"lots\"\n").expect("write config");
    let out = within(
        10.0,
        midge()
            .args(["--headless", "--in-memory", "-c"])
            .arg(&path)
            .output(),
    )
    .await
    .expect("midge runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_inflight"), "{err}");
    assert!(err.contains(":2:"), "line 2 named: {err}");
}

/// `midge check-config -c FILE`: the config, and the files it names, as start-up reads
/// them, without starting anything.
#[tokio::test]
async fn check_config_reads_what_start_up_would_and_says_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let check = |body: &str| {
        let path = dir.path().join("midge.toml");
        std::fs::write(&path, body).expect("write config");
        async move {
            let mut c = midge();
            c.stdout(Stdio::piped());
            let out = within(10.0, c.args(["check-config", "-c"]).arg(&path).output())
                .await
                .expect("midge runs");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let good = "[[listener]]\nbind = \"127.0.0.1:1883\"\n[http]\nbind = \"127.0.0.1:9883\"\n";
    let (code, out, err) = check(good).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("OK (1 listener(s)") && out.contains("http 127.0.0.1:9883"),
        "{out}"
    );

    let (code, _, err) = check("[http]\nbind = \"nowhere\"\n").await;
    assert_eq!(code, Some(2));
    assert!(err.contains(":2:") && err.contains("[http] bind"), "{err}");

    // A password file that is not there: named, exit 2 (start-up would fail the same way).
    let (code, _, err) = check("[auth]\npassword_file = \"missing.passwd\"\n").await;
    assert_eq!(code, Some(2));
    assert!(err.contains("missing.passwd"), "{err}");
}
