//! Start-up with millions of records (durability issue: "retained and session counts
//! into the millions start up in seconds"). Benchmarks, run by hand in release mode:
//!
//! ```sh
//! cargo test --release -p midge --test restore_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! Each fills a store in a temp dir with records encoded by `broker::persist` (as the
//! broker writes them), then measures, in this process, the store's open (log replay and
//! index) and the router's restore, and then the real binary from spawn to its
//! `listening` line (accepting connections), with its peak RSS.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use midge::broker::message::Message;
use midge::broker::persist::{self, SessionRecord};
use midge::broker::router::Router;
use midge::broker::{BrokerOptions, Metrics, Open};
use midge::config::Config;
use midge::protocol::{QoS, SubscriptionOptions};
use midge::storage::{Keyspace, Op, Store, SyncPolicy};

const N: u64 = 1_000_000;
/// Ops per submitted batch while filling.
const BATCH: u64 = 10_000;

/// A `/proc/<pid>/status` field in kB (`VmRSS`, `VmHWM`).
fn status_kb(pid: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Writes `N` records made by `record(i)`, in batches, and fsyncs.
fn fill(dir: &Path, record: impl Fn(u64) -> Op) -> Duration {
    let t = Instant::now();
    let store = Store::open(dir, SyncPolicy::Never).expect("open store");
    let mut i = 0;
    while i < N {
        let end = (i + BATCH).min(N);
        store.submit((i..end).map(&record).collect(), None);
        i = end;
    }
    store.sync().expect("sync");
    drop(store);
    t.elapsed()
}

/// What one record costs in memory, inline (heap parts not included).
fn print_sizes() {
    use std::mem::size_of;
    println!(
        "sizes: ClientEntry {} B, Session {} B, LastWill {} B, Message {} B, Properties {} B",
        size_of::<midge::broker::router::ClientEntry>(),
        size_of::<midge::broker::session::Session>(),
        size_of::<midge::protocol::LastWill>(),
        size_of::<Message>(),
        size_of::<midge::protocol::Properties>(),
    );
}

/// Store open, then the router's restore, in this process; then the real binary.
fn measure(what: &str, dir: &Path, fill_time: Duration) {
    print_sizes();
    let size: u64 = std::fs::read_dir(dir)
        .expect("store dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{what}: filled in {:.2} s, {:.0} MiB on disk",
        fill_time.as_secs_f64(),
        size as f64 / (1 << 20) as f64
    );
    // Peak RSS of this phase only: "5" resets VmHWM to the current RSS (Linux ≥ 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kb("self", "VmRSS");

    let t = Instant::now();
    let store = Store::open(dir, SyncPolicy::Never).expect("open store");
    let opened = t.elapsed();
    let config = Config::default();
    let access = Arc::new(Open {
        allow_anonymous: true,
    });
    let options = Arc::new(BrokerOptions::from_config(&config, access));
    let mut router = Router::new(options, Arc::new(Metrics::default()));
    let t2 = Instant::now();
    let counts = router.restore(&store).expect("restore");
    let restored = t2.elapsed();
    println!(
        "{what}: in-process: store open {:.2} s, restore {:.2} s ({counts:?}), \
         total {:.2} s, RSS {:.0} → peak {:.0} MiB",
        opened.as_secs_f64(),
        restored.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        mib(rss_before),
        mib(status_kb("self", "VmHWM")),
    );
    drop(router);
    drop(store);

    // The real binary (mimalloc, all of `Broker::start`): spawn → `listening`.
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_midge"))
        .args(["--headless", "-l", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("NO_COLOR", "1")
        .env_remove("MIDGE_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("midge runs");
    let pid = child.id().to_string();
    let stderr = child.stderr.take().expect("stderr");
    let mut restored_line = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("stderr");
        if line.contains("state restored") {
            restored_line = line.clone();
        }
        if line.contains("listening address=") {
            break;
        }
    }
    let listening = t.elapsed();
    let hwm = status_kb(&pid, "VmHWM");
    let rss = status_kb(&pid, "VmRSS");
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "{what}: binary: spawn → listening {:.2} s, RSS {:.0} MiB, peak {:.0} MiB",
        listening.as_secs_f64(),
        mib(rss),
        mib(hwm)
    );
    println!("{what}: binary log: {restored_line}");
}

#[test]
#[ignore = "benchmark: run by hand"]
fn startup_1m_retained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fill_time = fill(dir.path(), |i| {
        let topic = format!("bench/{}/{i}", i / 1000);
        let msg = Message::internal(&topic, Bytes::from(vec![b'x'; 64]), QoS::AtLeastOnce, true);
        Op::Put {
            ks: Keyspace::Retained,
            key: topic.into_bytes(),
            value: persist::retained_value(&msg),
        }
    });
    measure("1M retained", dir.path(), fill_time);
}

#[test]
#[ignore = "benchmark: run by hand"]
fn startup_1m_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = persist::unix_ms_now();
    let fill_time = fill(dir.path(), |i| {
        let record = SessionRecord {
            session_expiry: u32::MAX,
            disconnected_at_ms: now,
            subscriptions: vec![(
                format!("bench/{}/{i}", i / 1000),
                SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    ..Default::default()
                },
                None,
            )],
            will: None,
        };
        Op::Put {
            ks: Keyspace::Sessions,
            key: format!("client-{i}").into_bytes(),
            value: persist::session_value(&record),
        }
    });
    measure("1M sessions", dir.path(), fill_time);
}
