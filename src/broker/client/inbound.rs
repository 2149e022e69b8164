//! Packets from the client: PUBLISH (QoS 0/1/2, topic aliases, ACL), acknowledgements of
//! our deliveries, SUBSCRIBE/UNSUBSCRIBE, PINGREQ, DISCONNECT.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

use crate::protocol::{
    topic, Ack, ByteStr, Packet, Props, Publish, QosPid, ReasonCode, SubAck, Subscribe, UnsubAck,
    Unsubscribe,
};

use super::{Client, End, Error, Next, PendingAck, RECEIVE_MAXIMUM, TOPIC_ALIAS_MAXIMUM};
use crate::broker::message::{Message, Origin};
use crate::broker::persist;
use crate::broker::router::{NewSubscription, RouterMsg};
use crate::broker::session::{PubRecOutcome, SessionError};
use crate::protocol::PacketId;
use crate::storage::{Keyspace, Op};

impl<R, W> Client<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    /// Handle one inbound packet without waiting; what needs the router or an await comes
    /// back as `Next` (small: no packet is held across the event loop's awaits, which
    /// would enlarge every connection's task). `Err` is a protocol error.
    pub(super) fn on_packet(&mut self, packet: Packet) -> Result<Next, Error> {
        match packet {
            Packet::Publish(p) => {
                self.rate.take(self.ctx.options.max_publish_rate);
                if let Some(m) = self.on_publish(p)? {
                    return Ok(Next::Route(m));
                }
            }
            Packet::PubAck(a) => {
                let r = self.session.on_puback(a.pid);
                self.on_ack_result(r, "PUBACK")?;
            }
            Packet::PubRec(a) => {
                let refused = a.reason.is_error();
                match self.session.on_pubrec(a.pid, refused, Instant::now()) {
                    Ok(PubRecOutcome::PubRel) => self.push(&Packet::PubRel(Ack::new(a.pid))),
                    // Sent by `write_store_changes`' completion (see the session).
                    Ok(PubRecOutcome::PubRelWhenStored | PubRecOutcome::Done) => {}
                    Err(SessionError::UnknownPacketId(_)) => {
                        // Answer with PUBREL so the client can finish [MQTT-4.3.3-?]; v5 says
                        // why (0x92).
                        let mut ack = Ack::new(a.pid);
                        ack.reason = ReasonCode::PacketIdentifierNotFound;
                        self.push(&Packet::PubRel(ack));
                    }
                    Err(e) => return Err(Error::Session(e)),
                }
            }
            Packet::PubComp(a) => {
                let r = self.session.on_pubcomp(a.pid);
                self.on_ack_result(r, "PUBCOMP")?;
            }
            Packet::PubRel(a) => {
                let mut ack = Ack::new(a.pid);
                if self.session.on_pubrel(a.pid) {
                    self.store_inbound(a.pid, false);
                } else if self.version.is_v5() {
                    ack.reason = ReasonCode::PacketIdentifierNotFound;
                }
                self.push(&Packet::PubComp(ack));
            }
            Packet::Subscribe(_) | Packet::Unsubscribe(_) => {
                return Ok(Next::Router(Box::new(packet)));
            }
            Packet::PingReq => self.push(&Packet::PingResp),
            Packet::Disconnect(d) => {
                if let Some(exp) = d.properties.session_expiry_interval {
                    // A session that was to end at disconnect can't be extended there
                    // [MQTT-3.14.2-2].
                    if self.session_expiry == 0 && exp != 0 {
                        return Err(Error::SessionExpiryOnDisconnect);
                    }
                    self.session_expiry = exp;
                }
                // The will is dropped on a normal DISCONNECT [MQTT-3.14.4-3]; v5 0x04 keeps it.
                let publish_will = d.reason == ReasonCode::DisconnectWithWillMessage;
                return Ok(Next::End(End::Normal { publish_will }));
            }
            Packet::Auth(_) => {
                // No authentication method was agreed at CONNECT [MQTT-4.12.0-1].
                return Err(Error::AuthWithoutMethod);
            }
            other => {
                // A second CONNECT [MQTT-3.1.0-2] or a server-to-client packet.
                return Err(Error::UnexpectedPacket(other.name()));
            }
        }
        Ok(Next::Done)
    }

    /// SUBSCRIBE and UNSUBSCRIBE: they wait for the router's answer. Called boxed.
    pub(super) async fn on_router_packet(&mut self, packet: Packet) -> Result<(), Error> {
        match packet {
            Packet::Subscribe(s) => self.on_subscribe(s).await,
            Packet::Unsubscribe(u) => self.on_unsubscribe(u).await,
            _ => Ok(()),
        }
    }

    /// Hand a message to the router; waits (boxed, off the idle task's footprint) only
    /// when the router's queue is full.
    pub(super) async fn send_to_router(&mut self, m: RouterMsg) -> Result<(), Error> {
        use tokio::sync::mpsc::error::TrySendError;
        match self.ctx.router.try_send(m) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(m)) => Box::pin(self.ctx.router.send(m))
                .await
                .map_err(|_| Error::Shutdown),
            Err(TrySendError::Closed(_)) => Err(Error::Shutdown),
        }
    }

    fn on_ack_result(&mut self, r: Result<(), SessionError>, what: &str) -> Result<(), Error> {
        match r {
            Ok(()) => Ok(()),
            // An ack for something not in flight (e.g. a duplicate) is harmless.
            Err(SessionError::UnknownPacketId(pid)) => {
                tracing::debug!(client_id = %self.client_id, pid, ack = what, "acknowledgement for an unknown packet id");
                Ok(())
            }
            Err(e) => Err(Error::Session(e)),
        }
    }

    /// Count and trace an inbound packet.
    pub(super) fn account_inbound(&self, packet: &Packet) {
        self.ctx.trace.record(&self.client_id, true, packet);
        let size = self.reader.last_packet_size() as u64;
        self.stats.bytes_in.fetch_add(size, Relaxed);
        self.ctx.metrics.bytes_received.fetch_add(size, Relaxed);
    }

    /// An inbound PUBLISH: checks, QoS bookkeeping and its acknowledgement; returns the
    /// message for the router (the caller sends it).
    fn on_publish(&mut self, mut p: Publish) -> Result<Option<RouterMsg>, Error> {
        self.stats.messages_in.fetch_add(1, Relaxed);
        self.ctx.metrics.messages_received.fetch_add(1, Relaxed);
        if !p.properties.subscription_identifiers.is_empty() {
            // [MQTT-3.3.4-6]: only the server sends Subscription Identifiers.
            return Err(Error::SubscriptionIdFromClient);
        }
        let topic = self.resolve_alias(&mut p)?;
        if !self.topic_within_limits(&topic) {
            return Err(Error::TopicTooLong { len: topic.len() });
        }
        let mut reason = ReasonCode::Success;
        let access = &self.ctx.options.access;
        let info = &self.stats.info;
        // A bridge's own state topic is always its to report, whatever the ACL says.
        let own_state =
            info.bridge && crate::broker::access::bridge_state_topic(&topic, &self.client_id);
        if !info.internal
            && !own_state
            && (crate::broker::access::reserved_for_broker(&topic)
                || access.has_acl()
                    && !access.allow_publish(
                        &self.client_id,
                        self.stats.info.username.as_deref(),
                        &topic,
                    ))
        {
            // v3: acknowledged and dropped; v5: refused with 0x87.
            let rule = access.denial_rule(
                &self.client_id,
                self.stats.info.username.as_deref(),
                &topic,
                false,
            );
            tracing::info!(client_id = %self.client_id, %topic, rule = rule.as_deref().unwrap_or("-"), "publish denied by the ACL");
            reason = ReasonCode::NotAuthorized;
        } else if p.properties.payload_format_indicator == Some(1)
            && std::str::from_utf8(&p.payload).is_err()
        {
            // [MQTT-3.3.2-4] v5 receivers may check the format indicator.
            reason = ReasonCode::PayloadFormatInvalid;
        }
        let ok = reason == ReasonCode::Success;
        let mut out = None;
        match p.qos_pid {
            QosPid::Level0 => {
                if ok {
                    out = Some(self.forward(p, topic, false).0);
                }
            }
            QosPid::Level1(pid) => {
                let mut wait = None;
                if ok {
                    let (m, rx) = self.forward(p, topic, true);
                    out = Some(m);
                    wait = rx;
                }
                self.queue_ack(pid, false, reason, wait);
            }
            QosPid::Level2(pid) => {
                let mut wait = None;
                if self.session.on_inbound_qos2(pid, &topic, Instant::now()) {
                    if self.session.inbound_pending() > usize::from(RECEIVE_MAXIMUM) {
                        // [MQTT-3.3.4-9] the client sent more than our Receive Maximum.
                        return Err(Error::ReceiveMaximum(RECEIVE_MAXIMUM));
                    }
                    if ok {
                        // Remember the id durably before the PUBREC, so a resend after a
                        // restart is still recognised as a duplicate.
                        self.store_inbound(pid, true);
                        let (m, rx) = self.forward(p, topic, true);
                        out = Some(m);
                        wait = rx;
                    } else {
                        self.session.on_pubrel(pid);
                    }
                }
                // A duplicate of one awaiting PUBREL is acknowledged, not forwarded again
                // [MQTT-4.3.3-10]; its PUBREC queues behind the first one's.
                self.queue_ack(pid, true, reason, wait);
            }
        }
        self.release_acks();
        Ok(out)
    }

    /// Acknowledgements go out in the order the PUBLISHes came [MQTT-4.6.0-2], each once
    /// its message is durable.
    fn queue_ack(
        &mut self,
        pid: PacketId,
        qos2: bool,
        reason: ReasonCode,
        wait: Option<oneshot::Receiver<bool>>,
    ) {
        self.pending_acks.push_back(PendingAck {
            pid,
            qos2,
            reason,
            wait,
            durable: true,
        });
    }

    /// Send every acknowledgement at the front of the queue whose message is settled.
    pub(super) fn release_acks(&mut self) {
        while let Some(front) = self.pending_acks.front_mut() {
            let durable = match front.wait.as_mut().map(|rx| rx.try_recv()) {
                None => front.durable,
                Some(Ok(ok)) => ok,
                Some(Err(oneshot::error::TryRecvError::Empty)) => return,
                Some(Err(oneshot::error::TryRecvError::Closed)) => false,
            };
            let Some(a) = self.pending_acks.pop_front() else {
                return;
            };
            let mut reason = a.reason;
            if !durable {
                // The store could not take it: refuse rather than acknowledge and lose it.
                reason = ReasonCode::QuotaExceeded;
                if a.qos2 {
                    self.session.on_pubrel(a.pid);
                    self.store_inbound(a.pid, false);
                }
                if !self.version.is_v5() {
                    // v3 has no way to say so: close, and the client will resend.
                    self.store_failed = true;
                    return;
                }
            }
            let ack = self.ack(a.pid, reason);
            self.push(&if a.qos2 {
                Packet::PubRec(ack)
            } else {
                Packet::PubAck(ack)
            });
        }
    }

    /// Record (or forget) an inbound QoS 2 id in the store, for persistent sessions.
    pub(super) fn store_inbound(&self, pid: PacketId, keep: bool) {
        let Some(store) = &self.ctx.store else { return };
        if self.session_expiry == 0 {
            return;
        }
        let key = persist::inbound_key(&self.client_id, pid.get());
        let op = if keep {
            Op::Put {
                ks: Keyspace::Inbound,
                key,
                value: Vec::new(),
            }
        } else {
            Op::Delete {
                ks: Keyspace::Inbound,
                key,
            }
        };
        store.submit(vec![op], None);
    }

    /// The ack for a PUBLISH: v3 clients never see a failure code (an ACL refusal is
    /// acknowledged as success and the message dropped).
    fn ack(&self, pid: crate::protocol::PacketId, reason: ReasonCode) -> Ack {
        let mut a = Ack::new(pid);
        if self.version.is_v5() {
            a.reason = reason;
        }
        a
    }

    /// Apply v5 topic aliases [MQTT-3.3.2-7..12]; returns the topic name.
    fn resolve_alias(&mut self, p: &mut Publish) -> Result<ByteStr, Error> {
        let Some(alias) = p
            .properties
            .present_mut()
            .and_then(|p| p.topic_alias.take())
        else {
            return Ok(p.topic.clone());
        };
        if alias == 0 || alias > TOPIC_ALIAS_MAXIMUM {
            return Err(Error::TopicAliasOutOfRange {
                alias,
                max: TOPIC_ALIAS_MAXIMUM,
            });
        }
        if p.topic.is_empty() {
            match self.aliases.as_ref().and_then(|a| a.inbound.get(&alias)) {
                Some(t) => Ok(t.clone()),
                None => Err(Error::UnknownTopicAlias(alias)),
            }
        } else {
            let aliases = self.aliases.get_or_insert_with(Box::default);
            aliases.inbound.insert(alias, p.topic.clone());
            Ok(p.topic.clone())
        }
    }

    fn topic_within_limits(&self, topic: &str) -> bool {
        let o = &self.ctx.options;
        topic.len() <= o.max_topic_length && topic.split('/').count() <= o.max_topic_levels
    }

    /// The router message for an inbound PUBLISH. With a store and `durable`, also the
    /// receiver that says when its stored copies are on disk.
    fn forward(
        &mut self,
        p: Publish,
        topic: ByteStr,
        durable: bool,
    ) -> (RouterMsg, Option<oneshot::Receiver<bool>>) {
        let mut p = p;
        let origin = if self.stats.info.bridge {
            take_origin(&mut p.properties)
        } else {
            None
        };
        let msg = Message::from_publish(p, topic, Some(self.client_id.clone()), self.read_at);
        if let Some(o) = origin {
            let _ = msg.origin.set(o);
        }
        let msg = Arc::new(msg);
        if durable && self.ctx.store.is_some() {
            let (tx, rx) = oneshot::channel();
            (
                RouterMsg::Publish {
                    msg,
                    durable: Some(tx),
                },
                Some(rx),
            )
        } else {
            (RouterMsg::Publish { msg, durable: None }, None)
        }
    }

    async fn on_subscribe(&mut self, s: Subscribe) -> Result<(), Error> {
        // Its place among other clients' PUBLISHes: when its bytes were read.
        let arrived = self.read_at;
        let v5 = self.version.is_v5();
        let sub_id = s.properties.subscription_identifiers.first().copied();
        let mut reasons = Vec::with_capacity(s.filters.len());
        let mut accepted = Vec::with_capacity(s.filters.len());
        let user = self.stats.info.username.clone();
        for (filter, options) in s.filters {
            let shared = topic::parse_shared(&filter);
            let plain = match shared {
                Ok(Some(sf)) => sf.filter,
                Ok(None) => &*filter,
                Err(()) => "",
            };
            let reason = if plain.is_empty()
                || !topic::valid_filter(plain)
                || !self.topic_within_limits(plain)
            {
                ReasonCode::TopicFilterInvalid
            } else if matches!(shared, Ok(Some(_))) && options.no_local {
                // No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4].
                return Err(Error::NoLocalOnShared);
            } else if self.ctx.options.access.has_acl()
                && !self.stats.info.internal
                && !self.ctx.options.access.allow_subscribe(
                    &self.client_id,
                    user.as_deref(),
                    &filter,
                )
            {
                let rule = self.ctx.options.access.denial_rule(
                    &self.client_id,
                    user.as_deref(),
                    &filter,
                    true,
                );
                tracing::info!(client_id = %self.client_id, %filter, rule = rule.as_deref().unwrap_or("-"), "subscribe denied by the ACL");
                ReasonCode::NotAuthorized
            } else {
                ReasonCode::granted(options.qos)
            };
            if !reason.is_error() {
                let mut options = options;
                if self.stats.info.bridge && shared == Ok(None) {
                    // A bridge never gets its own messages back (the loop it would make)
                    // and forwards retained flags as they were published, as Mosquitto's
                    // `try_private` asks.
                    options.no_local = true;
                    options.retain_as_published = true;
                }
                accepted.push(NewSubscription {
                    filter,
                    options,
                    sub_id,
                });
            }
            // v3 has one failure code; the encoder maps every error to 0x80.
            reasons.push(if v5 || !reason.is_error() {
                reason
            } else {
                ReasonCode::UnspecifiedError
            });
        }
        let retained = if accepted.is_empty() {
            Vec::new()
        } else {
            let client = self.client_id.clone();
            super::ask(&self.ctx.router, |reply| RouterMsg::Subscribe {
                client,
                subs: accepted,
                arrived,
                reply,
            })
            .await?
        };
        // The SUBACK goes before any retained message [MQTT-3.8.4-1].
        self.push(&Packet::SubAck(SubAck {
            pid: s.pid,
            properties: Props::default(),
            reasons,
        }));
        for d in retained {
            self.send_or_queue(d);
        }
        Ok(())
    }

    async fn on_unsubscribe(&mut self, u: Unsubscribe) -> Result<(), Error> {
        let client = self.client_id.clone();
        let existed = super::ask(&self.ctx.router, |reply| RouterMsg::Unsubscribe {
            client,
            filters: u.filters,
            reply,
        })
        .await?;
        let reasons = existed
            .into_iter()
            .map(|e| {
                if e {
                    ReasonCode::Success
                } else {
                    ReasonCode::NoSubscriptionExisted
                }
            })
            .collect();
        self.push(&Packet::UnsubAck(UnsubAck {
            pid: u.pid,
            properties: Props::default(),
            reasons,
        }));
        Ok(())
    }
}

/// A bridge's `midge-origin` user property, removed from what subscribers will see.
fn take_origin(props: &mut crate::protocol::Props) -> Option<Origin> {
    let props = props.present_mut()?;
    let at = props
        .user_properties
        .iter()
        .position(|(k, _)| &**k == Origin::PROPERTY)?;
    let (_, v) = props.user_properties.remove(at);
    Origin::parse(&v)
}
