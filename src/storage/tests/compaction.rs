//! Compaction: space reclaimed, data kept, crash leftovers, writes during a compaction.

use std::fs;
use std::sync::atomic::Ordering;

use super::*;

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
