//! Recovery: torn tails, corruption, format versions, foreign files, preallocated space.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::sync::atomic::Ordering;

use super::*;

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
