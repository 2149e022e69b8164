//! One connected period of a bridge: packets between the remote broker and the local
//! side, with acknowledgements chained so nothing acknowledged is lost.
//!
//! Out (local → remote): the broker delivers to the bridge's persistent session; the
//! PUBLISH goes to the remote under the *same packet id* (the remote's window is the
//! local Receive Maximum), and the local ack follows the remote's: PUBACK after PUBACK;
//! PUBREC after PUBREC, PUBREL forwarded, PUBCOMP after PUBCOMP. After a reconnect or a
//! restart the broker resends what is unacknowledged, in order, with DUP and the same
//! ids [MQTT-4.4.0-1], and the remote sees them as resends.
//!
//! In (remote → local): each QoS 1/2 PUBLISH is published locally under a local packet
//! id and the remote is acknowledged only when the local broker has acknowledged (after
//! the ACL, and after storing it for persistent subscribers).

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::broker::links::{BridgeDrop, BridgeStats, LinkState};
use crate::config::BridgeConfig;
use crate::mqtt::conn::{ClientError, KeepAlive, PidAlloc};
use crate::protocol::{Ack, Packet, PacketId, Props, Publish, QosPid, ReasonCode};

use super::local::{Local, LOCAL_KEEP_ALIVE, SUBSCRIBE_PID};
use super::remote::Remote;
use super::topics;

/// Packets handled between two flushes, per side.
const BATCH: usize = 256;

/// Why a connected period ended.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("remote: {0}")]
    Remote(ClientError),
    #[error("local broker: {0}")]
    Local(ClientError),
    #[error("the remote disconnected the bridge: {0:?}")]
    RemoteDisconnect(ReasonCode),
    #[error("the local broker disconnected the bridge: {0:?}")]
    LocalDisconnect(ReasonCode),
    #[error("the bridge is stopping")]
    Stopped,
}

/// The forwarding state of one connected period.
pub struct Forward<'a> {
    cfg: &'a BridgeConfig,
    stats: &'a BridgeStats,
    routes: topics::Routes,
    remote_v5: bool,
    remote_max_packet: usize,
    /// Inbound QoS 1/2 in flight to the local broker: local id → remote id.
    in_local: HashMap<PacketId, PacketId>,
    /// The same, remote id → local id (duplicates, PUBREL).
    in_remote: HashMap<PacketId, PacketId>,
    pids: PidAlloc,
    /// The remote SUBSCRIBE is answered: local deliveries may flow (their packet ids
    /// become remote ids, which must not meet the SUBSCRIBE's).
    remote_subscribed: bool,
    remote_sub_pid: Option<PacketId>,
    ka: KeepAlive,
    /// The remote's v5 Maximum QoS [MQTT-3.2.2-11]: higher QoS goes out at this one.
    remote_max_qos: crate::protocol::QoS,
    /// Local QoS 2 messages sent below QoS 2: the local exchange is finished here (PUBREC
    /// when the remote has it, PUBCOMP for the local PUBREL).
    downgraded: std::collections::HashSet<PacketId>,
}

impl<'a> Forward<'a> {
    pub fn new(cfg: &'a BridgeConfig, stats: &'a BridgeStats, remote: &Remote) -> Self {
        Self {
            cfg,
            stats,
            routes: topics::Routes::new(&cfg.topics),
            remote_v5: cfg.protocol.is_v5(),
            remote_max_packet: remote
                .connack
                .properties
                .maximum_packet_size
                .map_or(usize::MAX, |m| m as usize),
            in_local: HashMap::new(),
            in_remote: HashMap::new(),
            pids: PidAlloc::default(),
            remote_subscribed: false,
            remote_sub_pid: None,
            ka: KeepAlive::new(cfg.keep_alive_secs),
            remote_max_qos: match remote.connack.properties.maximum_qos {
                Some(0) => crate::protocol::QoS::AtMostOnce,
                Some(1) => crate::protocol::QoS::AtLeastOnce,
                _ => crate::protocol::QoS::ExactlyOnce,
            },
            downgraded: std::collections::HashSet::new(),
        }
    }

