//! The engine comparison behind `docs/storage.md`: midge's own log against `redb` (a
//! copy-on-write B-tree) and `fjall` (an LSM tree) under the broker's workload. The
//! other engines run behind the same group-commit writer thread as the store, so the
//! comparison is of engines, not of batching. Run by hand (release, one at a time):
//!
//! ```text
//! cargo test --release -p midge --lib storage::bench -- --ignored --nocapture --test-threads 1
//! ```

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Done, Keyspace, Op, Store, SyncPolicy};

const VALUE_LEN: usize = 200;

/// What the workload needs from an engine.
trait Submit: Send + Sync {
    fn submit(&self, ops: Vec<Op>, done: Option<Done>);
    fn sync(&self);
    fn fsyncs(&self) -> u64;
}

impl Submit for Store {
    fn submit(&self, ops: Vec<Op>, done: Option<Done>) {
        Store::submit(self, ops, done);
    }
    fn sync(&self) {
        Store::sync(self).expect("sync");
    }
    fn fsyncs(&self) -> u64 {
        self.stats().fsyncs.load(Ordering::Relaxed)
    }
}

/// A batch-oriented engine: one group of batches per call, atomically.
trait Engine: Send + 'static {
    fn write(&mut self, group: Vec<Vec<Op>>, durable: bool);
    /// Make everything written so far durable.
    fn flush(&mut self);
}

fn flat_key(ks: Keyspace, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    // The keyspace index is < 4.
    k.push(ks.index() as u8);
    k.extend_from_slice(key);
    k
}

struct RedbEngine {
    db: redb::Database,
}

const REDB_TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("kv");

impl RedbEngine {
    fn open(dir: &Path) -> Self {
        let db = redb::Database::create(dir.join("store.redb")).expect("redb open");
        RedbEngine { db }
    }

    fn count(&self) -> usize {
        use redb::{ReadableDatabase, ReadableTable};
        let txn = self.db.begin_read().expect("read txn");
        let table = txn.open_table(REDB_TABLE).expect("table");
        // Owned copies, as `Store::load` returns them.
        let mut all = Vec::new();
        for item in table.iter().expect("iter") {
            let (k, v) = item.expect("item");
            all.push((k.value().to_vec(), v.value().to_vec()));
        }
        all.len()
    }
}

impl Engine for RedbEngine {
    fn write(&mut self, group: Vec<Vec<Op>>, durable: bool) {
        let mut txn = self.db.begin_write().expect("write txn");
        let d = if durable {
            redb::Durability::Immediate
        } else {
            redb::Durability::None
        };
        txn.set_durability(d).expect("durability");
        {
            let mut table = txn.open_table(REDB_TABLE).expect("table");
            for op in group.into_iter().flatten() {
                match op {
                    Op::Put { ks, key, value } => {
                        table
                            .insert(flat_key(ks, &key).as_slice(), value.as_slice())
                            .expect("insert");
                    }
                    Op::Delete { ks, key } => {
                        table.remove(flat_key(ks, &key).as_slice()).expect("remove");
                    }
                }
            }
        }
        txn.commit().expect("commit");
    }

    fn flush(&mut self) {
        self.write(Vec::new(), true);
    }
}

struct FjallEngine {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

impl FjallEngine {
    fn open(dir: &Path) -> Self {
        let db = fjall::Database::builder(dir.join("fjall"))
            .open()
            .expect("fjall open");
        let ks = db
            .keyspace("kv", fjall::KeyspaceCreateOptions::default)
            .expect("keyspace");
        FjallEngine { db, ks }
    }

