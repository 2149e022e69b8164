//! The writer thread: owns the segment files and the key index; group commit, the sync
//! policy, failure latching and compaction.
//!
//! Files in the store directory: `seg-<id as 16 hex digits>.mlog`, replayed in id order.
//! Normally there is one (the active segment); a crash during compaction can leave the
//! old ones beside the new one, which replays to the same state (see `compact`).

use std::collections::{BTreeMap, HashMap};

/// The index's keys are probed per stored message; foldhash (seeded) is ~4x SipHash.
type Index = HashMap<Vec<u8>, Loc, foldhash::fast::RandomState>;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use super::format::{self, RecordBuilder, FILE_HEADER_LEN, OP_OVERHEAD};
use super::{Done, Error, Keyspace, Op, Options, Req, StoreStats, SyncPolicy};

mod compact;
mod open;
mod read;

/// Where a live value is on disk.
#[derive(Clone, Copy, Debug)]
struct Loc {
    seg: u64,
    off: u64,
    len: u32,
}

struct Segment {
    path: PathBuf,
    file: File,
    /// End of the valid records: where the next record goes.
    len: u64,
    /// Size of the file: `len` plus preallocated zeros.
    alloc: u64,
    /// How far the file is known to be fsynced.
    synced: u64,
}

impl Segment {
    fn new(path: PathBuf, file: File, len: u64) -> Self {
        Segment {
            path,
            file,
            len,
            alloc: len,
            synced: len,
        }
    }
}

struct Submission {
    ops: Vec<Op>,
    bytes: u64,
    done: Option<Done>,
}

pub(crate) struct Writer {
    dir: PathBuf,
    /// `LOCK` in the directory, locked while this writer lives (released by the OS when
    /// the process dies, so a crash leaves no stale lock).
    _lock: File,
    policy: SyncPolicy,
    opts: Options,
    stats: Arc<StoreStats>,
    /// All segments by id; the last one is the active segment appended to.
    segments: BTreeMap<u64, Segment>,
    active: u64,
    /// Per keyspace (`Keyspace::index`): key → value location. Hashed, not ordered: every
    /// message puts and deletes a key, and a B-tree's key comparisons were most of the
    /// writer's work; the rare ordered reads (`load`) sort.
    index: [Index; 4],
    /// Record bytes the live entries would take in a compacted segment.
    live_bytes: u64,
    /// Sum of the segment file sizes.
    total_bytes: u64,
    /// Set by the first failed write or fsync; every later commit fails with it.
    failed: Option<Error>,
    /// Written to the OS and not fsynced yet.
    unsynced: bool,
    /// With `Interval`: ops/bytes written but not fsynced (still pending), and since when.
    unsynced_ops: u64,
    unsynced_bytes: u64,
    dirty_since: Option<Instant>,
    /// After a failed compaction, don't retry before the log reaches this size.
    compact_floor: u64,
    /// A compaction in progress (it runs in steps between commit groups).
    compaction: Option<compact::Compaction>,
    buf: Vec<u8>,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("seg-{id:016x}.mlog"))
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    // Makes file creation, rename and removal durable; directories can't be opened on Windows.
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, "fsync directory", e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn entry_bytes(key: &[u8], len: u32) -> u64 {
    OP_OVERHEAD + key.len() as u64 + u64::from(len)
}

impl Writer {
    fn apply_put(&mut self, ks: Keyspace, key: Vec<u8>, loc: Loc) {
        self.live_bytes += entry_bytes(&key, loc.len);
        let map = &mut self.index[ks.index()];
        let klen = key.len();
        if let Some(old) = map.insert(key, loc) {
            self.live_bytes = self
                .live_bytes
                .saturating_sub(OP_OVERHEAD + klen as u64 + u64::from(old.len));
        }
    }

    fn apply_delete(&mut self, ks: Keyspace, key: &[u8]) {
        if let Some(old) = self.index[ks.index()].remove(key) {
            self.live_bytes = self.live_bytes.saturating_sub(entry_bytes(key, old.len));
        }
    }

