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

use tokio::process::Child;

/// The real binary, headless with `args` (and no default listener or storage flags), once
/// `listeners` sockets (and, with `--http`, the operations endpoint) are bound; returns it,
/// the listeners' addresses in order, and the endpoint's.
pub(crate) async fn spawn(
    args: &[&str],
    listeners: usize,
) -> (Child, Vec<SocketAddr>, Option<SocketAddr>) {
    let want_http = args.contains(&"--http");
    let mut logged = vec!["listening"; listeners];
    if want_http {
        // The operations endpoint starts after every listener is bound.
        logged.push("operations endpoint");
    }
    let (child, mut addrs) = crate::support::spawn_midge_args(args, &[], &logged).await;
    let http = if want_http { addrs.pop() } else { None };
    (child, addrs, http)
}
