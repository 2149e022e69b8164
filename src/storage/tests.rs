//! Fault and behaviour tests of the store: reopen, torn tails, corruption, versions,
//! failing writes, group commit, sync policies and compaction.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::*;

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
fn torn_tail_is_truncated_and_the_batch_is_all_or_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first_end = two_batches(dir.path());
    let seg = only_segment(dir.path());
    let full = fs::metadata(&seg).expect("stat").len();
    // Cut the second batch in its header, in its payload, and one byte short.
    for cut in [first_end + 5, first_end + 20, full - 1] {
        let copy = tempfile::tempdir().expect("tempdir");
        let dst = copy.path().join(seg.file_name().expect("name"));
        fs::copy(&seg, &dst).expect("copy");
        OpenOptions::new()
            .write(true)
            .open(&dst)
            .and_then(|f| f.set_len(cut))
            .expect("truncate");
        let s = Store::open(copy.path(), SyncPolicy::Always).expect("open after torn tail");
        // None of the torn batch: "keep" is not deleted, x and y are not there.
        assert_eq!(
            keys(&s, Keyspace::Queues),
            kv(&[("keep", "v1")]),
            "cut {cut}"
        );
        assert_eq!(fs::metadata(&dst).expect("stat").len(), first_end);
        // The log goes on from the cut and survives another reopen.
        commit(&s, vec![put(Keyspace::Queues, "after", "z")]).expect("commit");
        drop(s);
        let s = Store::open(copy.path(), SyncPolicy::Always).expect("reopen");
        assert_eq!(
            keys(&s, Keyspace::Queues),
            kv(&[("after", "z"), ("keep", "v1")])
        );
    }
}

#[test]
fn garbage_after_the_last_record_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    two_batches(dir.path());
    let seg = only_segment(dir.path());
    let full = fs::metadata(&seg).expect("stat").len();
    let mut f = OpenOptions::new().append(true).open(&seg).expect("open");
    let garbage: Vec<u8> = (0u32..3000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    f.write_all(&garbage).expect("append");
    drop(f);
    let s = Store::open(dir.path(), SyncPolicy::Always).expect("open");
    assert_eq!(
        keys(&s, Keyspace::Queues),
        kv(&[("x", "xxxxxxxxxxxxxxxx"), ("y", "yyyyyyyyyyyyyyyy")])
    );
    assert_eq!(fs::metadata(&seg).expect("stat").len(), full);
}

#[test]
fn zeroed_tail_is_dropped() {
    // What some filesystems leave after a crash: the size grew, the data never landed.
    let dir = tempfile::tempdir().expect("tempdir");
    two_batches(dir.path());
    let seg = only_segment(dir.path());
    let full = fs::metadata(&seg).expect("stat").len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .and_then(|f| f.set_len(full + 4096))
        .expect("extend");
    let s = Store::open(dir.path(), SyncPolicy::Always).expect("open");
    assert_eq!(keys(&s, Keyspace::Queues).len(), 2);
}

#[test]
fn corruption_in_the_middle_refuses_to_open_and_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first_end = two_batches(dir.path());
    let seg = only_segment(dir.path());
    let mut bytes = fs::read(&seg).expect("read");
    // Flip a byte inside the first record's payload; the second record is intact.
    let at = usize::try_from(first_end).expect("small") - 3;
    bytes[at] ^= 0x40;
    fs::write(&seg, &bytes).expect("write");
    let err = Store::open(dir.path(), SyncPolicy::Always)
        .err()
        .expect("open must fail");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&seg.display().to_string()), "{msg}");
    // Nothing was truncated.
    assert_eq!(fs::read(&seg).expect("read"), bytes);
}

