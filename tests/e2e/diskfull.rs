//! A real write failure with the real binary: the broker runs under `prlimit --fsize`, so
//! the store's file writes fail with EFBIG part-way through, as on a full disk. QoS ≥ 1
//! publishes that need the store are refused (v5 PUBACK 0x97, v3 connection closed),
//! the rest keeps being served, and after a restart without the limit nothing that was
//! acknowledged is lost.

use std::collections::BTreeSet;

use midge::protocol::{Packet, QosPid, ReasonCode};

use crate::bytes as b;
use crate::durability::Midge;
use crate::support::{have, sys_until, within, Raw, PRLIMIT};

/// The file size limit. The store preallocates its active segment 8 MiB beyond the
/// first record (`Options::prealloc_bytes`, see `Writer::write_active`), which fits;
/// the next extension, once ~8 MiB of records are written, passes 10 MiB and fails.
/// Compaction (at 64 MiB) never starts.
const FSIZE_LIMIT: u64 = 10 << 20;
/// Large payloads reach the limit in a few dozen publishes.
const PAYLOAD: usize = 256 << 10;
/// More than `FSIZE_LIMIT` worth of payloads: the refusal must come before this.
const MAX_PUBLISHES: u64 = 100;

const CONFIG: &str = "[storage]\nsync = \"always\"\n[sys]\ninterval_secs = 1\n";
const PERSISTENT_TOPIC: &str = "df/persist";

fn payload(seq: u64) -> Vec<u8> {
    let mut p = seq.to_be_bytes().to_vec();
    p.resize(PAYLOAD, 0xA5);
    p
}

fn seq_of(payload: &[u8]) -> u64 {
    let head = <[u8; 8]>::try_from(&payload[..8.min(payload.len())]).expect("sequence number");
    u64::from_be_bytes(head)
}

/// QoS 1 PUBLISH (v5) and its PUBACK's reason code.
async fn publish1_v5(c: &mut Raw, topic: &str, pid: u16, payload: &[u8]) -> ReasonCode {
    c.send(&b::publish(topic, 1, pid, false, false, payload, Some(&[])))
        .await;
    match c.recv().await {
        Packet::PubAck(a) => {
            assert_eq!(a.pid.get(), pid);
            a.reason
        }
        other => panic!("expected PUBACK, got {other:?}"),
    }
}

