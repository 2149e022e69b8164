//! Opening the store: the directory lock, the segment files in id order, replay into the
//! key index, and recovery of a torn tail (an interrupted write) or an interrupted
//! compaction.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use super::super::format::{self, ReplayedOp, Tail, FILE_HEADER_LEN};
use super::super::{Error, Options, StoreStats, SyncPolicy};
use super::{segment_path, Loc, Segment, Writer};

impl Writer {
    /// Opens or creates the segments in `dir` and replays them into the index.
    pub(crate) fn open(
        dir: &Path,
        policy: SyncPolicy,
        opts: Options,
        stats: Arc<StoreStats>,
    ) -> Result<Writer, Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create directory", e))?;
        let lock = lock_dir(dir)?;
        let mut ids = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, "list directory", e))? {
            let entry = entry.map_err(|e| Error::io(dir, "list directory", e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = parse_segment_name(name) {
                ids.push(id);
            } else if name.starts_with("seg-") && name.ends_with(".tmp") {
                // An interrupted compaction: the old segments are still complete.
                let p = entry.path();
                fs::remove_file(&p).map_err(|e| Error::io(&p, "remove", e))?;
            }
        }
        ids.sort_unstable();
        let mut w = Writer {
            dir: dir.to_path_buf(),
            _lock: lock,
            policy,
            opts,
            stats,
            segments: BTreeMap::new(),
            active: 0,
            index: Default::default(),
            live_bytes: 0,
            total_bytes: 0,
            failed: None,
            unsynced: false,
            unsynced_ops: 0,
            unsynced_bytes: 0,
            dirty_since: None,
            compact_floor: 0,
            compaction: None,
            buf: Vec::new(),
        };
        let last = ids.last().copied();
        for id in ids {
            w.replay_segment(id, Some(id) == last)?;
        }
        if w.segments.is_empty() {
            w.create_segment(1)?;
        }
        w.active = w.segments.keys().next_back().copied().unwrap_or(1);
        w.publish_sizes();
        Ok(w)
    }

    fn replay_segment(&mut self, id: u64, is_last: bool) -> Result<(), Error> {
        let path = segment_path(&self.dir, id);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, "open", e))?;
        let (len, alloc) = if format::check_file_header(&path, &mut file)? {
            let end = format::scan_records(&path, &mut file, is_last, |ops| {
                self.replay_batch(id, ops);
            })?;
            let size = file
                .metadata()
                .map_err(|e| Error::io(&path, "stat", e))?
                .len();
            match end.tail {
                Tail::Clean => (end.valid_len, end.valid_len),
                Tail::Zeros => (end.valid_len, size),
                Tail::Torn => {
                    tracing::warn!(
                        file = %path.display(),
                        offset = end.valid_len,
                        dropped_bytes = size - end.valid_len,
                        "store: dropping a torn tail (writes interrupted before their fsync)"
                    );
                    file.set_len(end.valid_len)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| Error::io(&path, "truncate torn tail", e))?;
                    (end.valid_len, end.valid_len)
                }
            }
        } else if is_last {
            // Torn while being created: nothing was ever written to it.
            Self::write_header(&path, &mut file)?;
            (FILE_HEADER_LEN, FILE_HEADER_LEN)
        } else {
            return Err(Error::corrupt(&path, 0, "truncated file header".into()));
        };
        file.seek(SeekFrom::Start(len))
            .map_err(|e| Error::io(&path, "seek", e))?;
        self.total_bytes += alloc;
        let mut seg = Segment::new(path, file, len);
        seg.alloc = alloc;
        self.segments.insert(id, seg);
        Ok(())
    }

    fn replay_batch(&mut self, seg: u64, ops: Vec<ReplayedOp>) {
        for op in ops {
            match op.value {
                Some((off, len)) => self.apply_put(op.ks, op.key, Loc { seg, off, len }),
                None => self.apply_delete(op.ks, &op.key),
            }
        }
    }
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("seg-")?.strip_suffix(".mlog")?;
    (hex.len() == 16).then(|| u64::from_str_radix(hex, 16).ok())?
}

/// Takes the directory's exclusive lock: two writers would interleave their appends.
fn lock_dir(dir: &Path) -> Result<File, Error> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, "open", e))?;
    // Fully qualified: std's own `File::try_lock` needs a newer Rust than our MSRV.
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(file),
        Err(fs4::TryLockError::WouldBlock) => Err(Error::Locked { path }),
        Err(fs4::TryLockError::Error(e)) => Err(Error::io(&path, "lock", e)),
    }
}
