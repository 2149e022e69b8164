//! The snapshot builder: the router's state and the clients' published numbers turned
//! into the dashboard's model. Runs on the router task, only while someone watches.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use midge_model as model;

use crate::protocol::{topic, ProtocolVersion, RetainHandling};

use super::router::Router;
use super::session::DropReason;
use super::shared::{InflightDetail, Stage};

/// Entries of a session's queue shown in the client detail.
const QUEUE_PREVIEW: usize = 20;

pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Converts an `Instant` in the past to unix ms, relative to `now`.
fn instant_ms(now: Instant, now_ms: u64, t: Instant) -> u64 {
    now_ms.saturating_sub(now.saturating_duration_since(t).as_millis() as u64)
}

fn protocol_label(v: ProtocolVersion) -> model::ProtocolLabel {
    match v {
        ProtocolVersion::V3_1 => model::ProtocolLabel::V31,
        ProtocolVersion::V3_1_1 => model::ProtocolLabel::V311,
        ProtocolVersion::V5 => model::ProtocolLabel::V5,
    }
}

/// Static facts the router does not know.
#[derive(Clone, Debug, Default)]
pub struct SourceFacts {
    pub listeners: Vec<String>,
    pub started_at_ms: u64,
    pub own_client_id: Option<String>,
    /// `[storage] sync` as configured, for the Overview.
    pub sync_mode: String,
    /// The previous (time, commits) sample, for the commit rate.
    pub commit_sample: std::sync::Arc<std::sync::Mutex<Option<(Instant, u64)>>>,
}

fn store_info(r: &Router, facts: &SourceFacts) -> Option<model::StoreInfo> {
    let stats = r.store.as_ref()?.stats();
    let commits = stats.batches_committed.load(Relaxed);
    let now = Instant::now();
    let mut per_sec = 0;
    if let Ok(mut sample) = facts.commit_sample.lock() {
        if let Some((then, before)) = *sample {
            let secs = now.duration_since(then).as_secs_f64();
            if secs > 0.0 {
                per_sec = (commits.saturating_sub(before) as f64 / secs).round() as u64;
            }
        }
        *sample = Some((now, commits));
    }
    Some(model::StoreInfo {
        sync: facts.sync_mode.clone(),
        bytes_on_disk: stats.bytes_on_disk.load(Relaxed),
        live_keys: stats.live_keys.load(Relaxed),
        commits,
        commits_per_sec: per_sec,
        fsyncs: stats.fsyncs.load(Relaxed),
        last_fsync_micros: stats.last_fsync_micros.load(Relaxed),
        pending_ops: stats.pending_ops.load(Relaxed),
        pending_bytes: stats.pending_bytes.load(Relaxed),
        last_durable_ms: stats.last_durable_unix_ms.load(Relaxed),
        failed: stats.failed.load(Relaxed),
    })
}

