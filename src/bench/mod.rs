//! `midge bench`: a load generator for any MQTT broker.
//!
//! Owns the bench command line ([`BenchArgs`]), its resolved options ([`BenchOptions`]),
//! the scenarios (fanin, fanout, pairs, latency, conns) and their reports. Every message
//! carries a sequence number, a publisher id and a send time (see [`stats::Stamp`]), so
//! losses, duplicates and end-to-end latency are measured, not assumed.
//!
//! - [`client`]: a small MQTT client on midge's codec with batched writes.
//! - [`flow`]: the publisher and subscriber tasks and their credit window.
//! - [`scenario`]: wiring a scenario's clients together and timing it.
//! - [`conns`]: the connection-count scenario.
//! - [`stats`]: payload stamps, sequence tracking, latency histogram.
//! - [`report`]: the table and the JSON.
//! - [`sys`]: fd limit, CPU and RSS from `/proc`.
//!
//! TODO(tls): `mqtts://` targets once the transport's rustls client config is shared.

pub mod client;
pub mod conns;
pub mod flow;
pub mod report;
pub mod scenario;
pub mod sn;
pub mod stats;
pub mod sys;

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::protocol::{ProtocolVersion, QoS};

pub use report::ScenarioReport;
pub use scenario::run_scenario;

/// The longest a throughput or latency run may publish for.
pub const MAX_DURATION: Duration = Duration::from_secs(120);

/// What load to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// P publishers → 1 subscriber on a wildcard filter.
    Fanin,
    /// 1 publisher → S subscribers of the same topic.
    Fanout,
    /// N publisher/subscriber pairs, one topic each.
    Pairs,
    /// 1 publisher → 1 subscriber at a paced rate; end-to-end latency percentiles.
    Latency,
    /// Open N connections (each subscribed to its own topic) and hold them; connect rate,
    /// failures and the broker's RSS per connection.
    Conns,
    /// P MQTT-SN publishers over UDP (the gateway at `--sn-port`) → 1 MQTT subscriber.
    Snfanin,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Self::Fanin => "fanin",
            Self::Fanout => "fanout",
            Self::Pairs => "pairs",
            Self::Latency => "latency",
            Self::Conns => "conns",
            Self::Snfanin => "snfanin",
        }
    }
}

/// `midge bench SCENARIO [OPTIONS]`: load an MQTT broker and report what it did.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct BenchArgs {
    /// The load to generate.
    #[arg(value_enum)]
    pub scenario: Scenario,

    /// Broker host name or IP
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Broker port
    #[arg(short, long, default_value_t = 1883)]
    pub port: u16,

    /// Subscribers connect to this host instead (with --sub-port): messages then cross
    /// whatever links the two brokers, e.g. a bridge [default: --host]
    #[arg(long, value_name = "HOST")]
    pub sub_host: Option<String>,

    /// Subscribers connect to this port instead, e.g. a bridge's remote broker
    /// [default: --port]
    #[arg(long, value_name = "PORT")]
    pub sub_port: Option<u16>,

    /// MQTT version: 3.1.1 or 5
    #[arg(long = "protocol", default_value = "3.1.1", value_parser = parse_protocol)]
    pub protocol: ProtocolVersion,

    /// QoS of publishes and subscriptions: 0, 1 or 2
    #[arg(short, long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub qos: u8,

    /// Payload size in bytes, at least 24 (sequence, publisher id, timestamp)
    #[arg(short = 's', long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(24..=16_000_000))]
    pub payload: u32,

    /// How long to publish, in seconds (1..=120)
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub duration: u64,

    /// Publishers in fanin
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub publishers: u32,

    /// Subscribers in fanout
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub subscribers: u32,

    /// Publisher/subscriber pairs in pairs
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub pairs: u32,

    /// Messages published but not yet received, across all publishers: the credit window
    /// that keeps the broker's queues short
    #[arg(short, long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub window: u32,

    /// QoS 1/2 publishes a publisher leaves unacknowledged at most (also capped by the
    /// broker's v5 Receive Maximum)
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u16).range(1..))]
    pub inflight: u16,

    /// Most publishes encoded into one write
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,

    /// Messages per second in latency
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate: u32,

    /// Connections to open in conns
    #[arg(short = 'n', long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub connections: u32,

    /// Connection attempts under way at once in conns
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,

    /// conns: keep the connections open and idle this many seconds after they settle, and
    /// report the broker's CPU meanwhile (0..=600; 0 = close at once)
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub hold: u64,

    /// Seconds to wait for the last messages after publishing stops (1..=30)
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=30))]
    pub drain: u64,

    /// The broker's process id: report its CPU and RSS from /proc [default: none]
    #[arg(long, value_name = "PID")]
    pub broker_pid: Option<u32>,

    /// A label for the broker in the report [default: HOST:PORT]
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,

    /// Subscribers use persistent sessions (3.1.1 clean session 0, v5 session expiry
    /// 300 s), so a durable broker stores every QoS 1/2 delivery
    #[arg(long)]
    pub persistent: bool,

    /// Generator worker threads; 1 leaves the other cores to the broker
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: u32,

    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,

    /// snfanin: the MQTT-SN gateway's UDP port on the same host
    #[arg(long, default_value_t = 1884)]
    pub sn_port: u16,
}