#[test]
fn newer_format_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    two_batches(dir.path());
    let seg = only_segment(dir.path());
    let mut bytes = fs::read(&seg).expect("read");
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    fs::write(&seg, &bytes).expect("write");
    let err = Store::open(dir.path(), SyncPolicy::Always)
        .err()
        .expect("open must fail");
    assert!(
        matches!(err, Error::NewerVersion { found, .. } if found == FORMAT_VERSION + 1),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&seg.display().to_string()) && msg.contains("newer"),
        "{msg}"
    );
}

#[test]
fn a_foreign_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(
        dir.path().join("seg-0000000000000001.mlog"),
        b"SQLite format 3\0 and more",
    )
    .expect("write");
    let err = Store::open(dir.path(), SyncPolicy::Always)
        .err()
        .expect("open must fail");
    assert!(matches!(err, Error::NotAStore { .. }), "{err:?}");
}

#[test]
fn a_data_dir_that_is_a_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-dir");
    fs::write(&file, b"x").expect("write");
    let err = Store::open(&file, SyncPolicy::Always)
        .err()
        .expect("open must fail");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
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
    // Wait (bounded) for the writer's timed fsync: the event under test.
    let stats = s.stats();
    let deadline = std::time::Instant::now() + WAIT;
    while stats.fsyncs.load(Ordering::Relaxed) == 0 {
        assert!(std::time::Instant::now() < deadline, "no timed fsync");
        std::thread::yield_now();
    }
    assert_eq!(stats.pending_ops.load(Ordering::Relaxed), 0);
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
fn compaction_keeps_the_data_and_reclaims_space() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        compact_min_bytes: 64 << 10,
        ..no_prealloc()
    };
    let value = "m".repeat(200);
    {
        let s = Store::open_with(dir.path(), SyncPolicy::Never, opts.clone()).expect("open");
        for i in 0..50 {
            s.submit(
                vec![put(Keyspace::Sessions, &format!("long{i:02}"), &value)],
                None,
            );
        }
        for i in 0..5000 {
            let key = format!("client/{i:08}");
            s.submit(vec![put(Keyspace::Queues, &key, &value)], None);
            s.submit(vec![del(Keyspace::Queues, &key)], None);
        }
        s.submit(vec![put(Keyspace::Queues, "last", "v")], None);
        s.sync().expect("sync");
        let stats = s.stats();
        // How many depends on how the writer grouped the batches; at least one ran.
        assert!(stats.compactions.load(Ordering::Relaxed) >= 1);
        // 5000 pairs wrote over 1 MB; what's left is bounded by the threshold.
        let on_disk = stats.bytes_on_disk.load(Ordering::Relaxed);
        assert!(on_disk < 2 * (64 << 10), "{on_disk} bytes on disk");
        // The compacted segment and the active one.
        let segs = segments(dir.path());
        assert!(segs.len() <= 2, "{segs:?}");
        let sizes: u64 = segs
            .iter()
            .map(|p| fs::metadata(p).expect("stat").len())
            .sum();
        assert_eq!(sizes, on_disk);
        assert_eq!(keys(&s, Keyspace::Sessions).len(), 50);
    }
    let s = Store::open_with(dir.path(), SyncPolicy::Never, opts).expect("reopen");
    let sessions = keys(&s, Keyspace::Sessions);
    assert_eq!(sessions.len(), 50);
    assert!(sessions.iter().all(|(_, v)| *v == value));
    assert_eq!(keys(&s, Keyspace::Queues), kv(&[("last", "v")]));
}

