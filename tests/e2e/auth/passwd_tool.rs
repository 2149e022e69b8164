//! `midge passwd` end to end: it writes files that both midge and the real Mosquitto
//! broker accept, and deletes users.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use midge::broker::FileAccess;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{attempt, connect, login, midge_passwd, start};
use crate::support::{have, within, MOSQUITTO};

#[tokio::test]
async fn midge_passwd_makes_files_midge_and_mosquitto_accept() {
    if !have(&[MOSQUITTO]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("passwd");
    let f = file.to_str().expect("utf-8 path");
    assert_eq!(midge_passwd(&[f, "erin"], b"erin-pw\n").await, Some(0));
    assert_eq!(midge_passwd(&[f, "frank"], b"frank-pw\n").await, Some(0));
    assert_eq!(
        midge_passwd(&["-b", f, "gina", "gina-pw"], b"").await,
        Some(0)
    );
    let access = Arc::new(FileAccess::load(false, Some(file.clone()), None).expect("load"));
    let (broker, addr) = start(access.clone()).await;
    for (user, pass) in [
        ("erin", "erin-pw"),
        ("frank", "frank-pw"),
        ("gina", "gina-pw"),
    ] {
        login(addr, 4, user, user, pass).await;
    }
    let (_, code) = attempt(
        addr,
        4,
        &connect(4, "e", Some("erin"), Some("frank-pw"), None),
    )
    .await;
    assert_eq!(code, 4);

    // The real Mosquitto broker takes the same file.
    mosquitto_accepts(&file, "erin", "erin-pw").await;

    assert_eq!(midge_passwd(&["--delete", f, "erin"], b"").await, Some(0));
    assert_ne!(midge_passwd(&["--delete", f, "nobody"], b"").await, Some(0));
    access.reload().expect("reload");
    let (_, code) = attempt(
        addr,
        5,
        &connect(5, "e", Some("erin"), Some("erin-pw"), None),
    )
    .await;
    assert_eq!(code, 0x86);
    login(addr, 5, "frank", "frank", "frank-pw").await;
    broker.shutdown(std::time::Duration::from_secs(2)).await;
}

/// Run `mosquitto` on an ephemeral port with `password_file`, and log in.
async fn mosquitto_accepts(passwd: &Path, user: &str, pass: &str) {
    let (port, mut child) = within(30.0, async {
        // A free port can be taken by another test before Mosquitto binds it: try again.
        for _ in 0..5 {
            if let Some(running) = start_mosquitto(passwd).await {
                return running;
            }
        }
        panic!("mosquitto did not start");
    })
    .await;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let (_, code) = attempt(addr, 4, &connect(4, "m", Some(user), Some(pass), None)).await;
    assert_eq!(code, 0, "mosquitto refused {user}");
    let (_, code) = attempt(addr, 4, &connect(4, "m2", Some(user), Some("wrong"), None)).await;
    assert_ne!(code, 0, "mosquitto accepted a wrong password");
    let _ = child.kill().await;
}

/// Mosquitto listening on a free port, or `None` if it exited (port taken).
async fn start_mosquitto(passwd: &Path) -> Option<(u16, tokio::process::Child)> {
    let port = crate::support::free_port();
    let dir = passwd.parent().expect("dir");
    // `user root`: as root (CI containers) Mosquitto would otherwise switch to the
    // `mosquitto` user, who cannot read our 0600 file; as anyone else it is ignored.
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "user root\nlistener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\nlog_dest stderr\nlog_type all\npersistence false\n",
            passwd.display()
        ),
    )
    .expect("write conf");
    let mut child = tokio::process::Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mosquitto runs (Debian package mosquitto)");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    // "… running" comes after every listener is bound.
    loop {
        let line = lines.next_line().await.ok()??;
        if line.contains(" running") {
            break;
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some((port, child))
}
