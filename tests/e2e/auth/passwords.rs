//! Password checks: files from `mosquitto_passwd`, CONNACK codes per version, anonymous
//! clients beside a password file, reloading users without dropping connections, and a
//! flood of bad passwords not stalling connected clients.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use midge::broker::FileAccess;
use tokio::io::AsyncWriteExt;

use super::{
    attempt, connect, login, midge_passwd, mosquitto_passwd, publish_ack, pw, start, topics, Files,
    USERS,
};
use crate::support::{have, within, MOSQUITTO_PASSWD};

#[tokio::test]
async fn passwords_from_mosquitto_passwd() {
    if !have(&[MOSQUITTO_PASSWD]) {
        return;
    }
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
    if !have(&[MOSQUITTO_PASSWD]) {
        return;
    }
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
async fn reload_adds_and_removes_users_without_dropping_connections() {
    if !have(&[MOSQUITTO_PASSWD]) {
        return;
    }
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
