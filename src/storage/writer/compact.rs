//! Compaction: copying the live entries into a fresh segment and removing the old ones,
//! in steps between commit groups so that commits never wait for a whole copy.
//!
//! When the log is more than half garbage, the active segment `N` is fsynced and sealed,
//! and writes continue in a new active segment `N+2`. Step by step (about 1 MiB each,
//! after every commit group and whenever the writer is idle), the live entries that
//! still sit in sealed segments are copied into `seg-<N+1>.tmp`. Sealed segments never
//! change, so a copy is never stale: whatever happened to a key since is in `N+2`, which
//! replays after `N+1`. When the copy is complete it is fsynced and renamed, the index
//! switches to it, and the sealed segments are removed oldest first.
//!
//! Crash safety: before the rename, the files are `≤N` and `N+2` (the `.tmp` is removed
//! at open): a plain log. After it, `N+1` holds every entry that was live in `≤N`, so
//! replaying any suffix of `≤N`, then `N+1`, then `N+2` gives the same state.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::super::format::{self, RecordBuilder, FILE_HEADER_LEN, SYNCED_WHOLE};
use super::super::{Error, Keyspace};
use super::{segment_path, sync_dir, Loc, Segment, Writer};

/// A compaction step copies about this much (one record).
const STEP_BYTES: usize = 1 << 20;

/// A compaction in progress.
pub(super) struct Compaction {
    started: Instant,
    /// The id of the compacted segment; every segment below it is sealed and compacted.
    new_id: u64,
    tmp: PathBuf,
    file: File,
    /// Bytes written to `tmp`.
    pos: u64,
    /// The keys live when the compaction started (all in sealed segments then), copied
    /// from the back; a key deleted or rewritten since is skipped. One buffer of key
    /// bytes plus (keyspace, start) per key: a million keys are two allocations.
    todo: Vec<(usize, usize)>,
    todo_keys: Vec<u8>,
    /// Old location (segment, offset) → new location, for the switch-over.
    moved: HashMap<(u64, u64), Loc>,
    buf: Vec<u8>,
}

impl Writer {
    pub(super) fn compacting(&self) -> bool {
        self.compaction.is_some()
    }

    /// Starts a compaction if more than half of the log is garbage.
    pub(super) fn maybe_compact(&mut self) {
        if self.compaction.is_some() {
            return;
        }
        let min = self.opts.compact_min_bytes.max(self.compact_floor);
        // Written bytes, not file sizes: preallocated zeros are not garbage.
        let used: u64 = self.segments.values().map(|s| s.len).sum();
        if used < min || used < 2 * self.live_bytes {
            return;
        }
        if let Err(e) = self.start_compaction() {
            tracing::warn!(error = %e, "store: compaction failed to start; retrying after more growth");
            self.compact_floor = used + self.opts.compact_min_bytes;
        }
    }