/// `--protocol` named no version the bench speaks (clap prints it with the flag).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?}: expected 3.1.1 or 5")]
pub struct UnknownProtocol(String);

fn parse_protocol(s: &str) -> Result<ProtocolVersion, UnknownProtocol> {
    match s {
        "3.1.1" | "311" | "4" => Ok(ProtocolVersion::V3_1_1),
        "5" | "5.0" => Ok(ProtocolVersion::V5),
        other => Err(UnknownProtocol(other.to_owned())),
    }
}

/// Everything a scenario run needs, resolved from [`BenchArgs`] (or built by a test).
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub scenario: Scenario,
    pub addr: SocketAddr,
    /// Where subscribers connect (another broker bridged to `addr`); `None`: `addr`.
    pub sub_addr: Option<SocketAddr>,
    pub label: String,
    pub protocol: ProtocolVersion,
    pub qos: QoS,
    pub payload: usize,
    pub duration: Duration,
    pub publishers: usize,
    pub subscribers: usize,
    pub pairs: usize,
    pub window: usize,
    pub inflight: u16,
    pub batch: usize,
    pub rate: u32,
    pub connections: usize,
    pub concurrency: usize,
    /// conns: how long idle connections are held (and the broker's CPU measured).
    pub hold: Duration,
    pub drain: Duration,
    pub broker_pid: Option<u32>,
    /// Print a progress line to stderr while running.
    pub progress: bool,
    /// Subscribers keep persistent sessions.
    pub persistent: bool,
    /// snfanin: the MQTT-SN gateway's UDP port on `addr`'s host.
    pub sn_port: u16,
}

impl BenchOptions {
    /// Defaults for `scenario` against `addr` (the same as the command line's).
    pub fn new(scenario: Scenario, addr: SocketAddr) -> Self {
        Self {
            scenario,
            addr,
            sub_addr: None,
            label: addr.to_string(),
            protocol: ProtocolVersion::V3_1_1,
            qos: QoS::AtMostOnce,
            payload: 64,
            duration: Duration::from_secs(10),
            publishers: 16,
            subscribers: 64,
            pairs: 32,
            window: 1000,
            inflight: 256,
            batch: 64,
            rate: 2000,
            connections: 1000,
            concurrency: 64,
            hold: Duration::ZERO,
            drain: Duration::from_secs(5),
            broker_pid: None,
            persistent: false,
            progress: false,
            sn_port: 1884,
        }
    }

    /// Resolves the host name and checks the combinations clap cannot.
    pub fn from_args(a: &BenchArgs) -> Result<Self, BenchError> {
        let resolve = |host: &str, port: u16| {
            (host, port)
                .to_socket_addrs()
                .map_err(|e| BenchError::Io(format!("resolve {host}"), e))?
                .next()
                .ok_or_else(|| BenchError::Usage(format!("{host}: no address")))
        };
        let addr = resolve(&a.host, a.port)?;
        let sub_addr = match (&a.sub_host, a.sub_port) {
            (None, None) => None,
            (h, p) => Some(resolve(
                h.as_deref().unwrap_or(&a.host),
                p.unwrap_or(a.port),
            )?),
        };
        let qos = QoS::try_from(a.qos).map_err(|q| BenchError::Usage(format!("QoS {q}")))?;
        let to_usize = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
        Ok(Self {
            scenario: a.scenario,
            addr,
            sub_addr,
            label: a
                .label
                .clone()
                .unwrap_or_else(|| format!("{}:{}", a.host, a.port)),
            protocol: a.protocol,
            qos,
            payload: to_usize(a.payload),
            duration: Duration::from_secs(a.duration).min(MAX_DURATION),
            publishers: to_usize(a.publishers),
            subscribers: to_usize(a.subscribers),
            pairs: to_usize(a.pairs),
            window: to_usize(a.window),
            inflight: a.inflight,
            batch: to_usize(a.batch),
            rate: a.rate,
            connections: to_usize(a.connections),
            concurrency: to_usize(a.concurrency),
            hold: Duration::from_secs(a.hold),
            drain: Duration::from_secs(a.drain),
            broker_pid: a.broker_pid,
            persistent: a.persistent,
            progress: !a.json && std::io::stderr().is_terminal(),
            sn_port: a.sn_port,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("{0}")]
    Usage(String),
    #[error("a bench task failed: {0}")]
    Task(String),
}

/// Runs `midge bench` from the command line: raises the fd limit, runs the scenario on its
/// own runtime and prints the table (or JSON) to stdout. Exit code mapping is the caller's:
/// `Err(Usage)` is a usage error (2), anything else a failure (1).
pub fn run(args: &BenchArgs) -> Result<ScenarioReport, BenchError> {
    let opts = BenchOptions::from_args(args)?;
    let nofile = sys::raise_nofile();
    let threads = usize::try_from(args.threads).unwrap_or(1);
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .map_err(|e| BenchError::Io("start the runtime".into(), e))?;
    let mut report = rt.block_on(run_scenario(&opts))?;
    report.nofile_limit = nofile;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report::table(std::slice::from_ref(&report)));
    }
    Ok(report)
}

/// A short id that keeps concurrent or repeated runs' topics and client ids apart.
pub(crate) fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{:x}{:05x}", std::process::id() & 0xffff, nanos & 0xfffff)
}