    fn count(&self) -> usize {
        let all: Vec<(Vec<u8>, Vec<u8>)> = self
            .ks
            .iter()
            .map(|g| {
                let (k, v) = g.into_inner().expect("item");
                (k.to_vec(), v.to_vec())
            })
            .collect();
        all.len()
    }
}

impl Engine for FjallEngine {
    fn write(&mut self, group: Vec<Vec<Op>>, durable: bool) {
        let mut batch = self.db.batch();
        for op in group.into_iter().flatten() {
            match op {
                Op::Put { ks, key, value } => batch.insert(&self.ks, flat_key(ks, &key), value),
                Op::Delete { ks, key } => batch.remove(&self.ks, flat_key(ks, &key)),
            }
        }
        batch.commit().expect("commit");
        if durable {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.db
            .persist(fjall::PersistMode::SyncAll)
            .expect("persist");
    }
}

enum Msg {
    Submit(Vec<Op>, Option<Done>),
    Sync(mpsc::Sender<()>),
}

/// The store's writer-thread discipline around another engine: drain everything
/// queued, write it as one group, fsync per the policy, then call the `done`s.
struct GroupCommit {
    tx: Option<mpsc::Sender<Msg>>,
    fsyncs: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    fn start<E: Engine>(mut engine: E, policy: SyncPolicy) -> Self {
        let (tx, rx) = mpsc::channel::<Msg>();
        let fsyncs = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&fsyncs);
        let thread = std::thread::spawn(move || {
            let mut last_sync = Instant::now();
            let mut dirty = false;
            loop {
                let first = match policy {
                    SyncPolicy::Interval(every) if dirty => {
                        let wait = every.saturating_sub(last_sync.elapsed());
                        match rx.recv_timeout(wait) {
                            Ok(m) => Some(m),
                            Err(mpsc::RecvTimeoutError::Timeout) => None,
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        }
                    }
                    _ => match rx.recv() {
                        Ok(m) => Some(m),
                        Err(_) => break,
                    },
                };
                let mut msgs: Vec<Msg> = first.into_iter().collect();
                while let Ok(m) = rx.try_recv() {
                    msgs.push(m);
                }
                let mut group = Vec::new();
                let mut dones = Vec::new();
                let mut syncs = Vec::new();
                for m in msgs {
                    match m {
                        Msg::Submit(ops, done) => {
                            group.push(ops);
                            dones.extend(done);
                        }
                        Msg::Sync(reply) => syncs.push(reply),
                    }
                }
                let durable = policy == SyncPolicy::Always;
                if !group.is_empty() {
                    engine.write(group, durable);
                    if durable {
                        counter.fetch_add(1, Ordering::Relaxed);
                    } else {
                        dirty = true;
                    }
                }
                for d in dones {
                    d(Ok(()));
                }
                let due =
                    matches!(policy, SyncPolicy::Interval(every) if last_sync.elapsed() >= every);
                if dirty && (due || !syncs.is_empty()) {
                    engine.flush();
                    counter.fetch_add(1, Ordering::Relaxed);
                    dirty = false;
                    last_sync = Instant::now();
                }
                for s in syncs {
                    let _ = s.send(());
                }
            }
        });
        GroupCommit {
            tx: Some(tx),
            fsyncs,
            thread: Some(thread),
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            t.join().expect("writer thread");
        }
    }
}

impl Submit for GroupCommit {
    fn submit(&self, ops: Vec<Op>, done: Option<Done>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Submit(ops, done));
        }
    }
    fn sync(&self) {
        let (tx, rx) = mpsc::channel();
        if let Some(q) = &self.tx {
            let _ = q.send(Msg::Sync(tx));
        }
        let _ = rx.recv();
    }
    fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }
}

const ENGINES: [&str; 3] = ["midge-log", "redb", "fjall"];

fn open_engine(name: &str, dir: &Path, policy: SyncPolicy) -> Box<dyn Submit> {
    match name {
        "midge-log" => Box::new(Store::open(dir, policy).expect("open")),
        "redb" => Box::new(GroupCommit::start(RedbEngine::open(dir), policy)),
        _ => Box::new(GroupCommit::start(FjallEngine::open(dir), policy)),
    }
}

