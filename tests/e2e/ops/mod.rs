//! Running midge as a service: JSON logs, per-listener and store metrics checked by a real
//! Prometheus parser and `promtool`, `import-mosquitto`, the systemd unit and the
//! container image.

mod certwatch;
mod container;
mod import;
mod logs;
mod metrics;
mod systemd;

use std::net::SocketAddr;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::within;

/// The real binary, headless with `args` (and no default listener or storage flags), once
/// `listeners` sockets (and, with `--http`, the operations endpoint) are bound; returns it,
/// the listeners' addresses in order, and the endpoint's.
pub(crate) async fn spawn(
    args: &[&str],
    listeners: usize,
) -> (Child, Vec<SocketAddr>, Option<SocketAddr>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_midge"))
        .arg("--headless")
        .args(args)
        .env("NO_COLOR", "1")
        .env("MIDGE_LOG", "warn,midge::transport=info,midge::http=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("midge runs");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let want_http = args.contains(&"--http");
    let mut mqtt = Vec::new();
    let mut http = None;
    within(10.0, async {
        // The operations endpoint starts after every listener is bound.
        loop {
            let line = lines
                .next_line()
                .await
                .expect("read stderr")
                .expect("midge exited before serving");
            let line = line.replace("\u{1b}[0m", "").replace("\u{1b}[2m", "");
            let Some(addr) = line.split("address=").nth(1) else {
                continue;
            };
            let addr: SocketAddr = addr
                .split_whitespace()
                .next()
                .unwrap_or("")
                .parse()
                .expect("a socket address");
            if line.contains("operations endpoint") {
                http = Some(addr);
                break;
            }
            if line.contains("listening") {
                mqtt.push(addr);
                if !want_http && mqtt.len() == listeners {
                    break;
                }
            }
        }
    })
    .await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, mqtt, http)
}
