//! The durable store behind persistent sessions, queued and in-flight messages, and
//! retained messages: a key-value store with group commit.
//!
//! The engine is midge's own append-only log (see `docs/storage.md` for the comparison
//! with `redb` and `fjall` that chose it). Every submitted batch becomes one CRC-checked
//! record appended to the active segment file; one writer thread appends everything
//! queued while the previous fsync ran and covers it with one fsync (group commit). An
//! in-memory index maps each live key to its value's place on disk; when most of the log
//! is dead (put, then deleted after acknowledgement), the live entries are copied into a
//! fresh segment and the old ones are removed (compaction).
//!
//! - `format`: segment header, record encoding, replay and torn-tail detection.
//! - `writer`: the writer thread — group commit, sync policy, index; its `open` (replay
//!   and recovery), `compact` (compaction in steps) and `read` (values, whole keyspaces)
//!   submodules.
//! - `histogram`: the fsync latency histogram (lock-free buckets) that `/metrics` reads.

mod format;
pub mod histogram;
mod writer;

#[cfg(test)]
mod bench;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use format::FORMAT_VERSION;

/// Separate key spaces; each is a byte in every op on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Keyspace {
    Retained,
    Sessions,
    Queues,
    Inbound,
}

/// One change in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put {
        ks: Keyspace,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        ks: Keyspace,
        key: Vec<u8>,
    },
}

impl Op {
    /// Key and value bytes: what `pending_bytes` counts.
    fn payload_len(&self) -> u64 {
        match self {
            Op::Put { key, value, .. } => (key.len() + value.len()) as u64,
            Op::Delete { key, .. } => key.len() as u64,
        }
    }
}

/// When a batch counts as durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fsync before `done` is called: survives power loss.
    Always,
    /// `done` once written to the OS (survives a process crash); fsync at most this long
    /// after the write.
    Interval(Duration),
    /// `done` once written to the OS; fsync only on `sync`, compaction and shutdown.
    Never,
}

/// Called once the batch is durable per the policy (Always: after the fsync that covers
/// it; Interval/Never: once written to the OS), or with the error that prevented it. Runs
/// on the store's thread: it must be quick (it sends on channels).
pub type Done = Box<dyn FnOnce(Result<(), Error>) + Send>;

/// Tuning knobs; `Default` is what the broker uses.
#[derive(Clone, Debug)]
pub struct Options {
    /// Compaction runs once the log is at least this big and more than half of it is dead.
    pub compact_min_bytes: u64,
    /// A commit group stops growing at this many bytes (bounds one write and its latency).
    pub max_group_bytes: usize,
    /// The active segment is extended by this many zero bytes at a time, so that commits
    /// overwrite allocated blocks (a cheaper fdatasync). 0 = no preallocation.
    pub prealloc_bytes: u64,
    /// Test hook: while set, every write and fsync fails as if the disk were full.
    #[cfg(test)]
    pub(crate) fail_io: Option<Arc<AtomicBool>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            compact_min_bytes: 64 << 20,
            max_group_bytes: 8 << 20,
            prealloc_bytes: 8 << 20,
            #[cfg(test)]
            fail_io: None,
        }
    }
}

/// Counters the dashboard reads. Totals only grow; the `pending_*` pair is the
/// durability lag: submitted and not yet durable (`Always`: not yet fsynced; `Interval`:
/// not yet fsynced, though already acknowledged; `Never`: not yet written to the OS).
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Size of all segment files.
    pub bytes_on_disk: AtomicU64,
    /// Live keys in all keyspaces.
    pub live_keys: AtomicU64,
    /// Batches written (total).
    pub batches_committed: AtomicU64,
    /// Ops in those batches (total).
    pub ops_committed: AtomicU64,
    /// fsyncs of the log (total).
    pub fsyncs: AtomicU64,
    /// Duration of the most recent fsync.
    pub last_fsync_micros: AtomicU64,
    /// Durations of the log's commit fsyncs (the ones acknowledgements wait for).
    pub fsync_latency: histogram::Histogram,
    /// Ops submitted and not yet durable.
    pub pending_ops: AtomicU64,
    /// Key + value bytes submitted and not yet durable.
    pub pending_bytes: AtomicU64,
    /// Wall clock of the last successful fsync (or, with `Never`, write); 0 = none yet.
    pub last_durable_unix_ms: AtomicU64,
    /// Compactions completed (total).
    pub compactions: AtomicU64,
    /// Duration of the most recent compaction (commits wait for it).
    pub last_compaction_micros: AtomicU64,
    /// A commit failed (e.g. disk full): every later batch fails too, until restart.
    pub failed: AtomicBool,
}

