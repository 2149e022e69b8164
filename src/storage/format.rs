//! The on-disk format of one segment file, and the scan that replays it.
//!
//! A segment is a 16-byte header (`MIDGELOG`, format version u32 LE, 4 reserved bytes)
//! followed by batch records. One record is one submitted batch (or, in a compacted
//! segment, a chunk of live entries), so a batch is all-or-nothing on replay:
//!
//! ```text
//! record  = len u32 | payload_crc u32 | sync_start u64 | header_crc u32 (crc32 of the
//!           first 16 bytes) | payload
//! payload = count u32 | op*
//! op      = 1 u8 | keyspace u8 | key_len u32 | key | value_len u32 | value     (put)
//!         | 2 u8 | keyspace u8 | key_len u32 | key                            (delete)
//! ```
//! All integers are little-endian. `sync_start` is the file offset up to which the
//! segment had been fsynced when the record was written (`u64::MAX` in a compacted
//! segment, which is fsynced whole before use).
//!
//! Telling a torn tail from corruption: after a crash, only the bytes written since the
//! last fsync can be damaged, in any order (pages may land out of order). So a bad
//! record at offset `p` is a torn tail if no valid record after it has `sync_start > p`
//! — everything from `p` on was never fsynced, hence never acknowledged under `Always`,
//! and is dropped. A valid record with `sync_start > p` proves `p` was fsynced before:
//! that is corruption, and the store refuses to open. (Damage to the last fsynced write,
//! with nothing written after it, cannot be told from a torn write and is treated as
//! one.) The separate header CRC makes the search for valid records after `p` cheap. A
//! tail of zeros is the preallocated, never written part of the active segment.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::{Error, Keyspace};

pub(crate) const MAGIC: &[u8; 8] = b"MIDGELOG";
/// The segment format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
pub(crate) const FILE_HEADER_LEN: u64 = 16;
pub(crate) const RECORD_HEADER_LEN: usize = 20;
/// `sync_start` of the records of a compacted segment.
pub(crate) const SYNCED_WHOLE: u64 = u64::MAX;
/// Bytes an op costs in a record besides its key and value (tag, keyspace, two lengths).
pub(crate) const OP_OVERHEAD: u64 = 10;
/// No record is larger than this; a larger length is garbage, not a record.
pub(crate) const MAX_RECORD_LEN: u32 = 1 << 30;

const TAG_PUT: u8 = 1;
const TAG_DELETE: u8 = 2;

pub(crate) fn file_header() -> [u8; FILE_HEADER_LEN as usize] {
    let mut h = [0u8; FILE_HEADER_LEN as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

impl Keyspace {
    pub(crate) const ALL: [Keyspace; 4] = [
        Keyspace::Retained,
        Keyspace::Sessions,
        Keyspace::Queues,
        Keyspace::Inbound,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            Keyspace::Retained => 0,
            Keyspace::Sessions => 1,
            Keyspace::Queues => 2,
            Keyspace::Inbound => 3,
        }
    }

    fn from_byte(b: u8) -> Option<Keyspace> {
        Keyspace::ALL.get(usize::from(b)).copied()
    }
}

/// Builds one record in a caller's buffer: `begin`, any number of `put`/`delete`, `finish`.
pub(crate) struct RecordBuilder<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
    count: u32,
    sync_start: u64,
}

impl<'a> RecordBuilder<'a> {
    pub(crate) fn begin(buf: &'a mut Vec<u8>, sync_start: u64) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&[0u8; RECORD_HEADER_LEN + 4]);
        RecordBuilder {
            buf,
            start,
            count: 0,
            sync_start,
        }
    }

    /// Appends a put; returns the offset of the value within the buffer.
    pub(crate) fn put(&mut self, ks: Keyspace, key: &[u8], value: &[u8]) -> usize {
        self.op_head(TAG_PUT, ks, key);
        put_len(self.buf, value.len());
        let at = self.buf.len();
        self.buf.extend_from_slice(value);
        at
    }

    pub(crate) fn delete(&mut self, ks: Keyspace, key: &[u8]) {
        self.op_head(TAG_DELETE, ks, key);
    }

    fn op_head(&mut self, tag: u8, ks: Keyspace, key: &[u8]) {
        self.count += 1;
        self.buf.push(tag);
        // Keyspace::index is < 4, so the cast cannot truncate.
        self.buf.push(ks.index() as u8);
        put_len(self.buf, key.len());
        self.buf.extend_from_slice(key);
    }

