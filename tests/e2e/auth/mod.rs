//! Authentication and authorisation on the wire, with password files made by the real
//! `mosquitto_passwd` and by `midge passwd`, and ACL files in Mosquitto syntax. This
//! module holds the shared fixtures (the ACL, users, files, a broker) and raw-client
//! helpers; the tests are in the submodules.

mod acl;
mod passwd_tool;
mod passwords;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use midge::broker::{Access, Broker, FileAccess};
use midge::protocol::{Packet, ProtocolVersion};
use tokio::io::AsyncWriteExt;

use crate::bytes as b;
use crate::support::{within, Raw};

/// The ACL every test here uses. Rules before the first `user` line are for anonymous
/// clients; patterns apply to everyone.
const ACL: &str = "\
# anonymous clients
topic read public/#
topic write anon/out

user alice
topic readwrite a/#
topic write will/ok

user bob
topic read #
topic deny b/#
topic deny secret/#

user carol
topic readwrite #

pattern readwrite devices/%c/#
pattern readwrite users/%u/#
";

const USERS: [(&str, &str); 3] = [
    ("alice", "alice-pw"),
    ("bob", "bob-pw"),
    ("carol", "carol-pw"),
];

fn mosquitto_passwd(args: &[&str]) {
    let status = std::process::Command::new("mosquitto_passwd")
        .args(args)
        .stdin(Stdio::null())
        .status()
        .expect("mosquitto_passwd runs (Debian package mosquitto)");
    assert!(status.success(), "mosquitto_passwd {args:?} failed");
}

/// A temporary directory with `passwd` (made by `mosquitto_passwd`) and `acl`.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(users: &[(&str, &str)]) -> Files {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = Files { dir };
        let pw = files.passwd();
        let pw = pw.to_str().expect("utf-8 path");
        for (i, (user, pass)) in users.iter().enumerate() {
            if i == 0 {
                mosquitto_passwd(&["-b", "-c", pw, user, pass]);
            } else {
                mosquitto_passwd(&["-b", pw, user, pass]);
            }
        }
        std::fs::write(files.acl(), ACL).expect("write acl");
        files
    }
    fn passwd(&self) -> PathBuf {
        self.dir.path().join("passwd")
    }
    fn acl(&self) -> PathBuf {
        self.dir.path().join("acl")
    }
    fn access(&self, allow_anonymous: bool, acl: bool) -> Arc<FileAccess> {
        let acl = acl.then(|| self.acl());
        Arc::new(FileAccess::load(allow_anonymous, Some(self.passwd()), acl).expect("files load"))
    }
}

async fn start(access: Arc<dyn Access>) -> (Broker, SocketAddr) {
    let t = crate::support::start_broker_access(access, |_| {}).await;
    let addr = t.addr();
    (t.broker, addr)
}

/// A CONNECT (clean, keep-alive 0) with optional credentials and a will (QoS 0).
fn connect(
    level: u8,
    id: &str,
    user: Option<&str>,
    pass: Option<&str>,
    will: Option<&str>,
) -> Vec<u8> {
    let mut flags = 0x02u8;
    if user.is_some() {
        flags |= 0x80;
    }
    if pass.is_some() {
        flags |= 0x40;
    }
    if will.is_some() {
        flags |= 0x04;
    }
    let mut body = b::s("MQTT");
    body.extend([level, flags, 0, 0]);
    if level == 5 {
        body.push(0);
    }
    body.extend(b::s(id));
    if let Some(topic) = will {
        if level == 5 {
            body.push(0);
        }
        body.extend(b::s(topic));
        body.extend(b::s("gone"));
    }
    if let Some(u) = user {
        body.extend(b::s(u));
    }
    if let Some(p) = pass {
        body.extend(b::s(p));
    }
    b::packet(0x10, &body)
}

fn version(level: u8) -> ProtocolVersion {
    if level == 5 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V3_1_1
    }
}

/// Send `connect` and return the connection with the CONNACK's return / reason code, read
/// from the raw bytes (byte 3 in both versions).
async fn attempt(addr: SocketAddr, level: u8, connect: &[u8]) -> (Raw, u8) {
    let mut raw = Raw::open(addr).await;
    raw.version = version(level);
    raw.send(connect).await;
    let ack = raw.read_raw_packet().await;
    assert_eq!(ack[0], 0x20, "expected CONNACK, got {ack:?}");
    (raw, ack[3])
}

/// Log in with credentials; the CONNACK must be a success.
async fn login(addr: SocketAddr, level: u8, id: &str, user: &str, pass: &str) -> Raw {
    let (raw, code) = attempt(
        addr,
        level,
        &connect(level, id, Some(user), Some(pass), None),
    )
    .await;
    assert_eq!(code, 0, "{user} refused");
    raw
}

fn pw(user: &str) -> &'static str {
    USERS
        .iter()
        .find(|(u, _)| *u == user)
        .map(|(_, p)| *p)
        .expect("known user")
}

/// QoS 1 or 2 PUBLISH; returns the PUBACK/PUBREC reason code (decoded).
async fn publish_ack(raw: &mut Raw, topic: &str, qos: u8, pid: u16, retain: bool) -> u8 {
    let v5 = raw.version.is_v5();
    raw.send(&b::publish(
        topic,
        qos,
        pid,
        false,
        retain,
        b"m",
        v5.then_some(&[]),
    ))
    .await;
    match raw.recv().await {
        Packet::PubAck(a) if qos == 1 => {
            assert_eq!(a.pid.get(), pid);
            a.reason as u8
        }
        Packet::PubRec(a) if qos == 2 => {
            assert_eq!(a.pid.get(), pid);
            // A PUBREC with a failure reason ends the flow (5.0 section 4.3.3); else
            // finish it with PUBREL.
            let code = a.reason as u8;
            if code < 0x80 {
                raw.send(&b::pubrel(pid)).await;
                assert!(matches!(raw.recv().await, Packet::PubComp(_)));
            }
            code
        }
        other => panic!("expected the QoS {qos} acknowledgement, got {other:?}"),
    }
}

/// Topics of the PUBLISHes that arrive up to a sync point and a quiet period.
async fn topics(raw: &mut Raw) -> Vec<String> {
    raw.quiet()
        .await
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p.topic.to_string()),
            _ => None,
        })
        .collect()
}

/// `midge passwd` with the password on stdin (not a terminal); returns the exit code.
async fn midge_passwd(args: &[&str], stdin: &[u8]) -> Option<i32> {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_midge"))
        .arg("passwd")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("midge runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).await.expect("write stdin");
    drop(input);
    within(20.0, child.wait()).await.expect("wait").code()
}
