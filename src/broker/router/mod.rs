//! The router: the one owner of broker state — sessions, the subscription trie, retained
//! messages, pending wills — driven by messages from client tasks. It never awaits a
//! client: deliveries go out with `try_send`, and a full queue is a counted drop, so a
//! slow subscriber never stalls a publisher or anyone else. Its state is private;
//! observers see it through [`watch`] (typed questions, a change feed) and the
//! statistics in `broker::stats`.

mod connect;
mod durable;
mod loops;
mod publish;
mod recent;
mod subs;
mod table;
#[cfg(test)]
mod tests;
pub mod watch;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::protocol::{ByteStr, LastWill, ReasonCode, SubscriptionOptions};

use super::drops::DropLog;
use super::message::{ClientId, Delivery, Message};
use super::retained::RetainedStore;
use super::session::Session;
use super::stats::{ClientStats, Metrics};
use super::trie::Trie;
use super::BrokerOptions;

pub use connect::{ConnectGranted, ConnectRequest, Disconnected};
pub use durable::{RestoreCounts, RestoreError};
pub use subs::Subscriptions;
pub use table::ClientIx;

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
    /// Reply: the retained messages to send after the SUBACK, in order, then those
    /// published since the SUBSCRIBE `arrived` (read by its client task) that it applies to.
    Subscribe {
        client: ClientId,
        subs: Vec<NewSubscription>,
        arrived: Instant,
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
    /// An observer's question (see [`watch`]).
    Observe(watch::Query),
    /// Deliver a message to one client only, never through the trie (admin replies).
    DeliverTo {
        client: ClientId,
        conn_id: u64,
        delivery: Delivery,
    },
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
    subscriptions: Subscriptions,
    /// Seconds; `u32::MAX` never expires.
    session_expiry: u32,
    /// Its index's generation (see [`table`]; set by `Table::put`, fits the padding).
    generation: u32,
    /// When an offline session ends [MQTT-3.1.2-23].
    expires_at: Option<Instant>,
    /// A delayed will [MQTT-3.1.3-9] and when it goes out; boxed, as most sessions have
    /// none (the entry then fits a smaller allocation: memory per connection).
    will: Option<Box<(Instant, Box<LastWill>)>>,
    /// A connection waiting for the previous one to hand the session over.
    pending: Option<Box<ConnectRequest>>,
    /// Deliveries that raced with the client task closing; appended to its session.
    limbo: Vec<Delivery>,
    /// Next sequence number for this session's stored deliveries.
    next_seq: u64,
    /// The numbers its client task publishes (the router adds drops and offline queue).
    stats: Arc<ClientStats>,
}

impl ClientEntry {
    /// The session's client identifier: the one its client task registered with.
    fn id(&self) -> &ClientId {
        &self.stats.info.client_id
    }

    fn queued(&self) -> usize {
        match (&self.online, &self.session) {
            (Some(o), _) => o.inbox.len(),
            (None, Some(s)) => s.queued(),
            (None, None) => 0,
        }
    }
}

pub struct Router {
    /// Limits and policy, shared with the client tasks.
    options: Arc<BrokerOptions>,
    /// Counters and gauges for observers; the router keeps the gauges current.
    metrics: Arc<Metrics>,
    /// Boxed entries by index (see [`table`]): the table stays small (memory per client)
    /// and cheap to grow.
    clients: table::Table,
    /// Subscriptions by the subscriber's index in `clients`.
    trie: Trie<ClientIx>,
    retained: RetainedStore,
    /// Clients offline with a session expiry or a delayed will to watch.
    timed: HashSet<ClientId>,
    /// Offline sessions with messages in flight (for observers; kept small).
    inflight_offline: HashSet<ClientId>,
    /// Every published message, for the dashboard's topic tree; `try_send`, drops counted
    /// in `Metrics::tap_dropped`.
    tap: Option<mpsc::Sender<Arc<Message>>>,
    /// An attached observer's change feed (see [`watch::Query::Attach`]).
    observer: watch::Feed,
    /// Publishes to the reserved `$CONTROL/midge/` namespace go here, never to the trie.
    admin: Option<mpsc::Sender<watch::AdminRequest>>,
    /// What was dropped for whom and why; shared with the client tasks and observers.
    drops: Arc<DropLog>,
    /// The last messages routed, for SUBSCRIBEs that arrived before them.
    recent: recent::Recent,
    /// Bridged messages already seen, by origin (the loop guard).
    loops: loops::LoopGuard,
    /// Reused buffers of `publish` (no allocation per message).
    scratch: Vec<super::trie::Matched<ClientIx>>,
    /// Deliveries whose stored copies must reach the store before they go out.
    scratch_out: Vec<(ClientIx, Delivery)>,
    /// The durable store; `None` with `--in-memory`.
    store: Option<crate::storage::Store>,
}

