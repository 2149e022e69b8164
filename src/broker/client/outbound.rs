//! Packets to the client: deliveries become PUBLISH packets (per-subscriber QoS, retain,
//! subscription ids, remaining expiry, outbound topic aliases), checked against the
//! client's Maximum Packet Size, and the resend of unacknowledged state on resume.

use std::num::NonZeroU16;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::protocol::{Ack, ByteStr, Packet, Properties, Props, Publish, PublishRef, QoS, QosPid};

use super::Client;
use crate::broker::message::{Delivery, Message, Origin, OriginText};
use crate::broker::session::{DropReason, Outgoing};

impl<R, W> Client<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    pub(super) fn push(&mut self, packet: &Packet) {
        self.ctx.trace.record(&self.client_id, false, packet);
        let n = self.writer.push(packet) as u64;
        self.stats.bytes_out.fetch_add(n, Relaxed);
        self.ctx.metrics.bytes_sent.fetch_add(n, Relaxed);
    }

    /// On resume: unacknowledged PUBLISH (DUP) and PUBREL first, in order
    /// [MQTT-4.4.0-1], then the queue.
    pub(super) fn resume(&mut self) {
        let now = Instant::now();
        for out in self.session.resend_all(now) {
            match out {
                Outgoing::PubRel(pid) => self.push(&Packet::PubRel(Ack::new(pid))),
                Outgoing::Publish { pid, dup, delivery } => {
                    if let Some(rw) = self.prepare(&delivery, now) {
                        let qos_pid = match pid {
                            Some(pid) => QosPid::new(delivery.qos, pid),
                            None => QosPid::Level0,
                        };
                        self.write_publish(&delivery.msg, &rw, qos_pid, delivery.retain, dup);
                    }
                }
            }
        }
        self.drain_queue();
    }

    /// Send from the session's queue while the window allows.
    pub(super) fn drain_queue(&mut self) {
        self.clock = None;
        if self.session.queued() == 0 {
            return;
        }
        let now = Instant::now();
        while self.writer.pending() < super::WRITE_HIGH_WATER {
            let Some(d) = self.session.next_queued(now) else {
                break;
            };
            self.send_delivery(d);
        }
    }

    /// Send now if the window allows, else queue behind what is waiting.
    pub(super) fn send_or_queue(&mut self, d: Delivery) {
        self.clock = None;
        if self.session.queued() == 0 && (d.qos == QoS::AtMostOnce || self.session.window_open()) {
            self.send_delivery(d);
        } else if self.session.enqueue(d, true).is_err() {
            self.stats.dropped.fetch_add(1, Relaxed);
            self.ctx.metrics.publish_dropped.fetch_add(1, Relaxed);
        }
    }

    /// Start one delivery: drop it if expired or too large for the client, else assign a
    /// packet id (QoS 1/2) and encode it.
    pub(super) fn send_delivery(&mut self, d: Delivery) {
        let now = self.now();
        if d.msg.is_expired(now) {
            return self.drop_delivery(&d, DropReason::Expired);
        }
        let Some(rw) = self.prepare(&d, now) else {
            return self.drop_delivery(&d, DropReason::TooLarge);
        };
        // The delivery moves into the session; the message is shared.
        let (msg, qos, retain) = (d.msg.clone(), d.qos, d.retain);
        match self.session.start(d, now) {
            Outgoing::Publish { pid, .. } => {
                let qos_pid = match pid {
                    Some(pid) => QosPid::new(qos, pid),
                    None => QosPid::Level0,
                };
                self.write_publish(&msg, &rw, qos_pid, retain, false);
            }
            Outgoing::PubRel(pid) => self.push(&Packet::PubRel(Ack::new(pid))),
        }
    }

    fn drop_delivery(&mut self, d: &Delivery, reason: DropReason) {
        self.session.discard(d, reason);
        self.ctx.drops.record(&self.client_id, &d.msg.topic, reason);
        self.stats.dropped.fetch_add(1, Relaxed);
        self.ctx.metrics.publish_dropped.fetch_add(1, Relaxed);
        tracing::debug!(client_id = %self.client_id, topic = %d.msg.topic, ?reason, "delivery dropped");
    }

    /// Encode one PUBLISH straight from the shared message (no per-delivery packet).
    fn write_publish(
        &mut self,
        msg: &Message,
        rw: &Rewrite,
        qos_pid: QosPid,
        retain: bool,
        dup: bool,
    ) {
        let p = rw.publish(msg, qos_pid, retain, dup);
        if self.ctx.trace.is_active() {
            let packet = Packet::Publish(Publish {
                dup,
                qos_pid,
                retain,
                topic: ByteStr::from(p.topic),
                properties: Props::from(p.all_properties()),
                payload: msg.payload.clone(),
            });
            self.ctx.trace.record(&self.client_id, false, &packet);
        }
        let n = self.writer.push_publish(&p) as u64;
        self.stats.bytes_out.fetch_add(n, Relaxed);
        self.ctx.metrics.bytes_sent.fetch_add(n, Relaxed);
        self.stats.messages_out.fetch_add(1, Relaxed);
        self.ctx.metrics.messages_sent.fetch_add(1, Relaxed);
    }

    /// This client's rewrite of a delivery (v5: remaining expiry [MQTT-3.3.2-6], every
    /// matching subscription id, an outbound topic alias), or `None` when the PUBLISH
    /// would exceed the client's Maximum Packet Size [MQTT-3.1.2-25].
    fn prepare(&mut self, d: &Delivery, now: Instant) -> Option<Rewrite> {
        let mut rw = Rewrite::default();
        let mut new_alias = None;
        if self.version.is_v5() {
            let expiry = d.msg.remaining_expiry(now);
            let mut alias = None;
            if self.alias_out_max > 0 {
                let known = self.aliases.as_ref().map(|a| &a.outbound);
                if let Some(&a) = known.and_then(|o| o.get(&d.msg.topic)) {
                    alias = Some(a);
                    rw.elide_topic = true;
                } else if let Ok(n) = u16::try_from(known.map_or(0, |o| o.len()) + 1) {
                    if n <= self.alias_out_max {
                        alias = Some(n);
                        new_alias = Some(n);
                    }
                }
            }
            let bridge = self.stats.info.bridge;
            // The loop guard: the next broker delivers it once, and never back here. It
            // goes as an extra user property; one the publisher set is replaced.
            let own = d.msg.properties();
            let stale_origin = bridge
                && own
                    .user_properties
                    .iter()
                    .any(|(k, _)| &**k == Origin::PROPERTY);
            if bridge {
                rw.origin = Some(self.ctx.options.origin_of(&d.msg).text());
            }
            // The message's own properties serve as they are unless something differs.
            if expiry.is_some() || !d.sub_ids.is_empty() || alias.is_some() || stale_origin {
                let mut props = own.clone();
                props.message_expiry_interval = expiry;
                props.subscription_identifiers.clone_from(&d.sub_ids);
                props.topic_alias = alias;
                if stale_origin {
                    props
                        .user_properties
                        .retain(|(k, _)| &**k != Origin::PROPERTY);
                }
                rw.properties = Some(Box::new(props));
            }
        }
        if self.max_out < u32::MAX {
            let qos_pid = match d.qos {
                QoS::AtMostOnce => QosPid::Level0,
                qos => QosPid::new(qos, NonZeroU16::MIN),
            };
            let len = rw
                .publish(&d.msg, qos_pid, d.retain, false)
                .encoded_len(self.version);
            if u32::try_from(len).map_or(true, |l| l > self.max_out) {
                return None;
            }
        }
        // Only an alias that is actually sent is remembered.
        if let Some(n) = new_alias {
            let aliases = self.aliases.get_or_insert_with(Box::default);
            aliases.outbound.insert(d.msg.topic.clone(), n);
        }
        Some(rw)
    }
}

/// What differs in one client's copy of a message.
#[derive(Default)]
struct Rewrite {
    /// v5 properties for this copy; `None`: the message's own. Boxed: `Rewrite` is
    /// returned per delivery, and inline `Properties` made that a 400-byte copy.
    properties: Option<Box<Properties>>,
    /// The topic goes as an alias the client already knows.
    elide_topic: bool,
    /// A bridge's copy: the message's origin, sent as the `midge-origin` user property.
    origin: Option<OriginText>,
}

impl Rewrite {
    fn publish<'a>(
        &'a self,
        msg: &'a Message,
        qos_pid: QosPid,
        retain: bool,
        dup: bool,
    ) -> PublishRef<'a> {
        PublishRef {
            dup,
            qos_pid,
            retain,
            topic: if self.elide_topic { "" } else { &msg.topic },
            properties: self.properties.as_deref().unwrap_or(msg.properties()),
            extra: self.origin.as_ref().map(|o| (Origin::PROPERTY, o.as_str())),
            payload: &msg.payload,
        }
    }
}