    /// Bytes written so far, header included.
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Fills in the count, length and CRCs.
    pub(crate) fn finish(self) {
        let p = self.start + RECORD_HEADER_LEN;
        self.buf[p..p + 4].copy_from_slice(&self.count.to_le_bytes());
        let payload_len = u32::try_from(self.buf.len() - p).unwrap_or(u32::MAX);
        let payload_crc = crc32fast::hash(&self.buf[p..]);
        let s = self.start;
        self.buf[s..s + 4].copy_from_slice(&payload_len.to_le_bytes());
        self.buf[s + 4..s + 8].copy_from_slice(&payload_crc.to_le_bytes());
        self.buf[s + 8..s + 16].copy_from_slice(&self.sync_start.to_le_bytes());
        let header_crc = crc32fast::hash(&self.buf[s..s + 16]);
        self.buf[s + 16..s + 20].copy_from_slice(&header_crc.to_le_bytes());
    }
}

fn put_len(buf: &mut Vec<u8>, len: usize) {
    // Keys and values are bounded by MAX_RECORD_LEN (checked at submit), so this fits.
    buf.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

/// One op as replayed: the value is left on disk, located by its file offset.
pub(crate) struct ReplayedOp {
    pub ks: Keyspace,
    pub key: Vec<u8>,
    /// `Some((offset in file, length))` for a put, `None` for a delete.
    pub value: Option<(u64, u32)>,
}

/// What follows the last valid record of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Nothing.
    Clean,
    /// Zeros: preallocated space, kept for later writes.
    Zeros,
    /// Damage from an interrupted write: the caller truncates it.
    Torn,
}

/// What the scan of one segment found.
pub(crate) struct ScanEnd {
    /// Bytes of the file that hold the header and complete, valid records.
    pub valid_len: u64,
    pub tail: Tail,
}

/// A record header that checks out.
struct RecordHeader {
    len: u32,
    payload_crc: u32,
    sync_start: u64,
}

fn parse_record_header(h: &[u8]) -> Option<RecordHeader> {
    let h = h.get(..RECORD_HEADER_LEN)?;
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    // The length test first: it rejects zeros (preallocated space) without a CRC.
    if !(4..=MAX_RECORD_LEN).contains(&len) {
        return None;
    }
    let hcrc = u32::from_le_bytes([h[16], h[17], h[18], h[19]]);
    (crc32fast::hash(&h[0..16]) == hcrc).then(|| RecordHeader {
        len,
        payload_crc: u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
        sync_start: u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]),
    })
}

