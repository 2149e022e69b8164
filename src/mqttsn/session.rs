//! One SN client's task: its broker connection (MQTT 5 over an in-process duplex), its
//! timers (keep-alive, sleep, T_retry), and the queue of messages for it. Messages to the
//! client go one at a time when they need an answer (REGISTER, QoS 1/2 PUBLISH, PUBREL),
//! retransmitted after T_retry up to N_retry times (MQTT-SN 1.2 §6.13). The handling of
//! each SN message is in `flows`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{DuplexStream, ReadHalf, WriteHalf};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::codec::{encode, Flags, Message, SnQos, TopicIdType};
use super::topics::{Outgoing, TopicTable};
use super::Common;
use crate::broker::links::{SnClientState, SnClientView};
use crate::broker::{Connector, Peer};
use crate::protocol::{
    Ack, ByteStr, Connect, Disconnect, Packet, Properties, Props, ProtocolVersion, Publish, QosPid,
    ReasonCode,
};
use crate::transport::connection::{PacketReader, PacketWriter};

/// A datagram for this client's task.
pub struct Inbound {
    pub from: SocketAddr,
    pub msg: Message,
}

/// A session task ended (to its socket task, which forgets its address).
pub struct Gone {
    pub client_id: Arc<str>,
    pub tx: mpsc::Sender<Inbound>,
}

type Reader = PacketReader<ReadHalf<DuplexStream>>;
type Writer = PacketWriter<WriteHalf<DuplexStream>>;

/// Messages the broker may have in flight to one SN client: what a sleeping client's
/// buffer holds before the broker queues the rest in the session.
const RECEIVE_MAXIMUM: u16 = 64;
/// SN → broker QoS 1/2 publishes awaiting the broker's answer, per client; beyond it,
/// PUBACK "rejected: congestion".
pub(super) const MAX_PENDING: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("refused by the broker: {0:?}")]
    Refused(ReasonCode),
    #[error("no CONNACK from the broker")]
    NoAnswer,
}

/// The client's end of its broker session.
pub struct BrokerConn {
    pub reader: Reader,
    pub writer: Writer,
}