#[test]
fn leftovers_of_an_interrupted_compaction_replay_to_the_same_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    two_batches(dir.path());
    let seg = only_segment(dir.path());
    // As if the compacted segment was renamed into place but the old one not yet
    // removed (a full snapshot of the same state), plus an unfinished temporary file.
    let s = Store::open(dir.path(), SyncPolicy::Always).expect("open");
    let before = keys(&s, Keyspace::Queues);
    drop(s);
    fs::copy(&seg, dir.path().join("seg-0000000000000002.mlog")).expect("copy");
    fs::write(
        dir.path().join("seg-0000000000000003.tmp"),
        b"half a snapshot",
    )
    .expect("tmp");
    let s = Store::open(dir.path(), SyncPolicy::Always).expect("open");
    assert_eq!(keys(&s, Keyspace::Queues), before);
    assert!(!dir.path().join("seg-0000000000000003.tmp").exists());
    // New writes go to the newest segment.
    commit(&s, vec![put(Keyspace::Queues, "new", "n")]).expect("commit");
    drop(s);
    let s = Store::open(dir.path(), SyncPolicy::Always).expect("open");
    assert_eq!(keys(&s, Keyspace::Queues).len(), before.len() + 1);
}

#[test]
fn store_is_a_shareable_handle() {
    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync_clone::<Store>();
    assert_send_sync_clone::<Error>();
}

#[test]
fn damage_anywhere_in_the_unsynced_writes_is_a_torn_tail() {
    // Pages of one unsynced write may land out of order: the first batch of the group
    // damaged, a later one intact. Neither was fsynced, so both go; the synced part stays.
    let dir = tempfile::tempdir().expect("tempdir");
    let synced_end = {
        let s = Store::open_with(dir.path(), SyncPolicy::Never, no_prealloc()).expect("open");
        commit(&s, vec![put(Keyspace::Inbound, "synced", "1")]).expect("commit");
        s.sync().expect("sync");
        let end = fs::metadata(only_segment(dir.path())).expect("stat").len();
        commit(&s, vec![put(Keyspace::Inbound, "a", "unsynced-a")]).expect("commit");
        commit(&s, vec![put(Keyspace::Inbound, "b", "unsynced-b")]).expect("commit");
        end
    };
    let seg = only_segment(dir.path());
    let mut bytes = fs::read(&seg).expect("read");
    let at = usize::try_from(synced_end).expect("small") + 30;
    bytes[at] ^= 0x01;
    fs::write(&seg, &bytes).expect("write");
    let s = Store::open(dir.path(), SyncPolicy::Always).expect("open");
    assert_eq!(keys(&s, Keyspace::Inbound), kv(&[("synced", "1")]));
    assert_eq!(fs::metadata(&seg).expect("stat").len(), synced_end);
}

#[test]
fn preallocated_space_is_reused_not_mistaken_for_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        prealloc_bytes: 64 << 10,
        ..Options::default()
    };
    {
        let s = Store::open_with(dir.path(), SyncPolicy::Always, opts.clone()).expect("open");
        commit(&s, vec![put(Keyspace::Retained, "t/1", "a")]).expect("commit");
        assert!(s.stats().bytes_on_disk.load(Ordering::Relaxed) > 64 << 10);
    }
    let seg = only_segment(dir.path());
    let size = fs::metadata(&seg).expect("stat").len();
    for round in 2..5 {
        let s = Store::open_with(dir.path(), SyncPolicy::Always, opts.clone()).expect("open");
        assert_eq!(keys(&s, Keyspace::Retained).len(), round - 1);
        commit(
            &s,
            vec![put(Keyspace::Retained, &format!("t/{round}"), "a")],
        )
        .expect("commit");
    }
    // Every commit landed in the same preallocated space.
    assert_eq!(fs::metadata(&seg).expect("stat").len(), size);
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
fn compacted_segment_grows_and_reopens_with_preallocation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        compact_min_bytes: 16 << 10,
        prealloc_bytes: 8 << 10,
        ..Options::default()
    };
    {
        let s = Store::open_with(dir.path(), SyncPolicy::Always, opts.clone()).expect("open");
        for i in 0..200 {
            let key = format!("q/{i:04}");
            commit(&s, vec![put(Keyspace::Queues, &key, &"v".repeat(150))]).expect("put");
            if i % 4 != 0 {
                commit(&s, vec![del(Keyspace::Queues, &key)]).expect("delete");
            }
        }
        assert!(s.stats().compactions.load(Ordering::Relaxed) >= 1);
    }
    let s = Store::open_with(dir.path(), SyncPolicy::Always, opts).expect("reopen");
    let live = keys(&s, Keyspace::Queues);
    assert_eq!(live.len(), 50);
    let kept = |k: &str| k[2..].parse::<u32>().is_ok_and(|i| i % 4 == 0);
    assert!(live.iter().all(|(k, v)| kept(k) && v.len() == 150));
}

