//! Authentication and authorisation on the wire, with password files made by the real
//! `mosquitto_passwd` and by `midge passwd`, and ACL files in Mosquitto syntax: CONNACK
//! codes per version, ACL on publish / subscribe / delivery / retained / wills,
//! `%c`/`%u` patterns, anonymous rules, and reloading without dropping connections.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use midge::broker::{Access, Broker, FileAccess};
use midge::config::{Config, ListenerConfig};
use midge::protocol::{Packet, ProtocolVersion};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

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
    let mut config = Config {
        listeners: vec![ListenerConfig::tcp(
            "127.0.0.1:0".parse().expect("literal address"),
        )],
        ..Config::default()
    };
    config.storage.in_memory = true;
    config.sys.interval_secs = 0;
    let broker = within(5.0, Broker::start(&config, access))
        .await
        .expect("broker starts");
    let addr = broker.local_addrs()[0];
    (broker, addr)
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

#[tokio::test]
async fn passwords_from_mosquitto_passwd() {
    let files = Files::new(&USERS[..2]);
    let (broker, addr) = start(files.access(false, false)).await;
    let failures = || broker.metrics().auth_failures.load(Relaxed);
    for level in [4, 5] {
        for (user, pass) in &USERS[..2] {
            let (mut raw, code) = attempt(
                addr,
                level,
                &connect(level, "ok", Some(user), Some(pass), None),
            )
            .await;
            assert_eq!(code, 0, "{user} v{level}");
            assert!(raw.sync().await.is_empty());
        }
    }
    assert_eq!(failures(), 0);
    // Bad credentials: 3.1.1 return code 4, 5.0 reason 0x86; then the broker closes.
    let bad: [(Option<&str>, Option<&str>); 3] = [
        (Some("alice"), Some("wrong")),
        (Some("mallory"), Some("alice-pw")),
        (Some("alice"), None),
    ];
    for level in [4, 5] {
        let want = if level == 5 { 0x86 } else { 4 };
        for (user, pass) in bad {
            let (mut raw, code) =
                attempt(addr, level, &connect(level, "bad", user, pass, None)).await;
            assert_eq!(code, want, "{user:?}/{pass:?} v{level}");
            raw.expect_closed().await;
        }
    }
    assert_eq!(failures(), 6);
    // Anonymous with allow_anonymous = false: 3.1.1 code 5, 5.0 0x87.
    for (level, want) in [(4, 5), (5, 0x87)] {
        let (mut raw, code) = attempt(addr, level, &connect(level, "anon", None, None, None)).await;
        assert_eq!(code, want, "anonymous v{level}");
        raw.expect_closed().await;
    }
    assert_eq!(failures(), 8);
    broker.shutdown(std::time::Duration::from_secs(2)).await;
}

#[tokio::test]
async fn anonymous_allowed_beside_a_password_file() {
    let files = Files::new(&USERS[..1]);
    let (broker, addr) = start(files.access(true, false)).await;
    for level in [4, 5] {
        let (mut raw, code) = attempt(addr, level, &connect(level, "anon", None, None, None)).await;
        assert_eq!(code, 0);
        assert!(raw.sync().await.is_empty());
        // A username still has to match its password.
        let (_, code) = attempt(
            addr,
            level,
            &connect(level, "x", Some("alice"), Some("no"), None),
        )
        .await;
        assert_eq!(code, if level == 5 { 0x86 } else { 4 });
    }
    broker.shutdown(std::time::Duration::from_secs(2)).await;
}