/// Store errors. `Clone` so that every `Done` of a failed group gets one; every variant
/// that concerns a file names it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("{}: {op} failed: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        source: Arc<io::Error>,
    },
    #[error(
        "{}: corrupt record at byte {offset}: {reason}; refusing to open the store \
         (nothing was discarded; restore or move the file aside)",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error(
        "{}: store format version {found} is newer than this midge supports ({supported}); \
         use a newer midge",
        path.display()
    )]
    NewerVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{}: not a midge store segment (bad magic)", path.display())]
    NotAStore { path: PathBuf },
    #[error(
        "{}: the store is in use by another process (or another Store in this one)",
        path.display()
    )]
    Locked { path: PathBuf },
    #[error("batch too large: {0} bytes (a record holds at most 1 GiB)")]
    TooLarge(u64),
    #[error("the store's writer thread has stopped")]
    Closed,
}

impl Error {
    pub(crate) fn io(path: &Path, op: &'static str, e: io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            op,
            source: Arc::new(e),
        }
    }

    pub(crate) fn corrupt(path: &Path, offset: u64, reason: String) -> Self {
        Error::Corrupt {
            path: path.to_path_buf(),
            offset,
            reason,
        }
    }
}

/// A request to the writer thread.
pub(crate) enum Req {
    Submit {
        ops: Vec<Op>,
        bytes: u64,
        done: Option<Done>,
    },
    Sync(mpsc::Sender<Result<(), Error>>),
    Load(Keyspace, mpsc::Sender<Result<KeyValues, Error>>),
    Shutdown,
}

/// A keyspace's contents in key order.
pub type KeyValues = Vec<(Vec<u8>, Vec<u8>)>;

/// A handle to the store: cheap to clone, `Send + Sync`. The writer thread stops (after a
/// final flush and fsync) when the last handle is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// Requests to the writer thread; unbounded so `submit` never blocks the router.
    /// Back-pressure is visible as `StoreStats::pending_ops` / `pending_bytes`.
    tx: mpsc::Sender<Req>,
    stats: Arc<StoreStats>,
    /// Joined on drop so that the files are closed when the last handle goes.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.tx.send(Req::Shutdown);
        let handle = match self.thread.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        // The last handle may be dropped inside a `Done` on the writer thread itself;
        // that thread ends on its own after the Shutdown request.
        if let Some(h) = handle.filter(|h| h.thread().id() != std::thread::current().id()) {
            let _ = h.join();
        }
    }
}

impl Store {
    /// Opens or creates the store in `dir`. Recovers a torn tail; refuses a newer format
    /// version or an unreadable file with an error naming the file.
    pub fn open(dir: &Path, policy: SyncPolicy) -> Result<Store, Error> {
        Store::open_with(dir, policy, Options::default())
    }

    /// `open` with explicit tuning.
    pub fn open_with(dir: &Path, policy: SyncPolicy, opts: Options) -> Result<Store, Error> {
        let stats = Arc::new(StoreStats::default());
        let writer = writer::Writer::open(dir, policy, opts, Arc::clone(&stats))?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("midge-store".into())
            .spawn(move || writer.run(&rx))
            .map_err(|e| Error::io(dir, "spawn writer thread", e))?;
        Ok(Store {
            inner: Arc::new(Inner {
                tx,
                stats,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Everything in a keyspace, in key order, as of every batch submitted before.
    pub fn load(&self, ks: Keyspace) -> Result<KeyValues, Error> {
        let (tx, rx) = mpsc::channel();
        self.inner
            .tx
            .send(Req::Load(ks, tx))
            .map_err(|_| Error::Closed)?;
        rx.recv().map_err(|_| Error::Closed)?
    }

    /// Queues a batch for the writer thread; never blocks. Batches are applied atomically
    /// and in submission order; consecutive batches share one fsync (group commit).
    pub fn submit(&self, ops: Vec<Op>, done: Option<Done>) {
        let bytes: u64 = ops.iter().map(Op::payload_len).sum();
        let stats = &self.inner.stats;
        stats
            .pending_ops
            .fetch_add(ops.len() as u64, Ordering::Relaxed);
        stats.pending_bytes.fetch_add(bytes, Ordering::Relaxed);
        let n = ops.len() as u64;
        if let Err(mpsc::SendError(req)) = self.inner.tx.send(Req::Submit { ops, bytes, done }) {
            stats.pending_ops.fetch_sub(n, Ordering::Relaxed);
            stats.pending_bytes.fetch_sub(bytes, Ordering::Relaxed);
            if let Req::Submit {
                done: Some(done), ..
            } = req
            {
                done(Err(Error::Closed));
            }
        }
    }

    /// Writes and fsyncs everything submitted so far; blocks. Used at shutdown.
    pub fn sync(&self) -> Result<(), Error> {
        let (tx, rx) = mpsc::channel();
        self.inner
            .tx
            .send(Req::Sync(tx))
            .map_err(|_| Error::Closed)?;
        rx.recv().map_err(|_| Error::Closed)?
    }

    pub fn stats(&self) -> Arc<StoreStats> {
        Arc::clone(&self.inner.stats)
    }
}
