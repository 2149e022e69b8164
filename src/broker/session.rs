//! The sans-IO session: QoS 1/2 state in both directions, packet identifiers, the
//! outgoing in-flight window and the offline queue. It does no I/O: each handler returns
//! what to send, so it is unit-tested without sockets. Owned by the client task while the
//! client is online and by the router while it is offline.

use std::collections::VecDeque;
use std::num::NonZeroU16;
use std::time::Instant;

use crate::protocol::{PacketId, QoS};

use super::message::{ClientId, Delivery};

#[path = "session_pids.rs"]
mod pids;
use pids::PidSet;

/// Why a message bound for this session was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The session's queue (`max_queued_messages`) was full.
    QueueFull,
    /// Larger than the client's Maximum Packet Size [MQTT-3.1.2-25].
    TooLarge,
    /// Its Message Expiry Interval ran out while queued [MQTT-3.3.2-5].
    Expired,
    /// The ACL refused delivery to this client.
    Acl,
}

impl DropReason {
    /// Every reason, in declaration order (`reason as usize` indexes it).
    pub const ALL: [DropReason; 4] = [
        DropReason::QueueFull,
        DropReason::TooLarge,
        DropReason::Expired,
        DropReason::Acl,
    ];

    /// The label value operators see (`midge_messages_dropped_total{reason}`).
    pub fn name(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::TooLarge => "too_large",
            DropReason::Expired => "expired",
            DropReason::Acl => "acl",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    #[error("acknowledgement for packet id {0} which is not in flight")]
    UnknownPacketId(u16),
    #[error("{ack} for packet id {pid} which is awaiting another acknowledgement")]
    WrongState { ack: &'static str, pid: u16 },
}

/// Where an outgoing QoS 1/2 message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutState {
    /// QoS 1, PUBLISH sent.
    AwaitPubAck,
    /// QoS 2, PUBLISH sent.
    AwaitPubRec,
    /// QoS 2, PUBREL sent.
    AwaitPubComp,
}

#[derive(Clone, Debug)]
pub struct InflightOut {
    pub pid: PacketId,
    pub delivery: Delivery,
    pub state: OutState,
    pub since: Instant,
    pub resends: u32,
}

/// An inbound QoS 2 message whose PUBREL has not arrived yet.
#[derive(Clone, Debug)]
pub struct InflightIn {
    pub pid: PacketId,
    pub topic: crate::protocol::ByteStr,
    pub since: Instant,
}

/// What to do after a PUBREC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PubRecOutcome {
    /// Send PUBREL now.
    PubRel,
    /// Send PUBREL once the `StoreChange::Released` just queued is durable.
    PubRelWhenStored,
    /// The flow ended (refused); nothing to send.
    Done,
}

/// What the client task must write next.
#[derive(Debug)]
pub enum Outgoing {
    Publish {
        pid: Option<PacketId>,
        dup: bool,
        delivery: Delivery,
    },
    PubRel(PacketId),
}

#[derive(Debug)]
pub struct Session {
    pub client_id: ClientId,
    /// Outgoing QoS 1/2 messages in send order [MQTT-4.6.0-1].
    inflight: VecDeque<InflightOut>,
    /// Messages waiting for the window or for the client to come back.
    queue: VecDeque<Delivery>,
    /// Payload bytes in `queue` (a bridge shows its backlog in bytes).
    queued_bytes: u64,
    max_queued: usize,
    /// min(max_inflight, the client's Receive Maximum) [MQTT-3.3.4-9].
    /// (u16 beside `next_pid`: the session stays the size it was with `pids` added.)
    window: u16,
    next_pid: u16,
    /// The ids in `inflight`, for `alloc_pid` (kept in step by `push_inflight` and
    /// `remove_inflight`, the only ways in and out).
    pids: PidSet,
    inbound_qos2: Vec<InflightIn>,
    /// Drops since the session began, by reason.
    pub dropped: DropCounts,
    /// Changes to stored deliveries (those with a `seq`) for the owner to write.
    store_changes: Vec<StoreChange>,
    /// Bumped on every in-flight change, so observers refresh only when needed.
    generation: u64,
}

