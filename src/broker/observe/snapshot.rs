//! The dashboard's model built from what the observer holds: the broker's gauges and
//! counters, the index's page and extra rows, and the router's detail of just those
//! sessions. Conversion only; what to build is decided in `observe/mod.rs`.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Instant, SystemTime};

use midge_model as model;

use crate::broker::drops::DropLog;
use crate::broker::router::watch::{Described, InflightOut, SessionDetail};
use crate::broker::session::{DropReason, OutState};
use crate::broker::stats::{unix_ms, InflightDetail, Metrics, Stage};
use crate::protocol::{topic, ProtocolVersion, RetainHandling};

use super::index::Row;

/// Static facts the broker does not know.
#[derive(Clone, Debug, Default)]
pub struct SourceFacts {
    pub listeners: Vec<String>,
    pub own_client_id: Option<String>,
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

pub fn counters(m: &Metrics) -> model::Counters {
    let online = m.clients_connected.load(Relaxed);
    let offline = m.offline_sessions();
    model::Counters {
        messages_received: Some(m.messages_received.load(Relaxed)),
        messages_sent: Some(m.messages_sent.load(Relaxed)),
        bytes_received: Some(m.bytes_received.load(Relaxed)),
        bytes_sent: Some(m.bytes_sent.load(Relaxed)),
        publish_dropped: Some(m.publish_dropped.load(Relaxed)),
        clients_online: Some(online),
        clients_offline: Some(offline),
        clients_total: Some(online + offline),
        subscriptions: Some(m.subscriptions.load(Relaxed)),
        retained: Some(m.retained.load(Relaxed)),
        connections_total: Some(m.connections_total.load(Relaxed)),
        auth_failures: Some(m.auth_failures.load(Relaxed)),
        datagrams_in: None,
        datagrams_out: None,
        datagrams_dropped: None,
    }
}

/// The store's numbers; `commits_per_sec` from the previous sample (time, commits).
pub fn store_info(
    store: &crate::storage::Store,
    sync_mode: &str,
    sample: &mut Option<(Instant, u64)>,
) -> model::StoreInfo {
    let stats = store.stats();
    let commits = stats.batches_committed.load(Relaxed);
    let now = crate::broker::clock::now();
    let mut per_sec = 0;
    if let Some((then, before)) = *sample {
        let secs = now.duration_since(then).as_secs_f64();
        if secs > 0.0 {
            per_sec = (commits.saturating_sub(before) as f64 / secs).round() as u64;
        }
    }
    *sample = Some((now, commits));
    model::StoreInfo {
        sync: sync_mode.to_owned(),
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
    }
}

fn subscription(
    filter: &str,
    o: &crate::protocol::SubscriptionOptions,
    id: Option<u32>,
) -> model::SubscriptionInfo {
    let (share_group, plain) = match topic::parse_shared(filter) {
        Ok(Some(sf)) => (Some(sf.group.to_owned()), sf.filter.to_owned()),
        _ => (None, filter.to_owned()),
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
        subscription_id: id,
        share_group,
    }
}

/// One table row: the index's numbers, with the router's detail when it sent one.
pub fn connection(row: &Row, detail: Option<&SessionDetail>) -> model::ConnectionInfo {
    let s = &row.stats;
    let info = &s.info;
    let mut subscriptions: Vec<model::SubscriptionInfo> = detail
        .map(|d| {
            d.subscriptions
                .iter()
                .map(|(f, o, id)| subscription(f, o, *id))
                .collect()
        })
        .unwrap_or_default();
    subscriptions.sort_by(|a, b| a.filter.cmp(&b.filter));
    let (inflight_out, inflight_in) = detail
        .and_then(|d| d.offline_inflight)
        .unwrap_or((s.inflight_out.load(Relaxed), s.inflight_in.load(Relaxed)));
    model::ConnectionInfo {
        client_id: info.client_id.to_string(),
        online: row.online(),
        address: row.online().then(|| info.address.clone()),
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
        queued: detail.map_or_else(|| row.queued(), |d| d.queued as u32),
        queue_capacity: detail.map_or(0, |d| d.queue_capacity as u32),
        dropped: s.dropped.load(Relaxed),
        queue_preview: detail
            .map(|d| {
                d.queue_head
                    .iter()
                    .map(|q| model::QueuedInfo {
                        topic: q.topic.to_string(),
                        qos: q.qos as u8,
                        bytes: q.bytes,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        transport: None,
        sn: None,
    }
}

fn stage(state: OutState) -> model::InflightState {
    match state {
        OutState::AwaitPubAck => model::InflightState::AwaitingPubAck,
        OutState::AwaitPubRec => model::InflightState::AwaitingPubRec,
        OutState::AwaitPubComp => model::InflightState::AwaitingPubComp,
    }
}

/// In-flight messages: online clients' published detail, then offline sessions'.
pub fn inflight<'a>(
    online: impl Iterator<Item = &'a Row>,
    described: &Described,
    limit: usize,
) -> Vec<model::InflightInfo> {
    let now = crate::broker::clock::now();
    let now_ms = unix_ms(SystemTime::now());
    let mut out = Vec::new();
    for row in online {
        if out.len() >= limit {
            break;
        }
        let id = &row.stats.info.client_id;
        if let Ok(detail) = row.stats.detail.lock() {
            let room = limit - out.len();
            out.extend(
                detail
                    .iter()
                    .take(room)
                    .map(|d| online_inflight(id, d, now, now_ms)),
            );
        }
    }
    for (id, f) in &described.offline_inflight {
        if out.len() >= limit {
            break;
        }
        out.push(offline_inflight(id, f, now, now_ms));
    }
    out
}

fn offline_inflight(
    client: &str,
    f: &InflightOut,
    now: Instant,
    now_ms: u64,
) -> model::InflightInfo {
    model::InflightInfo {
        client_id: client.to_owned(),
        direction: model::Direction::Out,
        packet_id: f.packet_id,
        topic: f.topic.to_string(),
        qos: f.qos as u8,
        state: stage(f.state),
        since_ms: instant_ms(now, now_ms, f.since),
        resends: f.resends,
    }
}

fn online_inflight(
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

/// The drop log's rows (bounded by the log itself).
pub fn drops(log: &DropLog) -> Vec<model::DropInfo> {
    let now = crate::broker::clock::now();
    let now_ms = unix_ms(SystemTime::now());
    log.rows()
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
        .collect()
}