    fn write_header(path: &Path, file: &mut File) -> Result<(), Error> {
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&format::file_header()))
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(path, "write header", e))
    }

    fn create_segment(&mut self, id: u64) -> Result<(), Error> {
        let path = segment_path(&self.dir, id);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(&path, "create", e))?;
        Self::write_header(&path, &mut file)?;
        sync_dir(&self.dir)?;
        self.total_bytes += FILE_HEADER_LEN;
        self.segments
            .insert(id, Segment::new(path, file, FILE_HEADER_LEN));
        Ok(())
    }

    fn publish_sizes(&self) {
        self.stats
            .bytes_on_disk
            .store(self.total_bytes, Ordering::Relaxed);
        let keys: usize = self.index.iter().map(HashMap::len).sum();
        self.stats.live_keys.store(keys as u64, Ordering::Relaxed);
    }

    /// The thread body: serve requests until shutdown, then flush.
    pub(crate) fn run(mut self, rx: &Receiver<Req>) {
        let mut next: Option<Req> = None;
        loop {
            let req = match next.take() {
                Some(r) => r,
                None => match self.wait(rx) {
                    Some(r) => r,
                    None => break,
                },
            };
            match req {
                Req::Submit { ops, bytes, done } => {
                    // Group commit: take everything already queued behind this batch.
                    let mut group = vec![Submission { ops, bytes, done }];
                    let mut size = bytes;
                    while size < self.opts.max_group_bytes as u64 {
                        match rx.try_recv() {
                            Ok(Req::Submit { ops, bytes, done }) => {
                                size += bytes;
                                group.push(Submission { ops, bytes, done });
                            }
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                        }
                    }
                    self.commit(group);
                }
                Req::Sync(reply) => {
                    let _ = reply.send(self.sync_now());
                }
                Req::Load(ks, reply) => {
                    let _ = reply.send(self.load(ks));
                }
                Req::Shutdown => break,
            }
        }
        if let Err(e) = self.sync_now() {
            tracing::error!(error = %e, "store: final fsync failed");
        }
        self.abandon_compaction();
    }

    /// The next request. Meanwhile: with `Interval`, fsyncs when the oldest unsynced
    /// write is due; with a compaction in progress, copies a step whenever idle.
    fn wait(&mut self, rx: &Receiver<Req>) -> Option<Req> {
        loop {
            let due = match (self.policy, self.dirty_since) {
                (SyncPolicy::Interval(every), Some(since)) => Some(since + every),
                _ => None,
            };
            if due.is_some_and(|due| Instant::now() >= due) {
                let _ = self.sync_now();
                continue;
            }
            if self.compacting() {
                match rx.try_recv() {
                    Ok(r) => return Some(r),
                    Err(TryRecvError::Empty) => {
                        self.compact_step();
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => return None,
                }
            }
            let Some(due) = due else {
                return rx.recv().ok();
            };
            match rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(r) => return Some(r),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn check_fault(&self) -> io::Result<()> {
        #[cfg(test)]
        if let Some(f) = &self.opts.fail_io {
            if f.load(Ordering::Relaxed) {
                return Err(io::Error::other("injected: no space left on device"));
            }
        }
        Ok(())
    }

    fn active_segment(&mut self) -> Result<&mut Segment, Error> {
        let dir = &self.dir;
        self.segments
            .get_mut(&self.active)
            .ok_or_else(|| Error::io(dir, "write", io::Error::other("no active segment")))
    }

    fn write_active(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let fault = self.check_fault();
        let prealloc = self.opts.prealloc_bytes;
        let seg = self.active_segment()?;
        let old_alloc = seg.alloc;
        let end = seg.len + bytes.len() as u64;
        if end > seg.alloc && prealloc > 0 {
            Self::preallocate(seg, end + prealloc)
                .map_err(|e| Error::io(&seg.path, "preallocate", e))?;
        }
        fault
            .and_then(|()| seg.file.write_all(bytes))
            .map_err(|e| Error::io(&seg.path, "write", e))?;
        seg.len = end;
        seg.alloc = seg.alloc.max(end);
        let grown = seg.alloc - old_alloc;
        self.total_bytes += grown;
        Ok(())
    }

    /// Extends the file with written zeros up to `to`, fsynced: overwriting allocated
    /// blocks lets the fdatasync of each commit skip the metadata journal (measured
    /// about 2.5x faster per commit on ext4, see docs/storage.md).
    fn preallocate(seg: &mut Segment, to: u64) -> io::Result<()> {
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        seg.file.seek(SeekFrom::Start(seg.alloc))?;
        let mut at = seg.alloc;
        while at < to {
            let n = usize::try_from(to - at)
                .unwrap_or(usize::MAX)
                .min(ZEROS.len());
            seg.file.write_all(&ZEROS[..n])?;
            at += n as u64;
        }
        seg.file.sync_all()?;
        seg.alloc = to;
        seg.file.seek(SeekFrom::Start(seg.len))?;
        Ok(())
    }

    fn fsync(&mut self) -> Result<(), Error> {
        let fault = self.check_fault();
        let started = Instant::now();
        let seg = self.active_segment()?;
        fault
            .and_then(|()| seg.file.sync_data())
            .map_err(|e| Error::io(&seg.path, "fsync", e))?;
        seg.synced = seg.len;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.stats.fsync_latency.record(micros);
        self.stats
            .last_fsync_micros
            .store(micros, Ordering::Relaxed);
        Ok(())
    }

    /// Lowers the durability lag by what just became durable.
    fn mark_durable(&self, ops: u64, bytes: u64) {
        self.stats.pending_ops.fetch_sub(ops, Ordering::Relaxed);
        self.stats.pending_bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.stats
            .last_durable_unix_ms
            .store(crate::os::unix_ms_now(), Ordering::Relaxed);
    }

    /// Latches the first failure: the file's state after a failed write or fsync is
    /// unknown, so nothing more is acknowledged until a restart replays the log.
    fn fail(&mut self, e: Error) -> Error {
        if self.failed.is_none() {
            tracing::error!(error = %e, "store: commit failed; refusing further writes");
            self.failed = Some(e.clone());
            self.stats.failed.store(true, Ordering::Relaxed);
            // Written-but-unsynced data will never be confirmed durable now.
            self.stats
                .pending_ops
                .fetch_sub(self.unsynced_ops, Ordering::Relaxed);
            self.stats
                .pending_bytes
                .fetch_sub(self.unsynced_bytes, Ordering::Relaxed);
            self.unsynced_ops = 0;
            self.unsynced_bytes = 0;
            self.dirty_since = None;
        }
        e
    }

    fn finish(group: Vec<Submission>, result: &Result<(), Error>) {
        for s in group {
            if let Some(done) = s.done {
                done(result.clone());
            }
        }
    }

    fn commit(&mut self, mut group: Vec<Submission>) {
        let ops: u64 = group.iter().map(|s| s.ops.len() as u64).sum();
        let bytes: u64 = group.iter().map(|s| s.bytes).sum();
        if let Some(e) = &self.failed {
            let e = e.clone();
            self.mark_durable_failed(ops, bytes);
            return Self::finish(group, &Err(e));
        }
        // A batch too large for one record fails alone; the rest of the group goes on.
        let limit = u64::from(format::MAX_RECORD_LEN) / 2;
        let (too_big, ok): (Vec<_>, Vec<_>) = group
            .into_iter()
            .partition(|s| s.bytes + OP_OVERHEAD * s.ops.len() as u64 > limit);
        for s in too_big {
            self.mark_durable_failed(s.ops.len() as u64, s.bytes);
            if let Some(done) = s.done {
                done(Err(Error::TooLarge(s.bytes)));
            }
        }
        group = ok;
        let (ops, bytes) = group
            .iter()
            .fold((0, 0), |(o, b), s| (o + s.ops.len() as u64, b + s.bytes));

        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut value_at = Vec::new();
        let sync_start = self.segments.get(&self.active).map_or(0, |s| s.synced);
        for s in &group {
            let mut rb = RecordBuilder::begin(&mut buf, sync_start);
            for op in &s.ops {
                match op {
                    Op::Put { ks, key, value } => value_at.push(rb.put(*ks, key, value)),
                    Op::Delete { ks, key } => rb.delete(*ks, key),
                }
            }
            rb.finish();
        }
        let base = self.segments.get(&self.active).map_or(0, |s| s.len);
        let written = self.write_active(&buf);
        self.buf = buf;
        if let Err(e) = written {
            let e = self.fail(e);
            self.mark_durable_failed(ops, bytes);
            return Self::finish(group, &Err(e));
        }

        let mut value_at = value_at.into_iter();
        for s in &mut group {
            for op in s.ops.drain(..) {
                match op {
                    Op::Put { ks, key, value } => {
                        let off = base + value_at.next().unwrap_or(0) as u64;
                        let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
                        let seg = self.active;
                        self.apply_put(ks, key, Loc { seg, off, len });
                    }
                    Op::Delete { ks, key } => self.apply_delete(ks, &key),
                }
            }
        }
        self.stats
            .batches_committed
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        self.stats.ops_committed.fetch_add(ops, Ordering::Relaxed);
        self.publish_sizes();
        self.unsynced = true;

        let result = match self.policy {
            SyncPolicy::Always => match self.fsync() {
                Ok(()) => {
                    self.unsynced = false;
                    self.mark_durable(ops, bytes);
                    Ok(())
                }
                Err(e) => {
                    let e = self.fail(e);
                    self.mark_durable_failed(ops, bytes);
                    Err(e)
                }
            },
            SyncPolicy::Interval(_) => {
                self.unsynced_ops += ops;
                self.unsynced_bytes += bytes;
                self.dirty_since.get_or_insert_with(Instant::now);
                Ok(())
            }
            SyncPolicy::Never => {
                self.mark_durable(ops, bytes);
                Ok(())
            }
        };
        Self::finish(group, &result);
        if result.is_ok() {
            self.maybe_compact();
            self.compact_step();
        }
    }

    /// Removes failed ops from the durability lag (they will never become durable).
    fn mark_durable_failed(&self, ops: u64, bytes: u64) {
        self.stats.pending_ops.fetch_sub(ops, Ordering::Relaxed);
        self.stats.pending_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// fsyncs whatever was written and not yet synced.
    fn sync_now(&mut self) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.unsynced {
            if let Err(e) = self.fsync() {
                return Err(self.fail(e));
            }
            self.unsynced = false;
        }
        let (ops, bytes) = (self.unsynced_ops, self.unsynced_bytes);
        self.unsynced_ops = 0;
        self.unsynced_bytes = 0;
        self.dirty_since = None;
        self.mark_durable(ops, bytes);
        Ok(())
    }
}
