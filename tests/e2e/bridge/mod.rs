//! Outgoing bridges (`[[bridge]]`) against a real Mosquitto as the remote: each test
//! starts its own `mosquitto` on a free port with a config in a temp dir. `flows`: the
//! directions, prefixes, QoS levels, no echo, the state topic, the remote going away
//! and TLS, with midge in process; `process`: the real binary (kill -9, SIGHUP, bad
//! configuration).

mod flows;
mod process;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use midge::config::{BridgeConfig, Config};
use midge::protocol::{Packet, Publish, QosPid};

use crate::bytes as b;
use crate::support::{free_port, raw_sub, until_listening, Raw, Read, WAIT};

/// A Mosquitto process on 127.0.0.1, killed on drop; can be stopped and started again
/// on the same port (with `persistence true` it keeps its sessions across).
pub struct Mosquitto {
    child: Option<Child>,
    pub port: u16,
    conf: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// `conf` goes after the listener line (`listener <port> 127.0.0.1`); `{dir}` in it
    /// is replaced by the temp dir.
    pub async fn start(conf: &str) -> Self {
        Self::start_listener(conf, "").await
    }

    /// As [`Mosquitto::start`], with `listener_opts` right after the listener line
    /// (TLS settings belong to it).
    pub async fn start_listener(conf: &str, listener_opts: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let d = dir.path().display().to_string();
        let text = format!(
            // As root, Mosquitto drops to user `mosquitto`, which cannot write the temp dir.
            "user root\nlistener {port} 127.0.0.1\n{}\nallow_anonymous true\n{}\n",
            listener_opts.replace("{dir}", &d),
            conf.replace("{dir}", &d)
        );
        let path = dir.path().join("m.conf");
        std::fs::write(&path, text).expect("write mosquitto.conf");
        let mut m = Self {
            child: None,
            port,
            conf: path,
            _dir: dir,
        };
        m.run().await;
        m
    }

    async fn run(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto runs (scripts/test-deps installs it)");
        self.child = Some(child);
        until_listening(self.port).await;
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// SIGTERM (Mosquitto saves its persistence file) and wait for the exit.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + WAIT;
        while matches!(child.try_wait(), Ok(None)) {
            assert!(Instant::now() < deadline, "mosquitto did not stop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Start again on the same port.
    pub async fn restart(&mut self) {
        self.run().await;
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One `[[bridge]]` to `remote` from TOML lines (as a user writes them).
pub fn bridge(name: &str, remote: SocketAddr, lines: &str) -> BridgeConfig {
    bridge_url(name, &format!("mqtt://{remote}"), lines)
}

pub fn bridge_url(name: &str, url: &str, lines: &str) -> BridgeConfig {
    let text = format!("[[bridge]]\nname = \"{name}\"\naddress = \"{url}\"\n{lines}\n");
    let mut c = Config::from_toml_str(&text, Path::new("/t/midge.toml")).expect("bridge config");
    c.bridges.remove(0)
}

/// Wait until the retained state of `client_id` on the broker at `addr` is `want`.
pub async fn until_state(addr: SocketAddr, client_id: &str, want: &str) {
    let topic = format!("$SYS/broker/connection/{client_id}/state");
    let mut raw = raw_sub(addr, &format!("state-{}", free_port()), &topic, 0).await;
    crate::support::within(20.0, async {
        loop {
            match raw.read_within(Duration::from_secs(20)).await {
                Some(Read::Packet(Packet::Publish(p))) if p.payload.as_ref() == want.as_bytes() => {
                    return;
                }
                Some(Read::Closed) => panic!("the broker closed the state subscriber"),
                _ => {}
            }
        }
    })
    .await;
}

/// The next `n` PUBLISHes, acknowledged as a client does (QoS 2: PUBREC, then PUBCOMP
/// for each PUBREL on the way).
pub async fn take(raw: &mut Raw, n: usize) -> Vec<Publish> {
    let mut got = Vec::new();
    while got.len() < n {
        match raw.recv().await {
            Packet::Publish(p) => {
                match p.qos_pid {
                    QosPid::Level0 => {}
                    QosPid::Level1(pid) => raw.send(&b::puback(pid.get())).await,
                    QosPid::Level2(pid) => raw.send(&b::pubrec(pid.get())).await,
                }
                got.push(p);
            }
            Packet::PubRel(a) => raw.send(&b::pubcomp(a.pid.get())).await,
            _ => {}
        }
    }
    got
}

/// After a sync point: no further PUBLISH arrives (PUBRELs are completed).
pub async fn no_more(raw: &mut Raw) {
    for p in raw.quiet().await {
        match p {
            Packet::Publish(p) => panic!("unexpected PUBLISH {p:?}"),
            Packet::PubRel(a) => raw.send(&b::pubcomp(a.pid.get())).await,
            _ => {}
        }
    }
}

/// A QoS 2 PUBLISH through the whole exchange (PUBREC, PUBREL, PUBCOMP).
pub async fn publish2(raw: &mut Raw, topic: &str, pid: u16, payload: &[u8]) {
    raw.send(&b::publish(topic, 2, pid, false, false, payload, None))
        .await;
    assert!(matches!(raw.recv().await, Packet::PubRec(a) if a.pid.get() == pid));
    raw.send(&b::pubrel(pid)).await;
    assert!(matches!(raw.recv().await, Packet::PubComp(a) if a.pid.get() == pid));
}

pub fn topics_payloads(got: &[Publish]) -> Vec<(String, String)> {
    got.iter()
        .map(|p| {
            (
                p.topic.to_string(),
                String::from_utf8_lossy(&p.payload).into_owned(),
            )
        })
        .collect()
}