#[tokio::test]
async fn publish_denied_by_the_acl() {
    let files = Files::new(&USERS);
    let (broker, addr) = start(files.access(false, true)).await;
    let mut carol = login(addr, 4, "carol", "carol", pw("carol")).await;
    assert_eq!(carol.subscribe(1, "#", 0).await, vec![0]);
    // 3.1.1: acknowledged as usual (no failure code exists) but not delivered.
    let mut alice = login(addr, 4, "alice4", "alice", pw("alice")).await;
    assert_eq!(publish_ack(&mut alice, "b/x", 1, 1, false).await, 0);
    assert_eq!(publish_ack(&mut alice, "a/x", 1, 2, false).await, 0);
    alice.publish0("c/x", b"m").await;
    // 5.0: PUBACK / PUBREC 0x87.
    let mut alice5 = login(addr, 5, "alice5", "alice", pw("alice")).await;
    assert_eq!(publish_ack(&mut alice5, "b/y", 1, 1, false).await, 0x87);
    assert_eq!(publish_ack(&mut alice5, "b/z", 2, 2, false).await, 0x87);
    assert_eq!(publish_ack(&mut alice5, "a/y", 2, 3, false).await, 0);
    // $SYS is read-only for clients whatever the ACL says.
    let mut carol5 = login(addr, 5, "carol5", "carol", pw("carol")).await;
    assert_eq!(
        publish_ack(&mut carol5, "$SYS/fake", 1, 1, false).await,
        0x87
    );
    assert_eq!(topics(&mut carol).await, vec!["a/x", "a/y"]);
    // The refused QoS 2 id is free again: the same id is accepted once allowed.
    assert_eq!(publish_ack(&mut alice5, "a/z", 2, 2, false).await, 0);
    assert_eq!(topics(&mut carol).await, vec!["a/z"]);
    broker.shutdown(std::time::Duration::from_secs(2)).await;
}

#[tokio::test]
async fn subscribe_denied_by_the_acl() {
    let files = Files::new(&USERS);
    let (broker, addr) = start(files.access(false, true)).await;
    let mut bob = login(addr, 4, "bob4", "bob", pw("bob")).await;
    assert_eq!(bob.subscribe(1, "secret/#", 1).await, vec![0x80]);
    assert_eq!(bob.subscribe(2, "b/x", 0).await, vec![0x80]);
    assert_eq!(bob.subscribe(3, "#", 1).await, vec![1]);
    let mut bob5 = login(addr, 5, "bob5", "bob", pw("bob")).await;
    assert_eq!(bob5.subscribe(1, "secret/+", 0).await, vec![0x87]);
    // Shared subscriptions are checked on their filter, not the group.
    assert_eq!(bob5.subscribe(2, "$share/g/b/#", 0).await, vec![0x87]);
    assert_eq!(bob5.subscribe(3, "$share/g/c/#", 0).await, vec![0]);
    // alice may write a/# but not read anything outside it.
    let mut alice = login(addr, 5, "alice", "alice", pw("alice")).await;
    assert_eq!(alice.subscribe(1, "#", 0).await, vec![0x87]);
    assert_eq!(alice.subscribe(2, "a/+", 0).await, vec![0]);
    broker.shutdown(std::time::Duration::from_secs(2)).await;
}

#[tokio::test]
async fn delivery_is_filtered_by_read_rights() {
    let files = Files::new(&USERS);
    let (broker, addr) = start(files.access(false, true)).await;
    // bob may subscribe to `#` but not read b/# or secret/#.
    let mut bob = login(addr, 4, "bob", "bob", pw("bob")).await;
    assert_eq!(bob.subscribe(1, "#", 0).await, vec![0]);
    let mut carol = login(addr, 5, "carol", "carol", pw("carol")).await;
    // `b/#` also matches `b` itself; `bb` is another topic.
    for t in ["b/x", "a/x", "secret/s", "c/x", "b", "bb"] {
        assert_eq!(publish_ack(&mut carol, t, 1, 1, false).await, 0);
    }
    assert_eq!(topics(&mut bob).await, vec!["a/x", "c/x", "bb"]);
    broker.shutdown(std::time::Duration::from_secs(2)).await;
}

#[tokio::test]
async fn retained_messages_are_filtered_by_read_rights() {
    let files = Files::new(&USERS);
    let (broker, addr) = start(files.access(false, true)).await;
    let mut carol = login(addr, 5, "carol", "carol", pw("carol")).await;
    for (i, t) in ["secret/r", "a/r", "b/r"].iter().enumerate() {
        assert_eq!(publish_ack(&mut carol, t, 1, i as u16 + 1, true).await, 0);
    }
    let mut bob = login(addr, 4, "bob", "bob", pw("bob")).await;
    assert_eq!(bob.subscribe(1, "#", 0).await, vec![0]);
    assert_eq!(topics(&mut bob).await, vec!["a/r"]);
    broker.shutdown(std::time::Duration::from_secs(2)).await;
}

