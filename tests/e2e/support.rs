//! Test support: an in-process broker on 127.0.0.1:0, bounded waits, and a raw TCP
//! client that speaks hand-written bytes (see `bytes.rs`) and decodes what comes back.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use midge::broker::{Access, Broker, Open};
use midge::config::{Config, ListenerConfig};
use midge::protocol::{decode, ConnAck, Packet, ProtocolVersion, Publish};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::bytes as b;

/// How long any single expected event may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long we listen for something that must NOT arrive, after a sync point.
pub const QUIET: Duration = Duration::from_millis(300);
/// Bytes a `Raw` client asks the socket for at a time (at least a quarter of it).
const READ_CHUNK: usize = 64 * 1024;

/// Await `fut` for at most `secs` seconds; a timeout fails the test.
pub async fn within<F: Future>(secs: f64, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs_f64(secs), fut)
        .await
        .expect("timed out waiting for an event")
}

/// A broker running in the test's runtime.
pub struct TestBroker {
    pub broker: Broker,
    addr: SocketAddr,
}

impl TestBroker {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub async fn shutdown(self) {
        self.broker.shutdown(Duration::from_secs(2)).await;
    }
}

pub async fn start_broker() -> TestBroker {
    start_broker_with(|_| {}).await
}

/// Start a broker with the default config (one TCP listener on 127.0.0.1:0, in-memory,
/// `$SYS` off) after `tweak` adjusted it.
pub async fn start_broker_with(tweak: impl FnOnce(&mut Config)) -> TestBroker {
    let access = Arc::new(Open {
        allow_anonymous: true,
    });
    start_broker_access(access, tweak).await
}

/// `start_broker_with`, deciding who may connect and what they may do with `access`.
/// `addr()` is the first listener's address.
pub async fn start_broker_access(
    access: Arc<dyn Access>,
    tweak: impl FnOnce(&mut Config),
) -> TestBroker {
    let mut config = Config {
        listeners: vec![ListenerConfig::tcp(
            "127.0.0.1:0".parse().expect("literal address"),
        )],
        ..Config::default()
    };
    config.storage.in_memory = true;
    config.sys.interval_secs = 0;
    tweak(&mut config);
    let broker = within(10.0, Broker::start(&config, access))
        .await
        .expect("broker starts");
    let addr = broker.local_addrs()[0];
    TestBroker { broker, addr }
}

/// A raw MQTT client: sends bytes we wrote by hand, decodes the broker's packets with
/// `midge::protocol::decode`.
pub struct Raw {
    stream: TcpStream,
    buf: BytesMut,
    pub version: ProtocolVersion,
}

/// What a read produced.
#[derive(Debug)]
pub enum Read {
    Packet(Packet),
    /// EOF or connection reset: the broker closed.
    Closed,
}

