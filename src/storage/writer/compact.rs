//! Compaction: copying the live entries into a fresh segment and removing the old ones.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::Ordering;

use super::super::format::{self, RecordBuilder, FILE_HEADER_LEN, SYNCED_WHOLE};
use super::super::{Error, Keyspace};
use super::{segment_path, sync_dir, Loc, Segment, Writer};

/// A compacted segment is written in records of about this size.
const SNAPSHOT_CHUNK: usize = 1 << 20;

impl Writer {
    pub(super) fn maybe_compact(&mut self) {
        let min = self.opts.compact_min_bytes.max(self.compact_floor);
        // Written bytes, not file sizes: preallocated zeros are not garbage.
        let used: u64 = self.segments.values().map(|s| s.len).sum();
        // Compact once more than half of the log is dead.
        if used < min || used < 2 * self.live_bytes {
            return;
        }
        match self.compact() {
            Ok(()) => self.compact_floor = 0,
            Err(e) => {
                tracing::warn!(error = %e, "store: compaction failed; retrying after more growth");
                self.compact_floor = used + self.opts.compact_min_bytes;
            }
        }
    }

    /// Copies the live entries into a new segment and removes the old ones.
    ///
    /// Crash safety: the new segment is written as `.tmp`, fsynced, then renamed; it holds
    /// every live entry, so replaying any suffix of the old segments followed by it gives
    /// the same state. Old segments are removed oldest first, which always leaves a suffix.
    fn compact(&mut self) -> Result<(), Error> {
        let started = std::time::Instant::now();
        self.sync_now()?;
        let new_id = self.active + 1;
        let tmp = self.dir.join(format!("seg-{new_id:016x}.tmp"));
        let (file, len, locs) = match self.write_snapshot(&tmp, new_id) {
            Ok(x) => x,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let path = segment_path(&self.dir, new_id);
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&tmp, "rename", e));
        }
        // From here on the new segment is the store: replay would put it after every old
        // segment, so appending to an old one would be masked. Switch over first.
        let old = std::mem::take(&mut self.segments);
        let mut locs = locs.into_iter();
        for map in &mut self.index {
            for loc in map.values_mut() {
                if let Some(l) = locs.next() {
                    *loc = l;
                }
            }
        }
        self.segments.insert(new_id, Segment::new(path, file, len));
        self.active = new_id;
        self.total_bytes = len;
        if let Err(e) = sync_dir(&self.dir) {
            // The rename may not be durable, so neither is anything appended after it.
            self.segments.extend(old);
            return Err(self.fail(e));
        }
        // Oldest first, stopping at the first failure: what is left is always a suffix.
        let mut old = old.into_iter();
        for (id, seg) in old.by_ref() {
            if let Err(e) = fs::remove_file(&seg.path) {
                tracing::warn!(file = %seg.path.display(), error = %e, "store: could not remove an old segment");
                self.segments.insert(id, seg);
                break;
            }
        }
        // Kept (and retried by the next compaction) so that the suffix stays whole.
        for (id, seg) in old {
            self.segments.insert(id, seg);
        }
        self.total_bytes = self.segments.values().map(|s| s.alloc).sum();
        sync_dir(&self.dir).map_err(|e| self.fail(e))?;
        self.stats.compactions.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats
            .last_compaction_micros
            .store(micros, Ordering::Relaxed);
        self.publish_sizes();
        Ok(())
    }

    /// Writes every live entry to `tmp`; returns the file (positioned at its end), its
    /// length and the new locations in index order.
    fn write_snapshot(&self, tmp: &Path, new_id: u64) -> Result<(File, u64, Vec<Loc>), Error> {
        let io_err = |e| Error::io(tmp, "write compacted segment", e);
        self.check_fault().map_err(io_err)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(|e| Error::io(tmp, "create", e))?;
        let mut out = BufWriter::with_capacity(1 << 20, &file);
        out.write_all(&format::file_header()).map_err(io_err)?;
        let mut pos = FILE_HEADER_LEN;
        let mut locs = Vec::new();
        let mut entries = Keyspace::ALL
            .iter()
            .flat_map(|ks| {
                self.index[ks.index()]
                    .iter()
                    .map(move |(k, l)| (*ks, k, *l))
            })
            .peekable();
        let mut buf = Vec::with_capacity(SNAPSHOT_CHUNK + 4096);
        while entries.peek().is_some() {
            buf.clear();
            let mut rb = RecordBuilder::begin(&mut buf, SYNCED_WHOLE);
            while rb.len() < SNAPSHOT_CHUNK {
                let Some((ks, key, loc)) = entries.next() else {
                    break;
                };
                let value = self.read(loc)?;
                let at = rb.put(ks, key, &value);
                locs.push(Loc {
                    seg: new_id,
                    off: pos + at as u64,
                    len: loc.len,
                });
            }
            rb.finish();
            out.write_all(&buf).map_err(io_err)?;
            pos += buf.len() as u64;
        }
        out.flush().map_err(io_err)?;
        drop(out);
        file.sync_all().map_err(io_err)?;
        Ok((file, pos, locs))
    }
}
