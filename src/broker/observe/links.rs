//! Bridges and MQTT-SN clients as the dashboard sees them: converts the links' published
//! statistics (`broker::links`) into model rows. Reads only what is asked for: the
//! bridges (few) and the SN view of the rows on the current page.

use std::sync::atomic::Ordering::Relaxed;

use midge_model as model;

use crate::broker::links::{BridgeDrop, LinkState, Links, SnClientState, SnStats, TopicIdKind};
use crate::protocol::ProtocolVersion;

/// Every configured bridge.
pub fn bridges(links: &Links) -> Vec<model::BridgeInfo> {
    links
        .bridges()
        .iter()
        .map(|b| {
            let nonzero = |v: u64| (v != 0).then_some(v);
            model::BridgeInfo {
                name: b.name.clone(),
                client_id: b.client_id.clone(),
                state: match b.state() {
                    LinkState::Connecting => model::BridgeState::Connecting,
                    LinkState::Up => model::BridgeState::Up,
                    LinkState::Down => model::BridgeState::Down,
                    LinkState::Stopped => model::BridgeState::Stopped,
                },
                remote: b.remote(),
                protocol: match b.protocol {
                    ProtocolVersion::V3_1 => model::ProtocolLabel::V31,
                    ProtocolVersion::V3_1_1 => model::ProtocolLabel::V311,
                    ProtocolVersion::V5 => model::ProtocolLabel::V5,
                },
                rtt_micros: nonzero(b.rtt_micros.load(Relaxed)),
                queued_messages: b.queued_messages.load(Relaxed),
                queued_bytes: b.queued_bytes.load(Relaxed),
                oldest_queued_ms: nonzero(b.oldest_queued_ms.load(Relaxed)),
                forwarded_in: b.forwarded_in.load(Relaxed),
                forwarded_out: b.forwarded_out.load(Relaxed),
                dropped: BridgeDrop::ALL
                    .iter()
                    .map(|&d| (d.label().to_owned(), b.dropped(d)))
                    .collect(),
                connected_since_ms: nonzero(b.connected_since_ms.load(Relaxed)),
                connects: b.connects.load(Relaxed),
                last_error: b.last_error(),
            }
        })
        .collect()
}

/// Adds the gateway's view to a row when the client is an MQTT-SN client.
pub fn sn_client(row: &mut model::ConnectionInfo, sn: &SnStats) {
    let Some(view) = sn.client(&row.client_id) else {
        return;
    };
    row.transport = Some("mqtt-sn/udp".to_owned());
    row.sn = Some(model::SnClientInfo {
        state: match view.state {
            SnClientState::Active => model::SnState::Active,
            SnClientState::Asleep => model::SnState::Asleep,
            SnClientState::Awake => model::SnState::Awake,
            SnClientState::Lost => model::SnState::Lost,
        },
        topic_ids: view
            .topic_ids
            .iter()
            .map(|(id, kind, topic)| {
                let kind = match kind {
                    TopicIdKind::Normal => "normal",
                    TopicIdKind::Predefined => "predefined",
                    TopicIdKind::Short => "short",
                };
                (*id, kind.to_owned(), topic.clone())
            })
            .collect(),
        buffered: view
            .buffered
            .iter()
            .map(|(topic, qos, bytes)| model::QueuedInfo {
                topic: topic.clone(),
                qos: *qos,
                bytes: *bytes,
            })
            .collect(),
        buffered_total: view.buffered_total,
    });
}

/// The gateway's datagram counters, when there is a gateway.
pub fn with_links(mut c: model::Counters, links: &Links) -> model::Counters {
    let sn = &links.sn;
    if sn.enabled.load(Relaxed) {
        c.datagrams_in = Some(sn.datagrams_in.load(Relaxed));
        c.datagrams_out = Some(sn.datagrams_out.load(Relaxed));
        c.datagrams_dropped = Some(sn.datagrams_dropped.load(Relaxed));
    }
    c
}