/// A change to a delivery's stored copy.
#[derive(Debug)]
pub enum StoreChange {
    /// The flow completed or the message was dropped: delete its copy.
    Delete(u64),
    /// QoS 2: PUBREC arrived, PUBREL sent with this id; a restart resends the PUBREL.
    Released {
        seq: u64,
        pid: PacketId,
        delivery: Delivery,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounts {
    pub queue_full: u64,
    pub too_large: u64,
    pub expired: u64,
    pub acl: u64,
}

impl DropCounts {
    pub fn add(&mut self, reason: DropReason) {
        match reason {
            DropReason::QueueFull => self.queue_full += 1,
            DropReason::TooLarge => self.too_large += 1,
            DropReason::Expired => self.expired += 1,
            DropReason::Acl => self.acl += 1,
        }
    }
    pub fn total(&self) -> u64 {
        self.queue_full + self.too_large + self.expired + self.acl
    }
}

impl Session {
    pub fn new(client_id: ClientId, max_queued: usize, window: u16) -> Self {
        Self {
            client_id,
            inflight: VecDeque::new(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            max_queued,
            window: window.max(1),
            next_pid: 0,
            pids: PidSet::default(),
            inbound_qos2: Vec::new(),
            dropped: DropCounts::default(),
            store_changes: Vec::new(),
            generation: 0,
        }
    }

    pub fn set_window(&mut self, window: u16) {
        self.window = window.max(1);
    }

    pub fn max_queued(&self) -> usize {
        self.max_queued
    }

    pub fn set_max_queued(&mut self, max_queued: usize) {
        self.max_queued = max_queued;
    }

    /// Room in the outgoing window for one more QoS 1/2 message.
    pub fn window_open(&self) -> bool {
        self.inflight.len() < usize::from(self.window)
    }

    pub fn inflight(&self) -> impl Iterator<Item = &InflightOut> {
        self.inflight.iter()
    }

    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    pub fn inbound(&self) -> &[InflightIn] {
        &self.inbound_qos2
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Payload bytes of the queued messages.
    pub fn queued_bytes(&self) -> u64 {
        self.queued_bytes
    }

    fn push_queue(&mut self, d: Delivery) {
        self.queued_bytes += d.msg.payload.len() as u64;
        self.queue.push_back(d);
    }

    fn pop_queue(&mut self) -> Option<Delivery> {
        let d = self.queue.pop_front()?;
        self.queued_bytes = self.queued_bytes.saturating_sub(d.msg.payload.len() as u64);
        Some(d)
    }

    pub fn queue(&self) -> impl Iterator<Item = &Delivery> {
        self.queue.iter()
    }

    /// Changes with every in-flight change (both directions).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Changes to stored deliveries since the last call.
    pub fn take_store_changes(&mut self) -> Vec<StoreChange> {
        std::mem::take(&mut self.store_changes)
    }

    /// A delivery dropped before it was sent (expired, too large for the client).
    pub fn discard(&mut self, d: &Delivery, reason: DropReason) {
        self.dropped.add(reason);
        self.forget(d);
    }

    fn forget(&mut self, d: &Delivery) {
        if let Some(seq) = d.seq {
            self.store_changes.push(StoreChange::Delete(seq));
        }
    }

    /// At start-up: a stored message not yet sent.
    pub fn restore_queued(&mut self, d: Delivery) {
        self.push_queue(d);
    }

    /// At start-up: a stored message in flight.
    pub fn restore_inflight(&mut self, pid: PacketId, d: Delivery, state: OutState, now: Instant) {
        self.push_inflight(InflightOut {
            pid,
            delivery: d,
            state,
            since: now,
            resends: 0,
        });
    }

    /// Queue a message for later (client offline, or window closed). QoS 0 messages are
    /// only queued when `keep_qos0` (a live client); offline sessions keep QoS 1/2 only.
    pub fn enqueue(&mut self, d: Delivery, keep_qos0: bool) -> Result<(), DropReason> {
        if d.qos == QoS::AtMostOnce && !keep_qos0 {
            return Ok(());
        }
        if self.queue.len() >= self.max_queued {
            self.dropped.add(DropReason::QueueFull);
            self.forget(&d);
            return Err(DropReason::QueueFull);
        }
        self.push_queue(d);
        Ok(())
    }

    /// Take the next queued message that may be sent now, dropping expired ones.
    pub fn next_queued(&mut self, now: Instant) -> Option<Delivery> {
        loop {
            let front = self.queue.front()?;
            if front.msg.is_expired(now) {
                if let Some(d) = self.pop_queue() {
                    self.forget(&d);
                }
                self.dropped.add(DropReason::Expired);
                continue;
            }
            if front.qos != QoS::AtMostOnce && !self.window_open() {
                return None;
            }
            return self.pop_queue();
        }
    }

    /// Start sending `d`: QoS 0 goes straight out; QoS 1/2 gets a packet id and enters
    /// the in-flight window. The caller checks `window_open` first for QoS 1/2.
    pub fn start(&mut self, d: Delivery, now: Instant) -> Outgoing {
        self.generation += 1;
        if d.qos == QoS::AtMostOnce {
            return Outgoing::Publish {
                pid: None,
                dup: false,
                delivery: d,
            };
        }
        let pid = self.alloc_pid(d.seq);
        let state = if d.qos == QoS::AtLeastOnce {
            OutState::AwaitPubAck
        } else {
            OutState::AwaitPubRec
        };
        self.push_inflight(InflightOut {
            pid,
            delivery: d.clone(),
            state,
            since: now,
            resends: 0,
        });
        Outgoing::Publish {
            pid: Some(pid),
            dup: false,
            delivery: d,
        }
    }

    fn push_inflight(&mut self, e: InflightOut) {
        let pid = e.pid;
        self.inflight.push_back(e);
        let len = self.inflight.len();
        self.pids
            .insert(pid, len, || self.inflight.iter().map(|e| e.pid));
    }

    fn remove_inflight(&mut self, i: usize) -> Option<InflightOut> {
        let e = self.inflight.remove(i)?;
        self.pids.remove(e.pid);
        Some(e)
    }

    fn pid_in_use(&self, pid: PacketId) -> bool {
        self.pids
            .contains(pid)
            .unwrap_or_else(|| self.inflight.iter().any(|e| e.pid == pid))
    }

    /// A packet id not in use by an outgoing message [MQTT-2.2.1-3]: one bit test in
    /// the common case (see `PidSet`), a scan of a small window otherwise.
    fn alloc_pid(&mut self, seq: Option<u64>) -> PacketId {
        // A stored delivery's id follows from its sequence number, so a resend after a
        // restart carries the id the client may already hold (its QoS 2 duplicate
        // detection [MQTT-4.3.3-?] depends on it). On a collision any free id is used.
        if let Some(seq) = seq {
            let derived = NonZeroU16::new((seq % 65_535) as u16 + 1);
            if let Some(pid) = derived.filter(|p| !self.pid_in_use(*p)) {
                return pid;
            }
        }
        // `start` runs only with the window open (< 65,535 in flight): an id is free.
        loop {
            self.next_pid = self.next_pid.wrapping_add(1);
            let Some(pid) = NonZeroU16::new(self.next_pid) else {
                continue;
            };
            if !self.pid_in_use(pid) {
                return pid;
            }
        }
    }

    fn position(&self, pid: PacketId) -> Option<usize> {
        // Acks usually arrive in order: the front is the common hit.
        if self.inflight.front().is_some_and(|e| e.pid == pid) {
            return Some(0);
        }
        self.inflight.iter().position(|e| e.pid == pid)
    }

    /// PUBACK: a QoS 1 flow completes.
    pub fn on_puback(&mut self, pid: PacketId) -> Result<(), SessionError> {
        self.generation += 1;
        let i = self
            .position(pid)
            .ok_or(SessionError::UnknownPacketId(pid.get()))?;
        if self.inflight[i].state != OutState::AwaitPubAck {
            return Err(SessionError::WrongState {
                ack: "PUBACK",
                pid: pid.get(),
            });
        }
        if let Some(e) = self.remove_inflight(i) {
            self.forget(&e.delivery);
        }
        Ok(())
    }

    /// PUBREC: answer with PUBREL unless the receiver refused the message (reason ≥ 0x80
    /// ends the flow, v5). A stored delivery's PUBREL waits until its new state is
    /// durable: a restart must resend the PUBREL, never the PUBLISH, once the client may
    /// have completed the flow.
    pub fn on_pubrec(
        &mut self,
        pid: PacketId,
        refused: bool,
        now: Instant,
    ) -> Result<PubRecOutcome, SessionError> {
        self.generation += 1;
        let i = self
            .position(pid)
            .ok_or(SessionError::UnknownPacketId(pid.get()))?;
        match self.inflight[i].state {
            OutState::AwaitPubRec if refused => {
                if let Some(e) = self.remove_inflight(i) {
                    self.forget(&e.delivery);
                }
                Ok(PubRecOutcome::Done)
            }
            OutState::AwaitPubRec => {
                let e = &mut self.inflight[i];
                e.state = OutState::AwaitPubComp;
                e.since = now;
                match e.delivery.seq {
                    Some(seq) => {
                        let delivery = e.delivery.clone();
                        self.store_changes
                            .push(StoreChange::Released { seq, pid, delivery });
                        Ok(PubRecOutcome::PubRelWhenStored)
                    }
                    None => Ok(PubRecOutcome::PubRel),
                }
            }
            // A repeated PUBREC gets the PUBREL again.
            OutState::AwaitPubComp => Ok(PubRecOutcome::PubRel),
            OutState::AwaitPubAck => Err(SessionError::WrongState {
                ack: "PUBREC",
                pid: pid.get(),
            }),
        }
    }

    /// PUBCOMP: a QoS 2 flow completes.
    pub fn on_pubcomp(&mut self, pid: PacketId) -> Result<(), SessionError> {
        self.generation += 1;
        let i = self
            .position(pid)
            .ok_or(SessionError::UnknownPacketId(pid.get()))?;
        if self.inflight[i].state != OutState::AwaitPubComp {
            return Err(SessionError::WrongState {
                ack: "PUBCOMP",
                pid: pid.get(),
            });
        }
        if let Some(e) = self.remove_inflight(i) {
            self.forget(&e.delivery);
        }
        Ok(())
    }

    /// On reconnect: resend every unacknowledged PUBLISH with DUP set and every PUBREL,
    /// in their original order, before anything new [MQTT-4.4.0-1], [MQTT-4.6.0-1].
    pub fn resend_all(&mut self, now: Instant) -> Vec<Outgoing> {
        self.generation += 1;
        let mut out = Vec::with_capacity(self.inflight.len());
        let mut keep = VecDeque::with_capacity(self.inflight.len());
        for mut e in self.inflight.drain(..) {
            if e.state != OutState::AwaitPubComp && e.delivery.msg.is_expired(now) {
                self.pids.remove(e.pid);
                self.dropped.add(DropReason::Expired);
                if let Some(seq) = e.delivery.seq {
                    self.store_changes.push(StoreChange::Delete(seq));
                }
                continue;
            }
            e.resends += 1;
            e.since = now;
            out.push(match e.state {
                OutState::AwaitPubComp => Outgoing::PubRel(e.pid),
                _ => Outgoing::Publish {
                    pid: Some(e.pid),
                    dup: true,
                    delivery: e.delivery.clone(),
                },
            });
            keep.push_back(e);
        }
        self.inflight = keep;
        out
    }

    /// Inbound QoS 2 PUBLISH. `true` if it is new (forward it), `false` for a duplicate
    /// of one awaiting PUBREL (acknowledge only) [MQTT-4.3.3-10].
    pub fn on_inbound_qos2(
        &mut self,
        pid: PacketId,
        topic: &crate::protocol::ByteStr,
        now: Instant,
    ) -> bool {
        self.generation += 1;
        if self.inbound_qos2.iter().any(|e| e.pid == pid) {
            return false;
        }
        self.inbound_qos2.push(InflightIn {
            pid,
            topic: topic.clone(),
            since: now,
        });
        true
    }

    /// Inbound QoS 2 messages not yet released (counts against our Receive Maximum).
    pub fn inbound_pending(&self) -> usize {
        self.inbound_qos2.len()
    }

    /// PUBREL from the client: `true` if that id was pending.
    pub fn on_pubrel(&mut self, pid: PacketId) -> bool {
        self.generation += 1;
        match self.inbound_qos2.iter().position(|e| e.pid == pid) {
            Some(i) => {
                self.inbound_qos2.swap_remove(i);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
