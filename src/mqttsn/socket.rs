//! One UDP listener: receives datagrams in batches, applies the per-source rate limit,
//! decodes, answers SEARCHGW, broadcasts ADVERTISE, forwards QoS −1 publishes, and hands
//! everything else to the source address's session task without ever waiting on it (a
//! full session queue drops the datagram and counts it).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::codec::{decode, encode, Message, SnQos, TopicIdType};
use super::session::{self, Gone, Inbound};
use super::topics::short_name;
use super::Common;
use crate::broker::links::SnDrop;
use crate::broker::Peer;
use crate::protocol::{ByteStr, Packet, Props, Publish, QosPid};

/// Datagrams read per readiness wake-up before yielding to the select.
const BATCH: usize = 64;
/// Rate-limit buckets kept; beyond it they are all forgotten (a spoofed-source flood
/// must not grow memory).
const MAX_BUCKETS: usize = 65_536;

/// A session task as the socket sees it.
struct Handle {
    client_id: Arc<str>,
    tx: mpsc::Sender<Inbound>,
}

/// A token bucket per source address.
struct Bucket {
    tokens: f64,
    last: Instant,
}

struct Socket {
    sock: Arc<UdpSocket>,
    common: Arc<Common>,
    by_addr: HashMap<SocketAddr, Handle>,
    by_id: HashMap<Arc<str>, SocketAddr>,
    buckets: HashMap<SocketAddr, Bucket>,
    gone: mpsc::Sender<Gone>,
    qos_m1: mpsc::Sender<(String, Bytes, bool)>,
}

pub(super) async fn run(
    sock: Arc<UdpSocket>,
    common: Arc<Common>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (gone, mut gone_rx) = mpsc::channel(1024);
    let (qos_m1, qos_m1_rx) = mpsc::channel(1024);
    tokio::spawn(qos_minus_one(common.clone(), qos_m1_rx));
    let advertise_every = common.cfg.advertise_interval_secs;
    let mut advertise = tokio::time::interval(Duration::from_secs(advertise_every.max(1)));
    let mut s = Socket {
        sock,
        common,
        by_addr: HashMap::new(),
        by_id: HashMap::new(),
        buckets: HashMap::new(),
        gone,
        qos_m1,
    };
    let mut buf = vec![0u8; 65_536];
    loop {
        tokio::select! {
            ready = s.sock.readable() => {
                if ready.is_err() {
                    break;
                }
                for _ in 0..BATCH {
                    match s.sock.try_recv_from(&mut buf) {
                        Ok((n, from)) => s.datagram(Bytes::copy_from_slice(&buf[..n]), from),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        // ICMP errors of earlier sends surface here on some systems.
                        Err(e) => {
                            tracing::debug!(error = %e, "MQTT-SN receive");
                            break;
                        }
                    }
                }
            }
            Some(g) = gone_rx.recv() => s.forget(&g),
            _ = advertise.tick(), if advertise_every > 0 => s.advertise().await,
            _ = shutdown.changed() => break,
        }
    }
}

