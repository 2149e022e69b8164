//! The results of a run: [`ScenarioReport`] (serialized as JSON for scripts) and the
//! human table printed at the end.

use std::fmt::Write as _;

use serde::Serialize;

use super::stats::Histogram;
use super::Scenario;

/// End-to-end latency percentiles in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    /// Samples the percentiles come from.
    pub samples: u64,
}

impl Latency {
    pub fn from_histogram(h: &Histogram) -> Self {
        #[expect(clippy::cast_precision_loss, reason = "nanoseconds, far below 2^53")]
        let us = |ns: u64| ns as f64 / 1000.0;
        Self {
            p50: us(h.quantile(0.5)),
            p99: us(h.quantile(0.99)),
            p999: us(h.quantile(0.999)),
            max: us(h.max()),
            samples: h.count(),
        }
    }
}

/// The `conns` scenario's numbers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ConnsReport {
    pub attempted: usize,
    pub connected: usize,
    pub failed: usize,
    /// The first failure's message, if any.
    pub first_error: Option<String>,
    pub connects_per_sec: f64,
    pub broker_rss_before_kib: Option<u64>,
    pub broker_rss_after_kib: Option<u64>,
    /// (after − before) / connected, in bytes.
    pub broker_rss_per_conn_bytes: Option<f64>,
    /// The broker's CPU (percent of one core) while the connections were held idle.
    pub broker_idle_cpu_pct: Option<f64>,
}

/// Everything one scenario run measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScenarioReport {
    pub scenario: Scenario,
    pub broker: String,
    pub protocol: String,
    pub qos: u8,
    pub payload: usize,
    pub publishers: usize,
    pub subscribers: usize,
    /// How long publishing lasted.
    pub seconds: f64,
    pub sent: u64,
    /// Deliveries due: each message times the subscribers it should reach.
    pub expected: u64,
    /// Deliveries read, duplicates included.
    pub received: u64,
    pub losses: u64,
    pub dups: u64,
    pub reordered: u64,
    /// Deliveries whose payload was not from this run.
    pub foreign: u64,
    pub missing_subscribers: usize,
    /// Times a publisher refilled its credit window after waiting for a lost delivery.
    pub stalls: u64,
    /// QoS 1/2 publishes the broker never acknowledged.
    pub unacked: u64,
    pub sent_per_sec: f64,
    pub received_per_sec: f64,
    pub latency_us: Latency,
    /// Percent of one core.
    pub generator_cpu_pct: Option<f64>,
    pub broker_cpu_pct: Option<f64>,
    pub broker_rss_kib: Option<u64>,
    pub conns: Option<ConnsReport>,
    /// The open-file limit the generator ran with.
    pub nofile_limit: Option<u64>,
}

impl Default for ScenarioReport {
    fn default() -> Self {
        Self {
            scenario: Scenario::Fanin,
            broker: String::new(),
            protocol: String::new(),
            qos: 0,
            payload: 0,
            publishers: 0,
            subscribers: 0,
            seconds: 0.0,
            sent: 0,
            expected: 0,
            received: 0,
            losses: 0,
            dups: 0,
            reordered: 0,
            foreign: 0,
            missing_subscribers: 0,
            stalls: 0,
            unacked: 0,
            sent_per_sec: 0.0,
            received_per_sec: 0.0,
            latency_us: Latency::default(),
            generator_cpu_pct: None,
            broker_cpu_pct: None,
            broker_rss_kib: None,
            conns: None,
            nofile_limit: None,
        }
    }
}

impl ScenarioReport {
    /// One JSON object on one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn opt_pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}%"))
}

fn count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn micros(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}ms", v / 1000.0)
    } else {
        format!("{v:.0}µs")
    }
}

