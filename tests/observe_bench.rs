//! Observing a broker with many idle sessions, in process: the observer attaches once (a
//! walk over every session), then each snapshot costs the rows on screen and the clients
//! that changed, however many sessions exist. Ignored by default; run with
//! `cargo test --release --test observe_bench -- --ignored --nocapture`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use midge::broker::observe::{Observer, Parts, SourceFacts};
use midge::broker::router::watch::Query;
use midge::broker::router::{ConnectGranted, ConnectRequest, Router, RouterMsg};
use midge::broker::stats::{ClientInfo, ClientStats, Metrics};
use midge::broker::{BrokerOptions, Open};
use midge::config::Config;
use midge::protocol::ProtocolVersion;
use midge_model::{SortKey, TableQuery, Watch};
use tokio::sync::{mpsc, oneshot};

/// Snapshots measured per case.
const ROUNDS: usize = 20;
/// Clients with traffic between two snapshots in the "busy" case.
const ACTIVE: usize = 100;

fn watch(sort: SortKey) -> Watch {
    Watch {
        table: Some(TableQuery {
            sort,
            descending: true,
            filter: String::new(),
            offset: 0,
            limit: 60,
        }),
        ..Watch::default()
    }
}

fn stats(i: usize) -> Arc<ClientStats> {
    ClientStats::new(ClientInfo {
        client_id: Arc::from(format!("sensor-{i:07}")),
        address: format!("127.0.0.1:{}", 1024 + i % 60_000),
        protocol: ProtocolVersion::V3_1_1,
        username: None,
        tls: false,
        keep_alive: 60,
        connected_since: SystemTime::now(),
        clean_start: true,
        internal: false,
        bridge: false,
    })
}

/// `n` online, idle sessions; the grants keep them online.
async fn connect(
    router: &mpsc::Sender<RouterMsg>,
    n: usize,
) -> (Vec<ConnectGranted>, Vec<Arc<ClientStats>>) {
    let mut replies = Vec::with_capacity(n);
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        let (reply, rx) = oneshot::channel();
        let s = stats(i);
        all.push(s.clone());
        let req = ConnectRequest {
            client_id: s.info.client_id.clone(),
            conn_id: i as u64,
            clean_start: true,
            session_expiry: 0,
            window: 10,
            max_queued: None,
            stats: s,
            reply,
        };
        router
            .send(RouterMsg::Connect(Box::new(req)))
            .await
            .expect("router");
        replies.push(rx);
    }
    let mut grants = Vec::with_capacity(n);
    for rx in replies {
        grants.push(rx.await.expect("granted"));
    }
    (grants, all)
}

/// Median and worst time of `ROUNDS` snapshots, `before` run ahead of each.
async fn time_snapshots(
    observer: &Observer,
    w: &Watch,
    mut before: impl FnMut(usize),
) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        before(round);
        let t = Instant::now();
        let snap = observer
            .snapshot(w.clone(), SourceFacts::default())
            .await
            .expect("snapshot");
        times.push(t.elapsed());
        assert_eq!(snap.connections.as_ref().map(Vec::len), Some(60));
    }
    times.sort();
    (times[ROUNDS / 2], times[ROUNDS - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn measure(n: usize) {
    let config = Config::default();
    let access = Arc::new(Open {
        allow_anonymous: true,
    });
    let options = Arc::new(BrokerOptions::from_config(&config, access));
    let metrics = Arc::new(Metrics::default());
    let router = Router::new(options, metrics.clone());
    let drops = router.drops();
    let (tx, rx) = mpsc::channel(4096);
    let (_admin_tx, admin_rx) = mpsc::channel(1);
    let task = tokio::spawn(router.run(rx));
    let t = Instant::now();
    let (grants, all) = connect(&tx, n).await;
    let connected = t.elapsed();
    // The router's share of an attach: the walk that lists every session, timed as a
    // question asked right behind it (what a publisher waits meanwhile).
    let (feed, feed_rx) = mpsc::unbounded_channel();
    let (reply, answered) = oneshot::channel();
    let t = Instant::now();
    tx.send(RouterMsg::Observe(Query::Attach(feed)))
        .await
        .expect("router");
    tx.send(RouterMsg::Observe(Query::Stats {
        client: Arc::from("nobody"),
        reply,
    }))
    .await
    .expect("router");
    answered.await.expect("answered");
    let router_stall = t.elapsed();
    drop(feed_rx);
    let observer = Observer::spawn(
        Parts {
            router: tx.clone(),
            metrics: metrics.clone(),
            store: None,
            drops,
            links: Default::default(),
            context: std::sync::Weak::new(),
            started: SystemTime::now(),
            sync_mode: "never".into(),
        },
        admin_rx,
    );
    let by_id = watch(SortKey::ClientId);
    let t = Instant::now();
    observer
        .snapshot(by_id.clone(), SourceFacts::default())
        .await
        .expect("first snapshot");
    let attach = t.elapsed();
    let (idle_med, idle_max) = time_snapshots(&observer, &by_id, |_| {}).await;
    // Traffic on ACTIVE clients between snapshots, table sorted by messages in.
    let by_msgs = watch(SortKey::MsgsIn);
    let (busy_med, busy_max) = time_snapshots(&observer, &by_msgs, |round| {
        for k in 0..ACTIVE {
            let s = &all[(round * ACTIVE + k * 7919) % n];
            s.messages_in.fetch_add(1 + k as u64, Relaxed);
            s.touch(&metrics);
        }
    })
    .await;
    println!(
        "| {n:>9} | {:>8.0} | {:>8.1} | {:>8.1} | {:>6.2} / {:>6.2} | {:>6.2} / {:>6.2} |",
        ms(connected),
        ms(router_stall),
        ms(attach),
        ms(idle_med),
        ms(idle_max),
        ms(busy_med),
        ms(busy_max),
    );
    drop(grants);
    let _ = tx.send(RouterMsg::Stop).await;
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run by hand with --release --ignored --nocapture"]
async fn snapshot_cost_does_not_grow_with_idle_sessions() {
    println!(
        "| sessions | connect ms | router stall on attach ms | attach ms (observer) | \
         idle snapshot ms (median / max) | {ACTIVE} active, sorted by msgs in (median / max) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for n in [1_000, 100_000, 1_000_000] {
        measure(n).await;
    }
}