impl Raw {
    pub async fn open(addr: SocketAddr) -> Raw {
        let stream = within(5.0, TcpStream::connect(addr))
            .await
            .expect("tcp connect");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            stream,
            buf: BytesMut::new(),
            version: ProtocolVersion::V3_1_1,
        }
    }

    /// Open and complete a CONNECT with the given hand-written bytes; returns the CONNACK.
    pub async fn connect_with(
        addr: SocketAddr,
        version: ProtocolVersion,
        connect: &[u8],
    ) -> (Raw, ConnAck) {
        let mut raw = Raw::open(addr).await;
        raw.version = version;
        raw.send(connect).await;
        match raw.recv().await {
            Packet::ConnAck(c) => (raw, c),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// 3.1.1 CONNECT, keep-alive 0; asserts success.
    pub async fn v4(addr: SocketAddr, id: &str, clean: bool) -> (Raw, ConnAck) {
        let (raw, ack) = Raw::connect_with(
            addr,
            ProtocolVersion::V3_1_1,
            &b::connect(4, id, clean, 0, None, None),
        )
        .await;
        assert!(!ack.reason.is_error(), "connect refused: {ack:?}");
        (raw, ack)
    }

    /// 5.0 CONNECT with `props` (encoded property bytes), keep-alive 0; asserts success.
    pub async fn v5(addr: SocketAddr, id: &str, clean: bool, props: &[u8]) -> (Raw, ConnAck) {
        let (raw, ack) = Raw::connect_with(
            addr,
            ProtocolVersion::V5,
            &b::connect(5, id, clean, 0, Some(props), None),
        )
        .await;
        assert!(!ack.reason.is_error(), "connect refused: {ack:?}");
        (raw, ack)
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        // A write may fail when the broker already closed; the following read says so.
        let _ = self.stream.write_all(bytes).await;
    }

    /// The next packet's raw bytes (to check encodings our decoder would normalise).
    pub async fn read_raw_packet(&mut self) -> Vec<u8> {
        within(WAIT.as_secs_f64(), async {
            loop {
                if self.buf.len() >= 2 {
                    let len = 2 + usize::from(self.buf[1] & 0x7F);
                    if self.buf[1] < 0x80 && self.buf.len() >= len {
                        return self.buf.split_to(len).to_vec();
                    }
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => panic!("closed while waiting for a packet"),
                    Ok(_) => {}
                }
            }
        })
        .await
    }

    /// Half-close: the broker sees EOF.
    pub async fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// The next packet or `Closed`, within `dur`; `None` when nothing came in time.
    pub async fn read_within(&mut self, dur: Duration) -> Option<Read> {
        tokio::time::timeout(dur, self.read()).await.ok()
    }

    async fn read(&mut self) -> Read {
        loop {
            match decode(&mut self.buf, self.version, u32::MAX) {
                Ok(Some(p)) => return Read::Packet(p),
                Ok(None) => {}
                Err(e) => panic!("broker sent a malformed packet: {e}"),
            }
            // Room for many packets per read: after each decoded packet is split off, the
            // buffer has about one packet of room left, and reading one packet per
            // syscall made this client slower than the broker it tests.
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return Read::Closed,
                Ok(_) => {}
            }
        }
    }

    /// The next packet; fails the test on timeout or close.
    pub async fn recv(&mut self) -> Packet {
        match self.read_within(WAIT).await {
            Some(Read::Packet(p)) => p,
            Some(Read::Closed) => panic!("connection closed while waiting for a packet"),
            None => panic!("no packet within {WAIT:?}"),
        }
    }

    /// The next PUBLISH (other packets fail the test).
    pub async fn recv_publish(&mut self) -> Publish {
        match self.recv().await {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Wait for the broker to close the connection; returns the packets it sent first.
    pub async fn expect_closed(&mut self) -> Vec<Packet> {
        let mut seen = Vec::new();
        loop {
            match self.read_within(WAIT).await {
                Some(Read::Packet(p)) => seen.push(p),
                Some(Read::Closed) => return seen,
                None => panic!("connection still open after {WAIT:?}; got {seen:?}"),
            }
        }
    }

    /// Raw bytes until the broker closes (for answers our decoder must not interpret).
    pub async fn read_all_until_close(&mut self) -> Vec<u8> {
        let mut out = self.buf.split().to_vec();
        let mut chunk = [0u8; 1024];
        within(WAIT.as_secs_f64(), async {
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await;
        out
    }

    /// PINGREQ → PINGRESP: everything the broker sent before the PINGRESP is returned, so
    /// later silence means "nothing more was queued".
    pub async fn sync(&mut self) -> Vec<Packet> {
        self.send(&b::pingreq()).await;
        let mut seen = Vec::new();
        loop {
            match self.recv().await {
                Packet::PingResp => return seen,
                p => seen.push(p),
            }
        }
    }

    /// After a sync point, listen for `QUIET`: returns anything that arrived.
    pub async fn quiet(&mut self) -> Vec<Packet> {
        let mut seen = self.sync().await;
        while let Some(r) = self.read_within(QUIET).await {
            match r {
                Read::Packet(p) => seen.push(p),
                Read::Closed => break,
            }
        }
        seen
    }

    /// SUBSCRIBE one filter (options byte: QoS and v5 flags) and return the SUBACK codes.
    pub async fn subscribe(&mut self, pid: u16, filter: &str, options: u8) -> Vec<u8> {
        self.subscribe_props(pid, filter, options, &[]).await
    }

    pub async fn subscribe_props(
        &mut self,
        pid: u16,
        filter: &str,
        options: u8,
        props: &[u8],
    ) -> Vec<u8> {
        let v5 = self.version.is_v5();
        self.send(&b::subscribe(
            pid,
            &[(filter, options)],
            v5.then_some(props),
        ))
        .await;
        match self.recv().await {
            Packet::SubAck(s) => {
                assert_eq!(s.pid.get(), pid);
                s.reasons.iter().map(|r| *r as u8).collect()
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// QoS 0 PUBLISH.
    pub async fn publish0(&mut self, topic: &str, payload: &[u8]) {
        let v5 = self.version.is_v5();
        self.send(&b::publish(
            topic,
            0,
            0,
            false,
            false,
            payload,
            v5.then_some(&[]),
        ))
        .await;
    }

    /// QoS 1 PUBLISH, waiting for its PUBACK.
    pub async fn publish1(&mut self, topic: &str, pid: u16, payload: &[u8]) {
        let v5 = self.version.is_v5();
        self.send(&b::publish(
            topic,
            1,
            pid,
            false,
            false,
            payload,
            v5.then_some(&[]),
        ))
        .await;
        match self.recv().await {
            Packet::PubAck(a) => assert_eq!(a.pid.get(), pid),
            other => panic!("expected PUBACK, got {other:?}"),
        }
    }
}

/// A raw connection with the given id subscribed to `filter` at `qos` (3.1.1, clean).
pub async fn raw_sub(addr: SocketAddr, id: &str, filter: &str, qos: u8) -> Raw {
    let (mut raw, _) = Raw::v4(addr, id, true).await;
    let codes = raw.subscribe(1, filter, qos).await;
    assert_eq!(codes, vec![qos]);
    raw
}

/// Subscribe to a `$SYS` topic and read its (retained, then periodic) values until one
/// satisfies `pred`; returns it. Needs `sys.interval_secs` > 0.
pub async fn sys_until(addr: SocketAddr, topic: &str, pred: impl Fn(&str) -> bool) -> String {
    let mut raw = raw_sub(addr, &format!("sys-{topic}"), topic, 0).await;
    within(5.0, async {
        loop {
            let p = raw.recv_publish().await;
            let v = String::from_utf8_lossy(&p.payload).into_owned();
            if pred(&v) {
                return v;
            }
        }
    })
    .await
}

/// A program some tests run, and the Debian package that installs it.
#[derive(Clone, Copy, Debug)]
pub struct Tool {
    pub program: &'static str,
    pub package: &'static str,
}

pub const TMUX: Tool = Tool {
    program: "tmux",
    package: "tmux",
};
pub const MOSQUITTO: Tool = Tool {
    program: "mosquitto",
    package: "mosquitto",
};
pub const MOSQUITTO_PASSWD: Tool = Tool {
    program: "mosquitto_passwd",
    package: "mosquitto",
};
pub const MOSQUITTO_PUB: Tool = Tool {
    program: "mosquitto_pub",
    package: "mosquitto-clients",
};
pub const MOSQUITTO_SUB: Tool = Tool {
    program: "mosquitto_sub",
    package: "mosquitto-clients",
};
pub const PRLIMIT: Tool = Tool {
    program: "prlimit",
    package: "util-linux",
};
pub const OPENSSL: Tool = Tool {
    program: "openssl",
    package: "openssl",
};
pub const PROMTOOL: Tool = Tool {
    program: "promtool",
    package: "prometheus",
};
pub const PODMAN: Tool = Tool {
    program: "podman",
    package: "podman",
};
pub const RUNC: Tool = Tool {
    program: "runc",
    package: "runc",
};
pub const SYSTEMD_ANALYZE: Tool = Tool {
    program: "systemd-analyze",
    package: "systemd",
};
pub const STDBUF: Tool = Tool {
    program: "stdbuf",
    package: "coreutils",
};

/// Whether every tool a test needs is on `PATH`. With `CI=true` a missing one fails the
/// test, naming its package; elsewhere the test prints why and skips (returns early on
/// `false`). `scripts/test-deps` installs them all.
pub fn have(tools: &[Tool]) -> bool {
    let missing: Vec<String> = tools
        .iter()
        .filter(|t| !on_path(t.program))
        .map(|t| format!("{} (Debian package {})", t.program, t.package))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "not on PATH: {}; scripts/test-deps installs what the tests need",
        missing.join(", ")
    );
    assert!(!in_ci(), "{why}");
    eprintln!("SKIPPED: {why}");
    false
}

/// The PyPI `mqtt-sn-12` client's `mqtt_sn_pub` and `mqtt_sn_sub`, in the virtualenv
/// `scripts/test-deps` makes at `target/mqttsn-venv` (Debian `python3-venv`, then
/// `pip install mqtt-sn-12`). Like [`have`]: missing fails under `CI=true`, else skips.
pub fn have_mqtt_sn_client() -> Option<std::path::PathBuf> {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mqttsn-venv/bin");
    if bin.join("mqtt_sn_pub").is_file() && bin.join("mqtt_sn_sub").is_file() {
        return Some(bin);
    }
    let why = format!(
        "{} has no mqtt_sn_pub/mqtt_sn_sub (PyPI mqtt-sn-12 in a venv; Debian package \
         python3-venv); scripts/test-deps installs them",
        bin.display()
    );
    assert!(!in_ci(), "{why}");
    eprintln!("SKIPPED: {why}");
    None
}

/// `CI=true` (or 1), as CI services and `.ci/run` set it.
fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true" | "1"))
}

fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// The real `midge` binary, headless and in memory on an ephemeral port, with `env` set
/// (its runtime is `main.rs`'s, not the test's); killed when dropped. Returns it and the
/// bound address.
pub async fn spawn_midge(env: &[(&str, &str)]) -> (tokio::process::Child, SocketAddr) {
    let (child, addrs) = spawn_midge_with(&[], env, &["listening"]).await;
    (child, addrs[0])
}

/// As [`spawn_midge`] with more `args`; returns, for each of `logged`, the `address=` of
/// the first log line that contains it (the broker logs "listening address=…", the
/// operations endpoint "operations endpoint … address=…").
pub async fn spawn_midge_with(
    args: &[&str],
    env: &[(&str, &str)],
    logged: &[&str],
) -> (tokio::process::Child, Vec<SocketAddr>) {
    let mut all = vec!["--in-memory", "-l", "127.0.0.1:0"];
    all.extend_from_slice(args);
    spawn_midge_args(&all, env, logged).await
}

/// The real `midge --headless` with exactly `args` (no default listener or storage);
/// returns it and, for each of `logged`, the `address=` of the first log line containing
/// it that no earlier marker took (so `["listening"; 2]` gets two listeners in order).
pub async fn spawn_midge_args(
    args: &[&str],
    env: &[(&str, &str)],
    logged: &[&str],
) -> (tokio::process::Child, Vec<SocketAddr>) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_midge"))
        .arg("--headless")
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .env("MIDGE_LOG", "warn,midge::transport=info,midge::http=info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("midge runs");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let mut found: Vec<Option<SocketAddr>> = vec![None; logged.len()];
    within(10.0, async {
        while found.iter().any(Option::is_none) {
            let line = lines.next_line().await.expect("read stderr");
            let line = line.expect("midge exited before serving");
            // In case the log is coloured anyway: drop the escape sequences' ends.
            let line = line.replace("\u{1b}[0m", "").replace("\u{1b}[2m", "");
            let Some(rest) = line.split("address=").nth(1) else {
                continue;
            };
            let addr = rest.split_whitespace().next().unwrap_or("");
            for (want, slot) in logged.iter().zip(found.iter_mut()) {
                if slot.is_none() && line.contains(want) {
                    *slot = Some(addr.parse().expect("a socket address"));
                    break;
                }
            }
        }
    })
    .await;
    // Drain the log so the broker never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, found.into_iter().flatten().collect())
}

/// A free TCP port on 127.0.0.1 (bound, read, released: a config file needs a number).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Poll until something accepts TCP on `port` (a broker process is starting).
pub async fn until_listening(port: u16) {
    let deadline = std::time::Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on {port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