/// The end-of-run table: one row per report.
pub fn table(reports: &[ScenarioReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:<22} {:>3} {:>10} {:>10} {:>7} {:>5} {:>8} {:>8} {:>8} {:>8} {:>6} {:>7}",
        "scenario",
        "broker",
        "qos",
        "sent/s",
        "recv/s",
        "losses",
        "dups",
        "p50",
        "p99",
        "p99.9",
        "max",
        "gen",
        "broker"
    );
    for r in reports {
        if let Some(c) = &r.conns {
            conns_rows(&mut out, r, c);
            continue;
        }
        let _ = writeln!(
            out,
            "{:<8} {:<22} {:>3} {:>10} {:>10} {:>7} {:>5} {:>8} {:>8} {:>8} {:>8} {:>6} {:>7}",
            r.scenario.name(),
            truncate(&r.broker, 22),
            r.qos,
            count(r.sent_per_sec),
            count(r.received_per_sec),
            r.losses,
            r.dups,
            micros(r.latency_us.p50),
            micros(r.latency_us.p99),
            micros(r.latency_us.p999),
            micros(r.latency_us.max),
            opt_pct(r.generator_cpu_pct),
            opt_pct(r.broker_cpu_pct),
        );
        if r.reordered > 0 || r.foreign > 0 || r.stalls > 0 || r.unacked > 0 {
            let _ = writeln!(
                out,
                "  note: {} reordered, {} foreign, {} credit stalls, {} unacked",
                r.reordered, r.foreign, r.stalls, r.unacked
            );
        }
    }
    out
}

/// A `conns` run has no message columns: connections, rate, memory instead.
fn conns_rows(out: &mut String, r: &ScenarioReport, c: &ConnsReport) {
    let kib = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |k| format!("{k} KiB"));
    let per = c
        .broker_rss_per_conn_bytes
        .map_or_else(|| "-".to_owned(), |b| format!("{b:.0} B"));
    let _ = writeln!(
        out,
        "{:<8} {:<22} {:>3}  {}/{} connected, {} failed, {} conn/s, gen {}, broker {}",
        r.scenario.name(),
        truncate(&r.broker, 22),
        r.qos,
        c.connected,
        c.attempted,
        c.failed,
        count(c.connects_per_sec),
        opt_pct(r.generator_cpu_pct),
        opt_pct(r.broker_cpu_pct),
    );
    let _ = writeln!(
        out,
        "  broker RSS {} before, {} after: {per} per connection",
        kib(c.broker_rss_before_kib),
        kib(c.broker_rss_after_kib),
    );
    if let Some(idle) = c.broker_idle_cpu_pct {
        let _ = writeln!(out, "  broker CPU while held idle: {idle:.1}%");
    }
    if let Some(e) = &c.first_error {
        let _ = writeln!(out, "  first failure: {e}");
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_json_carry_the_numbers() {
        let r = ScenarioReport {
            scenario: Scenario::Pairs,
            broker: "midge".into(),
            qos: 1,
            sent_per_sec: 123_456.0,
            received_per_sec: 2_500_000.0,
            losses: 3,
            latency_us: Latency {
                p50: 150.0,
                p99: 25_000.0,
                ..Latency::default()
            },
            generator_cpu_pct: Some(87.4),
            ..ScenarioReport::default()
        };
        let t = table(std::slice::from_ref(&r));
        for needle in [
            "pairs", "midge", "123.5k", "2.50M", "150µs", "25.0ms", "87%",
        ] {
            assert!(t.contains(needle), "{needle} not in\n{t}");
        }
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).expect("valid JSON");
        assert_eq!(v["scenario"], "pairs");
        assert_eq!(v["losses"], 3);
        assert_eq!(v["latency_us"]["p99"], 25_000.0);
        assert!(v["broker_cpu_pct"].is_null());
    }

    #[test]
    fn conns_rows_show_connections_and_memory() {
        let r = ScenarioReport {
            scenario: Scenario::Conns,
            broker: "mosquitto".into(),
            conns: Some(ConnsReport {
                attempted: 10,
                connected: 9,
                failed: 1,
                first_error: Some("refused".into()),
                connects_per_sec: 5000.0,
                broker_rss_before_kib: Some(1000),
                broker_rss_after_kib: Some(1010),
                broker_rss_per_conn_bytes: Some(1137.8),
                broker_idle_cpu_pct: Some(1.5),
            }),
            ..ScenarioReport::default()
        };
        let t = table(&[r]);
        for needle in [
            "9/10 connected",
            "1 failed",
            "5000 conn/s",
            "1138 B",
            "held idle: 1.5%",
            "refused",
        ] {
            assert!(t.contains(needle), "{needle} not in\n{t}");
        }
    }
}
