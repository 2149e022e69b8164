//! The router: the one owner of broker state — sessions, the subscription trie, retained
//! messages, pending wills — driven by messages from client tasks. It never awaits a
//! client: deliveries go out with `try_send`, and a full queue is a counted drop, so a
//! slow subscriber never stalls a publisher or anyone else.

mod connect;
mod durable;
mod publish;
mod subs;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::protocol::{ByteStr, LastWill, ReasonCode, SubscriptionOptions};

use super::message::{ClientId, Delivery, Message};
use super::retained::RetainedStore;
use super::session::Session;
use super::shared::{ClientStats, Metrics};
use super::trie::Trie;
use super::BrokerOptions;

pub use connect::{ConnectGranted, ConnectRequest, Disconnected};
pub use durable::RestoreCounts;
pub use subs::Subscriptions;

/// A subscription the client task validated and authorised.
#[derive(Debug)]
pub struct NewSubscription {
    pub filter: ByteStr,
    pub options: SubscriptionOptions,
    pub sub_id: Option<u32>,
}

pub enum RouterMsg {
    Connect(Box<ConnectRequest>),
    /// `durable`: answered when the message's stored copies are durable (see
    /// `Router::publish`); only sent for QoS 1/2 with a store.
    Publish {
        msg: Arc<Message>,
        durable: Option<oneshot::Sender<bool>>,
    },
    /// Reply: the retained messages to send after the SUBACK, in order.
    Subscribe {
        client: ClientId,
        subs: Vec<NewSubscription>,
        reply: oneshot::Sender<Vec<Delivery>>,
    },
    /// Reply: per filter, whether a subscription existed.
    Unsubscribe {
        client: ClientId,
        filters: Vec<ByteStr>,
        reply: oneshot::Sender<Vec<bool>>,
    },
    Disconnected(Box<Disconnected>),
    /// Disconnect a client (dashboard action); reply: whether it was online.
    Kick {
        client_id: String,
        reply: Option<oneshot::Sender<bool>>,
    },
    /// Read-only access for snapshots and `$SYS`: runs on the router task.
    Inspect(Box<dyn FnOnce(&Router) + Send>),
    /// Shutdown, step 1: disconnect every client (v5: 0x8B); sessions come back as usual.
    DisconnectAll,
    /// Shutdown, step 2: the router task ends.
    Stop,
}

/// Router-side view of a connected client.
struct Online {
    conn_id: u64,
    inbox: Arc<super::inbox::Inbox>,
}

/// Everything the router keeps per client id, online or not.
pub struct ClientEntry {
    online: Option<Online>,
    /// The session while the client is offline (online, the client task owns it).
    session: Option<Box<Session>>,
    /// Full filter text (with `$share/g/` when shared) → options.
    pub subscriptions: Subscriptions,
    /// Seconds; `u32::MAX` never expires.
    session_expiry: u32,
    /// When an offline session ends [MQTT-3.1.2-23].
    expires_at: Option<Instant>,
    /// A delayed will [MQTT-3.1.3-9].
    will: Option<(Instant, Box<LastWill>)>,
    /// A connection waiting for the previous one to hand the session over.
    pending: Option<Box<ConnectRequest>>,
    /// Deliveries that raced with the client task closing; appended to its session.
    limbo: Vec<Delivery>,
    /// Next sequence number for this session's stored deliveries.
    next_seq: u64,
    pub stats: Arc<ClientStats>,
}

impl ClientEntry {
    pub fn is_online(&self) -> bool {
        self.online.is_some()
    }
    pub fn offline_session(&self) -> Option<&Session> {
        self.session.as_deref()
    }
    /// What waits for an online client (`None` offline).
    pub fn online_queue(&self) -> Option<&super::inbox::Inbox> {
        self.online.as_ref().map(|o| &*o.inbox)
    }
    pub fn queued(&self) -> usize {
        match (&self.online, &self.session) {
            (Some(o), _) => o.inbox.len(),
            (None, Some(s)) => s.queued(),
            (None, None) => 0,
        }
    }
}