pub fn build(r: &Router, facts: &SourceFacts, events_dropped: u64) -> model::Snapshot {
    let now = Instant::now();
    let now_ms = unix_ms(SystemTime::now());
    let m = &r.metrics;
    let online = m.clients_connected.load(Relaxed);
    let offline = r.offline_sessions() as u64;
    let counters = model::Counters {
        messages_received: Some(m.messages_received.load(Relaxed)),
        messages_sent: Some(m.messages_sent.load(Relaxed)),
        bytes_received: Some(m.bytes_received.load(Relaxed)),
        bytes_sent: Some(m.bytes_sent.load(Relaxed)),
        publish_dropped: Some(m.publish_dropped.load(Relaxed)),
        clients_online: Some(online),
        clients_offline: Some(offline),
        clients_total: Some(online + offline),
        subscriptions: Some(r.trie.len() as u64),
        retained: Some(r.retained.len() as u64),
        connections_total: Some(m.connections_total.load(Relaxed)),
        auth_failures: Some(m.auth_failures.load(Relaxed)),
    };
    let mut connections = Vec::with_capacity(r.clients.len());
    let mut inflight = Vec::new();
    for (id, e) in &r.clients {
        let s = &e.stats;
        let info = &s.info;
        let mut subscriptions: Vec<model::SubscriptionInfo> = e
            .subscriptions
            .iter()
            .map(|(filter, (o, sub_id))| {
                let (share_group, plain) = match topic::parse_shared(filter) {
                    Ok(Some(sf)) => (Some(sf.group.to_owned()), sf.filter.to_owned()),
                    _ => (None, filter.to_string()),
                };
                model::SubscriptionInfo {
                    filter: plain,
                    qos: o.qos as u8,
                    no_local: o.no_local,
                    retain_as_published: o.retain_as_published,
                    retain_handling: match o.retain_handling {
                        RetainHandling::OnSubscribe => 0,
                        RetainHandling::OnNewSubscribe => 1,
                        RetainHandling::Never => 2,
                    },
                    subscription_id: *sub_id,
                    share_group,
                }
            })
            .collect();
        subscriptions.sort_by(|a, b| a.filter.cmp(&b.filter));
        let (inflight_out, inflight_in, queue_preview) = match e.offline_session() {
            Some(sess) => {
                for f in sess.inflight() {
                    inflight.push(model::InflightInfo {
                        client_id: id.to_string(),
                        direction: model::Direction::Out,
                        packet_id: f.pid.get(),
                        topic: f.delivery.msg.topic.to_string(),
                        qos: f.delivery.qos as u8,
                        state: match f.state {
                            super::session::OutState::AwaitPubAck => {
                                model::InflightState::AwaitingPubAck
                            }
                            super::session::OutState::AwaitPubRec => {
                                model::InflightState::AwaitingPubRec
                            }
                            super::session::OutState::AwaitPubComp => {
                                model::InflightState::AwaitingPubComp
                            }
                        },
                        since_ms: instant_ms(now, now_ms, f.since),
                        resends: f.resends,
                    });
                }
                let preview = sess
                    .queue()
                    .take(QUEUE_PREVIEW)
                    .map(|d| model::QueuedInfo {
                        topic: d.msg.topic.to_string(),
                        qos: d.qos as u8,
                        bytes: d.msg.payload.len() as u32,
                    })
                    .collect();
                (
                    sess.inflight_len() as u32,
                    sess.inbound_pending() as u32,
                    preview,
                )
            }
            None => {
                if let Ok(detail) = s.detail.lock() {
                    inflight.extend(detail.iter().map(|d| inflight_info(id, d, now, now_ms)));
                }
                let preview = e.online_queue().map_or_else(Vec::new, |q| {
                    q.head(QUEUE_PREVIEW, |d| model::QueuedInfo {
                        topic: d.msg.topic.to_string(),
                        qos: d.qos as u8,
                        bytes: d.msg.payload.len() as u32,
                    })
                });
                (
                    s.inflight_out.load(Relaxed),
                    s.inflight_in.load(Relaxed),
                    preview,
                )
            }
        };
        connections.push(model::ConnectionInfo {
            client_id: id.to_string(),
            online: e.is_online(),
            address: e.is_online().then(|| info.address.clone()),
            protocol: protocol_label(info.protocol),
            username: info.username.clone(),
            tls: info.tls,
            keep_alive_secs: info.keep_alive,
            connected_since_ms: unix_ms(info.connected_since),
            subscriptions,
            messages_in: s.messages_in.load(Relaxed),
            messages_out: s.messages_out.load(Relaxed),
            bytes_in: s.bytes_in.load(Relaxed),
            bytes_out: s.bytes_out.load(Relaxed),
            inflight_out,
            inflight_in,
            queued: e.queued() as u32,
            // Online, the hand-off queue (at least a burst's worth); offline, the session's.
            queue_capacity: e
                .online_queue()
                .map_or(r.options.max_queued, |q| q.capacity()) as u32,
            dropped: s.dropped.load(Relaxed),
            queue_preview,
        });
    }
    let drops = r
        .drops
        .rows()
        .into_iter()
        .map(|((client, topic, reason), stat)| model::DropInfo {
            client_id: client.to_string(),
            topic: topic.to_string(),
            reason: match reason {
                DropReason::QueueFull => model::DropReason::QueueFull,
                DropReason::TooLarge => model::DropReason::TooLarge,
                DropReason::Expired => model::DropReason::Expired,
                DropReason::Acl => model::DropReason::Acl,
            },
            count: stat.count,
            last_ms: instant_ms(now, now_ms, stat.last),
        })
        .collect();
    model::Snapshot {
        taken_at_ms: now_ms,
        source: model::SourceInfo {
            kind: model::SourceKind::Embedded,
            version: Some(format!("midge {}", env!("CARGO_PKG_VERSION"))),
            listeners: facts.listeners.clone(),
            started_at_ms: Some(facts.started_at_ms),
            connected: true,
            own_client_id: facts.own_client_id.clone(),
        },
        counters,
        counters_at_ms: None,
        connections: Some(connections),
        page: None,
        topic_subscribers: None,
        inflight: Some(inflight),
        drops: Some(drops),
        events_dropped: events_dropped + r.tap_dropped,
        store: store_info(r, facts),
    }
}

fn inflight_info(
    client: &str,
    d: &InflightDetail,
    now: Instant,
    now_ms: u64,
) -> model::InflightInfo {
    model::InflightInfo {
        client_id: client.to_owned(),
        direction: if d.outgoing {
            model::Direction::Out
        } else {
            model::Direction::In
        },
        packet_id: d.packet_id,
        topic: d.topic.to_string(),
        qos: d.qos as u8,
        state: match d.state {
            Stage::PubAck => model::InflightState::AwaitingPubAck,
            Stage::PubRec => model::InflightState::AwaitingPubRec,
            Stage::PubRel => model::InflightState::AwaitingPubRel,
            Stage::PubComp => model::InflightState::AwaitingPubComp,
        },
        since_ms: instant_ms(now, now_ms, d.since),
        resends: d.resends,
    }
}
