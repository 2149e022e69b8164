//! The embedded dashboard's source: snapshots of what the dashboard shows (its
//! [`Watch`], built by the broker's observer every 250 ms), every published message from
//! the router's tap, log lines, packet traces, and the dashboard's own MQTT client for
//! publish/subscribe. Everything towards the UI is `try_send`: a slow UI drops and counts,
//! it never backs up the broker.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use midge_model::{Command, Direction, Event, Message, MonitorLink, SourceLink, TraceLine, Watch};
use tokio::sync::{mpsc, oneshot, watch};

use crate::broker::observe::SourceFacts;
use crate::broker::stats::unix_ms;
use crate::broker::{Broker, RouterMsg};
use crate::logs::LogRecord;

use super::client::{self, ClientOptions};

/// The client id of the dashboard's own connection.
pub const DASHBOARD_CLIENT_ID: &str = "midge-dashboard";

/// Wire a dashboard link to `broker` (log lines come from `logs`); returns the
/// dashboard's end. Spawns the tasks on the current runtime; they end when the dashboard
/// drops its end of the link or the broker stops.
pub fn start(
    broker: &mut Broker,
    logs: mpsc::Receiver<LogRecord>,
    dropped: Arc<AtomicU64>,
    mut facts: SourceFacts,
) -> MonitorLink {
    let (link, monitor) = midge_model::link(midge_model::Snapshot::default(), 8192, 256);
    facts.own_client_id = Some(DASHBOARD_CLIENT_ID.to_owned());
    let SourceLink {
        snapshots,
        events,
        commands,
    } = link;
    let router = broker.router();
    let observer = broker.observer();
    // Until the dashboard says what it shows: the Overview (see `Watch`).
    let (watch_tx, mut watch_rx) = watch::channel(Watch::default());

    // Snapshots of what the dashboard shows: every 250 ms, and at once when that changes.
    let snap_dropped = dropped.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_table = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                changed = watch_rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
            if snapshots.is_closed() {
                return;
            }
            let mut w = watch_rx.borrow_and_update().clone();
            // Off the table, keep its last page coming (a page is cheap): back on it, its
            // rows and their rates show at once.
            match &w.table {
                Some(t) => last_table = Some(t.clone()),
                None => w.table.clone_from(&last_table),
            }
            let Some(mut s) = observer.snapshot(w, facts.clone()).await else {
                return;
            };
            s.events_dropped += snap_dropped.load(Relaxed);
            snapshots.send_replace(Arc::new(s));
        }
    });

    // Every published message, for the topic tree.
    if let Some(mut tap) = broker.take_tap() {
        let events = events.clone();
        let dropped = dropped.clone();
        tokio::spawn(async move {
            while let Some(m) = tap.recv().await {
                let msg = Message {
                    at_ms: super::now_ms(),
                    topic: m.topic.to_string(),
                    payload: m.payload.clone(),
                    qos: m.qos as u8,
                    retain: m.retain,
                    content_type: m.properties().content_type.as_ref().map(|s| s.to_string()),
                    response_topic: m
                        .properties()
                        .response_topic
                        .as_ref()
                        .map(|s| s.to_string()),
                    user_properties: m
                        .properties()
                        .user_properties
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                };
                match events.try_send(Event::Tap(msg)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        dropped.fetch_add(1, Relaxed);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
        });
    }

    // Log lines.
    {
        let events = events.clone();
        let dropped = dropped.clone();
        let mut logs = logs;
        tokio::spawn(async move {
            while let Some(r) = logs.recv().await {
                let line = crate::broker::observe::log_line(r);
                if events.try_send(Event::Log(line)).is_err() {
                    dropped.fetch_add(1, Relaxed);
                }
            }
        });
    }

    // Packet traces.
    let (trace_tx, mut trace_rx) = mpsc::channel::<crate::broker::trace::TraceRecord>(1024);
    {
        let events = events.clone();
        let dropped = dropped.clone();
        tokio::spawn(async move {
            while let Some(t) = trace_rx.recv().await {
                let line = TraceLine {
                    at_ms: unix_ms(t.at),
                    client_id: t.client_id,
                    direction: if t.inbound {
                        Direction::In
                    } else {
                        Direction::Out
                    },
                    packet: t.packet.to_owned(),
                    detail: t.detail,
                    reason: t.reason,
                };
                if events.try_send(Event::Trace(line)).is_err() {
                    dropped.fetch_add(1, Relaxed);
                }
            }
        });
    }

    // The dashboard's own client, and command dispatch.
    let (client_tx, client_rx) = mpsc::channel(256);
    let stream = broker.connect_local("in-process");
    let opts = ClientOptions {
        client_id: DASHBOARD_CLIENT_ID.to_owned(),
        username: None,
        password: None,
        keep_alive_secs: 60,
        protocol: crate::protocol::ProtocolVersion::V5,
        tap_filters: Vec::new(),
    };
    let client_events = events.clone();
    let client_dropped = dropped.clone();
    tokio::spawn(async move {
        if let Err(e) = client::drive(stream, opts, client_rx, client_events, client_dropped).await
        {
            tracing::debug!(error = %e, "dashboard client ended");
        }
    });
    let ctx = broker.context();
    let mut commands = commands;
    tokio::spawn(async move {
        while let Some(cmd) = commands.recv().await {
            match cmd {
                Command::Kick { client_id } => {
                    let (tx, rx) = oneshot::channel();
                    let msg = RouterMsg::Kick {
                        client_id: client_id.clone(),
                        reply: Some(tx),
                    };
                    let text = match router.send(msg).await {
                        Ok(()) if rx.await.unwrap_or(false) => format!("disconnected {client_id}"),
                        _ => format!("{client_id} is not connected"),
                    };
                    tracing::info!(client_id, "kicked from the dashboard");
                    let _ = events.try_send(Event::Notice(text));
                }
                Command::Trace { client_id } => {
                    ctx.trace.set(client_id.map(|id| (id, trace_tx.clone())));
                }
                Command::Watch(w) => {
                    watch_tx.send_if_modified(|cur| {
                        let changed = *cur != w;
                        *cur = w;
                        changed
                    });
                }
                other => {
                    if client_tx.try_send(other).is_err() {
                        let _ = events
                            .try_send(Event::Notice("dashboard client is busy or gone".into()));
                    }
                }
            }
        }
        ctx.trace.set(None);
    });
    monitor
}
