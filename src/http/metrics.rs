//! The Prometheus families: names fixed by DESIGN.md's interface contract, `_total` for
//! counters, base units, HELP and TYPE on every family, and every value of a small fixed
//! label set present from start-up (at 0). Read from the core's counters and gauges only.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crate::broker::drops::DropLog;
use crate::broker::stats::Metrics;
use crate::broker::Broker;

/// What a scrape reads.
pub(super) struct Sources {
    metrics: Arc<Metrics>,
    drops: Arc<DropLog>,
    store: Option<crate::storage::Store>,
    listeners: crate::transport::ListenerSet,
    links: Arc<crate::broker::links::Links>,
}

impl Sources {
    pub(super) fn of(broker: &Broker) -> Self {
        let ctx = broker.context();
        Self {
            metrics: ctx.metrics.clone(),
            drops: ctx.drops.clone(),
            store: ctx.store.clone(),
            listeners: broker.listeners(),
            links: ctx.links.clone(),
        }
    }

    /// Why the broker is not ready, if it is not (its listeners are bound: it started).
    pub(super) fn not_ready(&self, shutting_down: bool) -> Option<&'static str> {
        if shutting_down {
            return Some("shutting down\n");
        }
        match &self.store {
            Some(s) if s.stats().failed.load(Relaxed) => {
                Some("the durable store failed (disk full or read-only)\n")
            }
            _ => None,
        }
    }

    pub(super) fn render(&self) -> String {
        let m = &self.metrics;
        let mut out = String::with_capacity(4096);
        let mut one = |name: &str, kind: &str, help: &str, value: u64| {
            family(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        };
        one(
            "midge_clients_connected",
            "gauge",
            "Clients connected now.",
            m.clients_connected.load(Relaxed),
        );
        one(
            "midge_sessions",
            "gauge",
            "Sessions kept, online and offline.",
            m.sessions.load(Relaxed),
        );
        one(
            "midge_subscriptions",
            "gauge",
            "Subscriptions across all sessions.",
            m.subscriptions.load(Relaxed),
        );
        one(
            "midge_retained_messages",
            "gauge",
            "Retained messages stored.",
            m.retained.load(Relaxed),
        );
        one(
            "midge_messages_received_total",
            "counter",
            "PUBLISH packets received from clients.",
            m.messages_received.load(Relaxed),
        );
        one(
            "midge_messages_sent_total",
            "counter",
            "PUBLISH packets sent to clients.",
            m.messages_sent.load(Relaxed),
        );
        one(
            "midge_bytes_received_total",
            "counter",
            "Bytes of MQTT packets received.",
            m.bytes_received.load(Relaxed),
        );
        one(
            "midge_bytes_sent_total",
            "counter",
            "Bytes of MQTT packets sent.",
            m.bytes_sent.load(Relaxed),
        );
        one(
            "midge_connections_total",
            "counter",
            "Connections accepted since start.",
            m.connections_total.load(Relaxed),
        );
        one(
            "midge_connections_parked",
            "gauge",
            "Idle connections parked without a task of their own.",
            m.parked.load(Relaxed),
        );
        one(
            "midge_connections_resumed_total",
            "counter",
            "Parked connections served again (a packet, a delivery or keep-alive woke them).",
            m.resumed.load(Relaxed),
        );
        one(
            "midge_auth_failures_total",
            "counter",
            "Failed authentications since start.",
            m.auth_failures.load(Relaxed),
        );
        one(
            "midge_protocol_errors_total",
            "counter",
            "Connections closed for a malformed packet.",
            m.protocol_errors.load(Relaxed),
        );
        one(
            "midge_bridge_loop_dropped_total",
            "counter",
            "Bridged messages not routed again: back at the broker they started on, or here before by another bridge path.",
            m.loop_dropped.load(Relaxed),
        );
        let store = self.store.as_ref().map(crate::storage::Store::stats);
        let read = |f: fn(&crate::storage::StoreStats) -> u64| store.as_deref().map_or(0, f);
        one(
            "midge_store_unsynced_bytes",
            "gauge",
            "Bytes accepted by the durable store and not yet on disk (0 in memory).",
            read(|s| s.pending_bytes.load(Relaxed)),
        );
        one(
            "midge_store_fsyncs_total",
            "counter",
            "fsync calls of the durable store.",
            read(|s| s.fsyncs.load(Relaxed)),
        );
        one(
            "midge_store_failed",
            "gauge",
            "1 once a store write failed: QoS >= 1 to persistent sessions is refused.",
            read(|s| u64::from(s.failed.load(Relaxed))),
        );
        fsync_histogram(&mut out, store.as_deref());
        family(
            &mut out,
            "midge_listener_connections",
            "gauge",
            "Connections open now on each listener (from accept, handshakes included).",
        );
        for l in self.listeners.stats() {
            let _ = writeln!(
                out,
                "midge_listener_connections{{listener=\"{}\"}} {}",
                l.name,
                l.open.load(Relaxed)
            );
        }
        family(
            &mut out,
            "midge_listener_connections_total",
            "counter",
            "Connections accepted on each listener since start.",
        );
        for l in self.listeners.stats() {
            let _ = writeln!(
                out,
                "midge_listener_connections_total{{listener=\"{}\"}} {}",
                l.name,
                l.accepted.load(Relaxed)
            );
        }
        family(
            &mut out,
            "midge_messages_dropped_total",
            "counter",
            "Messages not delivered to a subscriber, by reason.",
        );
        for (reason, n) in self.drops.totals() {
            let _ = writeln!(
                out,
                "midge_messages_dropped_total{{reason=\"{}\"}} {n}",
                reason.name()
            );
        }
        // Bridges and the MQTT-SN gateway: their families, labelled once they exist.
        bridges(&mut out, &self.links);
        family(
            &mut out,
            "midge_mqttsn_clients",
            "gauge",
            "MQTT-SN clients by state.",
        );
        let sn = &self.links.sn;
        let [active, asleep, awake, _lost] = sn.counts();
        for (state, n) in [("active", active), ("asleep", asleep), ("awake", awake)] {
            let _ = writeln!(out, "midge_mqttsn_clients{{state=\"{state}\"}} {n}");
        }
        for (name, help, value) in [
            (
                "midge_mqttsn_datagrams_received_total",
                "UDP datagrams received by the MQTT-SN gateway.",
                &sn.datagrams_in,
            ),
            (
                "midge_mqttsn_datagrams_sent_total",
                "UDP datagrams sent by the MQTT-SN gateway.",
                &sn.datagrams_out,
            ),
        ] {
            family(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", value.load(Relaxed));
        }
        family(
            &mut out,
            "midge_mqttsn_datagrams_dropped_total",
            "counter",
            "Datagrams the MQTT-SN gateway discarded, by reason.",
        );
        for why in crate::broker::links::SnDrop::ALL {
            let _ = writeln!(
                out,
                "midge_mqttsn_datagrams_dropped_total{{reason=\"{}\"}} {}",
                why.label(),
                sn.dropped(why)
            );
        }
        process(&mut out);
        out
    }
}

/// `midge_store_fsync_duration_seconds`: present (empty) in memory too, so dashboards
/// and alerts see one shape.
fn fsync_histogram(out: &mut String, store: Option<&crate::storage::StoreStats>) {
    const NAME: &str = "midge_store_fsync_duration_seconds";
    family(
        out,
        NAME,
        "histogram",
        "Duration of the durable store's commit fsyncs.",
    );
    let snap = store.map_or_else(
        || crate::storage::histogram::Histogram::default().snapshot(),
        |s| s.fsync_latency.snapshot(),
    );
    for (le, n) in &snap.cumulative {
        match le {
            Some(le) => {
                let _ = writeln!(out, "{NAME}_bucket{{le=\"{le}\"}} {n}");
            }
            None => {
                let _ = writeln!(out, "{NAME}_bucket{{le=\"+Inf\"}} {n}");
            }
        }
    }
    let _ = writeln!(out, "{NAME}_sum {}", snap.sum_seconds);
    let _ = writeln!(out, "{NAME}_count {}", snap.count);
}

/// The bridge families, one sample per configured bridge (a bounded label set); every
/// drop reason from start at 0.
fn bridges(out: &mut String, links: &crate::broker::links::Links) {
    use crate::broker::links::{BridgeDrop, BridgeStats, LinkState};
    let all = links.bridges();
    let each = |out: &mut String,
                name: &str,
                kind: &str,
                help: &str,
                f: &dyn Fn(&BridgeStats) -> String| {
        family(out, name, kind, help);
        for b in &all {
            let _ = writeln!(out, "{name}{{bridge=\"{}\"}} {}", b.name, f(b));
        }
    };
    each(
        out,
        "midge_bridge_up",
        "gauge",
        "1 while a bridge's connection to its remote is up.",
        &|b| u8::from(b.state() == LinkState::Up).to_string(),
    );
    each(
        out,
        "midge_bridge_queued_messages",
        "gauge",
        "Messages waiting for a bridge's remote.",
        &|b| b.queued_messages.load(Relaxed).to_string(),
    );
    each(
        out,
        "midge_bridge_queued_bytes",
        "gauge",
        "Payload bytes at the head of a bridge's queue.",
        &|b| b.queued_bytes.load(Relaxed).to_string(),
    );
    each(
        out,
        "midge_bridge_rtt_seconds",
        "gauge",
        "Round-trip time of a bridge's last PINGREQ (0 = not measured).",
        &|b| {
            #[expect(clippy::cast_precision_loss, reason = "microseconds far below 2^52")]
            let s = b.rtt_micros.load(Relaxed) as f64 / 1e6;
            s.to_string()
        },
    );
    each(
        out,
        "midge_bridge_connects_total",
        "counter",
        "Connections a bridge made to its remote.",
        &|b| b.connects.load(Relaxed).to_string(),
    );
    family(
        out,
        "midge_bridge_forwarded_messages_total",
        "counter",
        "Messages a bridge forwarded, by direction.",
    );
    for b in &all {
        for (dir, n) in [("out", &b.forwarded_out), ("in", &b.forwarded_in)] {
            let _ = writeln!(
                out,
                "midge_bridge_forwarded_messages_total{{bridge=\"{}\",direction=\"{dir}\"}} {}",
                b.name,
                n.load(Relaxed)
            );
        }
    }
    family(
        out,
        "midge_bridge_dropped_messages_total",
        "counter",
        "Messages a bridge dropped, by reason.",
    );
    for b in &all {
        for why in BridgeDrop::ALL {
            let _ = writeln!(
                out,
                "midge_bridge_dropped_messages_total{{bridge=\"{}\",reason=\"{}\"}} {}",
                b.name,
                why.label(),
                b.dropped(why)
            );
        }
    }
}

/// The standard `process_*` families, where `/proc` has them (never a walk over open
/// descriptors: that would cost per connection).
fn process(out: &mut String) {
    if let Some(ticks) = crate::os::cpu_ticks(None) {
        family(
            out,
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time.",
        );
        #[expect(clippy::cast_precision_loss, reason = "CPU ticks are far below 2^52")]
        let secs = ticks as f64 / crate::os::TICKS_PER_SEC;
        let _ = writeln!(out, "process_cpu_seconds_total {secs}");
    }
    if let Some(kib) = crate::os::rss_kib(std::process::id()) {
        family(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory.",
        );
        let _ = writeln!(out, "process_resident_memory_bytes {}", kib * 1024);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::session::DropReason;

    #[test]
    fn every_family_has_help_and_type_and_fixed_labels_start_at_zero() {
        let s = Sources {
            metrics: Arc::default(),
            drops: Arc::default(),
            store: None,
            listeners: crate::transport::ListenerSet::default(),
            links: Arc::default(),
        };
        s.metrics.clients_connected.store(3, Relaxed);
        let b = Arc::new(crate::broker::links::BridgeStats::new(
            "cloud",
            "cloud.h",
            crate::protocol::ProtocolVersion::V5,
        ));
        b.queued_messages.store(7, Relaxed);
        s.links.add_bridge(b);
        s.drops
            .record(&Arc::from("c"), &"t".into(), DropReason::TooLarge);
        let text = s.render();
        assert!(text.contains("\nmidge_clients_connected 3\n"), "{text}");
        assert!(text.contains("midge_messages_dropped_total{reason=\"too_large\"} 1\n"));
        for reason in ["queue_full", "expired", "acl"] {
            assert!(
                text.contains(&format!(
                    "midge_messages_dropped_total{{reason=\"{reason}\"}} 0\n"
                )),
                "{reason}"
            );
        }
        assert!(text.contains("midge_mqttsn_clients{state=\"asleep\"} 0\n"));
        // The fsync histogram is there, empty, without a store.
        assert!(text.contains(
            "midge_store_fsync_duration_seconds_bucket{le=\"0.0001\"} 0\n\
             midge_store_fsync_duration_seconds_bucket{le=\"0.00025\"} 0\n"
        ));
        assert!(text.contains("midge_store_fsync_duration_seconds_bucket{le=\"+Inf\"} 0\n"));
        assert!(text.contains("midge_store_fsync_duration_seconds_count 0\n"));
        assert!(
            text.contains("\nmidge_bridge_up{bridge=\"cloud\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("midge_bridge_queued_messages{bridge=\"cloud\"} 7\n"));
        assert!(text.contains(
            "midge_bridge_forwarded_messages_total{bridge=\"cloud\",direction=\"out\"} 0\n"
        ));
        for reason in ["queue_full", "acl", "loop", "too_large"] {
            assert!(text.contains(&format!(
                "midge_bridge_dropped_messages_total{{bridge=\"cloud\",reason=\"{reason}\"}} 0\n"
            )));
        }
        assert!(text.contains("midge_mqttsn_datagrams_dropped_total{reason=\"malformed\"} 0\n"));
        assert!(text.contains("\nmidge_mqttsn_datagrams_received_total 0\n"));
        assert!(text.contains("\nprocess_resident_memory_bytes "), "{text}");
        assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
        // Every sample's family is declared, with HELP before TYPE (a histogram's samples
        // add _bucket, _sum and _count to its name).
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut name = line.split(['{', ' ']).next().unwrap_or("");
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = name.strip_suffix(suffix) {
                    if text.contains(&format!("# TYPE {base} histogram\n")) {
                        name = base;
                    }
                }
            }
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
        // Counters end in _total (a gauge may not).
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let mut w = line.split(' ').skip(2);
            let (name, kind) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
            assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
        }
    }

    #[test]
    fn the_grafana_dashboard_asks_only_for_families_we_export() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/grafana/midge.json");
        let json = std::fs::read_to_string(path).expect("contrib/grafana/midge.json");
        let text = Sources {
            metrics: Arc::default(),
            drops: Arc::default(),
            store: None,
            listeners: crate::transport::ListenerSet::default(),
            links: Arc::default(),
        }
        .render();
        let mut asked = 0;
        for prefix in ["midge_", "process_"] {
            for (at, _) in json.match_indices(prefix) {
                let mut name: String = json[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // A histogram's series are its name plus _bucket, _sum or _count.
                for suffix in ["_bucket", "_sum", "_count"] {
                    if let Some(base) = name.strip_suffix(suffix) {
                        if text.contains(&format!("# TYPE {base} histogram\n")) {
                            name = base.to_owned();
                        }
                    }
                }
                asked += 1;
                assert!(
                    text.contains(&format!("# TYPE {name} ")),
                    "the dashboard asks for {name}, which /metrics does not export"
                );
            }
        }
        assert!(asked > 10, "{asked} names found");
    }
}
