//! The router's narrow interface for observers (`broker/observe`): a feed of session
//! changes, typed questions with typed replies, and the admin requests it hands over.
//! Observers never borrow the router; the router pays for them only while one is
//! attached, and then in proportion to what changed or what was asked.

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::broker::inbox::Inbox;
use crate::broker::message::{ClientId, Delivery, Message};
use crate::broker::session::OutState;
use crate::broker::stats::ClientStats;
use crate::protocol::{ByteStr, QoS, SubscriptionOptions};

use super::Router;

/// Every topic under this prefix is the broker's own: handed to the admin observer,
/// never retained or routed.
pub const RESERVED_PREFIX: &str = "$CONTROL/midge/";

/// Whether `topic` is in the broker's reserved admin namespace.
pub fn is_reserved(topic: &str) -> bool {
    topic.starts_with(RESERVED_PREFIX)
}

/// A change of the session table, in the order the router made it.
#[derive(Debug)]
pub enum Change {
    /// A session exists with these numbers (on attach, for every session; later, when a
    /// client connects). `inbox` is set while the client is online.
    Session {
        stats: Arc<ClientStats>,
        inbox: Option<Arc<Inbox>>,
        subscriptions: u32,
    },
    /// Every session at once, as [`Change::Session`]s (the first change after attaching).
    Sessions(Vec<Change>),
    /// The client went offline; its session stays.
    Offline { client: ClientId },
    /// The session ended.
    Removed { client: ClientId },
    /// The number of subscriptions changed.
    Subscriptions { client: ClientId, count: u32 },
}

/// A question for the router; each carries its reply channel.
#[derive(Debug)]
pub enum Query {
    /// Attach an observer: every session is sent in one [`Change::Sessions`], then
    /// changes as they happen, until the receiver is dropped.
    Attach(mpsc::UnboundedSender<Change>),
    /// The detail of these sessions (missing ones are left out), and up to `inflight`
    /// in-flight messages of offline sessions.
    Describe {
        clients: Vec<ClientId>,
        inflight: usize,
        reply: oneshot::Sender<Described>,
    },
    /// One client's published numbers (`None`: no such session).
    Stats {
        client: ClientId,
        reply: oneshot::Sender<Option<Arc<ClientStats>>>,
    },
    /// For each topic, the sessions (online or not) with a subscription matching it.
    Subscribers {
        topics: Vec<String>,
        reply: oneshot::Sender<Vec<(String, u64)>>,
    },
}

/// The reply to [`Query::Describe`].
#[derive(Debug, Default)]
pub struct Described {
    pub sessions: Vec<SessionDetail>,
    /// In-flight messages of offline sessions (online ones publish theirs in
    /// `ClientStats::detail`).
    pub offline_inflight: Vec<(ClientId, InflightOut)>,
}

/// What only the router knows about one session.
#[derive(Debug)]
pub struct SessionDetail {
    pub client: ClientId,
    /// Filter (with `$share/g/`), options, subscription id.
    pub subscriptions: Vec<(ByteStr, SubscriptionOptions, Option<u32>)>,
    /// The head of the queue (online: the inbox; offline: the session's queue).
    pub queue_head: Vec<Queued>,
    pub queued: usize,
    /// Payload bytes queued (online: in the inbox; offline: in the session's queue).
    pub queued_bytes: u64,
    pub queue_capacity: usize,
    /// Offline: outgoing messages in flight and incoming QoS 2 awaiting PUBREL.
    pub offline_inflight: Option<(u32, u32)>,
}

#[derive(Debug, Clone)]
pub struct Queued {
    pub topic: ByteStr,
    pub qos: QoS,
    pub bytes: u32,
    /// When it was published (a bridge shows its oldest queued message's age).
    pub received_at: Instant,
}

/// One outgoing QoS 1/2 message of an offline session.
#[derive(Debug, Clone)]
pub struct InflightOut {
    pub packet_id: u16,
    pub topic: ByteStr,
    pub qos: QoS,
    pub state: OutState,
    pub since: Instant,
    pub resends: u32,
}

/// A publish to the reserved namespace, for the admin observer.
#[derive(Debug)]
pub struct AdminRequest {
    pub client: ClientId,
    /// The connection that asked: the reply goes to it only, not to a later connection
    /// that took its client id (and its session) over.
    pub conn_id: u64,
    /// The ACL let this client write the request topic (or it is the broker's own).
    pub authorised: bool,
    pub msg: Arc<Message>,
}