pub struct Router {
    pub options: Arc<BrokerOptions>,
    pub metrics: Arc<Metrics>,
    /// Boxed entries: the table stays small (memory per client) and cheap to grow.
    pub clients: HashMap<ClientId, Box<ClientEntry>>,
    pub trie: Trie,
    pub retained: RetainedStore,
    /// Clients offline with a session expiry or a delayed will to watch.
    timed: HashSet<ClientId>,
    /// Every published message, for the dashboard's topic tree; `try_send`, drops counted.
    pub tap: Option<mpsc::Sender<Arc<Message>>>,
    pub tap_dropped: u64,
    pub drops: Arc<super::drops::DropLog>,
    pub started: Instant,
    scratch: Vec<super::trie::Matched>,
    scratch_out: Vec<(ClientId, Delivery, publish::Target)>,
    /// The durable store; `None` with `--in-memory`.
    pub store: Option<crate::storage::Store>,
}

impl Router {
    pub fn new(options: Arc<BrokerOptions>, metrics: Arc<Metrics>) -> Self {
        Self {
            options,
            metrics,
            clients: HashMap::new(),
            trie: Trie::default(),
            retained: RetainedStore::default(),
            timed: HashSet::new(),
            tap: None,
            tap_dropped: 0,
            drops: Arc::default(),
            started: super::clock::now(),
            scratch: Vec::new(),
            scratch_out: Vec::new(),
            store: None,
        }
    }

    /// The router task: runs until every sender is gone or `shutdown` fires.
    /// The router task: runs until `RouterMsg::Stop` or every sender is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<RouterMsg>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let sys_every = self.options.sys_interval;
        let mut next_sys = super::clock::now() + Duration::from_secs(1);
        let mut sys = super::sys::SysState::default();
        loop {
            tokio::select! {
                msg = rx.recv() => {
                    let Some(m) = msg else { break };
                    if !self.handle(m) {
                        break;
                    }
                    // Drain what is already there before looking at timers.
                    for _ in 0..256 {
                        let Ok(m) = rx.try_recv() else { break };
                        if !self.handle(m) {
                            return;
                        }
                    }
                }
                _ = tick.tick() => {
                    let now = super::clock::now();
                    self.expire(now);
                    if let Some(every) = sys_every {
                        if now >= next_sys {
                            next_sys = now + every;
                            for msg in sys.messages(&self, now) {
                                self.publish(Arc::new(msg), None);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Handle one message; `false` stops the router.
    fn handle(&mut self, msg: RouterMsg) -> bool {
        match msg {
            RouterMsg::Connect(req) => self.connect(req),
            RouterMsg::Publish { msg, durable } => self.publish(msg, durable),
            RouterMsg::Subscribe {
                client,
                subs,
                reply,
            } => {
                let retained = self.subscribe(&client, subs);
                let _ = reply.send(retained);
            }
            RouterMsg::Unsubscribe {
                client,
                filters,
                reply,
            } => {
                let existed = filters
                    .iter()
                    .map(|f| self.unsubscribe(&client, f))
                    .collect();
                let _ = reply.send(existed);
            }
            RouterMsg::Disconnected(d) => self.disconnected(*d),
            RouterMsg::Kick { client_id, reply } => {
                let online = self
                    .clients
                    .get(client_id.as_str())
                    .and_then(|e| e.online.as_ref());
                if let Some(o) = online {
                    o.inbox.disconnect(ReasonCode::AdministrativeAction);
                }
                if let Some(r) = reply {
                    let _ = r.send(online.is_some());
                }
            }
            RouterMsg::Inspect(f) => f(self),
            RouterMsg::DisconnectAll => self.shutdown_all(),
            RouterMsg::Stop => return false,
        }
        true
    }

    /// Close every online connection (v5 clients get DISCONNECT 0x8B first).
    fn shutdown_all(&mut self) {
        for e in self.clients.values() {
            if let Some(o) = &e.online {
                o.inbox.disconnect(ReasonCode::ServerShuttingDown);
            }
        }
    }

    /// Number of offline sessions kept.
    pub fn offline_sessions(&self) -> usize {
        self.clients.values().filter(|e| e.online.is_none()).count()
    }
}

impl Drop for Router {
    /// The router is gone (stopped, or its channel closed): nothing can reach the client
    /// tasks any more, so they end rather than serve a dead broker.
    fn drop(&mut self) {
        self.shutdown_all();
    }
}
