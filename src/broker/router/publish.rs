//! Fan-out in the router: PUBLISH → retained store → trie match → one delivery per
//! subscriber; SUBSCRIBE/UNSUBSCRIBE bookkeeping and retained messages on subscribe.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc::error::TrySendError;

use crate::protocol::{topic, ByteStr, QoS, RetainHandling, SubscriptionOptions};

use super::{NewSubscription, Router};
use crate::broker::message::{ClientId, Delivery, Message};
use crate::broker::session::DropReason;
use crate::broker::trie::Subscriber;

impl Router {
    pub(crate) fn publish(&mut self, msg: Arc<Message>) {
        // The admin channel's requests are answered here and never routed.
        if crate::broker::admin::intercept(self, &msg) {
            return;
        }
        if msg.retain {
            // An empty retained payload clears the topic [MQTT-3.3.1-10], [MQTT-3.3.1-11].
            self.retained.set(msg.clone());
        }
        if let Some(tap) = &self.tap {
            if tap.try_send(msg.clone()).is_err() {
                self.tap_dropped += 1;
            }
        }
        let mut matched = std::mem::take(&mut self.scratch);
        matched.clear();
        let clients = &self.clients;
        self.trie.matches(
            &msg.topic,
            &|c| clients.get(c).is_some_and(|e| e.online.is_some()),
            &mut matched,
        );
        if matched.len() > 1 {
            // Overlapping subscriptions of one client become one delivery.
            matched.sort_unstable_by(|a, b| a.client.cmp(&b.client));
        }
        let mut i = 0;
        while i < matched.len() {
            let client = matched[i].client.clone();
            let mut qos: Option<QoS> = None;
            let mut retain = false;
            let mut sub_ids = Vec::new();
            while let Some(m) = matched.get(i).filter(|m| m.client == client) {
                i += 1;
                // No Local: not back to the publisher [MQTT-3.8.3-3].
                if m.options.no_local && msg.publisher.as_deref() == Some(&*client) {
                    continue;
                }
                // Delivered at min(publish QoS, granted QoS) [MQTT-3.8.4-8].
                let q = msg.qos.min(m.options.qos);
                qos = Some(qos.map_or(q, |prev| prev.max(q)));
                // Retain As Published [MQTT-3.3.1-12], [MQTT-3.3.1-13].
                retain |= m.options.retain_as_published && msg.retain;
                if let Some(id) = m.sub_id {
                    sub_ids.push(id);
                }
            }
            if let Some(qos) = qos {
                self.deliver(
                    &client,
                    Delivery {
                        msg: msg.clone(),
                        qos,
                        retain,
                        sub_ids,
                    },
                );
            }
        }
        self.scratch = matched;
    }

    /// Hand one delivery to a client: its queue when online (never waiting), its session
    /// when offline.
    pub(crate) fn deliver(&mut self, client: &ClientId, d: Delivery) {
        let Some(e) = self.clients.get_mut(client) else {
            return;
        };
        let access = &self.options.access;
        if access.has_acl()
            && !e.stats.info.internal
            && !access.allow_delivery(client, e.stats.info.username.as_deref(), &d.msg.topic)
        {
            self.drops.record(client, &d.msg.topic, DropReason::Acl);
            return;
        }
        let dropped = match &e.online {
            Some(o) => match o.deliveries.try_send(d) {
                Ok(()) => None,
                Err(TrySendError::Full(d)) => Some(d),
                Err(TrySendError::Closed(d)) => {
                    if e.limbo.len() < self.options.max_queued {
                        e.limbo.push(d);
                        None
                    } else {
                        Some(d)
                    }
                }
            },
            None => match e.session.as_mut() {
                Some(s) => s.enqueue(d.clone(), false).err().map(|_| d),
                None => None,
            },
        };
        if let Some(d) = dropped {
            e.stats.dropped.fetch_add(1, Relaxed);
            self.metrics.publish_dropped.fetch_add(1, Relaxed);
            self.drops
                .record(client, &d.msg.topic, DropReason::QueueFull);
        }
    }

    /// Add subscriptions; returns the retained messages to send after the SUBACK.
    pub(super) fn subscribe(
        &mut self,
        client: &ClientId,
        subs: Vec<NewSubscription>,
    ) -> Vec<Delivery> {
        let mut out = Vec::new();
        let now = Instant::now();
        for s in subs {
            let Some(entry) = self.clients.get_mut(client) else {
                return out;
            };
            let (group, filter) = match topic::parse_shared(&s.filter) {
                Ok(Some(sf)) => (Some(sf.group), sf.filter),
                _ => (None, &*s.filter),
            };
            let existed = entry
                .subscriptions
                .insert(s.filter.clone(), (s.options, s.sub_id))
                .is_some();
            self.trie.insert(
                filter,
                group,
                Subscriber {
                    client: client.clone(),
                    options: s.options,
                    sub_id: s.sub_id,
                },
            );
            // Retained messages on subscribe per Retain Handling [MQTT-3.3.1-9],
            // [MQTT-3.8.4-4]; never for shared subscriptions [MQTT-4.8.2-?].
            let send = group.is_none()
                && match s.options.retain_handling {
                    RetainHandling::OnSubscribe => true,
                    RetainHandling::OnNewSubscribe => !existed,
                    RetainHandling::Never => false,
                };
            if send {
                for msg in self.retained.matching(filter, now) {
                    out.push(Delivery {
                        qos: msg.qos.min(s.options.qos),
                        retain: true,
                        sub_ids: s.sub_id.into_iter().collect(),
                        msg,
                    });
                }
            }
        }
        out
    }

    pub(super) fn unsubscribe(&mut self, client: &ClientId, filter: &ByteStr) -> bool {
        let Some(entry) = self.clients.get_mut(client) else {
            return false;
        };
        if entry.subscriptions.remove(filter).is_none() {
            return false;
        }
        let (group, f) = split_shared(filter);
        self.trie.remove(f, group, client)
    }

    pub(super) fn drop_subscriptions(
        &mut self,
        client: &ClientId,
        subs: &HashMap<ByteStr, (SubscriptionOptions, Option<u32>)>,
    ) {
        for filter in subs.keys() {
            let (group, f) = split_shared(filter);
            self.trie.remove(f, group, client);
        }
    }
}

fn split_shared(filter: &str) -> (Option<&str>, &str) {
    match topic::parse_shared(filter) {
        Ok(Some(sf)) => (Some(sf.group), sf.filter),
        _ => (None, filter),
    }
}