#[tokio::test]
async fn will_on_a_topic_the_client_cannot_write_is_refused() {
    let files = Files::new(&USERS);
    let (broker, addr) = start(files.access(false, true)).await;
    for (level, want) in [(4, 5), (5, 0x87)] {
        let c = connect(level, "w", Some("alice"), Some(pw("alice")), Some("b/will"));
        let (mut raw, code) = attempt(addr, level, &c).await;
        assert_eq!(code, want, "v{level}");
        raw.expect_closed().await;
    }
    // An allowed will is accepted, and published when the connection drops.
    let mut bob = login(addr, 4, "bob", "bob", pw("bob")).await;
    assert_eq!(bob.subscribe(1, "will/#", 0).await, vec![0]);
    let c = connect(5, "w", Some("alice"), Some(pw("alice")), Some("will/ok"));
    let (mut alice, code) = attempt(addr, 5, &c).await;
    assert_eq!(code, 0);
    alice.send(&b::disconnect(Some(0x04))).await;
    let p = bob.recv_publish().await;
    assert_eq!(&*p.topic, "will/ok");
    broker.shutdown(std::time::Duration::from_secs(2)).await;
}

#[tokio::test]
async fn patterns_and_anonymous_rules() {
    let files = Files::new(&USERS);
    let (broker, addr) = start(files.access(true, true)).await;
    // %c: the client id; %u: the username.
    let mut alice = login(addr, 5, "dev1", "alice", pw("alice")).await;
    assert_eq!(
        publish_ack(&mut alice, "devices/dev1/t", 1, 1, false).await,
        0
    );
    assert_eq!(
        publish_ack(&mut alice, "devices/dev2/t", 1, 2, false).await,
        0x87
    );
    assert_eq!(
        publish_ack(&mut alice, "users/alice/t", 1, 3, false).await,
        0
    );
    assert_eq!(
        publish_ack(&mut alice, "users/bob/t", 1, 4, false).await,
        0x87
    );
    assert_eq!(alice.subscribe(1, "devices/dev1/#", 0).await, vec![0]);
    assert_eq!(alice.subscribe(2, "devices/+/t", 0).await, vec![0x87]);
    // Anonymous clients get the rules before any `user` line, and %c patterns, but no
    // %u patterns.
    let (mut anon, code) = attempt(addr, 5, &connect(5, "dev9", None, None, None)).await;
    assert_eq!(code, 0);
    assert_eq!(anon.subscribe(1, "public/#", 0).await, vec![0]);
    assert_eq!(anon.subscribe(2, "a/#", 0).await, vec![0x87]);
    assert_eq!(publish_ack(&mut anon, "anon/out", 1, 1, false).await, 0);
    assert_eq!(publish_ack(&mut anon, "public/x", 1, 2, false).await, 0x87);
    assert_eq!(
        publish_ack(&mut anon, "devices/dev9/x", 1, 3, false).await,
        0
    );
    assert_eq!(publish_ack(&mut anon, "users//x", 1, 4, false).await, 0x87);
    // A client id with a wildcard gets nothing from the patterns.
    let (mut wild, code) = attempt(addr, 5, &connect(5, "+", None, None, None)).await;
    assert_eq!(code, 0);
    assert_eq!(
        publish_ack(&mut wild, "devices/dev1/x", 1, 1, false).await,
        0x87
    );
    // Users see what their rules allow: carol reads devices/dev1/t published by anyone.
    let mut carol = login(addr, 4, "carol", "carol", pw("carol")).await;
    assert_eq!(carol.subscribe(1, "devices/#", 0).await, vec![0]);
    assert_eq!(
        publish_ack(&mut anon, "devices/dev9/y", 1, 5, false).await,
        0
    );
    assert_eq!(topics(&mut carol).await, vec!["devices/dev9/y"]);
    broker.shutdown(std::time::Duration::from_secs(2)).await;
}

