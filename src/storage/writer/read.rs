//! Reading values back: single values (compaction) and whole keyspaces (start-up), the
//! latter in file order through a large window instead of one read per key.

use std::io;

use super::super::{Error, KeyValues, Keyspace};
use super::{Loc, Segment, Writer};

/// `load` reads the log through a window of this size.
const WINDOW: usize = 4 << 20;

fn read_at(seg: &Segment, off: u64, buf: &mut [u8]) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        seg.file.read_exact_at(buf, off)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = &seg.file;
        f.seek(SeekFrom::Start(off))?;
        f.read_exact(buf)?;
        // Appends write at the cursor: put it back.
        f.seek(SeekFrom::Start(seg.len))?;
        Ok(())
    }
}

/// A run of bytes of one segment, read once and sliced by many values.
struct Window {
    seg: u64,
    start: u64,
    buf: Vec<u8>,
}

impl Writer {
    fn segment(&self, id: u64) -> Result<&Segment, Error> {
        self.segments.get(&id).ok_or_else(|| {
            Error::io(
                &self.dir,
                "read",
                io::Error::other("index points at a missing segment"),
            )
        })
    }

    pub(super) fn read(&self, loc: Loc) -> Result<Vec<u8>, Error> {
        let seg = self.segment(loc.seg)?;
        let mut v = vec![0u8; loc.len as usize];
        read_at(seg, loc.off, &mut v).map_err(|e| Error::io(&seg.path, "read", e))?;
        Ok(v)
    }

    /// Everything in `ks`, in key order.
    pub(super) fn load(&self, ks: Keyspace) -> Result<KeyValues, Error> {
        let mut entries: Vec<(&Vec<u8>, Loc)> = self.index[ks.index()]
            .iter()
            .map(|(k, l)| (k, *l))
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut out: KeyValues = entries
            .iter()
            .map(|(k, _)| ((*k).clone(), Vec::new()))
            .collect();
        let mut order: Vec<(Loc, usize)> = entries.iter().map(|(_, l)| *l).zip(0..).collect();
        order.sort_unstable_by_key(|(l, _)| (l.seg, l.off));
        let mut w = Window {
            seg: u64::MAX,
            start: 0,
            buf: Vec::new(),
        };
        for (loc, i) in order {
            let value = self.read_windowed(&mut w, loc)?;
            if let Some(slot) = out.get_mut(i) {
                slot.1 = value;
            }
        }
        Ok(out)
    }

    fn read_windowed(&self, w: &mut Window, loc: Loc) -> Result<Vec<u8>, Error> {
        let len = loc.len as usize;
        if len > WINDOW {
            return self.read(loc);
        }
        let inside = w.seg == loc.seg
            && loc.off >= w.start
            && loc.off + u64::from(loc.len) <= w.start + w.buf.len() as u64;
        if !inside {
            let seg = self.segment(loc.seg)?;
            let n = usize::try_from(seg.len.saturating_sub(loc.off))
                .unwrap_or(usize::MAX)
                .clamp(len, WINDOW);
            w.buf.resize(n, 0);
            w.seg = loc.seg;
            w.start = loc.off;
            if let Err(e) = read_at(seg, loc.off, &mut w.buf) {
                w.seg = u64::MAX;
                return Err(Error::io(&seg.path, "read", e));
            }
        }
        // In range: checked above (or the window was just read from `loc.off`).
        let at = usize::try_from(loc.off - w.start).unwrap_or(usize::MAX);
        Ok(w.buf
            .get(at..at + len)
            .map(<[u8]>::to_vec)
            .unwrap_or_default())
    }
}