impl BrokerConn {
    /// Connects `client_id` (MQTT 5; keep-alive 0: the gateway supervises it). A
    /// persistent SN session is a broker session that never expires. Returns the
    /// connection and whether the broker had a session.
    pub async fn open(
        connector: &Connector,
        peer: Peer,
        client_id: &str,
        clean: bool,
    ) -> Result<(BrokerConn, bool), ConnectError> {
        let (r, w) = tokio::io::split(connector.connect_peer(peer));
        let mut reader = PacketReader::new(r, crate::config::MAX_PACKET_SIZE_LIMIT);
        let mut writer = PacketWriter::new(w);
        reader.version = ProtocolVersion::V5;
        writer.version = ProtocolVersion::V5;
        writer.push(&Packet::Connect(Box::new(Connect {
            protocol: ProtocolVersion::V5,
            clean_start: clean,
            keep_alive: 0,
            properties: Props::from(Properties {
                session_expiry_interval: (!clean).then_some(u32::MAX),
                receive_maximum: Some(RECEIVE_MAXIMUM),
                ..Properties::default()
            }),
            client_id: ByteStr::from(client_id),
            will: None,
            username: None,
            password: None,
            bridge: false,
        })));
        writer.flush().await.map_err(|_| ConnectError::NoAnswer)?;
        match tokio::time::timeout(Duration::from_secs(10), reader.read_packet()).await {
            Ok(Ok(Some(Packet::ConnAck(a)))) if !a.reason.is_error() => {
                Ok((BrokerConn { reader, writer }, a.session_present))
            }
            Ok(Ok(Some(Packet::ConnAck(a)))) => Err(ConnectError::Refused(a.reason)),
            _ => Err(ConnectError::NoAnswer),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// CONNECT received with the Will flag: WILLTOPICREQ sent, or WILLMSGREQ sent.
    WillTopic,
    WillMsg,
    Active,
    Asleep,
    Awake,
}

/// A message for the client, from the broker.
#[derive(Debug)]
pub(super) struct Out {
    pub topic: String,
    pub payload: Bytes,
    pub qos: SnQos,
    pub retain: bool,
    /// The broker's packet id (QoS 1/2), answered when the client has answered.
    pub broker_pid: Option<NonZeroU16>,
}

/// The message to the client that awaits its answer.
#[derive(Debug)]
pub(super) enum Flight {
    Register { msg_id: u16, topic: String },
    Publish { msg_id: u16, out: Out },
    PubRel { msg_id: u16 },
}

#[derive(Debug)]
pub(super) struct InFlight {
    pub what: Flight,
    pub datagram: Bytes,
    pub due: Instant,
    pub retries: u32,
}

/// The will the gateway holds for the client (published by the gateway when the client
/// is lost, so WILLTOPICUPD / WILLMSGUPD need no new broker connection).
#[derive(Debug, Default)]
pub(super) struct Will {
    pub topic: Option<(Flags, String)>,
    pub msg: Bytes,
}

pub(super) struct Session {
    pub common: Arc<Common>,
    pub sock: Arc<UdpSocket>,
    pub client_id: Arc<str>,
    pub addr: SocketAddr,
    pub state: State,
    pub clean: bool,
    pub keep_alive: Duration,
    pub last_rx: Instant,
    /// Asleep / awake: lost after this.
    pub sleep_until: Instant,
    pub topics: TopicTable,
    pub will: Will,
    pub broker: Option<Writer>,
    /// A reader for the run loop to pick up (after a (re)connect).
    pub new_reader: Option<Reader>,
    pub queue: VecDeque<Out>,
    pub inflight: Option<InFlight>,
    pub next_msg_id: u16,
    pub next_pid: u16,
    /// SUBSCRIBE / UNSUBSCRIBE in the broker: pid → (SN msg id, topic id, is unsubscribe).
    pub subs: HashMap<u16, (u16, u16, bool)>,
    /// SN → broker QoS 1/2 publishes: msg id → topic id (echoed in PUBACK).
    pub pubs: HashMap<u16, u16>,
    pub done: bool,
    /// Ended by [`Session::lost`] (not by DISCONNECT).
    pub lost: bool,
}

/// Starts the task of a new client; its first message is the CONNECT.
pub(super) fn spawn(
    common: Arc<Common>,
    sock: Arc<UdpSocket>,
    client_id: Arc<str>,
    gone: mpsc::Sender<Gone>,
) -> mpsc::Sender<Inbound> {
    let (tx, rx) = mpsc::channel(256);
    let mine = tx.clone();
    tokio::spawn(async move {
        let now = Instant::now();
        let mut s = Session {
            common,
            sock,
            client_id: client_id.clone(),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            state: State::Active,
            clean: true,
            keep_alive: Duration::ZERO,
            last_rx: now,
            sleep_until: now,
            topics: TopicTable::default(),
            will: Will::default(),
            broker: None,
            new_reader: None,
            queue: VecDeque::new(),
            inflight: None,
            next_msg_id: 0,
            next_pid: 0,
            subs: HashMap::new(),
            pubs: HashMap::new(),
            done: false,
            lost: false,
        };
        s.run(rx).await;
        if s.lost && !s.clean {
            // The broker keeps the session: the dashboard shows it as lost until the
            // client connects again.
            s.publish_view();
        } else {
            s.common.links.sn.remove_client(&client_id);
        }
        let _ = gone
            .send(Gone {
                client_id,
                tx: mine,
            })
            .await;
    });
    tx
}

impl Session {
    async fn run(&mut self, mut rx: mpsc::Receiver<Inbound>) {
        let mut reader: Option<Reader> = None;
        while !self.done {
            let due = self.deadline();
            tokio::select! {
                m = rx.recv() => match m {
                    Some(Inbound { from, msg }) => {
                        self.addr = from;
                        self.last_rx = Instant::now();
                        self.on_sn(msg).await;
                    }
                    None => break,
                },
                p = read(&mut reader) => match p {
                    Some(p) => self.on_broker(p).await,
                    None => {
                        // The broker closed the session (taken over, kicked, shutdown).
                        reader = None;
                        self.broker = None;
                        if matches!(self.state, State::Active | State::Asleep | State::Awake) {
                            self.send(&Message::Disconnect { duration: None }).await;
                        }
                        self.done = true;
                    }
                },
                () = sleep_until(due) => self.on_timer().await,
            }
            if let Some(r) = self.new_reader.take() {
                reader = Some(r);
            }
            self.pump().await;
            if let Some(w) = self.broker.as_mut() {
                if w.flush().await.is_err() {
                    self.broker = None;
                    reader = None;
                    self.done = true;
                }
            }
        }
    }

    /// The next timer: the answer awaited from the client, else keep-alive or sleep.
    fn deadline(&self) -> Option<Instant> {
        let supervise = match self.state {
            State::Asleep | State::Awake => Some(self.sleep_until),
            // §6.10: lost after 1.5 × the keep-alive without a message.
            _ if !self.keep_alive.is_zero() => Some(self.last_rx + self.keep_alive * 3 / 2),
            State::WillTopic | State::WillMsg => Some(self.last_rx + self.retry() * 4),
            _ => None,
        };
        let retry = self.inflight.as_ref().map(|f| f.due);
        match (supervise, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(super) fn retry(&self) -> Duration {
        Duration::from_secs(self.common.cfg.retry_secs)
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if let Some(f) = self.inflight.as_mut() {
            if f.due <= now {
                if f.retries >= self.common.cfg.max_retries {
                    tracing::info!(client_id = %self.client_id, "MQTT-SN client lost: no answer after N_retry");
                    return self.lost().await;
                }
                f.retries += 1;
                f.due = now + Duration::from_secs(self.common.cfg.retry_secs);
                let datagram = f.datagram.clone();
                self.send_bytes(datagram).await;
                return;
            }
        }
        if self.deadline().is_some_and(|d| d <= now) {
            tracing::info!(client_id = %self.client_id, state = ?self.state, "MQTT-SN client lost: keep-alive or sleep expired");
            self.lost().await;
        }
    }

    /// The client is gone without DISCONNECT: its will is published, its broker
    /// connection closed (a persistent session stays in the broker).
    pub(super) async fn lost(&mut self) {
        if let (Some(w), Some((flags, topic))) = (self.broker.as_mut(), self.will.topic.take()) {
            w.push(&Packet::Publish(Publish {
                dup: false,
                // QoS 0: the session ends right after; the broker routes it before the
                // DISCONNECT below.
                qos_pid: QosPid::Level0,
                retain: flags.retain,
                topic: ByteStr::from(topic),
                properties: Props::default(),
                payload: std::mem::take(&mut self.will.msg),
            }));
        }
        self.close_broker().await;
        self.done = true;
        self.lost = true;
    }

    pub(super) async fn close_broker(&mut self) {
        if let Some(mut w) = self.broker.take() {
            w.push(&Packet::Disconnect(Disconnect {
                reason: ReasonCode::Success,
                properties: Props::default(),
            }));
            let _ = w.flush().await;
        }
    }

    /// Sends what the client can take now: while nothing awaits an answer, the next
    /// queued message (REGISTER first for a topic it has no id for). An awake client
    /// gets PINGRESP when its buffer is empty and goes back to sleep (§6.14).
    pub(super) async fn pump(&mut self) {
        if !matches!(self.state, State::Active | State::Awake) {
            return;
        }
        while self.inflight.is_none() {
            let Some(out) = self.queue.pop_front() else {
                break;
            };
            let (kind, topic_id) = match self.topics.outgoing(&out.topic) {
                Outgoing::Predefined(id) => (TopicIdType::Predefined, id),
                Outgoing::Normal(id) => (TopicIdType::Normal, id),
                Outgoing::Short(id) => (TopicIdType::Short, id),
                Outgoing::Register => {
                    let Some(id) = self.topics.register(&out.topic) else {
                        // Table full: the message cannot be named; acknowledge and drop.
                        self.ack_broker(&out, true);
                        continue;
                    };
                    let msg_id = self.msg_id();
                    let topic = out.topic.clone();
                    self.queue.push_front(out);
                    let m = Message::Register {
                        topic_id: id,
                        msg_id,
                        topic_name: Bytes::from(topic.clone().into_bytes()),
                    };
                    self.expect(Flight::Register { msg_id, topic }, &m).await;
                    break;
                }
            };
            let msg_id = if out.qos.level() == 0 {
                0
            } else {
                self.msg_id()
            };
            let m = Message::Publish {
                flags: Flags {
                    qos: out.qos,
                    retain: out.retain,
                    topic_id_type: kind,
                    ..Flags::default()
                },
                topic_id,
                msg_id,
                data: out.payload.clone(),
            };
            if out.qos.level() == 0 {
                self.send(&m).await;
            } else {
                self.expect(Flight::Publish { msg_id, out }, &m).await;
            }
        }
        if self.state == State::Awake && self.inflight.is_none() && self.queue.is_empty() {
            self.send(&Message::PingResp).await;
            self.state = State::Asleep;
            self.publish_view();
        }
    }

    /// Sends `m`, which awaits an answer, and remembers it for retransmission.
    pub(super) async fn expect(&mut self, what: Flight, m: &Message) {
        let datagram = encode(m);
        self.inflight = Some(InFlight {
            what,
            datagram: match m {
                // A retransmitted PUBLISH carries DUP (§5.3.4).
                Message::Publish {
                    flags,
                    topic_id,
                    msg_id,
                    data,
                } => encode(&Message::Publish {
                    flags: Flags {
                        dup: true,
                        ..*flags
                    },
                    topic_id: *topic_id,
                    msg_id: *msg_id,
                    data: data.clone(),
                }),
                _ => datagram.clone(),
            },
            due: Instant::now() + self.retry(),
            retries: 0,
        });
        self.send_bytes(datagram).await;
    }

    /// Answers the broker for a message the client took (or that was dropped).
    pub(super) fn ack_broker(&mut self, out: &Out, done: bool) {
        let (Some(pid), Some(w)) = (out.broker_pid, self.broker.as_mut()) else {
            return;
        };
        match out.qos {
            SnQos::AtLeastOnce => w.push(&Packet::PubAck(Ack::new(pid))),
            SnQos::ExactlyOnce if done => w.push(&Packet::PubRec(Ack::new(pid))),
            _ => 0,
        };
    }

    pub(super) fn msg_id(&mut self) -> u16 {
        self.next_msg_id = self.next_msg_id.wrapping_add(1).max(1);
        self.next_msg_id
    }

    pub(super) async fn send(&self, m: &Message) {
        self.send_bytes(encode(m)).await;
    }

    async fn send_bytes(&self, datagram: Bytes) {
        if self.sock.send_to(&datagram, self.addr).await.is_ok() {
            let sn = &self.common.links.sn;
            sn.datagrams_out
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Publishes the dashboard's view of this client.
    pub(super) fn publish_view(&self) {
        let state = match self.state {
            _ if self.lost => SnClientState::Lost,
            State::Asleep => SnClientState::Asleep,
            State::Awake => SnClientState::Awake,
            _ => SnClientState::Active,
        };
        let buffered = self
            .queue
            .iter()
            .take(16)
            .map(|o| {
                (
                    o.topic.clone(),
                    o.qos.level(),
                    u32::try_from(o.payload.len()).unwrap_or(u32::MAX),
                )
            })
            .collect();
        self.common.links.sn.set_client(
            &self.client_id,
            SnClientView {
                state,
                topic_ids: self.topics.view(),
                buffered,
                buffered_total: u32::try_from(self.queue.len()).unwrap_or(u32::MAX),
            },
        );
    }
}

async fn read(r: &mut Option<Reader>) -> Option<Packet> {
    match r {
        Some(r) => r.read_packet().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
