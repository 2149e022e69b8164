//! Runs one scenario: connects its subscribers, then its publishers, times the publishing
//! window, waits (bounded) for the last deliveries, and folds the tasks' results into a
//! [`ScenarioReport`].

use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::client::{Client, KEEP_ALIVE};
use super::flow::{publisher, subscriber, PubPlan, PubResult, Shared, SubResult};
use super::report::{Latency, ScenarioReport};
use super::stats::Histogram;
use super::sys::{rss_kib, CpuMeter};
use super::{BenchError, BenchOptions, Scenario};

/// Who publishes where and who listens: built per scenario.
struct Layout {
    /// Publisher i publishes to `pub_topics[i]`.
    pub_topics: Vec<String>,
    /// Subscriber j subscribes to `sub_filters[j]` and hears from `sub_sources[j]`.
    sub_filters: Vec<String>,
    sub_sources: Vec<Vec<usize>>,
    /// Subscribers each message reaches.
    fanout: usize,
}

fn layout(o: &BenchOptions, run: &str) -> Layout {
    let base = format!("midge-bench/{run}");
    match o.scenario {
        Scenario::Fanin => Layout {
            pub_topics: (0..o.publishers)
                .map(|i| format!("{base}/in/{i}"))
                .collect(),
            sub_filters: vec![format!("{base}/in/+")],
            sub_sources: vec![(0..o.publishers).collect()],
            fanout: 1,
        },
        Scenario::Fanout => Layout {
            pub_topics: vec![format!("{base}/out")],
            sub_filters: vec![format!("{base}/out"); o.subscribers],
            sub_sources: vec![vec![0]; o.subscribers],
            fanout: o.subscribers,
        },
        Scenario::Pairs => Layout {
            pub_topics: (0..o.pairs).map(|i| format!("{base}/pair/{i}")).collect(),
            sub_filters: (0..o.pairs).map(|i| format!("{base}/pair/{i}")).collect(),
            sub_sources: (0..o.pairs).map(|i| vec![i]).collect(),
            fanout: 1,
        },
        Scenario::Latency | Scenario::Conns | Scenario::Snfanin => Layout {
            pub_topics: vec![format!("{base}/lat")],
            sub_filters: vec![format!("{base}/lat")],
            sub_sources: vec![vec![0]],
            fanout: 1,
        },
    }
}

/// Runs `o.scenario` against `o.addr` and reports what happened.
pub async fn run_scenario(o: &BenchOptions) -> Result<ScenarioReport, BenchError> {
    if o.scenario == Scenario::Conns {
        return super::conns::run(o).await;
    }
    if o.scenario == Scenario::Snfanin {
        return super::sn::run(o).await;
    }
    if o.payload < super::stats::HEADER_LEN {
        return Err(BenchError::Usage(format!(
            "payload {} < {} bytes",
            o.payload,
            super::stats::HEADER_LEN
        )));
    }
    let run = super::run_id();
    let lay = layout(o, &run);
    let publishers = lay.pub_topics.len();
    // The window is shared by all publishers, counted in messages; a credit is a delivery.
    let per_pub = (o.window / publishers).max(1);
    let shared = Arc::new(Shared::new(publishers, per_pub * lay.fanout));

    let subs = connect_all(o, &run, "s", lay.sub_filters.len(), Some(&lay.sub_filters)).await?;
    let pubs = connect_all(o, &run, "p", publishers, None).await?;

    let (done_tx, done_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let cpu = CpuMeter::start(o.broker_pid);
    let mut sub_tasks = JoinSet::new();
    for (j, (c, sources)) in subs.into_iter().zip(lay.sub_sources).enumerate() {
        let task = subscriber(c, sources, shared.clone(), done_rx.clone(), stop_rx.clone());
        sub_tasks.spawn(async move { task.await.map(|r| (j, r)) });
    }
    let started = Instant::now();
    let started_ns = shared.now_ns();
    let until = started + o.duration;
    let mut pub_tasks = JoinSet::new();
    for (index, (c, topic)) in pubs.into_iter().zip(lay.pub_topics).enumerate() {
        let plan = PubPlan {
            index,
            topic,
            qos: o.qos,
            payload: o.payload,
            fanout: lay.fanout,
            batch: o.batch,
            inflight: o.inflight,
            rate: (o.scenario == Scenario::Latency).then_some(o.rate),
            until,
            drain: o.drain,
        };
        pub_tasks.spawn(publisher(c, plan, shared.clone()));
    }
    let progress = o.progress.then(|| {
        let shared = shared.clone();
        let label = format!("{} {}", o.scenario.name(), o.label);
        tokio::spawn(progress_line(label, shared, started))
    });

    let mut pub_results = Vec::new();
    let mut first_error = None;
    while let Some(j) = pub_tasks.join_next().await {
        match j {
            Ok(Ok(r)) => pub_results.push(r),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(BenchError::Task(e.to_string()));
            }
        }
    }
    let published_for = started.elapsed().min(o.duration + o.drain);
    let _ = done_tx.send(true);
    let mut sub_results = Vec::new();
    let drain_end = tokio::time::Instant::now() + o.drain;
    loop {
        let next = tokio::time::timeout_at(drain_end, sub_tasks.join_next()).await;
        match next {
            Ok(None) => break,
            Ok(Some(Ok(Ok(r)))) => sub_results.push(r),
            Ok(Some(Ok(Err(e)))) => {
                first_error.get_or_insert(e);
            }
            Ok(Some(Err(e))) => {
                first_error.get_or_insert(BenchError::Task(e.to_string()));
            }
            Err(_) => {
                // Drain time is up: subscribers report what they have.
                let _ = stop_tx.send(true);
            }
        }
    }
    let (own_cpu, broker_cpu) = cpu.stop();
    if let Some(p) = progress {
        p.abort();
        eprint!("\r\x1b[2K");
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let mut report = fold(
        o,
        &shared,
        &pub_results,
        &sub_results,
        published_for,
        started_ns,
    );
    report.generator_cpu_pct = own_cpu;
    report.broker_cpu_pct = broker_cpu;
    report.broker_rss_kib = o.broker_pid.and_then(rss_kib);
    Ok(report)
}

/// Connects `n` clients (in parallel, bounded) and subscribes each to its filter.
async fn connect_all(
    o: &BenchOptions,
    run: &str,
    role: &str,
    n: usize,
    filters: Option<&[String]>,
) -> Result<Vec<Client>, BenchError> {
    let limit = Arc::new(tokio::sync::Semaphore::new(o.concurrency.max(1)));
    let mut set = JoinSet::new();
    for i in 0..n {
        let id = format!("mb-{run}-{role}{i}");
        let filter = filters.and_then(|f| f.get(i).cloned());
        // Subscribers may sit on another broker (bridged to the publishers').
        let addr = match (&filter, o.sub_addr) {
            (Some(_), Some(sub)) => sub,
            _ => o.addr,
        };
        let (version, qos, limit) = (o.protocol, o.qos, limit.clone());
        // Only subscribers keep a session: that is what makes a broker store deliveries.
        let persistent = o.persistent && filter.is_some();
        set.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let mut c = Client::connect_with(addr, version, &id, KEEP_ALIVE, persistent).await?;
            if let Some(f) = filter {
                c.subscribe(&f, qos).await?;
            }
            Ok::<_, BenchError>((i, c))
        });
    }
    let mut clients: Vec<Option<Client>> = (0..n).map(|_| None).collect();
    while let Some(j) = set.join_next().await {
        let (i, c) = j.map_err(|e| BenchError::Task(e.to_string()))??;
        clients[i] = Some(c);
    }
    Ok(clients.into_iter().flatten().collect())
}