#[test]
fn an_old_segment_with_preallocated_space_replays_before_the_compacted_one() {
    // A crash after the compacted segment was renamed, before the old active segment
    // (with its preallocated zeros) was removed.
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = Store::open(dir.path(), SyncPolicy::Always).expect("open");
        commit(
            &s,
            vec![
                put(Keyspace::Retained, "a", "1"),
                put(Keyspace::Retained, "b", "2"),
            ],
        )
        .expect("commit");
        commit(&s, vec![del(Keyspace::Retained, "b")]).expect("commit");
    }
    let old = only_segment(dir.path());
    assert!(
        fs::metadata(&old).expect("stat").len() > 1 << 20,
        "preallocated"
    );
    // The compacted segment: the live state as a fresh log.
    let compacted = tempfile::tempdir().expect("tempdir");
    {
        let s =
            Store::open_with(compacted.path(), SyncPolicy::Always, no_prealloc()).expect("open");
        commit(&s, vec![put(Keyspace::Retained, "a", "1")]).expect("commit");
    }
    fs::copy(
        only_segment(compacted.path()),
        dir.path().join("seg-0000000000000002.mlog"),
    )
    .expect("copy");
    let s = Store::open(dir.path(), SyncPolicy::Always).expect("open");
    assert_eq!(keys(&s, Keyspace::Retained), kv(&[("a", "1")]));
}

#[test]
fn compaction_in_steps_sees_writes_made_meanwhile() {
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        compact_min_bytes: 256 << 10,
        ..no_prealloc()
    };
    let mut model = BTreeMap::new();
    let s = Store::open_with(dir.path(), SyncPolicy::Never, opts.clone()).expect("open");
    // ~4 MB live: a compaction takes several steps.
    for chunk in 0..200 {
        let ops = (0..100)
            .map(|i| {
                let key = format!("L{:05}", chunk * 100 + i);
                let value = format!("{key}:{}", "v".repeat(200));
                model.insert(key.clone(), value.clone());
                put(Keyspace::Sessions, &key, &value)
            })
            .collect();
        commit(&s, ops).expect("commit");
    }
    let stats = s.stats();
    let mut i = 0u32;
    // Churn until a compaction completed, changing long-lived keys meanwhile.
    while stats.compactions.load(Ordering::Relaxed) < 2 {
        assert!(i < 200_000, "no compaction");
        let tmp = format!("t{i}");
        let long = format!("L{:05}", (i * 7919) % 20_000);
        let mut ops = vec![
            put(Keyspace::Queues, &tmp, &"x".repeat(200)),
            del(Keyspace::Queues, &tmp),
        ];
        if i % 3 == 0 {
            model.remove(&long);
            ops.push(del(Keyspace::Sessions, &long));
        } else {
            let value = format!("{long}:new{i}");
            model.insert(long.clone(), value.clone());
            ops.push(put(Keyspace::Sessions, &long, &value));
        }
        commit(&s, ops).expect("commit");
        i += 1;
    }
    let expect: Vec<(String, String)> = model.into_iter().collect();
    assert_eq!(keys(&s, Keyspace::Sessions), expect);
    assert!(keys(&s, Keyspace::Queues).is_empty());
    drop(s);
    let s = Store::open_with(dir.path(), SyncPolicy::Never, opts).expect("reopen");
    assert_eq!(keys(&s, Keyspace::Sessions), expect);
}
