//! Durability with the real binary: state survives a restart, and nothing a publisher
//! had acknowledged is lost when the broker is killed with SIGKILL mid-stream.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use midge::protocol::{
    self, Ack, ByteStr, Connect, Packet, Props, ProtocolVersion, Publish, QoS, QosPid, Subscribe,
    SubscriptionOptions,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::support::within;

/// The real broker as a child process on an ephemeral port, with a data directory.
/// Shared with `diskfull.rs`.
pub(crate) struct Midge {
    child: Child,
    pub(crate) addr: SocketAddr,
    /// stderr lines after the `listening` one.
    logs: mpsc::UnboundedReceiver<String>,
}

impl Midge {
    async fn start(dir: &Path, sync: &str) -> Midge {
        let config = format!("[storage]\nsync = \"{sync}\"\n[sys]\ninterval_secs = 0\n");
        Midge::start_with(dir, &config, None).await
    }

    /// Starts with `config` (TOML text) and, with `fsize`, under `prlimit --fsize`: a
    /// write past that many bytes in any file fails (EFBIG), like a full disk.
    pub(crate) async fn start_with(dir: &Path, config: &str, fsize: Option<u64>) -> Midge {
        let config_path = dir.join("midge.toml");
        std::fs::write(&config_path, config).expect("write config");
        let bin = env!("CARGO_BIN_EXE_midge");
        let mut cmd = match fsize {
            Some(limit) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--fsize={limit}:{limit}")).arg("--").arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut child = cmd
            .arg("--headless")
            .arg("-c")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["-l", "127.0.0.1:0"])
            .env("NO_COLOR", "1")
            .env_remove("MIDGE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("midge runs");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let addr = within(20.0, async {
            loop {
                let line = lines
                    .next_line()
                    .await
                    .expect("stderr")
                    .expect("midge exited before listening");
                if let Some(rest) = line.split("listening address=").nth(1) {
                    let a = rest.split_whitespace().next().unwrap_or("");
                    return a.parse::<SocketAddr>().expect("address");
                }
            }
        })
        .await;
        let (tx, logs) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                // Nobody listening any more is fine: keep draining so the broker never
                // blocks on a full pipe.
                let _ = tx.send(line);
            }
        });
        Midge { child, addr, logs }
    }

    /// The next stderr line that satisfies `pred`, within `secs`.
    pub(crate) async fn log_line(&mut self, secs: f64, pred: impl Fn(&str) -> bool) -> String {
        within(secs, async {
            loop {
                let line = self.logs.recv().await.expect("midge exited");
                if pred(&line) {
                    return line;
                }
            }
        })
        .await
    }

    /// The process id (for signals).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    pub(crate) async fn kill9(mut self) {
        let _ = self.child.start_kill();
        let _ = within(10.0, self.child.wait()).await;
    }

    async fn term(mut self) {
        let pid = self.child.id().expect("pid").to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status().await;
        let status = within(10.0, self.child.wait()).await.expect("wait");
        assert_eq!(status.code(), Some(0));
    }
}

/// A minimal MQTT 3.1.1 client over our codec, for pipelined publishing.
struct Client {
    stream: TcpStream,
    buf: BytesMut,
}

impl Client {
    async fn connect(addr: SocketAddr, id: &str, clean: bool) -> (Client, bool) {
        let stream = within(5.0, TcpStream::connect(addr))
            .await
            .expect("connect");
        let mut c = Client {
            stream,
            buf: BytesMut::new(),
        };
        c.send(&Packet::Connect(Box::new(Connect {
            protocol: ProtocolVersion::V3_1_1,
            clean_start: clean,
            keep_alive: 0,
            properties: Props::default(),
            client_id: ByteStr::from(id),
            will: None,
            username: None,
            password: None,
            bridge: false,
        })))
        .await;
        match c.recv(10.0).await {
            Some(Packet::ConnAck(a)) if !a.reason.is_error() => {
                let present = a.session_present;
                (c, present)
            }
            other => panic!("CONNECT refused: {other:?}"),
        }
    }

    async fn send(&mut self, p: &Packet) {
        assert!(self.try_send(p).await, "write");
    }

