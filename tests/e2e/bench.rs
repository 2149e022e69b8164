//! `midge bench` against an in-process midge on 127.0.0.1:0: the generator's library API
//! runs each scenario briefly and must see every message exactly once at QoS 1 and 2.
//! Timing is never asserted, only accounting.

use std::net::SocketAddr;
use std::time::Duration;

use midge::bench::{run_scenario, BenchOptions, Scenario, ScenarioReport};
use midge::broker::Broker;
use midge::protocol::{ProtocolVersion, QoS};

/// Every test is over well within this, or fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

async fn start_midge() -> (Broker, SocketAddr) {
    let t = crate::support::start_broker().await;
    let addr = t.addr();
    (t.broker, addr)
}

fn short(scenario: Scenario, addr: SocketAddr, qos: QoS) -> BenchOptions {
    let mut o = BenchOptions::new(scenario, addr);
    o.qos = qos;
    o.duration = Duration::from_secs(1);
    o.drain = Duration::from_secs(5);
    o
}

async fn run(o: &BenchOptions) -> ScenarioReport {
    tokio::time::timeout(TEST_TIMEOUT, run_scenario(o))
        .await
        .expect("the run ends in time")
        .expect("the run succeeds")
}

fn assert_exactly_once(r: &ScenarioReport) {
    assert!(r.sent > 0, "nothing was sent: {r:?}");
    assert_eq!(r.losses, 0, "losses: {r:?}");
    assert_eq!(r.dups, 0, "duplicates: {r:?}");
    assert_eq!(r.foreign, 0, "foreign payloads: {r:?}");
    assert_eq!(r.unacked, 0, "unacknowledged publishes: {r:?}");
    assert_eq!(r.received, r.expected, "every due delivery arrived: {r:?}");
    assert_eq!(r.latency_us.samples, r.received);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_fanin_qos1_loses_nothing() {
    let (broker, addr) = start_midge().await;
    let mut o = short(Scenario::Fanin, addr, QoS::AtLeastOnce);
    o.publishers = 8;
    let r = run(&o).await;
    assert_exactly_once(&r);
    assert_eq!((r.publishers, r.subscribers), (8, 1));
    assert_eq!(r.expected, r.sent);
    broker.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_pairs_qos1_loses_nothing() {
    let (broker, addr) = start_midge().await;
    let mut o = short(Scenario::Pairs, addr, QoS::AtLeastOnce);
    o.pairs = 8;
    let r = run(&o).await;
    assert_exactly_once(&r);
    assert_eq!((r.publishers, r.subscribers), (8, 8));
    broker.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_fanout_qos2_v5_delivers_to_every_subscriber() {
    let (broker, addr) = start_midge().await;
    let mut o = short(Scenario::Fanout, addr, QoS::ExactlyOnce);
    o.protocol = ProtocolVersion::V5;
    o.subscribers = 4;
    let r = run(&o).await;
    assert_exactly_once(&r);
    assert_eq!(r.expected, r.sent * 4);
    broker.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_latency_is_paced() {
    let (broker, addr) = start_midge().await;
    let mut o = short(Scenario::Latency, addr, QoS::AtLeastOnce);
    o.rate = 200;
    let r = run(&o).await;
    assert_exactly_once(&r);
    // Paced: about 200 in one second, never the thousands an unpaced run sends.
    assert!(r.sent <= 201, "{r:?}");
    assert!(r.latency_us.p50 <= r.latency_us.p99 && r.latency_us.p99 <= r.latency_us.max);
    broker.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_conns_opens_every_connection() {
    let (broker, addr) = start_midge().await;
    let mut o = short(Scenario::Conns, addr, QoS::AtMostOnce);
    o.connections = 50;
    o.concurrency = 8;
    let r = run(&o).await;
    let c = r.conns.expect("conns report");
    assert_eq!((c.attempted, c.connected, c.failed), (50, 50, 0), "{c:?}");
    assert!(c.first_error.is_none());
    broker.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_reports_a_refused_connection() {
    // A port nobody listens on: bind one, then drop it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port");
    let o = short(Scenario::Pairs, addr, QoS::AtMostOnce);
    let err = tokio::time::timeout(TEST_TIMEOUT, run_scenario(&o))
        .await
        .expect("fails fast");
    assert!(err.is_err(), "{err:?}");
}