/// Reads until `buf` is full or EOF; returns how much was read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Checks the file header. `Ok(false)`: the header itself is torn (short file).
pub(crate) fn check_file_header(path: &Path, file: &mut File) -> Result<bool, Error> {
    let mut h = [0u8; FILE_HEADER_LEN as usize];
    let n = read_full(file, &mut h).map_err(|e| Error::io(path, "read", e))?;
    if n < h.len() {
        return Ok(false);
    }
    if &h[..8] != MAGIC {
        return Err(Error::NotAStore {
            path: path.to_path_buf(),
        });
    }
    let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    if version > FORMAT_VERSION {
        return Err(Error::NewerVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version != FORMAT_VERSION {
        return Err(Error::corrupt(
            path,
            8,
            format!("unknown format version {version}"),
        ));
    }
    Ok(true)
}

/// Replays the records of a segment whose header was checked (the file is positioned
/// after it), calling `apply` once per complete batch, in order.
///
/// In the last segment, a bad record followed only by zeros or by never-fsynced records
/// is the end of the log (see the module docs); anything else bad is `Error::Corrupt`,
/// so data that was fsynced is never silently dropped.
pub(crate) fn scan_records(
    path: &Path,
    file: &mut File,
    is_last: bool,
    mut apply: impl FnMut(Vec<ReplayedOp>),
) -> Result<ScanEnd, Error> {
    let file_len = file
        .metadata()
        .map_err(|e| Error::io(path, "stat", e))?
        .len();
    let mut reader = io::BufReader::with_capacity(1 << 20, &mut *file);
    let mut pos = FILE_HEADER_LEN;
    let mut payload = Vec::new();
    let bad_at = loop {
        if pos == file_len {
            return Ok(ScanEnd {
                valid_len: pos,
                tail: Tail::Clean,
            });
        }
        let mut h = [0u8; RECORD_HEADER_LEN];
        let n = read_full(&mut reader, &mut h).map_err(|e| Error::io(path, "read", e))?;
        if n < RECORD_HEADER_LEN {
            break pos;
        }
        let Some(RecordHeader {
            len, payload_crc, ..
        }) = parse_record_header(&h)
        else {
            break pos;
        };
        payload.resize(len as usize, 0);
        let n = read_full(&mut reader, &mut payload).map_err(|e| Error::io(path, "read", e))?;
        if n < payload.len() || crc32fast::hash(&payload) != payload_crc {
            break pos;
        }
        let data_at = pos + RECORD_HEADER_LEN as u64;
        // The CRC matched, so a payload that does not decode was written that way:
        // corruption (or a bug), never a torn write.
        let ops = decode_payload(&payload, data_at)
            .map_err(|reason| Error::corrupt(path, pos, reason.to_string()))?;
        apply(ops);
        pos = data_at + u64::from(len);
    };
    drop(reader);
    file.seek(SeekFrom::Start(bad_at))
        .map_err(|e| Error::io(path, "seek", e))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)
        .map_err(|e| Error::io(path, "read", e))?;
    // Preallocated space, in any segment (an old active one keeps its zeros).
    if tail.iter().all(|&b| b == 0) {
        return Ok(ScanEnd {
            valid_len: bad_at,
            tail: Tail::Zeros,
        });
    }
    // Older segments were fsynced whole before a newer one was created.
    if !is_last {
        return Err(Error::corrupt(
            path,
            bad_at,
            "bad record in a sealed segment".into(),
        ));
    }
    if let Some(found) = synced_record_after(&tail, bad_at) {
        return Err(Error::corrupt(
            path,
            bad_at,
            format!("bad record followed by a valid, later-synced one at byte {found}"),
        ));
    }
    Ok(ScanEnd {
        valid_len: bad_at,
        tail: Tail::Torn,
    })
}

/// The offset of a valid record in `tail` (which starts at file offset `bad_at`) that
/// was written after `bad_at` had been fsynced, if any.
fn synced_record_after(tail: &[u8], bad_at: u64) -> Option<u64> {
    let mut start = 1;
    while start + RECORD_HEADER_LEN <= tail.len() {
        if let Some(h) = parse_record_header(&tail[start..]) {
            let body = start + RECORD_HEADER_LEN;
            let end = body + h.len as usize;
            if let Some(p) = tail.get(body..end) {
                if crc32fast::hash(p) == h.payload_crc {
                    if h.sync_start > bad_at {
                        return Some(bad_at + start as u64);
                    }
                    start = end;
                    continue;
                }
            }
        }
        start += 1;
    }
    None
}

fn take<'p>(p: &mut &'p [u8], n: usize) -> Result<&'p [u8], &'static str> {
    if p.len() < n {
        return Err("op runs past the end of its record");
    }
    let (head, rest) = p.split_at(n);
    *p = rest;
    Ok(head)
}

fn take_u32(p: &mut &[u8]) -> Result<u32, &'static str> {
    let b = take(p, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Decodes a payload that starts at file offset `data_at`.
fn decode_payload(payload: &[u8], data_at: u64) -> Result<Vec<ReplayedOp>, &'static str> {
    let mut p = payload;
    let count = take_u32(&mut p)?;
    let mut ops = Vec::with_capacity((count as usize).min(payload.len() / 6));
    for _ in 0..count {
        let tag = take(&mut p, 1)?[0];
        let ks = Keyspace::from_byte(take(&mut p, 1)?[0]).ok_or("unknown keyspace")?;
        let klen = take_u32(&mut p)? as usize;
        let key = take(&mut p, klen)?.to_vec();
        let value = match tag {
            TAG_PUT => {
                let vlen = take_u32(&mut p)?;
                let at = data_at + (payload.len() - p.len()) as u64;
                take(&mut p, vlen as usize)?;
                Some((at, vlen))
            }
            TAG_DELETE => None,
            _ => return Err("unknown op tag"),
        };
        ops.push(ReplayedOp { ks, key, value });
    }
    if !p.is_empty() {
        return Err("trailing bytes after the last op");
    }
    Ok(ops)
}
