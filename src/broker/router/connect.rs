//! Session lifecycle in the router: CONNECT (new, resumed, taken over), disconnection,
//! session expiry and wills.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::protocol::{LastWill, ReasonCode};

use super::watch::Change;
use super::{ClientEntry, Online, Router};
use crate::broker::clock;
use crate::broker::inbox::Inbox;
use crate::broker::message::{ClientId, Message};
use crate::broker::session::Session;
use crate::broker::stats::ClientStats;

/// Least capacity of the router → client delivery channel.
const OUTBOUND_BURST: usize = 1024;

/// A client that completed CONNECT (authenticated) and wants its session.
pub struct ConnectRequest {
    pub client_id: ClientId,
    pub conn_id: u64,
    pub clean_start: bool,
    /// Seconds; `u32::MAX` never expires (3.1.1 clean session = 0).
    pub session_expiry: u32,
    /// min(max_inflight, client's Receive Maximum).
    pub window: u16,
    /// The session queue bound when not `max_queued_messages` (bridges).
    pub max_queued: Option<usize>,
    pub stats: Arc<ClientStats>,
    pub reply: oneshot::Sender<ConnectGranted>,
}

pub struct ConnectGranted {
    pub session: Session,
    pub session_present: bool,
    pub inbox: Arc<Inbox>,
}

/// A client task ended; it hands its session back.
pub struct Disconnected {
    pub client_id: ClientId,
    pub conn_id: u64,
    pub session: Session,
    /// The will to publish: `None` after a normal DISCONNECT [MQTT-3.1.2-10].
    /// Boxed: rare, and large (v5 properties) in every disconnect message.
    pub will: Option<Box<LastWill>>,
    /// Possibly changed by the v5 DISCONNECT [MQTT-3.14.2-?].
    pub session_expiry: u32,
}

impl Router {
    pub(super) fn connect(&mut self, req: Box<ConnectRequest>) {
        if let Some(entry) = self.clients.by_id_mut(&req.client_id) {
            if let Some(online) = &entry.online {
                // Session takeover [MQTT-3.1.4-3]: the old connection goes first and hands
                // its session over; the new one completes in `disconnected`.
                online.inbox.disconnect(ReasonCode::SessionTakenOver);
                if let Some(prev) = entry.pending.replace(req) {
                    drop(prev); // its reply channel closes: that client task gives up
                }
                return;
            }
        }
        self.complete_connect(req);
    }

    fn complete_connect(&mut self, req: Box<ConnectRequest>) {
        // The hand-off to an online client absorbs bursts: a reader that keeps up must not
        // lose messages because the session queue bound (`max_queued`) is small.
        let max_queued = req.max_queued.unwrap_or(self.options.max_queued);
        let cap = max_queued.max(OUTBOUND_BURST);
        let inbox = Arc::new(Inbox::new(cap));
        let online = Online {
            conn_id: req.conn_id,
            inbox: inbox.clone(),
        };
        // The entry comes out and goes back at the same index: a resumed session's trie
        // leaves stay valid.
        let (ix, existing) = self.clients.take(&req.client_id);
        let next_seq = existing.as_ref().map_or(0, |e| e.next_seq);
        let (mut session, session_present, subs) = match existing {
            Some(mut e) if !req.clean_start => {
                // A reconnect cancels a delayed will [MQTT-3.1.3-9].
                e.will = None;
                let s = e
                    .session
                    .take()
                    .map_or_else(|| self.new_session(&req), |s| *s);
                (s, true, e.subscriptions)
            }
            Some(mut e) => {
                // Clean Start discards the old session [MQTT-3.1.2-4]; a pending will
                // of the old session is sent now (v5 3.1.3.2.2: the session ended).
                if let Some(delayed) = e.will.take() {
                    self.publish_will(*delayed.1);
                }
                self.drop_subscriptions(ix, &e.subscriptions);
                self.forget_session(&req.client_id, e.session.as_deref());
                (self.new_session(&req), false, Default::default())
            }
            None => (self.new_session(&req), false, Default::default()),
        };
        session.set_window(req.window);
        session.set_max_queued(max_queued);
        self.timed.remove(&req.client_id);
        self.inflight_offline.remove(&req.client_id);
        let subscriptions = subs.len() as u32;
        let entry = Box::new(ClientEntry {
            online: Some(online),
            session: None,
            subscriptions: subs,
            session_expiry: req.session_expiry,
            expires_at: None,
            will: None,
            pending: None,
            limbo: Vec::new(),
            next_seq,
            generation: 0,
            stats: req.stats.clone(),
        });
        let inbox_seen = inbox.clone();
        let granted = ConnectGranted {
            session,
            session_present,
            inbox,
        };
        let persistent_before = session_present;
        match req.reply.send(granted) {
            Ok(()) => {
                self.clients.put(ix, entry);
                self.observer.send(|| Change::Session {
                    stats: req.stats.clone(),
                    inbox: Some(inbox_seen),
                    subscriptions,
                });
                if req.session_expiry > 0 {
                    self.store_session(&req.client_id);
                } else if persistent_before {
                    self.forget_session(&req.client_id, None);
                }
                let n = self.metrics.clients_connected.fetch_add(1, Relaxed) + 1;
                self.metrics.clients_maximum.fetch_max(n, Relaxed);
            }
            Err(granted) => {
                // The client task is gone already: keep the session as if it disconnected.
                self.clients.put(ix, entry);
                self.observer.send(|| Change::Session {
                    stats: req.stats.clone(),
                    inbox: Some(inbox_seen),
                    subscriptions,
                });
                self.metrics.clients_connected.fetch_add(1, Relaxed);
                self.disconnected(Disconnected {
                    client_id: req.client_id.clone(),
                    conn_id: req.conn_id,
                    session: granted.session,
                    will: None,
                    session_expiry: req.session_expiry,
                });
            }
        }
    }