    /// Serve until either side goes away or `stop` turns true.
    pub async fn run(
        mut self,
        remote: &mut Remote,
        local: &mut Local,
        stop: &mut watch::Receiver<bool>,
    ) -> LinkError {
        match super::remote::subscribe_in(self.cfg) {
            Some((pid, packet)) => {
                self.remote_sub_pid = Some(pid);
                remote.writer.push(&packet);
            }
            None => self.up(local),
        }
        let every = self.ka.interval();
        let mut ping = tokio::time::interval_at(Instant::now() + every, every);
        let local_every = std::time::Duration::from_secs(u64::from(LOCAL_KEEP_ALIVE / 2));
        let mut local_ping = tokio::time::interval_at(Instant::now() + local_every, local_every);
        loop {
            if let Err(e) = remote.writer.flush().await {
                return LinkError::Remote(e.into());
            }
            if let Err(e) = local.writer.flush().await {
                return LinkError::Local(e.into());
            }
            let step = tokio::select! {
                _ = stop.changed() => Err(LinkError::Stopped),
                r = remote.reader.ready() => match r {
                    Ok(true) => self.remote_batch(remote, local),
                    Ok(false) => Err(LinkError::Remote(ClientError::Closed)),
                    Err(e) => Err(LinkError::Remote(e.into())),
                },
                r = local.reader.ready(), if self.remote_subscribed => match r {
                    Ok(true) => self.local_batch(remote, local),
                    Ok(false) => Err(LinkError::Local(ClientError::Closed)),
                    Err(e) => Err(LinkError::Local(e.into())),
                },
                _ = ping.tick() => match self.ka.tick(Instant::now()) {
                    Ok(true) => { remote.writer.push(&Packet::PingReq); Ok(()) }
                    Ok(false) => Ok(()),
                    Err(e) => Err(LinkError::Remote(e)),
                },
                _ = local_ping.tick() => { local.writer.push(&Packet::PingReq); Ok(()) }
            };
            if let Err(e) = step {
                return e;
            }
        }
    }

    /// Both sides are ready (the remote SUBSCRIBE answered): forward, say "1".
    fn up(&mut self, local: &mut Local) {
        self.remote_subscribed = true;
        local.writer.push(&super::local::state(self.cfg, true));
        self.stats.set_state(LinkState::Up);
    }

    /// What the remote has sent, as far as it is buffered. A plain PUBACK (success, no
    /// properties: 4 bytes in every version) is the local PUBACK as it is; the rest is
    /// decoded.
    fn remote_batch(&mut self, remote: &mut Remote, local: &mut Local) -> Result<(), LinkError> {
        let read_err =
            |e: crate::protocol::DecodeError| LinkError::Remote(ClientError::Read(e.into()));
        for _ in 0..=BATCH {
            let plain_ack = match remote.reader.peek_frame() {
                Ok(Some(f)) => self.plain_puback(f).then(|| {
                    local.writer.push_raw(f);
                    f.len()
                }),
                Ok(None) => break,
                Err(e) => return Err(read_err(e)),
            };
            if let Some(n) = plain_ack {
                remote.reader.consume(n);
                self.stats.forwarded_out.fetch_add(1, Relaxed);
                continue;
            }
            match remote.reader.try_decode() {
                Ok(Some(p)) => self.on_remote(p, remote, local)?,
                Ok(None) => break,
                Err(e) => return Err(read_err(e)),
            }
        }
        Ok(())
    }

    /// A PUBACK with reason Success and no properties, for a message not downgraded
    /// (whose local exchange is QoS 2 and ends with PUBREC instead).
    fn plain_puback(&self, f: &[u8]) -> bool {
        match *f {
            [0x40, 2, hi, lo] => PacketId::new(u16::from_be_bytes([hi, lo]))
                .is_some_and(|pid| self.downgraded.is_empty() || !self.downgraded.contains(&pid)),
            _ => false,
        }
    }

    /// What the local side has buffered: PUBLISHes the remote can take as they are go
    /// out undecoded (`pass_through`), the rest is decoded.
    fn local_batch(&mut self, remote: &mut Remote, local: &mut Local) -> Result<(), LinkError> {
        let read_err =
            |e: crate::protocol::DecodeError| LinkError::Local(ClientError::Read(e.into()));
        for _ in 0..=BATCH {
            let passed = match local.reader.peek_frame() {
                Ok(Some(frame)) => self.pass_through(frame, remote).then_some(frame.len()),
                Ok(None) => break,
                Err(e) => return Err(read_err(e)),
            };
            if let Some(n) = passed {
                local.reader.consume(n);
                continue;
            }
            match local.reader.try_decode() {
                Ok(Some(p)) => self.on_local(p, remote, local)?,
                Ok(None) => break,
                Err(e) => return Err(read_err(e)),
            }
        }
        Ok(())
    }

