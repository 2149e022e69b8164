//! Fault and behaviour tests of the store: reopen, torn tails, corruption, versions,
//! failing writes, group commit, sync policies and compaction (`recovery`, `compaction`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::*;

mod compaction;
mod recovery;

const WAIT: Duration = Duration::from_secs(5);

fn put(ks: Keyspace, key: &str, value: &str) -> Op {
    Op::Put {
        ks,
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }
}

fn del(ks: Keyspace, key: &str) -> Op {
    Op::Delete {
        ks,
        key: key.as_bytes().to_vec(),
    }
}

/// Submits a batch and waits for its `done`.
fn commit(store: &Store, ops: Vec<Op>) -> Result<(), Error> {
    let (tx, rx) = mpsc::channel();
    store.submit(
        ops,
        Some(Box::new(move |r| {
            let _ = tx.send(r);
        })),
    );
    rx.recv_timeout(WAIT).expect("done was called")
}

fn keys(store: &Store, ks: Keyspace) -> Vec<(String, String)> {
    store
        .load(ks)
        .expect("load")
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect()
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "mlog"))
        .collect();
    v.sort();
    v
}

fn only_segment(dir: &Path) -> PathBuf {
    let segs = segments(dir);
    assert_eq!(segs.len(), 1, "{segs:?}");
    segs[0].clone()
}

/// Without preallocation, so that file sizes are record ends.
fn no_prealloc() -> Options {
    Options {
        prealloc_bytes: 0,
        ..Options::default()
    }
}

/// Writes two batches and returns the segment length after the first.
fn two_batches(dir: &Path) -> u64 {
    let s = Store::open_with(dir, SyncPolicy::Always, no_prealloc()).expect("open");
    commit(&s, vec![put(Keyspace::Queues, "keep", "v1")]).expect("commit");
    let len = fs::metadata(only_segment(dir)).expect("stat").len();
    commit(
        &s,
        vec![
            put(Keyspace::Queues, "x", "xxxxxxxxxxxxxxxx"),
            put(Keyspace::Queues, "y", "yyyyyyyyyyyyyyyy"),
            del(Keyspace::Queues, "keep"),
        ],
    )
    .expect("commit");
    len
}

#[test]
fn reopen_keeps_puts_and_forgets_deletes() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = Store::open(dir.path(), SyncPolicy::Always).expect("open");
        commit(
            &s,
            vec![
                put(Keyspace::Sessions, "a", "1"),
                put(Keyspace::Sessions, "b", "2"),
                put(Keyspace::Queues, "b", "q"),
            ],
        )
        .expect("commit");
        commit(
            &s,
            vec![
                del(Keyspace::Sessions, "b"),
                put(Keyspace::Sessions, "a", "1b"),
            ],
        )
        .expect("commit");
        // Keyspaces are separate: the same key lives on in Queues.
        assert_eq!(keys(&s, Keyspace::Queues), kv(&[("b", "q")]));
    }
    let s = Store::open(dir.path(), SyncPolicy::Always).expect("reopen");
    assert_eq!(keys(&s, Keyspace::Sessions), kv(&[("a", "1b")]));
    assert_eq!(keys(&s, Keyspace::Queues), kv(&[("b", "q")]));
    assert!(keys(&s, Keyspace::Retained).is_empty());
    assert_eq!(s.stats().live_keys.load(Ordering::Relaxed), 2);
}

#[test]
fn load_is_in_key_order_and_sees_earlier_submits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path(), SyncPolicy::Never).expect("open");
    for k in ["c", "a", "b"] {
        s.submit(vec![put(Keyspace::Retained, k, k)], None);
    }
    assert_eq!(
        keys(&s, Keyspace::Retained),
        kv(&[("a", "a"), ("b", "b"), ("c", "c")])
    );
}

#[test]
fn failing_writes_fail_every_later_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fail = Arc::new(AtomicBool::new(false));
    let opts = Options {
        fail_io: Some(Arc::clone(&fail)),
        ..Options::default()
    };
    let s = Store::open_with(dir.path(), SyncPolicy::Always, opts).expect("open");
    commit(&s, vec![put(Keyspace::Inbound, "ok", "1")]).expect("commit");
    fail.store(true, Ordering::Relaxed);
    let err = commit(&s, vec![put(Keyspace::Inbound, "lost", "2")]).expect_err("disk full");
    assert!(err.to_string().contains(".mlog"), "{err}");
    assert!(s.stats().failed.load(Ordering::Relaxed));
    // Space comes back, but the log's state is unknown: still no acknowledgement.
    fail.store(false, Ordering::Relaxed);
    commit(&s, vec![put(Keyspace::Inbound, "later", "3")]).expect_err("latched");
    s.sync().expect_err("sync reports the failure too");
    assert_eq!(s.stats().pending_ops.load(Ordering::Relaxed), 0);
    drop(s);
    let s = Store::open(dir.path(), SyncPolicy::Always).expect("reopen");
    assert_eq!(keys(&s, Keyspace::Inbound), kv(&[("ok", "1")]));
}