    /// `false` if the connection is gone (the broker was killed under a reader).
    async fn try_send(&mut self, p: &Packet) -> bool {
        let mut b = BytesMut::new();
        protocol::encode(p, ProtocolVersion::V3_1_1, &mut b);
        self.stream.write_all(&b).await.is_ok()
    }

    /// The next packet, or `None` on close or after `secs` of silence.
    async fn recv(&mut self, secs: f64) -> Option<Packet> {
        loop {
            match protocol::decode(&mut self.buf, ProtocolVersion::V3_1_1, u32::MAX) {
                Ok(Some(p)) => return Some(p),
                Ok(None) => {}
                Err(e) => panic!("bad packet from the broker: {e}"),
            }
            let read = tokio::time::timeout(
                Duration::from_secs_f64(secs),
                self.stream.read_buf(&mut self.buf),
            );
            match read.await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return None,
            }
        }
    }

    async fn subscribe(&mut self, filter: &str, qos: QoS) {
        self.send(&Packet::Subscribe(Subscribe {
            pid: pid(1),
            properties: Props::default(),
            filters: vec![(
                ByteStr::from(filter),
                SubscriptionOptions {
                    qos,
                    ..Default::default()
                },
            )],
        }))
        .await;
        assert!(matches!(self.recv(5.0).await, Some(Packet::SubAck(_))));
    }
}

fn pid(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).expect("non-zero")
}

fn publish(topic: &str, qos: QoS, n: u16, payload: Vec<u8>, retain: bool) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::new(qos, pid(n)),
        retain,
        topic: ByteStr::from(topic),
        properties: Props::default(),
        payload: Bytes::from(payload),
    })
}

/// Receive as a persistent subscriber until 1.5 s of silence; returns payloads in order.
async fn drain(c: &mut Client) -> Vec<u64> {
    drain_qos2(c, &mut HashSet::new()).await
}