    fn start_compaction(&mut self) -> Result<(), Error> {
        self.sync_now()?;
        let started = Instant::now();
        let new_id = self.active + 1;
        let tmp = self.dir.join(format!("seg-{new_id:016x}.tmp"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, "create", e))?;
        if let Err(e) = file.write_all(&format::file_header()) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&tmp, "write compacted segment", e));
        }
        if let Err(e) = self.create_segment(new_id + 1) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.active = new_id + 1;
        let mut todo = Vec::with_capacity(self.index.iter().map(HashMap::len).sum());
        let mut todo_keys = Vec::new();
        for (ks, map) in self.index.iter().enumerate() {
            for k in map.keys() {
                todo.push((ks, todo_keys.len()));
                todo_keys.extend_from_slice(k);
            }
        }
        self.compaction = Some(Compaction {
            started,
            new_id,
            tmp,
            file,
            pos: FILE_HEADER_LEN,
            todo,
            todo_keys,
            moved: HashMap::new(),
            buf: Vec::with_capacity(STEP_BYTES + 4096),
        });
        Ok(())
    }

    /// Copies the next chunk; finishes the compaction after the last one.
    pub(super) fn compact_step(&mut self) {
        let Some(mut c) = self.compaction.take() else {
            return;
        };
        let result = self.copy_chunk(&mut c).and_then(|done| {
            if done {
                self.finish_compaction(c).map(|()| None)
            } else {
                Ok(Some(c))
            }
        });
        match result {
            Ok(c) => self.compaction = c,
            Err(e) => {
                tracing::warn!(error = %e, "store: compaction failed; retrying after more growth");
                let used: u64 = self.segments.values().map(|s| s.len).sum();
                self.compact_floor = used + self.opts.compact_min_bytes;
            }
        }
    }

    /// Appends one record of live entries from sealed segments; `Ok(true)` when all are
    /// copied. On error the `.tmp` file is removed.
    fn copy_chunk(&self, c: &mut Compaction) -> Result<bool, Error> {
        let r = self.copy_chunk_inner(c);
        if r.is_err() {
            let _ = fs::remove_file(&c.tmp);
        }
        r
    }

    fn copy_chunk_inner(&self, c: &mut Compaction) -> Result<bool, Error> {
        self.check_fault()
            .map_err(|e| Error::io(&c.tmp, "write compacted segment", e))?;
        c.buf.clear();
        let mut rb = RecordBuilder::begin(&mut c.buf, SYNCED_WHOLE);
        let mut copied = 0;
        while rb.len() < STEP_BYTES {
            let Some((ks_i, start)) = c.todo.pop() else {
                break;
            };
            let key = c.todo_keys.get(start..).unwrap_or_default();
            let loc = self.index.get(ks_i).and_then(|m| m.get(key)).copied();
            let live = loc.filter(|l| l.seg < c.new_id);
            if let Some(loc) = live {
                let value = self.read(loc)?;
                let at = rb.put(Keyspace::ALL[ks_i], key, &value);
                let new = Loc {
                    seg: c.new_id,
                    off: c.pos + at as u64,
                    len: loc.len,
                };
                c.moved.insert((loc.seg, loc.off), new);
                copied += 1;
            }
            c.todo_keys.truncate(start);
        }
        let done = c.todo.is_empty();
        if copied > 0 {
            rb.finish();
            // fsync each step, so that the last one does not have to flush the whole copy.
            c.file
                .write_all(&c.buf)
                .and_then(|()| c.file.sync_data())
                .map_err(|e| Error::io(&c.tmp, "write compacted segment", e))?;
            c.pos += c.buf.len() as u64;
        }
        Ok(done)
    }

    fn finish_compaction(&mut self, c: Compaction) -> Result<(), Error> {
        let Compaction {
            started,
            new_id,
            tmp,
            file,
            pos,
            moved,
            ..
        } = c;
        let path = segment_path(&self.dir, new_id);
        if let Err(e) = file.sync_all().and_then(|()| fs::rename(&tmp, &path)) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&tmp, "finish compacted segment", e));
        }
        // The renamed segment replays before the active one and after the sealed ones:
        // the state is the same whether or not they are removed, so switch now.
        for map in &mut self.index {
            for loc in map.values_mut() {
                if loc.seg < new_id {
                    if let Some(new) = moved.get(&(loc.seg, loc.off)) {
                        *loc = *new;
                    }
                }
            }
        }
        // Every live entry of the sealed segments was copied (they don't change, and new
        // entries go to the active segment); if one was not, keep the sealed segments.
        let complete = self
            .index
            .iter()
            .all(|m| m.values().all(|l| l.seg >= new_id));
        self.segments.insert(new_id, Segment::new(path, file, pos));
        sync_dir(&self.dir).map_err(|e| self.fail(e))?;
        if complete {
            self.remove_sealed(new_id);
            sync_dir(&self.dir).map_err(|e| self.fail(e))?;
        } else {
            tracing::error!("store: compaction missed live entries; keeping the old segments");
        }
        self.total_bytes = self.segments.values().map(|s| s.alloc).sum();
        self.compact_floor = 0;
        self.stats.compactions.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats
            .last_compaction_micros
            .store(micros, Ordering::Relaxed);
        self.publish_sizes();
        Ok(())
    }

    /// Drops an unfinished compaction (at shutdown): the sealed segments stay valid.
    pub(super) fn abandon_compaction(&mut self) {
        if let Some(c) = self.compaction.take() {
            drop(c.file);
            let _ = fs::remove_file(&c.tmp);
        }
    }

    /// Removes the segments below `new_id`, oldest first, stopping at the first failure:
    /// what is left is always a suffix (see the module docs).
    fn remove_sealed(&mut self, new_id: u64) {
        let sealed: Vec<u64> = self.segments.range(..new_id).map(|(id, _)| *id).collect();
        for id in sealed {
            let Some(seg) = self.segments.remove(&id) else {
                continue;
            };
            if let Err(e) = fs::remove_file(&seg.path) {
                tracing::warn!(file = %seg.path.display(), error = %e, "store: could not remove an old segment");
                self.segments.insert(id, seg);
                break;
            }
        }
    }
}