    fn new_session(&self, req: &ConnectRequest) -> Session {
        let max_queued = req.max_queued.unwrap_or(self.options.max_queued);
        Session::new(req.client_id.clone(), max_queued, req.window)
    }

    pub(super) fn disconnected(&mut self, d: Disconnected) {
        let Some(entry) = self.clients.by_id_mut(&d.client_id) else {
            return;
        };
        if entry.online.as_ref().map(|o| o.conn_id) != Some(d.conn_id) {
            return; // a stale connection: already replaced
        }
        self.metrics.clients_connected.fetch_sub(1, Relaxed);
        entry.online = None;
        let mut session = d.session;
        for late in entry.limbo.drain(..) {
            let _ = session.enqueue(late, false);
        }
        entry
            .stats
            .queued_offline
            .store(session.queued() as u32, Relaxed);
        let inflight = session.inflight_len() > 0;
        entry.session_expiry = d.session_expiry;
        entry.session = Some(Box::new(session));
        let will_delay = d
            .will
            .as_ref()
            .and_then(|w| w.properties.will_delay_interval)
            .unwrap_or(0);

        if let Some(req) = entry.pending.take() {
            // Takeover: the old will goes now unless delayed, and a delayed one is
            // cancelled by the new connection [MQTT-3.1.3-9]. `complete_connect` resumes
            // or discards the session per the new Clean Start.
            if let Some(w) = d.will.filter(|_| will_delay == 0) {
                self.publish_will(*w);
            }
            self.complete_connect(req);
            return;
        }
        if d.session_expiry == 0 {
            // The session ends with the connection [MQTT-3.1.2-23]; so does a will.
            if let Some((ix, e)) = self.clients.remove(&d.client_id) {
                self.drop_subscriptions(ix, &e.subscriptions);
                self.forget_session(&d.client_id, e.session.as_deref());
                self.observer.send(|| Change::Removed {
                    client: d.client_id.clone(),
                });
            }
            if let Some(w) = d.will {
                self.publish_will(*w);
            }
            return;
        }
        if inflight {
            self.inflight_offline.insert(d.client_id.clone());
        }
        self.observer.send(|| Change::Offline {
            client: d.client_id.clone(),
        });
        let now = clock::now();
        if d.session_expiry != u32::MAX {
            entry.expires_at = Some(now + Duration::from_secs(u64::from(d.session_expiry)));
        }
        match d.will {
            Some(w) if will_delay > 0 => {
                // Sent at the earlier of the delay and the session's end [MQTT-3.1.3-9].
                let delay = will_delay.min(d.session_expiry);
                entry.will = Some(Box::new((now + Duration::from_secs(u64::from(delay)), w)));
            }
            Some(w) => self.publish_will(*w),
            None => {}
        }
        self.store_session(&d.client_id);
        if let Some(e) = self.clients.by_id(&d.client_id) {
            if e.expires_at.is_some() || e.will.is_some() {
                self.timed.insert(d.client_id.clone());
            }
        }
    }

    /// End offline sessions whose expiry passed and send wills whose delay passed.
    pub(super) fn expire(&mut self, now: Instant) {
        if self.timed.is_empty() {
            return;
        }
        let due: Vec<ClientId> = self
            .timed
            .iter()
            .filter(|id| {
                self.clients.by_id(id).is_none_or(|e| {
                    e.expires_at.is_some_and(|t| t <= now)
                        || e.will.as_ref().is_some_and(|w| w.0 <= now)
                })
            })
            .cloned()
            .collect();
        for id in due {
            let Some(entry) = self.clients.by_id_mut(&id) else {
                self.timed.remove(&id);
                continue;
            };
            if entry.will.as_ref().is_some_and(|w| w.0 <= now) {
                if let Some(delayed) = entry.will.take() {
                    self.publish_will(*delayed.1);
                }
            }
            let Some(entry) = self.clients.by_id(&id) else {
                continue;
            };
            if entry.expires_at.is_some_and(|t| t <= now) {
                if let Some((ix, e)) = self.clients.remove(&id) {
                    self.drop_subscriptions(ix, &e.subscriptions);
                    self.forget_session(&id, e.session.as_deref());
                    self.inflight_offline.remove(&id);
                    self.observer
                        .send(|| Change::Removed { client: id.clone() });
                    self.publish_gauges();
                    tracing::debug!(client_id = %id, "session expired");
                }
                self.timed.remove(&id);
            } else if entry.will.is_none() && entry.expires_at.is_none() {
                self.timed.remove(&id);
            }
        }
    }

    pub(super) fn publish_will(&mut self, will: LastWill) {
        let msg = Message::from_will(will);
        self.publish(Arc::new(msg), None);
    }
}