    /// Send a local QoS 1/2 PUBLISH to the remote undecoded when that gives what
    /// `outbound` would build: the topic kept, no QoS downgrade, and for a v5 remote no
    /// per-hop property and within its Maximum Packet Size (byte for byte), for a v3 one
    /// the same bytes without the properties. Its packet id is the same on both sides
    /// either way, and the acks flow as for a decoded one.
    fn pass_through(&self, frame: &[u8], remote: &mut Remote) -> bool {
        let Some(p) = super::raw::publish(frame) else {
            return false;
        };
        if p.qos == crate::protocol::QoS::AtMostOnce
            || p.qos > self.remote_max_qos
            || !self.routes.keeps_out(p.topic)
        {
            return false;
        }
        if !self.remote_v5 {
            super::raw::without_properties(frame, &p, &mut |b: &[u8]| {
                remote.writer.push_raw(b);
            });
            return true;
        }
        if p.per_hop || frame.len() > self.remote_max_packet {
            return false;
        }
        remote.writer.push_raw(frame);
        true
    }

    /// Per-hop properties go; the rest (user properties such as `midge-origin`, content
    /// type, response topic, correlation data, expiry) travel [MQTT-3.3.2-17].
    fn carried(mut props: Props) -> Props {
        if let Some(p) = props.present_mut() {
            p.subscription_identifiers.clear();
            p.topic_alias = None;
        }
        props
    }

    fn on_remote(
        &mut self,
        p: Packet,
        remote: &mut Remote,
        local: &mut Local,
    ) -> Result<(), LinkError> {
        match p {
            Packet::Publish(p) => self.inbound(p, remote, local),
            Packet::PubAck(a) => {
                self.remote_ack_result(a.reason);
                if self.downgraded.contains(&a.pid) {
                    local.writer.push(&Packet::PubRec(Ack::new(a.pid)));
                } else {
                    local.writer.push(&Packet::PubAck(Ack::new(a.pid)));
                }
            }
            Packet::PubRec(a) => {
                // Counted at PUBCOMP; a refusal ends the flow here (v5).
                if a.reason.is_error() {
                    self.remote_ack_result(a.reason);
                }
                local.writer.push(&Packet::PubRec(Ack::new(a.pid)));
            }
            Packet::PubComp(a) => {
                if a.reason != ReasonCode::PacketIdentifierNotFound {
                    self.remote_ack_result(a.reason);
                }
                local.writer.push(&Packet::PubComp(Ack::new(a.pid)));
            }
            Packet::PubRel(a) => match self.in_remote.get(&a.pid) {
                Some(l) => {
                    local.writer.push(&Packet::PubRel(Ack::new(*l)));
                }
                // Already completed (or refused) locally: finish the remote's flow.
                None => {
                    remote.writer.push(&Packet::PubComp(Ack::new(a.pid)));
                }
            },
            Packet::SubAck(s) if Some(s.pid) == self.remote_sub_pid => {
                self.up(local);
                if s.reasons.iter().any(|r| r.is_error()) {
                    self.stats.set_last_error(Some(format!(
                        "the remote refused some subscriptions: {:?}",
                        s.reasons
                    )));
                }
            }
            Packet::PingResp => {
                if let Some(rtt) = self.ka.pong(Instant::now()) {
                    let micros = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
                    self.stats.rtt_micros.store(micros.max(1), Relaxed);
                }
            }
            Packet::Disconnect(d) => return Err(LinkError::RemoteDisconnect(d.reason)),
            _ => {}
        }
        Ok(())
    }

    /// A remote PUBACK/PUBREC: the message is the remote's now (unless refused).
    fn remote_ack_result(&self, reason: ReasonCode) {
        if reason.is_error() {
            self.stats
                .set_last_error(Some(format!("the remote refused a message: {reason:?}")));
        } else {
            self.stats.forwarded_out.fetch_add(1, Relaxed);
        }
    }

    fn inbound(&mut self, p: Publish, remote: &mut Remote, local: &mut Local) {
        let ack_remote = |remote: &mut Remote, qos_pid: QosPid| {
            if let Some(ack) = Packet::publish_ack(qos_pid) {
                remote.writer.push(&ack);
            }
        };
        let Some(topic) = self.routes.to_local(&p.topic) else {
            ack_remote(remote, p.qos_pid);
            return;
        };
        let properties = if self.remote_v5 {
            Self::carried(p.properties)
        } else {
            Props::default()
        };
        let qos_pid = match p.qos_pid {
            QosPid::Level0 => {
                self.stats.forwarded_in.fetch_add(1, Relaxed);
                QosPid::Level0
            }
            QosPid::Level1(r) | QosPid::Level2(r) => {
                // A resend of one still in flight locally: its ack will come.
                if self.in_remote.contains_key(&r) {
                    return;
                }
                let in_use =
                    |x: PacketId| x.get() == SUBSCRIBE_PID || self.in_local.contains_key(&x);
                let Some(l) = self.pids.next_free(in_use) else {
                    ack_remote(remote, p.qos_pid);
                    return;
                };
                self.in_local.insert(l, r);
                self.in_remote.insert(r, l);
                QosPid::new(p.qos_pid.qos(), l)
            }
        };
        local.writer.push(&Packet::Publish(Publish {
            dup: false,
            qos_pid,
            retain: p.retain,
            topic,
            properties,
            payload: p.payload,
        }));
    }