/// Session expiry one hour: a persistent v5 session.
fn persistent() -> Vec<u8> {
    b::props(&[b::p_u32(0x11, 3600)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_refuses_persistent_qos1_and_keeps_what_was_acknowledged() {
    if !have(&[PRLIMIT]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut m = Midge::start_with(dir.path(), CONFIG, Some(FSIZE_LIMIT)).await;

    // A persistent subscriber, then offline: its messages can only live in the store.
    let (mut sub, _) = Raw::v5(m.addr, "df-sub", false, &persistent()).await;
    assert_eq!(sub.subscribe(1, PERSISTENT_TOPIC, 1).await, vec![1]);
    sub.send(&b::disconnect(Some(0))).await;
    sub.expect_closed().await;
    // An online clean subscriber (session expiry 0): nothing of it is stored.
    let (mut live, _) = Raw::v5(m.addr, "df-live", true, &b::props(&[])).await;
    assert_eq!(live.subscribe(1, "df/live/#", 1).await, vec![1]);

    let (mut publ, _) = Raw::v5(m.addr, "df-pub", true, &b::props(&[])).await;
    let mut acked = Vec::new();
    let mut refused = None;
    within(30.0, async {
        for seq in 0..MAX_PUBLISHES {
            let pid = u16::try_from(seq + 1).expect("pid");
            match publish1_v5(&mut publ, PERSISTENT_TOPIC, pid, &payload(seq)).await {
                ReasonCode::Success => acked.push(seq),
                ReasonCode::QuotaExceeded => {
                    refused = Some(seq);
                    return;
                }
                other => panic!("publish {seq}: unexpected PUBACK reason {other:?}"),
            }
        }
    })
    .await;
    let refused = refused.expect("no PUBACK 0x97 within the publish budget");
    assert!(!acked.is_empty(), "the first publishes succeed");
    assert_eq!(acked, (0..refused).collect::<Vec<_>>());
    eprintln!(
        "{} publishes acknowledged before the first refusal",
        acked.len()
    );

    // The failure is latched: later QoS 1 publishes to the persistent session are refused.
    for (i, seq) in (refused + 1..refused + 3).enumerate() {
        let pid = 1000 + u16::try_from(i).expect("pid");
        assert_eq!(
            publish1_v5(&mut publ, PERSISTENT_TOPIC, pid, &payload(seq)).await,
            ReasonCode::QuotaExceeded,
            "publish {seq} after the failure"
        );
    }

    // What doesn't need the disk is still served: QoS 0, and QoS 1 whose only
    // subscriber is a clean online session.
    publ.send(&b::publish(
        "df/live/0",
        0,
        0,
        false,
        false,
        b"q0",
        Some(&[]),
    ))
    .await;
    let p = live.recv_publish().await;
    assert_eq!((&*p.topic, &p.payload[..]), ("df/live/0", &b"q0"[..]));
    assert_eq!(
        publish1_v5(&mut publ, "df/live/1", 2000, b"q1").await,
        ReasonCode::Success
    );
    let p = live.recv_publish().await;
    assert_eq!((&*p.topic, &p.payload[..]), ("df/live/1", &b"q1"[..]));
    if let QosPid::Level1(pid) = p.qos_pid {
        live.send(&b::puback(pid.get())).await;
    }

    // v3.1.1 can't say "refused": the broker closes instead of acknowledging.
    let (mut v3, _) = Raw::v4(m.addr, "df-pub3", true).await;
    v3.send(&b::publish(
        PERSISTENT_TOPIC,
        1,
        1,
        false,
        false,
        &payload(refused + 10),
        None,
    ))
    .await;
    let before_close = v3.expect_closed().await;
    assert!(
        !before_close.iter().any(|p| matches!(p, Packet::PubAck(_))),
        "v3 publish acknowledged on a failed store: {before_close:?}"
    );

    // The log names the failure, and the SIGXFSZ that came with it did not kill the broker.
    let is_error = |l: &str| l.contains("commit failed") && l.contains("File too large");
    let is_signal = |l: &str| l.contains("SIGXFSZ");
    let first = m.log_line(5.0, |l| is_error(l) || is_signal(l)).await;
    if is_error(&first) {
        m.log_line(5.0, is_signal).await;
    } else {
        m.log_line(5.0, is_error).await;
    }
    // And `$SYS` says so (the dashboard's Overview shows "STORE FAILING").
    sys_until(m.addr, "$SYS/broker/store/failed", |v| v == "1").await;
    m.kill9().await;

    // Restart without the limit: every acknowledged message is there, in order.
    let m = Midge::start_with(dir.path(), CONFIG, None).await;
    let (mut sub, ack) = Raw::v5(m.addr, "df-sub", false, &persistent()).await;
    assert!(ack.session_present, "the persistent session survived");
    let mut got = Vec::new();
    let wanted: BTreeSet<u64> = acked.iter().copied().collect();
    within(20.0, async {
        while !wanted.is_subset(&got.iter().copied().collect()) {
            let p = sub.recv_publish().await;
            got.push(seq_of(&p.payload));
            if let QosPid::Level1(pid) = p.qos_pid {
                sub.send(&b::puback(pid.get())).await;
            }
        }
    })
    .await;
    for p in sub.sync().await {
        if let Packet::Publish(p) = p {
            got.push(seq_of(&p.payload));
        }
    }
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicates: {got:?}"
    );
    assert!(
        got.iter().all(|s| *s <= refused + 10),
        "only messages that were sent: {got:?}"
    );

    // The restart cleared the failure: the persistent session takes messages again.
    let (mut publ, _) = Raw::v5(m.addr, "df-pub", true, &b::props(&[])).await;
    let seq = refused + 100;
    assert_eq!(
        publish1_v5(&mut publ, PERSISTENT_TOPIC, 1, &payload(seq)).await,
        ReasonCode::Success
    );
    let p = sub.recv_publish().await;
    assert_eq!(seq_of(&p.payload), seq);
    m.kill9().await;
}
