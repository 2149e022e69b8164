//! The `conns` scenario: open N connections with bounded concurrency, each subscribed to
//! its own topic, hold them while the broker's memory settles, and report the connect rate,
//! the failures and the broker's resident memory per connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::client::{Client, KEEP_ALIVE};
use super::report::{ConnsReport, ScenarioReport};
use super::sys::{rss_kib, CpuMeter};
use super::{run_id, BenchError, BenchOptions};

/// The broker's RSS counts as settled when two readings this far apart agree within 1 %.
const SETTLE_STEP: Duration = Duration::from_millis(250);
/// Wait no longer than this for it to settle.
const SETTLE_MAX: Duration = Duration::from_secs(5);

pub async fn run(o: &BenchOptions) -> Result<ScenarioReport, BenchError> {
    let run = run_id();
    let rss_before = o.broker_pid.and_then(rss_kib);
    let cpu = CpuMeter::start(o.broker_pid);
    let limit = Arc::new(Semaphore::new(o.concurrency.max(1)));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..o.connections {
        let (addr, version, qos, limit) = (o.addr, o.protocol, o.qos, limit.clone());
        let id = format!("mb-{run}-c{i}");
        let topic = format!("midge-bench/{run}/conn/{i}");
        set.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let mut c = Client::connect(addr, version, &id, KEEP_ALIVE).await?;
            c.subscribe(&topic, qos).await?;
            Ok::<_, BenchError>(c)
        });
    }
    let mut clients = Vec::with_capacity(o.connections);
    let mut failed = 0;
    let mut first_error = None;
    while let Some(j) = set.join_next().await {
        match j {
            Ok(Ok(c)) => clients.push(c),
            Ok(Err(e)) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-3);
    let (own_cpu, broker_cpu) = cpu.stop();
    let rss_after = match o.broker_pid {
        Some(pid) => settled_rss(pid).await,
        None => None,
    };
    let connected = clients.len();
    // Idle: nothing is sent (keep-alive is KEEP_ALIVE), so this is the broker's cost of
    // merely holding them (and of whoever watches it, e.g. its dashboard).
    let idle_cpu = if o.hold.is_zero() {
        None
    } else {
        let meter = CpuMeter::start(o.broker_pid);
        tokio::time::sleep(o.hold).await;
        meter.stop().1
    };
    // Closing 10,000 sockets needs no ceremony: the broker sees EOF on each.
    drop(clients);
    #[expect(clippy::cast_precision_loss, reason = "counts and KiB are small")]
    let per_conn = match (rss_before, rss_after) {
        (Some(b), Some(a)) if connected > 0 => {
            Some((a.saturating_sub(b) * 1024) as f64 / connected as f64)
        }
        _ => None,
    };
    #[expect(clippy::cast_precision_loss, reason = "a connection count")]
    let connects_per_sec = connected as f64 / elapsed;
    Ok(ScenarioReport {
        scenario: o.scenario,
        broker: o.label.clone(),
        protocol: if o.protocol.is_v5() { "5" } else { "3.1.1" }.to_owned(),
        qos: o.qos as u8,
        subscribers: connected,
        seconds: elapsed,
        generator_cpu_pct: own_cpu,
        broker_cpu_pct: broker_cpu,
        broker_rss_kib: rss_after,
        conns: Some(ConnsReport {
            attempted: o.connections,
            connected,
            failed,
            first_error,
            connects_per_sec,
            broker_rss_before_kib: rss_before,
            broker_rss_after_kib: rss_after,
            broker_rss_per_conn_bytes: per_conn,
            broker_idle_cpu_pct: idle_cpu,
        }),
        ..ScenarioReport::default()
    })
}

/// The broker's RSS once it stops moving (or after [`SETTLE_MAX`]).
async fn settled_rss(pid: u32) -> Option<u64> {
    let deadline = Instant::now() + SETTLE_MAX;
    let mut last = rss_kib(pid)?;
    loop {
        tokio::time::sleep(SETTLE_STEP).await;
        let now = rss_kib(pid)?;
        if now.abs_diff(last) <= last / 100 || Instant::now() >= deadline {
            return Some(now.max(last));
        }
        last = now;
    }
}