#[test]
fn failing_fsync_is_reported_with_interval_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fail = Arc::new(AtomicBool::new(false));
    let opts = Options {
        fail_io: Some(Arc::clone(&fail)),
        ..Options::default()
    };
    let s = Store::open_with(
        dir.path(),
        SyncPolicy::Interval(Duration::from_secs(3600)),
        opts,
    )
    .expect("open");
    commit(&s, vec![put(Keyspace::Inbound, "a", "1")]).expect("written to the OS");
    assert_eq!(s.stats().pending_ops.load(Ordering::Relaxed), 1);
    fail.store(true, Ordering::Relaxed);
    s.sync().expect_err("fsync failed");
    assert!(s.stats().failed.load(Ordering::Relaxed));
    assert_eq!(s.stats().pending_ops.load(Ordering::Relaxed), 0);
}

#[test]
fn interval_policy_acknowledges_before_fsync_and_sync_catches_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path(), SyncPolicy::Interval(Duration::from_secs(3600))).expect("open");
    for i in 0..10 {
        commit(&s, vec![put(Keyspace::Queues, &format!("k{i}"), "v")]).expect("commit");
    }
    let stats = s.stats();
    assert_eq!(stats.fsyncs.load(Ordering::Relaxed), 0);
    assert_eq!(stats.pending_ops.load(Ordering::Relaxed), 10);
    assert_eq!(stats.pending_bytes.load(Ordering::Relaxed), 30);
    s.sync().expect("sync");
    assert_eq!(stats.fsyncs.load(Ordering::Relaxed), 1);
    assert_eq!(stats.pending_ops.load(Ordering::Relaxed), 0);
    assert_eq!(stats.pending_bytes.load(Ordering::Relaxed), 0);
    assert!(stats.last_durable_unix_ms.load(Ordering::Relaxed) > 0);
}

#[test]
fn interval_policy_fsyncs_on_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path(), SyncPolicy::Interval(Duration::from_millis(20))).expect("open");
    commit(&s, vec![put(Keyspace::Queues, "k", "v")]).expect("commit");
    let stats = s.stats();
    // Wait (bounded) for the writer's timed fsync to clear the lag: the event under test.
    let deadline = std::time::Instant::now() + WAIT;
    while stats.pending_ops.load(Ordering::Relaxed) != 0 {
        assert!(std::time::Instant::now() < deadline, "no timed fsync");
        std::thread::yield_now();
    }
    assert_eq!(stats.fsyncs.load(Ordering::Relaxed), 1);
}

#[test]
fn concurrent_submitters_share_fsyncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path(), SyncPolicy::Always).expect("open");
    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let s = s.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let tx = tx.clone();
                    s.submit(
                        vec![put(Keyspace::Queues, &format!("{t}/{i}"), "payload")],
                        Some(Box::new(move |r| {
                            let _ = tx.send(r);
                        })),
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("submitter");
    }
    for _ in 0..1600 {
        rx.recv_timeout(WAIT).expect("done").expect("durable");
    }
    let stats = s.stats();
    let batches = stats.batches_committed.load(Ordering::Relaxed);
    let fsyncs = stats.fsyncs.load(Ordering::Relaxed);
    assert_eq!(batches, 1600);
    assert!(
        fsyncs * 4 <= batches,
        "{fsyncs} fsyncs for {batches} batches"
    );
    assert_eq!(stats.pending_ops.load(Ordering::Relaxed), 0);
}

#[test]
fn store_is_a_shareable_handle() {
    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync_clone::<Store>();
    assert_send_sync_clone::<Error>();
}

#[test]
fn the_last_handle_may_be_dropped_inside_a_done() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path(), SyncPolicy::Always).expect("open");
    let inner = s.clone();
    let (tx, rx) = mpsc::channel();
    drop(s);
    inner.clone().submit(
        vec![put(Keyspace::Sessions, "c", "1")],
        Some(Box::new(move |r| {
            let _ = tx.send(r);
            // The writer thread drops the last handle: it must not join itself.
            drop(inner);
        })),
    );
    rx.recv_timeout(WAIT).expect("done").expect("durable");
}

#[test]
fn a_second_store_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Store::open(dir.path(), SyncPolicy::Always).expect("open");
    let err = Store::open(dir.path(), SyncPolicy::Always)
        .err()
        .expect("second open must fail");
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("LOCK"), "{err}");
    drop(first);
    Store::open(dir.path(), SyncPolicy::Always).expect("open after the first closed");
}