/// The attached observer's change feed, if any.
#[derive(Default)]
pub(super) struct Feed(Option<mpsc::UnboundedSender<Change>>);

impl Feed {
    /// Tell an attached observer (`change` is built only then); a closed feed detaches.
    pub(super) fn send(&mut self, change: impl FnOnce() -> Change) {
        if let Some(tx) = &self.0 {
            if tx.send(change()).is_err() {
                self.0 = None;
            }
        }
    }
}

/// Entries of a queue shown in a session's detail.
const QUEUE_HEAD: usize = 20;

impl Router {
    pub(super) fn query(&mut self, q: Query) {
        match q {
            Query::Attach(tx) => {
                // One walk over the table, one message: the router is busy about 80 ns a
                // session (79 ms at a million, tests/observe_bench.rs); the observer does
                // the rest on its own task.
                let all = self
                    .clients
                    .values()
                    .map(|e| Change::Session {
                        stats: e.stats.clone(),
                        inbox: e.online.as_ref().map(|o| o.inbox.clone()),
                        subscriptions: e.subscriptions.len() as u32,
                    })
                    .collect();
                let _ = tx.send(Change::Sessions(all));
                self.observer = Feed(Some(tx));
            }
            Query::Describe {
                clients,
                inflight,
                reply,
            } => {
                let _ = reply.send(self.describe(&clients, inflight));
            }
            Query::Stats { client, reply } => {
                let _ = reply.send(self.clients.by_id(&client).map(|e| e.stats.clone()));
            }
            Query::Subscribers { topics, reply } => {
                let mut matched = Vec::new();
                let counts = topics
                    .into_iter()
                    .map(|t| {
                        matched.clear();
                        self.trie.matches(&t, &|_| true, &mut matched);
                        let mut ids: Vec<_> = matched.iter().map(|m| m.client).collect();
                        ids.sort_unstable();
                        ids.dedup();
                        (t, ids.len() as u64)
                    })
                    .collect();
                let _ = reply.send(counts);
            }
        }
    }

    /// Publish the gauges observers read without asking.
    pub(super) fn publish_gauges(&self) {
        let m = &self.metrics;
        m.sessions.store(self.clients.len() as u64, Relaxed);
        m.subscriptions.store(self.trie.len() as u64, Relaxed);
        m.retained.store(self.retained.len() as u64, Relaxed);
    }

    fn describe(&self, clients: &[ClientId], inflight: usize) -> Described {
        let mut out = Described::default();
        let queued = |d: &Delivery| Queued {
            topic: d.msg.topic.clone(),
            qos: d.qos,
            bytes: d.msg.payload.len() as u32,
            received_at: d.msg.received_at,
        };
        let mut seen = HashSet::new();
        for id in clients {
            let Some(e) = self.clients.by_id(id) else {
                continue;
            };
            if !seen.insert(id) {
                continue;
            }
            let (queue_head, queued_bytes, queue_capacity, offline_inflight) =
                match (&e.online, &e.session) {
                    (Some(o), _) => (
                        o.inbox.head(QUEUE_HEAD, queued),
                        o.inbox.bytes(),
                        o.inbox.capacity(),
                        None,
                    ),
                    (None, Some(s)) => (
                        s.queue().take(QUEUE_HEAD).map(queued).collect(),
                        s.queued_bytes(),
                        s.max_queued(),
                        Some((s.inflight_len() as u32, s.inbound_pending() as u32)),
                    ),
                    (None, None) => (Vec::new(), 0, self.options.max_queued, None),
                };
            out.sessions.push(SessionDetail {
                client: id.clone(),
                subscriptions: e
                    .subscriptions
                    .iter()
                    .map(|(f, (o, sub_id))| (f.clone(), *o, *sub_id))
                    .collect(),
                queue_head,
                queued: e.queued(),
                queued_bytes,
                queue_capacity,
                offline_inflight,
            });
        }
        for id in &self.inflight_offline {
            if out.offline_inflight.len() >= inflight {
                break;
            }
            let Some(s) = self.clients.by_id(id).and_then(|e| e.session.as_deref()) else {
                continue;
            };
            for f in s.inflight().take(inflight - out.offline_inflight.len()) {
                out.offline_inflight.push((
                    id.clone(),
                    InflightOut {
                        packet_id: f.pid.get(),
                        topic: f.delivery.msg.topic.clone(),
                        qos: f.delivery.qos,
                        state: f.state,
                        since: f.since,
                        resends: f.resends,
                    },
                ));
            }
        }
        out
    }
}