fn queue_key(client: usize, seq: u64) -> Vec<u8> {
    let mut k = format!("client-{client:05}/").into_bytes();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// `clients` submitters, each with one message in flight: put, wait until durable
/// (the PUBACK point), delete (the subscriber's ack), next put. Returns pairs done.
fn put_delete_pairs(sub: &dyn Submit, clients: usize, until: Duration, max_pairs: u64) -> u64 {
    let (tx, rx) = mpsc::channel::<(usize, u64)>();
    let value = vec![0x5a_u8; VALUE_LEN];
    let put = |client: usize, seq: u64| {
        let tx = tx.clone();
        sub.submit(
            vec![Op::Put {
                ks: Keyspace::Queues,
                key: queue_key(client, seq),
                value: value.clone(),
            }],
            Some(Box::new(move |r| {
                if r.is_ok() {
                    let _ = tx.send((client, seq));
                }
            })),
        );
    };
    for c in 0..clients {
        put(c, 0);
    }
    let start = Instant::now();
    let (mut pairs, mut outstanding) = (0, clients);
    while outstanding > 0 {
        let (c, seq) = rx.recv_timeout(Duration::from_secs(30)).expect("ack");
        sub.submit(
            vec![Op::Delete {
                ks: Keyspace::Queues,
                key: queue_key(c, seq),
            }],
            None,
        );
        pairs += 1;
        if start.elapsed() < until && pairs < max_pairs {
            put(c, seq + 1);
        } else {
            outstanding -= 1;
        }
    }
    sub.sync();
    pairs
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn policy_name(p: SyncPolicy) -> &'static str {
    match p {
        SyncPolicy::Always => "always",
        SyncPolicy::Interval(_) => "interval(1s)",
        SyncPolicy::Never => "never",
    }
}

#[test]
#[ignore = "benchmark: run by hand"]
fn bench_put_delete_throughput() {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    println!("| engine | sync | submitters | pairs/s | fsyncs | pairs per fsync |");
    println!("|---|---|---:|---:|---:|---:|");
    for policy in [
        SyncPolicy::Always,
        SyncPolicy::Interval(Duration::from_secs(1)),
        SyncPolicy::Never,
    ] {
        for clients in [1, 16, 256] {
            for name in ENGINES {
                let dir = tempfile::tempdir().expect("tempdir");
                let sub = open_engine(name, dir.path(), policy);
                let start = Instant::now();
                let pairs =
                    put_delete_pairs(sub.as_ref(), clients, Duration::from_secs(secs), u64::MAX);
                let rate = pairs as f64 / start.elapsed().as_secs_f64();
                let fsyncs = sub.fsyncs();
                println!(
                    "| {name} | {} | {clients} | {rate:.0} | {fsyncs} | {:.1} |",
                    policy_name(policy),
                    pairs as f64 / fsyncs.max(1) as f64
                );
            }
        }
    }
}

#[test]
#[ignore = "benchmark: run by hand"]
fn bench_disk_after_1m_pairs() {
    println!("| engine | pairs | seconds | bytes on disk after |");
    println!("|---|---:|---:|---:|");
    for name in ENGINES {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = open_engine(
            name,
            dir.path(),
            SyncPolicy::Interval(Duration::from_secs(1)),
        );
        let start = Instant::now();
        let pairs = put_delete_pairs(sub.as_ref(), 256, Duration::from_secs(600), 1_000_000);
        let secs = start.elapsed().as_secs_f64();
        println!(
            "| {name} | {pairs} | {secs:.1} | {} |",
            dir_size(dir.path())
        );
    }
}

#[test]
#[ignore = "benchmark: run by hand"]
fn bench_startup_1m_live_keys() {
    println!("| engine | live keys | write s | bytes on disk | open s | open + read all s |");
    println!("|---|---:|---:|---:|---:|---:|");
    for name in ENGINES {
        let dir = tempfile::tempdir().expect("tempdir");
        let write_start = Instant::now();
        {
            let sub = open_engine(name, dir.path(), SyncPolicy::Never);
            for chunk in 0..1000u64 {
                let ops = (0..1000u64)
                    .map(|i| Op::Put {
                        ks: Keyspace::Sessions,
                        key: queue_key(0, chunk * 1000 + i),
                        value: vec![0x5a_u8; VALUE_LEN],
                    })
                    .collect();
                sub.submit(ops, None);
            }
            sub.sync();
        }
        let write_s = write_start.elapsed().as_secs_f64();
        let size = dir_size(dir.path());
        let start = Instant::now();
        let (open_s, n) = match name {
            "midge-log" => {
                let s = Store::open(dir.path(), SyncPolicy::Always).expect("open");
                let open_s = start.elapsed().as_secs_f64();
                (open_s, s.load(Keyspace::Sessions).expect("load").len())
            }
            "redb" => {
                let e = RedbEngine::open(dir.path());
                (start.elapsed().as_secs_f64(), e.count())
            }
            _ => {
                let e = FjallEngine::open(dir.path());
                (start.elapsed().as_secs_f64(), e.count())
            }
        };
        let total_s = start.elapsed().as_secs_f64();
        assert_eq!(n, 1_000_000, "{name}");
        println!("| {name} | {n} | {write_s:.1} | {size} | {open_s:.2} | {total_s:.2} |");
    }
}

#[test]
#[ignore = "benchmark: run by hand"]
fn bench_compaction_pause_1m_live() {
    use std::sync::atomic::AtomicBool;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), SyncPolicy::Always).expect("open");
    for chunk in 0..1000u64 {
        let ops = (0..1000u64)
            .map(|i| Op::Put {
                ks: Keyspace::Sessions,
                key: queue_key(1, chunk * 1000 + i),
                value: vec![0x5a_u8; VALUE_LEN],
            })
            .collect();
        store.submit(ops, None);
    }
    store.sync().expect("sync");
    let stats = store.stats();
    let before = stats.compactions.load(Ordering::Relaxed);
    // Load from 256 submitters; meanwhile one more client times its own commits.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (store, stop) = (store.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut pairs = 0;
            while !stop.load(Ordering::Relaxed) {
                pairs += put_delete_pairs(&store, 256, Duration::from_millis(200), u64::MAX);
            }
            pairs
        })
    };
    let start = Instant::now();
    let (mut max, mut n) = (Duration::ZERO, 0u64);
    let mut max_during = Duration::ZERO;
    while stats.compactions.load(Ordering::Relaxed) == before {
        assert!(start.elapsed() < Duration::from_secs(300), "no compaction");
        let (tx, rx) = mpsc::channel();
        let t = Instant::now();
        store.submit(
            vec![Op::Put {
                ks: Keyspace::Inbound,
                key: n.to_be_bytes().to_vec(),
                value: vec![1; VALUE_LEN],
            }],
            Some(Box::new(move |r| {
                let _ = tx.send(r);
            })),
        );
        rx.recv().expect("done").expect("durable");
        let lat = t.elapsed();
        max = max.max(lat);
        // Compacting: more segments than the active one and the compacted one.
        if dir_file_count(dir.path()) > 2 {
            max_during = max_during.max(lat);
        }
        n += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let pairs = load.join().expect("load thread");
    println!(
        "1M live keys, Always: compaction after {pairs} pairs ({:.1} s), took {} ms in steps; \
         probe commits: {n}, max latency {} ms overall, {} ms while compacting; {} bytes on disk",
        start.elapsed().as_secs_f64(),
        stats.last_compaction_micros.load(Ordering::Relaxed) / 1000,
        max.as_millis(),
        max_during.as_millis(),
        stats.bytes_on_disk.load(Ordering::Relaxed)
    );
}

fn dir_file_count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.flatten().count())
}
