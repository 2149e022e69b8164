//! `$SYS/broker/…` topics with Mosquitto's names (plus midge's `store/failed`), published
//! as retained messages every `[sys] interval_secs` by a task of their own, from the
//! broker's counters and gauges: an input to the router like any publisher.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::broker::message::Message;
use crate::broker::router::RouterMsg;
use crate::broker::stats::Metrics;
use crate::protocol::QoS;

/// Publish `$SYS` every `every` (the first after a second) until the router is gone.
pub fn spawn(
    router: mpsc::Sender<RouterMsg>,
    metrics: Arc<Metrics>,
    store: Option<crate::storage::Store>,
    every: Duration,
) {
    tokio::spawn(async move {
        let started = crate::broker::clock::now();
        let mut state = SysState::default();
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(1), every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = crate::broker::clock::now();
            let uptime = now.duration_since(started).as_secs();
            for msg in state.messages(&metrics, store.as_ref(), uptime, now) {
                let m = RouterMsg::Publish {
                    msg: Arc::new(msg),
                    durable: None,
                };
                if router.send(m).await.is_err() {
                    return;
                }
            }
        }
    });
}

/// Exponentially damped per-minute rates, as Mosquitto computes its `load/…` topics.
#[derive(Debug, Default)]
pub struct SysState {
    last: Option<(Instant, [u64; 5])>,
    /// [counter][1 min, 5 min, 15 min]
    load: [[f64; 3]; 5],
}

const LOAD_NAMES: [&str; 5] = [
    "messages/received",
    "messages/sent",
    "bytes/received",
    "bytes/sent",
    "connections",
];

impl SysState {
    pub fn messages(
        &mut self,
        m: &Metrics,
        store: Option<&crate::storage::Store>,
        uptime_secs: u64,
        now: Instant,
    ) -> Vec<Message> {
        let totals = [
            m.messages_received.load(Relaxed),
            m.messages_sent.load(Relaxed),
            m.bytes_received.load(Relaxed),
            m.bytes_sent.load(Relaxed),
            m.connections_total.load(Relaxed),
        ];
        if let Some((then, prev)) = self.last {
            let secs = now.duration_since(then).as_secs_f64().max(0.001);
            for (i, load) in self.load.iter_mut().enumerate() {
                let per_min = (totals[i].saturating_sub(prev[i])) as f64 * 60.0 / secs;
                for (j, window) in [60.0, 300.0, 900.0].into_iter().enumerate() {
                    let k = (-secs / window).exp();
                    load[j] = per_min + k * (load[j] - per_min);
                }
            }
        }
        self.last = Some((now, totals));

        let connected = m.clients_connected.load(Relaxed);
        let disconnected = m.offline_sessions();
        let mut out = Vec::with_capacity(32);
        let mut put = |topic: &str, value: String| {
            out.push(Message::internal(
                topic,
                Bytes::from(value),
                QoS::AtMostOnce,
                true,
            ));
        };
        put(
            "$SYS/broker/version",
            format!("midge version {}", env!("CARGO_PKG_VERSION")),
        );
        put("$SYS/broker/uptime", format!("{uptime_secs} seconds"));
        put("$SYS/broker/clients/connected", connected.to_string());
        put("$SYS/broker/clients/active", connected.to_string());
        put("$SYS/broker/clients/disconnected", disconnected.to_string());
        put("$SYS/broker/clients/inactive", disconnected.to_string());
        put(
            "$SYS/broker/clients/total",
            (connected + disconnected).to_string(),
        );
        put(
            "$SYS/broker/clients/maximum",
            m.clients_maximum.load(Relaxed).to_string(),
        );
        put("$SYS/broker/messages/received", totals[0].to_string());
        put("$SYS/broker/messages/sent", totals[1].to_string());
        put("$SYS/broker/bytes/received", totals[2].to_string());
        put("$SYS/broker/bytes/sent", totals[3].to_string());
        put(
            "$SYS/broker/publish/messages/dropped",
            m.publish_dropped.load(Relaxed).to_string(),
        );
        put(
            "$SYS/broker/subscriptions/count",
            m.subscriptions.load(Relaxed).to_string(),
        );
        put(
            "$SYS/broker/retained messages/count",
            m.retained.load(Relaxed).to_string(),
        );
        if let Some(store) = store {
            // midge's own: 1 once a write or fsync failed (disk full, read-only); QoS ≥ 1
            // publishes to persistent sessions are refused until a restart.
            let failed = store.stats().failed.load(Relaxed);
            put("$SYS/broker/store/failed", u8::from(failed).to_string());
        }
        for (i, name) in LOAD_NAMES.iter().enumerate() {
            for (j, w) in ["1min", "5min", "15min"].iter().enumerate() {
                put(
                    &format!("$SYS/broker/load/{name}/{w}"),
                    format!("{:.2}", self.load[i][j]),
                );
            }
        }
        out
    }
}
