//! A persistent SN session (clean session false) across a restart of the real binary:
//! its subscription and its topic registrations survive, and a message queued for it
//! while it was away is delivered under the id registered before the restart.

use std::net::SocketAddr;
use std::path::Path;

use tokio::process::{Child, Command};

use super::*;
use crate::support::{raw_sub, Raw};

/// The real midge with `dir/data` as its store, a TCP and an SN listener; returns the
/// child and both addresses (from its "listening" log lines).
async fn spawn(dir: &Path) -> (Child, SocketAddr, SocketAddr) {
    let config = dir.join("midge.toml");
    std::fs::write(
        &config,
        "[[listener]]\nbind = \"127.0.0.1:0\"\n[[listener]]\nbind = \"127.0.0.1:0\"\n\
         kind = \"mqttsn\"\n[sys]\ninterval_secs = 0\n",
    )
    .expect("write config");
    let (config, data) = (
        config.to_string_lossy().into_owned(),
        dir.join("data").to_string_lossy().into_owned(),
    );
    // The MQTT-SN listener logs "MQTT-SN gateway listening", the TCP one transport="mqtt".
    let (child, addrs) = crate::support::spawn_midge_args(
        &["-c", &config, "--data-dir", &data],
        &[],
        &["transport=\"mqtt\"", "MQTT-SN"],
    )
    .await;
    (child, addrs[0], addrs[1])
}

async fn term(mut child: Child) {
    let pid = child.id().expect("pid").to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status().await;
    let status = within(10.0, child.wait()).await.expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn persistent_sn_session_survives_a_restart_with_its_registrations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, tcp_addr, gw) = spawn(dir.path()).await;
    let sn = Sn::connected(gw, "keeper", 0x00, 60).await; // clean session false
    let up = sn.register(1, "keep/up").await;
    sn.send(&subscribe_name(0x12, 0x20, 2, "keep/down")).await;
    let got = sn.recv().await;
    assert_eq!((got[1], got[7]), (0x13, 0x00), "{got:02x?}");
    let down = u16::from_be_bytes([got[3], got[4]]);
    sn.send(&[0x02, 0x18]).await; // DISCONNECT: the broker keeps the session
    sn.expect(&[0x02, 0x18]).await;
    term(child).await;

    let (child, tcp_addr2, gw) = spawn(dir.path()).await;
    let _ = tcp_addr;
    // Queued for the offline session while the SN client is away.
    let (mut tcp, _) = Raw::v4(tcp_addr2, "tcp-pub", true).await;
    tcp.publish1("keep/down", 1, b"while away").await;
    let mut watcher = raw_sub(tcp_addr2, "tcp-sub", "keep/up", 1).await;
    let sn = Sn::connected(gw, "keeper", 0x00, 60).await;
    // The queued message arrives under the id registered before the restart.
    let (flags, topic_id, msg_id, data) = parse_publish(&sn.recv().await);
    assert_eq!(
        (flags, topic_id, data.as_slice()),
        (0x20, down, &b"while away"[..])
    );
    sn.send(&puback(down, msg_id, 0x00)).await;
    // The id the client registered before the restart is still valid.
    sn.send(&publish(0x20, up, 3, b"after restart")).await;
    sn.expect(&puback(up, 3, 0x00)).await;
    let p = watcher.recv_publish().await;
    assert_eq!(
        (&*p.topic, &p.payload[..]),
        ("keep/up", &b"after restart"[..])
    );
    term(child).await;
}