    fn on_local(
        &mut self,
        p: Packet,
        remote: &mut Remote,
        local: &mut Local,
    ) -> Result<(), LinkError> {
        match p {
            Packet::Publish(p) => self.outbound(p, remote, local),
            Packet::PubRel(a) => {
                if self.downgraded.remove(&a.pid) {
                    local.writer.push(&Packet::PubComp(Ack::new(a.pid)));
                } else {
                    remote.writer.push(&Packet::PubRel(Ack::new(a.pid)));
                }
            }
            Packet::PubAck(a) => {
                if let Some(r) = self.in_local.remove(&a.pid) {
                    self.in_remote.remove(&r);
                    self.local_ack_result(a.reason);
                    remote.writer.push(&Packet::PubAck(Ack::new(r)));
                }
            }
            Packet::PubRec(a) => {
                if let Some(r) = self.in_local.get(&a.pid).copied() {
                    if a.reason.is_error() {
                        // Refused: no PUBREL will follow locally; the remote's PUBREL
                        // is answered directly.
                        self.in_local.remove(&a.pid);
                        self.in_remote.remove(&r);
                        self.local_ack_result(a.reason);
                    }
                    remote.writer.push(&Packet::PubRec(Ack::new(r)));
                }
            }
            Packet::PubComp(a) => {
                if let Some(r) = self.in_local.remove(&a.pid) {
                    self.in_remote.remove(&r);
                    self.local_ack_result(a.reason);
                    remote.writer.push(&Packet::PubComp(Ack::new(r)));
                }
            }
            Packet::SubAck(s) if s.reasons.iter().any(|r| r.is_error()) => {
                self.stats.set_last_error(Some(format!(
                    "the local broker refused some out subscriptions: {:?}",
                    s.reasons
                )));
            }
            Packet::Disconnect(d) => return Err(LinkError::LocalDisconnect(d.reason)),
            _ => {}
        }
        Ok(())
    }

    fn local_ack_result(&self, reason: ReasonCode) {
        if reason == ReasonCode::NotAuthorized {
            self.stats.drop_one(BridgeDrop::Acl);
        } else if !reason.is_error() {
            self.stats.forwarded_in.fetch_add(1, Relaxed);
        }
    }

    fn outbound(&mut self, p: Publish, remote: &mut Remote, local: &mut Local) {
        let qos_pid = p.qos_pid;
        let ack_local = |local: &mut Local, qos_pid: QosPid| {
            if let Some(ack) = Packet::publish_ack(qos_pid) {
                local.writer.push(&ack);
            }
        };
        let Some(topic) = self.routes.to_remote(&p.topic) else {
            ack_local(local, p.qos_pid);
            return;
        };
        use crate::protocol::QoS;
        let sent = match (qos_pid, self.remote_max_qos) {
            (QosPid::Level2(l), QoS::AtLeastOnce) => {
                self.downgraded.insert(l);
                QosPid::Level1(l)
            }
            (QosPid::Level2(l), QoS::AtMostOnce) => {
                self.downgraded.insert(l);
                QosPid::Level0
            }
            (QosPid::Level1(_), QoS::AtMostOnce) => QosPid::Level0,
            (q, _) => q,
        };
        let out = Packet::Publish(Publish {
            dup: p.dup && sent != QosPid::Level0,
            qos_pid: sent,
            retain: p.retain,
            topic,
            properties: if self.remote_v5 {
                Self::carried(p.properties)
            } else {
                Props::default()
            },
            payload: p.payload,
        });
        // Sized only when the remote set a limit (it costs a walk of the properties).
        if self.remote_max_packet != usize::MAX
            && crate::protocol::encoded_len(&out, self.cfg.protocol) > self.remote_max_packet
        {
            self.stats.drop_one(BridgeDrop::TooLarge);
            ack_local(local, qos_pid);
            return;
        }
        remote.writer.push(&out);
        if sent == QosPid::Level0 {
            // Nothing will come back: the local exchange goes on from here.
            self.stats.forwarded_out.fetch_add(1, Relaxed);
            ack_local(local, qos_pid);
        }
    }
}
