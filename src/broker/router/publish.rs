//! Fan-out in the router: PUBLISH → retained store → trie match → one delivery per
//! subscriber; SUBSCRIBE/UNSUBSCRIBE bookkeeping and retained messages on subscribe.

use crate::broker::clock;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use crate::broker::inbox::PushError;
use tokio::sync::oneshot;

use super::Subscriptions;
use crate::protocol::{topic, ByteStr, QoS, RetainHandling};

use super::{ClientEntry, ClientIx, NewSubscription, Router};
use crate::broker::drops::DropLog;
use crate::broker::message::{ClientId, Delivery, Message};
use crate::broker::persist::{self, QueueState};
use crate::broker::session::DropReason;
use crate::broker::stats::Metrics;
use crate::broker::trie::Subscriber;
use crate::storage::{Done, Keyspace, Op};
use std::num::NonZeroU32;

impl Router {
    /// Route one message. `durable` (QoS 1/2 from a client, with a store) is answered once
    /// every stored copy the message produced is durable — only then does the publisher
    /// get its PUBACK/PUBREC — or with `false` if the store failed.
    pub(crate) fn publish(&mut self, msg: Arc<Message>, durable: Option<oneshot::Sender<bool>>) {
        // The broker's own namespace: handed to the admin observer, never routed.
        if msg.topic.starts_with('$') && super::watch::is_reserved(&msg.topic) {
            self.hand_to_admin(msg);
            if let Some(tx) = durable {
                let _ = tx.send(true);
            }
            return;
        }
        // The loop guard: a bridged message seen here before is not routed again.
        if let Some(&origin) = msg.origin.get() {
            if !self.loops.first_sight(origin) {
                self.metrics.loop_dropped.fetch_add(1, Relaxed);
                tracing::debug!(topic = %msg.topic, %origin, "bridged message seen before: not routed");
                if let Some(tx) = durable {
                    let _ = tx.send(true);
                }
                return;
            }
        }
        let mut ops = Vec::new();
        if msg.retain {
            // An empty retained payload clears the topic [MQTT-3.3.1-10], [MQTT-3.3.1-11].
            self.retained.set(msg.clone());
            // `$SYS` is the broker's own, republished every interval from live state: storing
            // it would write to disk on an idle broker and restore stale values.
            if self.store.is_some() && !msg.topic.starts_with("$SYS/") {
                let key = msg.topic.as_bytes().to_vec();
                ops.push(if msg.payload.is_empty() {
                    Op::Delete {
                        ks: Keyspace::Retained,
                        key,
                    }
                } else {
                    Op::Put {
                        ks: Keyspace::Retained,
                        key,
                        value: persist::retained_value(&msg),
                    }
                });
            }
        }
        if let Some(tap) = &self.tap {
            if tap.try_send(msg.clone()).is_err() {
                self.metrics.tap_dropped.fetch_add(1, Relaxed);
            }
        }
        self.recent.push(&msg);
        let mut matched = std::mem::take(&mut self.scratch);
        matched.clear();
        let clients = &self.clients;
        let may_repeat = self.trie.matches(
            &msg.topic,
            &|ix| clients.get(ix).is_some_and(|e| e.online.is_some()),
            &mut matched,
        );
        if may_repeat && matched.len() > 1 {
            // Overlapping subscriptions of one client become one delivery.
            matched.sort_unstable_by_key(|m| m.client);
        }
        // The publisher's index: looked up once, and only if a subscription has No Local.
        let mut publisher: Option<Option<ClientIx>> = None;
        let mut deferred = std::mem::take(&mut self.scratch_out);
        let mut encoded = None;
        let mut i = 0;
        while i < matched.len() {
            let client = matched[i].client;
            let mut qos: Option<QoS> = None;
            let mut retain = false;
            let mut sub_ids = Vec::new();
            while let Some(m) = matched.get(i).filter(|m| m.client == client) {
                i += 1;
                // No Local: not back to the publisher [MQTT-3.8.3-3].
                if m.options.no_local {
                    let by = *publisher.get_or_insert_with(|| {
                        msg.publisher.as_deref().and_then(|p| self.clients.ix(p))
                    });
                    if by == Some(client) {
                        continue;
                    }
                }
                // Delivered at min(publish QoS, granted QoS) [MQTT-3.8.4-8].
                let q = msg.qos.min(m.options.qos);
                qos = Some(qos.map_or(q, |prev| prev.max(q)));
                // Retain As Published [MQTT-3.3.1-12], [MQTT-3.3.1-13].
                retain |= m.options.retain_as_published && msg.retain;
                if let Some(id) = m.sub_id {
                    sub_ids.push(id.get());
                }
            }
            if let Some(qos) = qos {
                let d = Delivery {
                    msg: msg.clone(),
                    qos,
                    retain,
                    sub_ids,
                    seq: None,
                };
                if let Some(d) = self.offer(client, d, &mut ops, &mut encoded) {
                    deferred.push((client, d));
                }
            }
        }
        self.scratch = matched;
        // Stored copies go to the store before any client can see (and acknowledge)
        // them, so a delete never overtakes its put: submit, then dispatch those.
        self.submit(ops, durable);
        for (client, d) in deferred.drain(..) {
            self.dispatch(client, d);
        }
        self.scratch_out = deferred;
    }