fn fold(
    o: &BenchOptions,
    shared: &Shared,
    pubs: &[PubResult],
    subs: &[(usize, SubResult)],
    published_for: Duration,
    started_ns: u64,
) -> ScenarioReport {
    let sent_by: Vec<u64> = shared
        .sent
        .iter()
        .map(|s| s.load(Ordering::Relaxed))
        .collect();
    let sent: u64 = sent_by.iter().sum();
    let mut latency = Histogram::default();
    let (mut received, mut dups, mut reordered, mut losses, mut expected, mut foreign) =
        (0, 0, 0, 0, 0, 0);
    let mut last_ns = 0;
    let lay_sources = layout(o, "").sub_sources;
    let mut reported = vec![false; lay_sources.len()];
    for (j, sub) in subs {
        let Some(sources) = lay_sources.get(*j) else {
            continue;
        };
        reported[*j] = true;
        latency.merge(&sub.latency);
        received += sub.received;
        foreign += sub.foreign;
        last_ns = last_ns.max(sub.last_ns);
        for (p, t) in sub.trackers.iter().enumerate() {
            dups += t.dups;
            reordered += t.reordered;
            if sources.contains(&p) {
                let s = sent_by.get(p).copied().unwrap_or(0);
                expected += s;
                losses += t.losses(s);
            }
        }
    }
    // Subscribers that failed to report lose everything they were due.
    let mut missing_subs = 0;
    for (sources, _) in lay_sources.iter().zip(&reported).filter(|(_, r)| !**r) {
        missing_subs += 1;
        let due: u64 = sources.iter().filter_map(|&p| sent_by.get(p)).sum();
        expected += due;
        losses += due;
    }
    let secs = published_for.as_secs_f64().max(1e-3);
    #[expect(clippy::cast_precision_loss, reason = "nanoseconds within a run")]
    let recv_secs = (last_ns.saturating_sub(started_ns) as f64 / 1e9).max(secs);
    #[expect(clippy::cast_precision_loss, reason = "counts within a run")]
    let rate = |n: u64, s: f64| n as f64 / s;
    ScenarioReport {
        scenario: o.scenario,
        broker: o.label.clone(),
        protocol: if o.protocol.is_v5() { "5" } else { "3.1.1" }.to_owned(),
        qos: o.qos as u8,
        payload: o.payload,
        publishers: shared.sent.len(),
        subscribers: lay_sources.len(),
        seconds: secs,
        sent,
        expected,
        received,
        losses,
        dups,
        reordered,
        foreign,
        missing_subscribers: missing_subs,
        stalls: pubs.iter().map(|p| p.stalls).sum(),
        unacked: pubs.iter().map(|p| p.unacked).sum(),
        sent_per_sec: rate(sent, secs),
        received_per_sec: rate(received, recv_secs),
        latency_us: Latency::from_histogram(&latency),
        ..ScenarioReport::default()
    }
}

/// Rewrites one stderr line every second: messages sent and received per second.
async fn progress_line(label: String, shared: Arc<Shared>, started: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut last_sent, mut last_recv) = (0, 0);
    tick.tick().await; // the first tick is immediate
    loop {
        tick.tick().await;
        let sent = shared.total_sent();
        let recv = shared.received.load(Ordering::Relaxed);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{label}  {:>4.0}s  sent {:>10}/s  received {:>10}/s",
            started.elapsed().as_secs_f64(),
            sent - last_sent,
            recv - last_recv
        );
        let _ = err.flush();
        (last_sent, last_recv) = (sent, recv);
    }
}