impl Router {
    pub fn new(options: Arc<BrokerOptions>, metrics: Arc<Metrics>) -> Self {
        let own_id = options.broker_id;
        Self {
            options,
            metrics,
            clients: table::Table::default(),
            trie: Trie::default(),
            retained: RetainedStore::default(),
            timed: HashSet::new(),
            inflight_offline: HashSet::new(),
            tap: None,
            observer: watch::Feed::default(),
            admin: None,
            drops: Arc::default(),
            recent: recent::Recent::default(),
            loops: loops::LoopGuard::new(own_id),
            scratch: Vec::new(),
            scratch_out: Vec::new(),
            store: None,
        }
    }

    /// The durable store the router writes to (after `restore` from it).
    pub fn set_store(&mut self, store: crate::storage::Store) {
        self.store = Some(store);
    }

    /// Send every published message to `tap` (the embedded dashboard's topic tree).
    pub fn set_tap(&mut self, tap: mpsc::Sender<Arc<Message>>) {
        self.tap = Some(tap);
    }

    /// Hand publishes to the reserved admin namespace to `admin`.
    pub fn set_admin(&mut self, admin: mpsc::Sender<watch::AdminRequest>) {
        self.admin = Some(admin);
    }

    /// The drop log the router writes (the client tasks and observers share it).
    pub fn drops(&self) -> Arc<DropLog> {
        self.drops.clone()
    }

    /// The router task: runs until `RouterMsg::Stop` or every sender is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<RouterMsg>) {
        self.publish_gauges();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
                    self.expire(super::clock::now());
                }
            }
        }
    }

    /// Handle one message; `false` stops the router.
    fn handle(&mut self, msg: RouterMsg) -> bool {
        match msg {
            RouterMsg::Connect(req) => {
                self.connect(req);
                self.publish_gauges();
            }
            RouterMsg::Publish { msg, durable } => {
                let retain = msg.retain;
                self.publish(msg, durable);
                if retain {
                    self.publish_gauges();
                }
            }
            RouterMsg::Subscribe {
                client,
                subs,
                arrived,
                reply,
            } => {
                let retained = self.subscribe(&client, subs, arrived);
                let _ = reply.send(retained);
                self.subscriptions_changed(&client);
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
                self.subscriptions_changed(&client);
            }
            RouterMsg::Disconnected(d) => {
                self.disconnected(*d);
                self.publish_gauges();
            }
            RouterMsg::Kick { client_id, reply } => {
                let online = self
                    .clients
                    .by_id(&client_id)
                    .and_then(|e| e.online.as_ref());
                if let Some(o) = online {
                    o.inbox.disconnect(ReasonCode::AdministrativeAction);
                }
                if let Some(r) = reply {
                    let _ = r.send(online.is_some());
                }
            }
            RouterMsg::Observe(q) => self.query(q),
            RouterMsg::DeliverTo {
                client,
                conn_id,
                delivery,
            } => self.deliver(&client, conn_id, delivery),
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

    fn subscriptions_changed(&mut self, client: &ClientId) {
        self.publish_gauges();
        let count = self.clients.by_id(client).map(|e| e.subscriptions.len());
        if let Some(count) = count {
            self.observer.send(|| watch::Change::Subscriptions {
                client: client.clone(),
                count: count as u32,
            });
        }
    }
}

impl Drop for Router {
    /// The router is gone (stopped, or its channel closed): nothing can reach the client
    /// tasks any more, so they end rather than serve a dead broker.
    fn drop(&mut self) {
        self.shutdown_all();
    }
}
