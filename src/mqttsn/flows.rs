//! What a session does with each SN message from its client and each packet from the
//! broker (MQTT-SN 1.2 §6: connect and will, register, publish, subscribe, sleep).

use std::num::NonZeroU16;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::codec::{Flags, Message, ReturnCode, SnQos, SubTopic, TopicIdType};
use super::session::{BrokerConn, ConnectError, Flight, Out, Session, State, MAX_PENDING};
use super::topics::{short_name, TopicTable};
use crate::broker::links::SnDrop;
use crate::broker::Peer;
use crate::protocol::topic::{valid_filter, valid_topic_name};
use crate::protocol::{
    Ack, ByteStr, Packet, Props, Publish, QoS, QosPid, Subscribe, SubscriptionOptions, Unsubscribe,
};

/// Protocol id of MQTT-SN 1.2 in CONNECT (§5.3.8).
const PROTOCOL_ID: u8 = 0x01;

fn utf8(b: &Bytes) -> Option<String> {
    std::str::from_utf8(b).ok().map(str::to_owned)
}

impl Session {
    pub(super) async fn on_sn(&mut self, msg: Message) {
        let connected = self.broker.is_some();
        match msg {
            Message::Connect {
                flags,
                protocol_id,
                duration,
                ..
            } => self.on_connect(flags, protocol_id, duration).await,
            Message::WillTopic(w) if self.state == State::WillTopic => match w {
                Some((flags, topic)) if !topic.is_empty() => {
                    match utf8(&topic).filter(|t| valid_topic_name(t)) {
                        Some(t) => {
                            self.will.topic = Some((flags, t));
                            self.state = State::WillMsg;
                            self.send(&Message::WillMsgReq).await;
                        }
                        None => self.refuse(ReturnCode::NotSupported).await,
                    }
                }
                // An empty WILLTOPIC: no will after all (§6.3).
                _ => {
                    self.will.topic = None;
                    self.finish_connect().await;
                }
            },
            Message::WillMsg(m) if self.state == State::WillMsg => {
                self.will.msg = m;
                self.finish_connect().await;
            }
            _ if !connected || matches!(self.state, State::WillTopic | State::WillMsg) => {
                self.common.links.sn.drop_one(SnDrop::NotConnected);
            }
            Message::Register {
                msg_id, topic_name, ..
            } => {
                let reply = |topic_id, code| Message::RegAck {
                    topic_id,
                    msg_id,
                    code,
                };
                let m = match utf8(&topic_name).filter(|t| valid_topic_name(t)) {
                    None => reply(0, ReturnCode::NotSupported),
                    Some(t) => match self.topics.register(&t) {
                        Some(id) => reply(id, ReturnCode::Accepted),
                        None => reply(0, ReturnCode::Congestion),
                    },
                };
                self.send(&m).await;
                self.registrations_changed();
            }
            Message::RegAck { msg_id, code, .. } => self.on_regack(msg_id, code),
            Message::Publish {
                flags,
                topic_id,
                msg_id,
                data,
            } => self.on_publish(flags, topic_id, msg_id, data).await,
            Message::PubAck { msg_id, code, .. } => {
                if let Some(Flight::Publish { msg_id: m, .. }) =
                    self.inflight.as_ref().map(|f| &f.what)
                {
                    if *m == msg_id {
                        self.on_puback(code);
                    }
                }
            }
            Message::PubRec { msg_id } => {
                let ours = matches!(self.inflight.as_ref().map(|f| &f.what),
                    Some(Flight::Publish { msg_id: m, out }) if *m == msg_id && out.qos == SnQos::ExactlyOnce);
                if ours {
                    if let Some(Flight::Publish { out, .. }) = self.inflight.take().map(|f| f.what)
                    {
                        self.ack_broker(&out, true);
                    }
                    self.expect(Flight::PubRel { msg_id }, &Message::PubRel { msg_id })
                        .await;
                }
            }
            Message::PubComp { msg_id } => {
                if matches!(self.inflight.as_ref().map(|f| &f.what), Some(Flight::PubRel { msg_id: m }) if *m == msg_id)
                {
                    self.inflight = None;
                }
            }
            Message::PubRel { msg_id } => {
                if let (Some(pid), Some(w)) = (NonZeroU16::new(msg_id), self.broker.as_mut()) {
                    w.push(&Packet::PubRel(Ack::new(pid)));
                }
            }
            Message::Subscribe {
                flags,
                msg_id,
                topic,
            } => self.on_subscribe(flags, msg_id, topic, false).await,
            Message::Unsubscribe {
                flags,
                msg_id,
                topic,
            } => self.on_subscribe(flags, msg_id, topic, true).await,
            Message::PingReq { client_id } => match self.state {
                // §6.14: the buffered messages, then PINGRESP (sent by `pump`).
                State::Asleep if client_id.is_some() => {
                    self.state = State::Awake;
                    self.sleep_until = Instant::now() + self.keep_alive * 3 / 2;
                    self.publish_view();
                }
                State::Awake => {}
                _ => self.send(&Message::PingResp).await,
            },
            Message::Disconnect { duration: None } => {
                self.send(&Message::Disconnect { duration: None }).await;
                self.close_broker().await;
                self.done = true;
            }
            Message::Disconnect {
                duration: Some(secs),
            } => self.sleep(secs).await,
            Message::WillTopicUpd(w) => {
                match w.and_then(|(f, t)| Some((f, utf8(&t).filter(|t| valid_topic_name(t))?))) {
                    Some(t) => self.will.topic = Some(t),
                    None => self.will = super::session::Will::default(),
                }
                let code = ReturnCode::Accepted;
                self.send(&Message::WillTopicResp { code }).await;
            }
            Message::WillMsgUpd(m) => {
                self.will.msg = m;
                let code = ReturnCode::Accepted;
                self.send(&Message::WillMsgResp { code }).await;
            }
            _ => self.common.links.sn.drop_one(SnDrop::Unsupported),
        }
    }