/// Like `drain`, as a QoS 2 receiver that keeps its state across connections: a PUBLISH
/// whose id awaits PUBREL is a resend, not a new message (spec 4.3.3, method B).
async fn drain_qos2(c: &mut Client, awaiting_rel: &mut HashSet<u16>) -> Vec<u64> {
    let mut got = Vec::new();
    while let Some(p) = c.recv(1.5).await {
        match p {
            Packet::Publish(p) => {
                let resend =
                    matches!(p.qos_pid, QosPid::Level2(id) if !awaiting_rel.insert(id.get()));
                if !resend {
                    if let Ok(b) = <[u8; 8]>::try_from(&p.payload[..8.min(p.payload.len())]) {
                        got.push(u64::from_be_bytes(b));
                    }
                }
                let ack = match p.qos_pid {
                    QosPid::Level1(id) => Packet::PubAck(Ack::new(id)),
                    QosPid::Level2(id) => Packet::PubRec(Ack::new(id)),
                    QosPid::Level0 => continue,
                };
                // A lost acknowledgement only means a resend later, which the state above
                // recognises.
                if !c.try_send(&ack).await {
                    break;
                }
            }
            Packet::PubRel(a) => {
                awaiting_rel.remove(&a.pid.get());
                if !c.try_send(&Packet::PubComp(Ack::new(a.pid))).await {
                    break;
                }
            }
            _ => {}
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sys_topics_are_not_stored_but_retained_messages_are() {
    // `$SYS` is republished from live state: a restart with `$SYS` off must not bring
    // back the last run's values, while a client's retained message comes back.
    let dir = tempfile::tempdir().expect("tempdir");
    let sys_on = "[storage]\nsync = \"always\"\n[sys]\ninterval_secs = 1\n";
    let m = Midge::start_with(dir.path(), sys_on, None).await;
    crate::support::sys_until(m.addr, "$SYS/broker/uptime", |_| true).await;
    let (mut publ, _) = Client::connect(m.addr, "ret-pub", true).await;
    publ.send(&publish(
        "kept/retained",
        QoS::AtLeastOnce,
        1,
        9u64.to_be_bytes().to_vec(),
        true,
    ))
    .await;
    assert!(matches!(publ.recv(5.0).await, Some(Packet::PubAck(_))));
    m.term().await;

    let m = Midge::start(dir.path(), "always").await; // `$SYS` off
    let (mut sub, _) = Client::connect(m.addr, "ret-sub", true).await;
    sub.subscribe("kept/#", QoS::AtLeastOnce).await;
    assert_eq!(
        drain(&mut sub).await,
        vec![9],
        "the client's retained message"
    );
    let (mut sys, _) = Client::connect(m.addr, "sys-sub", true).await;
    sys.subscribe("$SYS/#", QoS::AtMostOnce).await;
    let stale = sys.recv(1.0).await;
    assert!(stale.is_none(), "no stored $SYS value: {stale:?}");
    m.term().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_retained_sessions_and_queues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = Midge::start(dir.path(), "always").await;
    let (mut sub, _) = Client::connect(m.addr, "dur-sub", false).await;
    sub.subscribe("dur/#", QoS::AtLeastOnce).await;
    drop(sub);
    let (mut publ, _) = Client::connect(m.addr, "dur-pub", true).await;
    publ.send(&publish(
        "dur/retained",
        QoS::AtLeastOnce,
        1,
        42u64.to_be_bytes().to_vec(),
        true,
    ))
    .await;
    assert!(matches!(publ.recv(5.0).await, Some(Packet::PubAck(_))));
    for i in 0..5u64 {
        publ.send(&publish(
            "dur/q",
            QoS::AtLeastOnce,
            2 + i as u16,
            i.to_be_bytes().to_vec(),
            false,
        ))
        .await;
        assert!(matches!(publ.recv(5.0).await, Some(Packet::PubAck(_))));
    }
    m.term().await;

    let m = Midge::start(dir.path(), "always").await;
    let (mut sub, present) = Client::connect(m.addr, "dur-sub", false).await;
    assert!(present, "the persistent session came back");
    let got = drain(&mut sub).await;
    assert_eq!(
        got,
        vec![42, 0, 1, 2, 3, 4],
        "queued messages after the retained one, in order"
    );
    // The subscription itself survived: a new message reaches the session.
    let (mut publ, _) = Client::connect(m.addr, "dur-pub", true).await;
    publ.send(&publish(
        "dur/after",
        QoS::AtLeastOnce,
        1,
        7u64.to_be_bytes().to_vec(),
        false,
    ))
    .await;
    assert!(matches!(publ.recv(5.0).await, Some(Packet::PubAck(_))));
    assert_eq!(drain(&mut sub).await, vec![7]);
    // And the retained message is delivered to a new subscriber.
    let (mut fresh, _) = Client::connect(m.addr, "dur-fresh", true).await;
    fresh.subscribe("dur/retained", QoS::AtLeastOnce).await;
    assert_eq!(drain(&mut fresh).await, vec![42]);
    m.term().await;
}

/// Publish `n` messages to each of `topics` (QoS from the topic list), pipelined, and
/// record which were acknowledged (PUBACK, or PUBREC for QoS 2) until the connection dies.
async fn publish_until_killed(
    addr: SocketAddr,
    topics: Vec<(&'static str, QoS)>,
    n: u64,
) -> HashMap<&'static str, BTreeSet<u64>> {
    let (mut c, _) = Client::connect(addr, "kill-pub", true).await;
    let mut acked: HashMap<&'static str, BTreeSet<u64>> = HashMap::new();
    let mut by_pid: HashMap<u16, (&'static str, u64)> = HashMap::new();
    let mut next_pid: u16 = 0;
    let mut seq = 0u64;
    let mut outstanding = 0usize;
    loop {
        while seq < n && outstanding < 32 {
            for (topic, qos) in &topics {
                next_pid = next_pid % 60_000 + 1;
                by_pid.insert(next_pid, (topic, seq));
                let payload = seq.to_be_bytes().to_vec();
                let p = publish(topic, *qos, next_pid, payload, false);
                let mut b = BytesMut::new();
                protocol::encode(&p, ProtocolVersion::V3_1_1, &mut b);
                if c.stream.write_all(&b).await.is_err() {
                    return acked;
                }
                outstanding += 1;
            }
            seq += 1;
        }
        match c.recv(5.0).await {
            Some(Packet::PubAck(a)) | Some(Packet::PubRec(a)) => {
                if let Some((topic, s)) = by_pid.get(&a.pid.get()) {
                    acked.entry(*topic).or_default().insert(*s);
                }
                if let Some((_, _)) = by_pid.get(&a.pid.get()) {
                    outstanding -= 1;
                }
                // Complete QoS 2 flows.
                if by_pid
                    .get(&a.pid.get())
                    .is_some_and(|(t, _)| t.ends_with("q2"))
                {
                    let rel = Packet::PubRel(Ack::new(a.pid));
                    let mut b = BytesMut::new();
                    protocol::encode(&rel, ProtocolVersion::V3_1_1, &mut b);
                    if c.stream.write_all(&b).await.is_err() {
                        return acked;
                    }
                }
            }
            Some(_) => {}
            None => return acked,
        }
        if seq >= n && outstanding == 0 {
            return acked;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = Midge::start(dir.path(), "always").await;
    // Offline persistent subscribers for QoS 1 and QoS 2, and an online one that reads.
    for (id, filter, qos) in [
        ("off-q1", "kill/q1", QoS::AtLeastOnce),
        ("off-q2", "kill/q2", QoS::ExactlyOnce),
    ] {
        let (mut s, _) = Client::connect(m.addr, id, false).await;
        s.subscribe(filter, qos).await;
    }
    let (mut online, _) = Client::connect(m.addr, "on-q2", false).await;
    online.subscribe("kill/q2", QoS::ExactlyOnce).await;
    let reader = tokio::spawn(async move {
        let mut state = HashSet::new();
        let got = drain_qos2(&mut online, &mut state).await;
        (state, got)
    });

    let addr = m.addr;
    let publisher = tokio::spawn(publish_until_killed(
        addr,
        vec![("kill/q1", QoS::AtLeastOnce), ("kill/q2", QoS::ExactlyOnce)],
        20_000,
    ));
    // Kill once the stream is well under way.
    let (mut probe, _) = Client::connect(addr, "probe", true).await;
    probe.subscribe("kill/q1", QoS::AtMostOnce).await;
    let mut seen = 0;
    while seen < 300 {
        match probe.recv(10.0).await {
            Some(Packet::Publish(_)) => seen += 1,
            Some(_) => {}
            None => panic!("no traffic"),
        }
    }
    m.kill9().await;
    let acked = within(30.0, publisher).await.expect("publisher task");
    let (mut online_state, online_before) = within(30.0, reader).await.expect("reader task");
    let q1 = acked.get("kill/q1").cloned().unwrap_or_default();
    let q2 = acked.get("kill/q2").cloned().unwrap_or_default();
    assert!(
        q1.len() >= 100 && q2.len() >= 100,
        "acknowledged before the kill: {} / {}",
        q1.len(),
        q2.len()
    );

    let m = Midge::start(dir.path(), "always").await;
    let mut received = HashMap::new();
    for id in ["off-q1", "off-q2", "on-q2"] {
        let (mut s, present) = Client::connect(m.addr, id, false).await;
        assert!(present, "{id}: session survived");
        let got = if id == "on-q2" {
            drain_qos2(&mut s, &mut online_state).await
        } else {
            drain(&mut s).await
        };
        received.insert(id, got);
    }
    let check = |id: &str, acked: &BTreeSet<u64>, before: &[u64], exactly_once: bool| {
        let after = &received[id];
        let mut all: Vec<u64> = before.iter().chain(after.iter()).copied().collect();
        let got: BTreeSet<u64> = all.iter().copied().collect();
        let missing: Vec<&u64> = acked.difference(&got).collect();
        assert!(
            missing.is_empty(),
            "{id}: {} acknowledged messages lost, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        if exactly_once {
            all.sort_unstable();
            let n = all.len();
            all.dedup();
            assert_eq!(
                n,
                all.len(),
                "{id}: QoS 2 duplicates (received {} before the kill, {} after: {:?}..)",
                before.len(),
                after.len(),
                &after[..after.len().min(10)]
            );
        }
    };
    check("off-q1", &q1, &[], false);
    check("off-q2", &q2, &[], true);
    check("on-q2", &q2, &online_before, true);
    m.term().await;
}