    /// A publish to the reserved namespace goes to the admin observer with its
    /// authorisation: the ACL's write permission on the topic, or the broker's own
    /// in-process clients (a will or a broker message there is dropped).
    fn hand_to_admin(&self, msg: Arc<Message>) {
        let Some(admin) = &self.admin else { return };
        let Some(client) = msg.publisher.clone() else {
            return;
        };
        let Some(entry) = self.clients.by_id(&client) else {
            return;
        };
        let Some(conn_id) = entry.online.as_ref().map(|o| o.conn_id) else {
            return;
        };
        let info = &entry.stats.info;
        let access = &self.options.access;
        let authorised = info.internal
            || (access.has_acl()
                && access.allow_publish(&client, info.username.as_deref(), &msg.topic));
        // Bounded: requests beyond what the observer keeps up with are dropped.
        let _ = admin.try_send(super::watch::AdminRequest {
            client,
            conn_id,
            authorised,
            msg,
        });
    }

    /// Deliver one message to one connection of a client (the admin channel's replies),
    /// as `publish` would: ACL, queue room, stored copy. Nothing when that connection has
    /// gone, even if the client id is back on another.
    pub(crate) fn deliver(&mut self, client: &ClientId, conn_id: u64, d: Delivery) {
        let Some(ix) = self.clients.ix(client) else {
            return;
        };
        let same = self
            .clients
            .get(ix)
            .and_then(|e| e.online.as_ref())
            .map(|o| o.conn_id);
        if same != Some(conn_id) {
            return;
        }
        let (mut ops, mut encoded) = (Vec::new(), None);
        if let Some(d) = self.offer(ix, d, &mut ops, &mut encoded) {
            self.submit(ops, None);
            self.dispatch(ix, d);
        }
    }

    /// Send `ops` to the store (if any) and answer `durable` when they are on disk.
    pub(crate) fn submit(&self, ops: Vec<Op>, durable: Option<oneshot::Sender<bool>>) {
        match (&self.store, ops.is_empty()) {
            (Some(store), false) => {
                let done: Option<Done> = durable.map(|tx| -> Done {
                    Box::new(move |r: Result<(), crate::storage::Error>| {
                        let _ = tx.send(r.is_ok());
                    })
                });
                store.submit(ops, done);
            }
            _ => {
                if let Some(tx) = durable {
                    let _ = tx.send(true);
                }
            }
        }
    }

    /// Offer one delivery to a client: checked against the ACL and the client's queue
    /// room, then handed over at once — unless it needs a stored copy (QoS 1/2 to a
    /// persistent session, with a store): then it gets its sequence number, its copy
    /// joins `ops`, and it comes back to be dispatched once `ops` are submitted.
    fn offer(
        &mut self,
        ix: ClientIx,
        mut d: Delivery,
        ops: &mut Vec<Op>,
        encoded: &mut Option<bytes::BytesMut>,
    ) -> Option<Delivery> {
        let with_store = self.store.is_some();
        let e = self.clients.get_mut(ix)?;
        let access = &self.options.access;
        if access.has_acl()
            && !e.stats.info.internal
            && !access.allow_delivery(e.id(), e.stats.info.username.as_deref(), &d.msg.topic)
        {
            self.drops.record(e.id(), &d.msg.topic, DropReason::Acl);
            return None;
        }
        let qos0 = d.qos == QoS::AtMostOnce;
        if !(with_store && !qos0 && e.session_expiry > 0) {
            // No stored copy: hand it over now (one look at the inbox, no second lookup).
            let refused = match (&e.online, &e.session) {
                (Some(o), _) => match o.inbox.try_push(d) {
                    Ok(()) => return None,
                    // The client task is closing: its session takes it.
                    Err(PushError::Closed(d)) => {
                        e.limbo.push(d);
                        return None;
                    }
                    Err(PushError::Full(d)) => d,
                },
                // QoS 0 is not queued for an offline client, nor counted as dropped.
                (None, _) if qos0 => return None,
                (None, Some(s)) if s.queued() < s.max_queued() => {
                    queue_offline(e, d, &self.metrics);
                    return None;
                }
                (None, _) => d,
            };
            count_drop(e, &self.metrics, &self.drops, &refused.msg.topic);
            return None;
        }
        let room = match (&e.online, &e.session) {
            (Some(o), _) => o.inbox.accepts(),
            (None, Some(s)) => s.queued() < s.max_queued(),
            (None, None) => false,
        };
        if !room {
            count_drop(e, &self.metrics, &self.drops, &d.msg.topic);
            return None;
        }
        let seq = e.next_seq;
        e.next_seq += 1;
        d.seq = Some(seq);
        // Encoded once per message, copied into each stored value.
        let msg_bytes = encoded.get_or_insert_with(|| {
            let mut b = bytes::BytesMut::new();
            persist::encode_message(&d.msg, &mut b);
            b
        });
        let value =
            persist::queue_value(QueueState::Queued, d.qos, d.retain, &d.sub_ids, msg_bytes);
        ops.push(Op::Put {
            ks: Keyspace::Queues,
            key: persist::queue_key(e.id(), seq),
            value,
        });
        Some(d)
    }