    async fn on_connect(&mut self, flags: Flags, protocol_id: u8, duration: u16) {
        if protocol_id != PROTOCOL_ID {
            return self.refuse(ReturnCode::NotSupported).await;
        }
        self.keep_alive = Duration::from_secs(u64::from(duration));
        if self.broker.is_some() && flags.clean_session {
            // A clean start replaces the session: nothing of the old one is kept.
            self.close_broker().await;
            self.queue.clear();
            self.inflight = None;
            self.pubs.clear();
            self.subs.clear();
            self.will = super::session::Will::default();
        }
        if self.broker.is_none() {
            self.clean = flags.clean_session;
            let predefined = self.common.predefined.for_client(&self.client_id);
            self.topics = TopicTable::new(predefined);
            if !self.clean {
                for (id, name) in self.common.registry.get(&self.client_id) {
                    self.topics.restore(id, name);
                }
            }
        }
        if flags.will {
            self.state = State::WillTopic;
            self.send(&Message::WillTopicReq).await;
        } else {
            self.finish_connect().await;
        }
    }

    /// CONNACK, after connecting the broker session if there is none yet.
    async fn finish_connect(&mut self) {
        if self.broker.is_none() {
            let peer = Peer {
                address: self.addr.to_string(),
                cert_identity: self.common.cfg.user_for(&self.client_id).map(str::to_owned),
                ..Peer::default()
            };
            let opened =
                BrokerConn::open(&self.common.connector, peer, &self.client_id, self.clean).await;
            match opened {
                Ok((conn, _present)) => {
                    self.broker = Some(conn.writer);
                    self.new_reader = Some(conn.reader);
                    if self.clean {
                        self.common.registry.set(&self.client_id, Vec::new());
                    }
                }
                Err(e) => {
                    tracing::info!(client_id = %self.client_id, error = %e, "MQTT-SN CONNECT refused");
                    let code = match e {
                        ConnectError::Refused(_) => ReturnCode::NotSupported,
                        ConnectError::NoAnswer => ReturnCode::Congestion,
                    };
                    return self.refuse(code).await;
                }
            }
        }
        self.state = State::Active;
        let code = ReturnCode::Accepted;
        self.send(&Message::ConnAck { code }).await;
        self.publish_view();
    }

    async fn refuse(&mut self, code: ReturnCode) {
        self.send(&Message::ConnAck { code }).await;
        self.close_broker().await;
        self.done = true;
    }

    /// §6.14: asleep for `secs`; lost after 1.5 × that without a PINGREQ or CONNECT.
    async fn sleep(&mut self, secs: u16) {
        self.keep_alive = Duration::from_secs(u64::from(secs));
        self.sleep_until = Instant::now() + self.keep_alive * 3 / 2;
        self.state = State::Asleep;
        // What awaited an answer is sent again on wake-up.
        match self.inflight.take().map(|f| f.what) {
            Some(Flight::Publish { out, .. }) => self.queue.push_front(out),
            Some(Flight::Register { topic, .. }) => self.topics.forget(&topic),
            _ => {}
        }
        self.send(&Message::Disconnect { duration: None }).await;
        self.publish_view();
    }

