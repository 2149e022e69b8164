//! Packets to the client: deliveries become PUBLISH packets (per-subscriber QoS, retain,
//! subscription ids, remaining expiry, outbound topic aliases), checked against the
//! client's Maximum Packet Size, and the resend of unacknowledged state on resume.

use std::num::NonZeroU16;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::protocol::{self, Ack, Packet, Publish, QoS, QosPid};

use super::Client;
use crate::broker::message::Delivery;
use crate::broker::session::{DropReason, Outgoing};

impl<R, W> Client<R, W>
where
    R: AsyncRead + Send + 'static,
    W: AsyncWrite + Send + 'static,
{
    pub(super) fn push(&mut self, packet: &Packet) {
        self.ctx.trace.record(&self.client_id, false, packet);
        let n = self.writer.push(packet) as u64;
        self.stats.bytes_out.fetch_add(n, Relaxed);
        self.ctx.metrics.bytes_sent.fetch_add(n, Relaxed);
    }

    /// On resume: unacknowledged PUBLISH (DUP) and PUBREL first, in order
    /// [MQTT-4.4.0-1], then the queue.
    pub(super) async fn resume(&mut self) -> Result<(), String> {
        let now = Instant::now();
        for out in self.session.resend_all(now) {
            match out {
                Outgoing::PubRel(pid) => self.push(&Packet::PubRel(Ack::new(pid))),
                Outgoing::Publish { pid, dup, delivery } => {
                    if let Some(p) = self.build_publish(&delivery, pid, dup, now) {
                        self.write_publish(p);
                    }
                }
            }
        }
        self.drain_queue();
        Ok(())
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
        let placeholder = NonZeroU16::MIN;
        let Some(probe) = self.build_publish(&d, Some(placeholder), false, now) else {
            return self.drop_delivery(&d, DropReason::TooLarge);
        };
        match self.session.start(d, now) {
            Outgoing::Publish { pid, .. } => {
                let mut p = probe;
                p.qos_pid = match pid {
                    Some(pid) => QosPid::new(p.qos_pid.qos(), pid),
                    None => QosPid::Level0,
                };
                self.write_publish(p);
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

    fn write_publish(&mut self, p: Publish) {
        self.stats.messages_out.fetch_add(1, Relaxed);
        self.ctx.metrics.messages_sent.fetch_add(1, Relaxed);
        self.push(&Packet::Publish(p));
    }

    /// The PUBLISH for a delivery, or `None` when it exceeds the client's Maximum Packet
    /// Size [MQTT-3.1.2-25].
    fn build_publish(
        &mut self,
        d: &Delivery,
        pid: Option<crate::protocol::PacketId>,
        dup: bool,
        now: Instant,
    ) -> Option<Publish> {
        let msg = &d.msg;
        let qos_pid = match pid {
            Some(pid) => QosPid::new(d.qos, pid),
            None => QosPid::Level0,
        };
        let mut topic = msg.topic.clone();
        let properties = if self.version.is_v5() {
            let mut props = msg.properties.clone();
            // Remaining lifetime [MQTT-3.3.2-6] and every matching subscription id.
            props.message_expiry_interval = msg.remaining_expiry(now);
            props.subscription_identifiers.clone_from(&d.sub_ids);
            if self.alias_out_max > 0 {
                if let Some(&alias) = self.aliases_out.get(&topic) {
                    props.topic_alias = Some(alias);
                    topic = crate::protocol::ByteStr::new();
                } else if let Ok(n) = u16::try_from(self.aliases_out.len() + 1) {
                    if n <= self.alias_out_max {
                        self.aliases_out.insert(topic.clone(), n);
                        props.topic_alias = Some(n);
                    }
                }
            }
            props
        } else {
            Default::default()
        };
        let p = Publish {
            dup,
            qos_pid,
            retain: d.retain,
            topic,
            properties,
            payload: msg.payload.clone(),
        };
        let packet = Packet::Publish(p);
        if self.max_out < u32::MAX {
            let len = protocol::encoded_len(&packet, self.version);
            if u32::try_from(len).map_or(true, |l| l > self.max_out) {
                return None;
            }
        }
        match packet {
            Packet::Publish(p) => Some(p),
            _ => None,
        }
    }
}