#[tokio::test]
async fn reload_adds_and_removes_users_without_dropping_connections() {
    let files = Files::new(&USERS[..2]);
    let access = files.access(false, true);
    let (broker, addr) = start(access.clone()).await;
    let mut bob = login(addr, 4, "bob", "bob", pw("bob")).await;
    assert_eq!(bob.subscribe(1, "a/#", 0).await, vec![0]);
    let mut alice = login(addr, 5, "alice", "alice", pw("alice")).await;

    let pwf = files.passwd();
    let pwf = pwf.to_str().expect("utf-8 path");
    mosquitto_passwd(&["-D", pwf, "bob"]);
    mosquitto_passwd(&["-b", pwf, "carol", pw("carol")]);
    access.reload().expect("reload");

    let mut carol = login(addr, 5, "carol", "carol", pw("carol")).await;
    assert!(carol.sync().await.is_empty());
    let (mut raw, code) = attempt(
        addr,
        5,
        &connect(5, "bob2", Some("bob"), Some(pw("bob")), None),
    )
    .await;
    assert_eq!(code, 0x86);
    raw.expect_closed().await;
    // The existing connections stay up and keep working.
    assert_eq!(publish_ack(&mut alice, "a/after", 1, 1, false).await, 0);
    assert_eq!(topics(&mut bob).await, vec!["a/after"]);
    // A broken file keeps the previous one in force.
    std::fs::write(files.acl(), "topic bogus a/#\n").expect("write acl");
    assert!(access.reload().is_err());
    assert_eq!(publish_ack(&mut alice, "a/again", 1, 2, false).await, 0);
    assert_eq!(topics(&mut bob).await, vec!["a/again"]);
    broker.shutdown(std::time::Duration::from_secs(2)).await;
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

#[tokio::test]
async fn midge_passwd_makes_files_midge_and_mosquitto_accept() {
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
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
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

#[tokio::test]
async fn sys_topics_are_read_only_without_an_acl_too() {
    // No password file, no ACL: still no client may write `$SYS` (or spoof the broker's
    // statistics for every dashboard), as in Mosquitto.
    let b = crate::support::start_broker().await;
    let mut watcher = crate::support::raw_sub(b.addr(), "watcher", "$SYS/#", 0).await;
    let (mut v5, _) = Raw::v5(b.addr(), "spoof5", true, &[0]).await;
    v5.version = ProtocolVersion::V5;
    assert_eq!(
        publish_ack(&mut v5, "$SYS/broker/clients/connected", 1, 1, true).await,
        0x87
    );
    let (mut v4, _) = Raw::v4(b.addr(), "spoof4", true).await;
    assert_eq!(
        publish_ack(&mut v4, "$SYS/broker/version", 1, 1, true).await,
        0
    );
    v4.publish0("$SYS/x", b"m").await;
    assert!(v4.sync().await.is_empty());
    // Nor as a will.
    let (_, code) = attempt(b.addr(), 5, &connect(5, "w", None, None, Some("$SYS/w"))).await;
    assert_eq!(code, 0x87);
    assert!(topics(&mut watcher).await.is_empty());
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_passwords_does_not_stall_connected_clients() {
    const FLOOD: u64 = 4;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("passwd");
    let f = file.to_str().expect("utf-8 path");
    // midge's own hashes: PBKDF2-SHA512, 20,000 iterations, the expensive kind.
    assert_eq!(
        midge_passwd(&["-b", f, "erin", "erin-pw"], b"").await,
        Some(0)
    );
    let access = Arc::new(FileAccess::load(false, Some(file.clone()), None).expect("load"));
    let (broker, addr) = start(access).await;
    let mut sub = login(addr, 4, "sub", "erin", "erin-pw").await;
    assert_eq!(sub.subscribe(1, "t", 0).await, vec![0]);
    let mut publ = login(addr, 4, "pub", "erin", "erin-pw").await;
    let mut set = tokio::task::JoinSet::new();
    // A debug build takes about 0.5 s of CPU per hash: 4 at once keep both cores busy.
    for i in 0..FLOOD {
        set.spawn(async move {
            let c = connect(4, &format!("bad{i}"), Some("erin"), Some("guess"), None);
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.write_all(&c).await.expect("write");
            let mut ack = [0u8; 4];
            tokio::io::AsyncReadExt::read_exact(&mut s, &mut ack)
                .await
                .expect("CONNACK");
            ack[3]
        });
    }
    // While the broker hashes wrong passwords, the connected pair is served promptly:
    // hashing runs off the async workers.
    for i in 0..20u8 {
        within(1.0, publ.publish1("t", u16::from(i) + 1, &[i])).await;
        let p = within(1.0, sub.recv_publish()).await;
        assert_eq!(&p.payload[..], &[i]);
    }
    within(60.0, async {
        while let Some(code) = set.join_next().await {
            assert_eq!(code.expect("task"), 4);
        }
    })
    .await;
    assert_eq!(broker.metrics().auth_failures.load(Relaxed), FLOOD);
    broker.shutdown(std::time::Duration::from_secs(2)).await;
}