    fn on_regack(&mut self, msg_id: u16, code: ReturnCode) {
        let Some(Flight::Register { msg_id: m, .. }) = self.inflight.as_ref().map(|f| &f.what)
        else {
            return;
        };
        if *m != msg_id {
            return;
        }
        if let Some(Flight::Register { topic, .. }) = self.inflight.take().map(|f| f.what) {
            if code != ReturnCode::Accepted {
                // The client refused the name: the message waiting for it is dropped.
                self.topics.forget(&topic);
                if let Some(out) = self.queue.pop_front() {
                    self.ack_broker(&out, true);
                }
            }
            self.registrations_changed();
        }
    }

    fn on_puback(&mut self, code: ReturnCode) {
        let Some(Flight::Publish { out, .. }) = self.inflight.take().map(|f| f.what) else {
            return;
        };
        if code == ReturnCode::InvalidTopicId
            && matches!(
                self.topics.outgoing(&out.topic),
                super::topics::Outgoing::Normal(_)
            )
        {
            // The client lost our id (§6.7): register again and resend.
            self.topics.forget(&out.topic);
            self.registrations_changed();
            self.queue.push_front(out);
            return;
        }
        self.ack_broker(&out, true);
    }

    async fn on_publish(&mut self, flags: Flags, topic_id: u16, msg_id: u16, data: Bytes) {
        let topic = match flags.topic_id_type {
            TopicIdType::Normal => self.topics.normal(topic_id).map(str::to_owned),
            TopicIdType::Predefined => self.topics.predefined(topic_id).map(str::to_owned),
            TopicIdType::Short => short_name(topic_id),
            TopicIdType::Reserved => None,
        };
        let puback = |code| Message::PubAck {
            topic_id,
            msg_id,
            code,
        };
        // §6.5: an unknown topic id is answered with "rejected: invalid topic ID".
        let Some(topic) = topic.filter(|t| valid_topic_name(t)) else {
            return self.send(&puback(ReturnCode::InvalidTopicId)).await;
        };
        let qos_pid = match (flags.qos, NonZeroU16::new(msg_id)) {
            (SnQos::AtMostOnce | SnQos::NoConnect, _) => QosPid::Level0,
            (_, None) => return self.send(&puback(ReturnCode::NotSupported)).await,
            (_, Some(_)) if self.pubs.len() >= MAX_PENDING && !self.pubs.contains_key(&msg_id) => {
                return self.send(&puback(ReturnCode::Congestion)).await;
            }
            (SnQos::AtLeastOnce, Some(pid)) => QosPid::Level1(pid),
            (SnQos::ExactlyOnce, Some(pid)) => QosPid::Level2(pid),
        };
        if qos_pid != QosPid::Level0 {
            self.pubs.insert(msg_id, topic_id);
        }
        if let Some(w) = self.broker.as_mut() {
            w.push(&Packet::Publish(Publish {
                dup: flags.dup && qos_pid != QosPid::Level0,
                qos_pid,
                retain: flags.retain,
                topic: ByteStr::from(topic),
                properties: Props::default(),
                payload: data,
            }));
        }
    }

