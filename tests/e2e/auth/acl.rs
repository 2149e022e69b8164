//! ACL files in Mosquitto syntax on the wire: publish, subscribe, delivery, retained
//! messages and wills checked against the rules, `%c`/`%u` patterns, anonymous rules,
//! and `$SYS` read-only for clients with or without an ACL.

use midge::protocol::ProtocolVersion;

use super::{attempt, connect, login, publish_ack, pw, start, topics, Files, USERS};
use crate::bytes as b;
use crate::support::{have, Raw, MOSQUITTO_PASSWD};

#[tokio::test]
async fn publish_denied_by_the_acl() {
    if !have(&[MOSQUITTO_PASSWD]) {
        return;
    }
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
    if !have(&[MOSQUITTO_PASSWD]) {
        return;
    }
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
    if !have(&[MOSQUITTO_PASSWD]) {
        return;
    }
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
    if !have(&[MOSQUITTO_PASSWD]) {
        return;
    }
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
    if !have(&[MOSQUITTO_PASSWD]) {
        return;
    }
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
    if !have(&[MOSQUITTO_PASSWD]) {
        return;
    }
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