impl Socket {
    fn datagram(&mut self, datagram: Bytes, from: SocketAddr) {
        let common = self.common.clone();
        let sn = &common.links.sn;
        sn.datagrams_in.fetch_add(1, Relaxed);
        if !self.admit(from) {
            sn.drop_one(SnDrop::RateLimited);
            return;
        }
        let msg = match decode(datagram) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(%from, error = %e, "malformed MQTT-SN datagram");
                sn.drop_one(SnDrop::Malformed);
                return;
            }
        };
        match msg {
            // §6.1: answered with GWINFO, broadcast (other clients searching learn of us
            // too) and to the sender, whose network may not carry the broadcast.
            Message::SearchGw { .. } => {
                let info = Message::GwInfo {
                    gw_id: self.common.cfg.gateway_id,
                    gw_add: Bytes::new(),
                };
                if let Some(all) = self.broadcast_address() {
                    self.send_to(info.clone(), all);
                }
                self.send_to(info, from);
            }
            Message::Publish {
                flags,
                topic_id,
                data,
                ..
            } if flags.qos == SnQos::NoConnect && !self.by_addr.contains_key(&from) => {
                self.publish_minus_one(flags.topic_id_type, topic_id, data, flags.retain);
            }
            Message::Connect { ref client_id, .. } => {
                let Ok(id) = std::str::from_utf8(client_id) else {
                    sn.drop_one(SnDrop::Malformed);
                    return;
                };
                // §5.3.9: a ClientId of 1 to 23 characters (longer ones are served too).
                if id.is_empty() {
                    let code = super::codec::ReturnCode::NotSupported;
                    self.send_to(Message::ConnAck { code }, from);
                    return;
                }
                let id: Arc<str> = Arc::from(id);
                self.rebind(&id, from, true);
                self.dispatch(from, msg);
            }
            Message::PingReq {
                client_id: Some(ref client_id),
            } if !self.by_addr.contains_key(&from) => {
                // §6.14: a sleeping client may wake up from a new address.
                match std::str::from_utf8(client_id) {
                    Ok(id) => {
                        self.rebind(&Arc::from(id), from, false);
                        self.dispatch(from, msg);
                    }
                    Err(_) => sn.drop_one(SnDrop::Malformed),
                }
            }
            Message::Advertise { .. } | Message::GwInfo { .. } | Message::Encapsulated { .. } => {
                sn.drop_one(SnDrop::Unsupported);
            }
            msg => self.dispatch(from, msg),
        }
    }

    /// Points `from` at the session of `client_id`; with `spawn`, starts one if none.
    fn rebind(&mut self, client_id: &Arc<str>, from: SocketAddr, spawn: bool) {
        if let Some(h) = self.by_addr.get(&from) {
            if &h.client_id == client_id {
                return;
            }
            // Another client now uses this address.
            let old = self.by_addr.remove(&from);
            if let Some(old) = old {
                if self.by_id.get(&old.client_id) == Some(&from) {
                    self.by_id.remove(&old.client_id);
                }
            }
        }
        let handle = match self.by_id.get(client_id).copied() {
            Some(prev) => self.by_addr.remove(&prev),
            None => None,
        };
        let handle = match handle {
            Some(h) if !h.tx.is_closed() => h,
            _ if spawn => Handle {
                client_id: client_id.clone(),
                tx: session::spawn(
                    self.common.clone(),
                    self.sock.clone(),
                    client_id.clone(),
                    self.gone.clone(),
                ),
            },
            _ => return,
        };
        self.by_id.insert(client_id.clone(), from);
        self.by_addr.insert(from, handle);
    }

    fn dispatch(&mut self, from: SocketAddr, msg: Message) {
        let sn = &self.common.links.sn;
        let Some(h) = self.by_addr.get(&from) else {
            sn.drop_one(SnDrop::NotConnected);
            return;
        };
        if h.tx.try_send(Inbound { from, msg }).is_err() {
            sn.drop_one(SnDrop::Overflow);
        }
    }

    fn forget(&mut self, g: &Gone) {
        if let Some(addr) = self.by_id.get(&g.client_id).copied() {
            if self
                .by_addr
                .get(&addr)
                .is_some_and(|h| h.tx.same_channel(&g.tx))
            {
                self.by_addr.remove(&addr);
                self.by_id.remove(&g.client_id);
            }
        }
    }

    /// The per-source token bucket: `max_datagrams_per_sec`, bursts of as many.
    fn admit(&mut self, from: SocketAddr) -> bool {
        let rate = f64::from(self.common.cfg.max_datagrams_per_sec);
        if rate == 0.0 {
            return true;
        }
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(&from) {
            self.buckets.clear();
        }
        let now = Instant::now();
        let b = self.buckets.entry(from).or_insert(Bucket {
            tokens: rate,
            last: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(rate);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// §6.8: QoS −1 from a client without a connection, to a predefined id or short name.
    fn publish_minus_one(&self, kind: TopicIdType, topic_id: u16, data: Bytes, retain: bool) {
        let topic = match kind {
            TopicIdType::Predefined => self
                .common
                .predefined
                .topic(None, topic_id)
                .map(str::to_owned),
            TopicIdType::Short => short_name(topic_id),
            _ => None,
        };
        let sn = &self.common.links.sn;
        match topic {
            Some(t) => {
                if self.qos_m1.try_send((t, data, retain)).is_err() {
                    sn.drop_one(SnDrop::Overflow);
                }
            }
            None => sn.drop_one(SnDrop::Unsupported),
        }
    }

    fn send_to(&self, msg: Message, to: SocketAddr) {
        if self.sock.try_send_to(&encode(&msg), to).is_ok() {
            self.common.links.sn.datagrams_out.fetch_add(1, Relaxed);
        }
    }

    /// Where broadcasts go: `advertise_address`, by default 255.255.255.255 on our port.
    fn broadcast_address(&self) -> Option<SocketAddr> {
        let port = self.sock.local_addr().ok()?.port();
        Some(
            self.common
                .cfg
                .advertise_address
                .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::BROADCAST, port))),
        )
    }

    /// §6.1: ADVERTISE(GwId, Duration) to `advertise_address`, by default the broadcast
    /// address on our port.
    async fn advertise(&self) {
        let Some(to) = self.broadcast_address() else {
            return;
        };
        let msg = Message::Advertise {
            gw_id: self.common.cfg.gateway_id,
            duration: u16::try_from(self.common.cfg.advertise_interval_secs).unwrap_or(u16::MAX),
        };
        match self.sock.send_to(&encode(&msg), to).await {
            Ok(_) => {
                self.common.links.sn.datagrams_out.fetch_add(1, Relaxed);
            }
            Err(e) => tracing::debug!(error = %e, "ADVERTISE not sent"),
        }
    }
}

/// The broker connection QoS −1 publishes go through: client id `mqttsn-gw-<id>`, acting
/// as the user `[mqttsn] users` maps `*` to (anonymous without one).
async fn qos_minus_one(common: Arc<Common>, mut rx: mpsc::Receiver<(String, Bytes, bool)>) {
    let client_id = format!("mqttsn-gw-{}", common.cfg.gateway_id);
    let mut conn: Option<session::BrokerConn> = None;
    while let Some((topic, payload, retain)) = rx.recv().await {
        if conn.is_none() {
            let peer = Peer {
                address: "mqtt-sn qos -1".to_owned(),
                cert_identity: common.cfg.users.get("*").cloned(),
                ..Peer::default()
            };
            match session::BrokerConn::open(&common.connector, peer, &client_id, true).await {
                Ok((c, _)) => conn = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "MQTT-SN QoS -1 publish not forwarded");
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        c.writer.push(&Packet::Publish(Publish {
            dup: false,
            qos_pid: QosPid::Level0,
            retain,
            topic: ByteStr::from(topic),
            properties: Props::default(),
            payload,
        }));
        if c.writer.flush().await.is_err() {
            conn = None;
        }
    }
}