    async fn on_subscribe(&mut self, flags: Flags, msg_id: u16, topic: SubTopic, unsub: bool) {
        let (filter, topic_id) = match topic {
            SubTopic::Name(n) => match utf8(&n).filter(|f| valid_filter(f)) {
                // A wildcard filter has no id: the gateway REGISTERs each topic before its
                // first PUBLISH (§6.9); a plain name gets its id now.
                Some(f) if f.contains(['+', '#']) || unsub => (Some(f), 0),
                Some(f) => {
                    let id = self.topics.register(&f);
                    self.registrations_changed();
                    (id.map(|_| f), id.unwrap_or(0))
                }
                None => (None, 0),
            },
            SubTopic::Predefined(id) => (self.topics.predefined(id).map(str::to_owned), id),
            SubTopic::Short(b) => {
                let id = u16::from_be_bytes(b);
                (short_name(id), id)
            }
            SubTopic::Reserved(id) => (None, id),
        };
        let Some(filter) = filter else {
            let code = if flags.topic_id_type == TopicIdType::Predefined {
                ReturnCode::InvalidTopicId
            } else {
                ReturnCode::NotSupported
            };
            let m = if unsub {
                Message::UnsubAck { msg_id }
            } else {
                Message::SubAck {
                    flags: Flags::default(),
                    topic_id,
                    msg_id,
                    code,
                }
            };
            return self.send(&m).await;
        };
        self.next_pid = self.next_pid.wrapping_add(1).max(1);
        let Some(pid) = NonZeroU16::new(self.next_pid) else {
            return;
        };
        self.subs.insert(pid.get(), (msg_id, topic_id, unsub));
        let Some(w) = self.broker.as_mut() else {
            return;
        };
        let filter = ByteStr::from(filter);
        if unsub {
            w.push(&Packet::Unsubscribe(Unsubscribe {
                pid,
                properties: Props::default(),
                filters: vec![filter],
            }));
        } else {
            let qos = QoS::try_from(flags.qos.level()).unwrap_or(QoS::AtMostOnce);
            w.push(&Packet::Subscribe(Subscribe {
                pid,
                properties: Props::default(),
                filters: vec![(
                    filter,
                    SubscriptionOptions {
                        qos,
                        ..SubscriptionOptions::default()
                    },
                )],
            }));
        }
    }

    pub(super) async fn on_broker(&mut self, p: Packet) {
        match p {
            Packet::Publish(p) => {
                let qos = SnQos::from_level(p.qos_pid.qos() as u8);
                if qos == SnQos::AtMostOnce && self.queue.len() >= self.common.max_buffered {
                    return;
                }
                self.queue.push_back(Out {
                    topic: p.topic.to_string(),
                    payload: p.payload,
                    qos,
                    retain: p.retain,
                    broker_pid: p.qos_pid.pid(),
                });
                if self.state == State::Asleep {
                    self.publish_view();
                }
            }
            Packet::PubRel(a) => {
                if let Some(w) = self.broker.as_mut() {
                    w.push(&Packet::PubComp(Ack::new(a.pid)));
                }
            }
            Packet::PubAck(a) => {
                let topic_id = self.pubs.remove(&a.pid.get()).unwrap_or(0);
                let code = if a.reason.is_error() {
                    ReturnCode::NotSupported
                } else {
                    ReturnCode::Accepted
                };
                let msg_id = a.pid.get();
                self.send(&Message::PubAck {
                    topic_id,
                    msg_id,
                    code,
                })
                .await;
            }
            Packet::PubRec(a) => {
                let msg_id = a.pid.get();
                if a.reason.is_error() {
                    let topic_id = self.pubs.remove(&msg_id).unwrap_or(0);
                    let code = ReturnCode::NotSupported;
                    self.send(&Message::PubAck {
                        topic_id,
                        msg_id,
                        code,
                    })
                    .await;
                } else {
                    self.send(&Message::PubRec { msg_id }).await;
                }
            }
            Packet::PubComp(a) => {
                self.pubs.remove(&a.pid.get());
                self.send(&Message::PubComp {
                    msg_id: a.pid.get(),
                })
                .await;
            }
            Packet::SubAck(s) => {
                let Some((msg_id, topic_id, _)) = self.subs.remove(&s.pid.get()) else {
                    return;
                };
                let granted = s.reasons.first().copied();
                let m = match granted {
                    Some(r) if !r.is_error() => Message::SubAck {
                        flags: Flags {
                            qos: SnQos::from_level(r as u8),
                            ..Flags::default()
                        },
                        topic_id,
                        msg_id,
                        code: ReturnCode::Accepted,
                    },
                    _ => Message::SubAck {
                        flags: Flags::default(),
                        topic_id,
                        msg_id,
                        code: ReturnCode::NotSupported,
                    },
                };
                self.send(&m).await;
            }
            Packet::UnsubAck(u) => {
                if let Some((msg_id, _, _)) = self.subs.remove(&u.pid.get()) {
                    self.send(&Message::UnsubAck { msg_id }).await;
                }
            }
            Packet::Disconnect(_) => {
                self.broker = None;
                self.send(&Message::Disconnect { duration: None }).await;
                self.done = true;
            }
            _ => {}
        }
    }

    /// Persistent sessions keep their registrations across restarts; the dashboard
    /// shows the table.
    pub(super) fn registrations_changed(&self) {
        if !self.clean {
            self.common
                .registry
                .set(&self.client_id, self.topics.registered());
        }
        self.publish_view();
    }
}
