//! The embedded dashboard's source: snapshots of the broker in this process (built on the
//! router task every 250 ms while the dashboard watches), every published message from
//! the router's tap, packet traces, and the dashboard's own MQTT client for
//! publish/subscribe. Everything towards the UI is `try_send`: a slow UI drops and counts,
//! it never backs up the broker.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use midge_model::{Command, Direction, Event, Message, SourceLink, TraceLine};
use tokio::sync::{mpsc, oneshot};

use crate::broker::snapshot::{self, SourceFacts};
use crate::broker::{Broker, RouterMsg};

use super::client::{self, ClientOptions};

/// The client id of the dashboard's own connection.
pub const DASHBOARD_CLIENT_ID: &str = "midge-dashboard";

/// Wire `link` to `broker`. Spawns the tasks on the current runtime; they end when the
/// dashboard drops its end of the link or the broker stops.
pub fn start(
    broker: &mut Broker,
    link: SourceLink,
    dropped: Arc<AtomicU64>,
    mut facts: SourceFacts,
) {
    facts.own_client_id = Some(DASHBOARD_CLIENT_ID.to_owned());
    let SourceLink {
        snapshots,
        events,
        commands,
    } = link;
    let metrics = broker.metrics();
    let router = broker.router();

    // Snapshots.
    let snap_router = router.clone();
    let snap_dropped = dropped.clone();
    tokio::spawn(async move {
        let snapshots = Arc::new(snapshots);
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            if snapshots.is_closed() {
                metrics.watched.store(false, Relaxed);
                return;
            }
            metrics.watched.store(true, Relaxed);
            let (tx, rx) = oneshot::channel();
            let facts = facts.clone();
            let lost = snap_dropped.load(Relaxed);
            let job = move |r: &crate::broker::router::Router| {
                let _ = tx.send(snapshot::build(r, &facts, lost));
            };
            if snap_router
                .send(RouterMsg::Inspect(Box::new(job)))
                .await
                .is_err()
            {
                return;
            }
            if let Ok(s) = rx.await {
                snapshots.send_replace(Arc::new(s));
            }
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

    // Packet traces.
    let (trace_tx, mut trace_rx) = mpsc::channel::<crate::broker::trace::TraceRecord>(1024);
    {
        let events = events.clone();
        let dropped = dropped.clone();
        tokio::spawn(async move {
            while let Some(t) = trace_rx.recv().await {
                let line = TraceLine {
                    at_ms: snapshot::unix_ms(t.at),
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
}