    /// Hand over a delivery `offer` returned, its stored copy submitted: to the queue
    /// when online (never waiting), to the session when offline.
    fn dispatch(&mut self, ix: ClientIx, d: Delivery) {
        let Some(e) = self.clients.get_mut(ix) else {
            return;
        };
        if let Some(o) = &e.online {
            // `offer` saw room; only a closing client can refuse now.
            if let Err(PushError::Full(d) | PushError::Closed(d)) = o.inbox.try_push(d) {
                e.limbo.push(d);
            }
        } else {
            queue_offline(e, d, &self.metrics);
        }
    }

    /// Add subscriptions; returns the retained messages to send after the SUBACK, then the
    /// messages routed since the SUBSCRIBE `arrived` that it applies to (see `recent`).
    pub(super) fn subscribe(
        &mut self,
        client: &ClientId,
        subs: Vec<NewSubscription>,
        arrived: Instant,
    ) -> Vec<Delivery> {
        let mut out = Vec::new();
        let Some(ix) = self.clients.ix(client) else {
            return out;
        };
        let now = clock::now();
        let before: Vec<ByteStr> = self
            .clients
            .get(ix)
            .map(|e| e.subscriptions.keys().cloned().collect())
            .unwrap_or_default();
        for s in &subs {
            let Some(entry) = self.clients.get_mut(ix) else {
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
                    client: ix,
                    options: s.options,
                    sub_id: s.sub_id.and_then(NonZeroU32::new),
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
                // Retained messages pass the same read check as live deliveries, or a
                // subscription to `#` would reveal every retained topic.
                for msg in self.retained.matching(filter, now) {
                    if !self.readable(ix, &msg) {
                        continue;
                    }
                    out.push(Delivery {
                        seq: None,
                        qos: msg.qos.min(s.options.qos),
                        retain: true,
                        sub_ids: s.sub_id.into_iter().collect(),
                        msg,
                    });
                }
            }
        }
        self.store_session(client);
        let late = self.arrived_after(ix, client, arrived, &subs, &before, &out);
        out.extend(late);
        out
    }

    /// Whether the ACL lets client `ix` read `msg` (the broker's own clients always may).
    pub(super) fn readable(&self, ix: ClientIx, msg: &Message) -> bool {
        let access = &self.options.access;
        match self.clients.get(ix) {
            Some(e) if access.has_acl() && !e.stats.info.internal => {
                access.allow_delivery(e.id(), e.stats.info.username.as_deref(), &msg.topic)
            }
            _ => true,
        }
    }

    pub(super) fn unsubscribe(&mut self, client: &ClientId, filter: &ByteStr) -> bool {
        let Some(ix) = self.clients.ix(client) else {
            return false;
        };
        let Some(entry) = self.clients.get_mut(ix) else {
            return false;
        };
        if entry.subscriptions.remove(filter).is_none() {
            return false;
        }
        let (group, f) = split_shared(filter);
        let removed = self.trie.remove(f, group, ix);
        self.store_session(client);
        removed
    }

    /// Take client `ix`'s subscriptions out of the trie.
    pub(super) fn drop_subscriptions(&mut self, ix: ClientIx, subs: &Subscriptions) {
        for filter in subs.keys() {
            let (group, f) = split_shared(filter);
            self.trie.remove(f, group, ix);
        }
    }
}

fn split_shared(filter: &str) -> (Option<&str>, &str) {
    match topic::parse_shared(filter) {
        Ok(Some(sf)) => (Some(sf.group), sf.filter),
        _ => (None, filter),
    }
}

/// Queue a delivery in an offline client's session (room was checked).
fn queue_offline(e: &mut ClientEntry, d: Delivery, metrics: &Metrics) {
    if let Some(s) = e.session.as_mut() {
        let _ = s.enqueue(d, false);
        e.stats.queued_offline.store(s.queued() as u32, Relaxed);
        e.stats.touch(metrics);
    }
}

/// A delivery refused for want of room: counted for the client, the broker and the
/// drop log.
fn count_drop(e: &ClientEntry, metrics: &Metrics, drops: &DropLog, topic: &ByteStr) {
    e.stats.dropped.fetch_add(1, Relaxed);
    e.stats.touch(metrics);
    metrics.publish_dropped.fetch_add(1, Relaxed);
    drops.record(e.id(), topic, DropReason::QueueFull);
}
