//! Everything that watches the core: the observer task (the session index, snapshots for
//! the dashboard and the admin channel), `$SYS`, and the admin protocol. It reads the
//! core only through the router's [`watch`](crate::broker::router::watch) interface and
//! the statistics in `broker::stats`; nothing in the core imports from here.
//!
//! The observer attaches to the router on the first request and detaches when nobody
//! has asked for [`IDLE`]: while detached, watching costs the broker nothing beyond its
//! always-on counters.

pub mod admin;
mod index;
mod links;
pub mod snapshot;
pub mod sys;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use midge_model::{self as model, Page, Watch};
use tokio::sync::{mpsc, oneshot};

use crate::broker::drops::DropLog;
use crate::broker::message::ClientId;
use crate::broker::router::watch::{AdminRequest, Change, Described, Query};
use crate::broker::router::RouterMsg;
use crate::broker::stats::{unix_ms, Metrics};

pub use snapshot::SourceFacts;

/// Detach after this long without a request.
pub const IDLE: Duration = Duration::from_secs(5);
/// Slow consumers sent beside the table's page.
const SLOW_ROWS: usize = 100;
/// Topics whose subscribers one snapshot counts at most.
const SUBSCRIBER_TOPICS: usize = 64;
/// In-flight messages sent at most.
const INFLIGHT_ROWS: usize = 1000;

/// What the observer reads: the router's channel and the core's published numbers.
pub struct Parts {
    pub router: mpsc::Sender<RouterMsg>,
    pub metrics: Arc<Metrics>,
    pub store: Option<crate::storage::Store>,
    pub drops: Arc<DropLog>,
    /// Bridges and MQTT-SN clients.
    pub links: Arc<crate::broker::links::Links>,
    /// The client tasks' shared context: its packet trace hub, for the admin channel's
    /// Trace (weak: the observer must not keep the broker alive).
    pub context: std::sync::Weak<crate::broker::Context>,
    /// When the broker started (for uptime).
    pub started: SystemTime,
    /// `[storage] sync` as configured.
    pub sync_mode: String,
}

struct SnapshotRequest {
    watch: Watch,
    facts: SourceFacts,
    reply: oneshot::Sender<model::Snapshot>,
}

/// A handle to the observer task; cheap to clone.
#[derive(Clone)]
pub struct Observer {
    tx: mpsc::Sender<SnapshotRequest>,
}

impl Observer {
    /// Start the observer task; it serves `admin` requests from the router too.
    pub fn spawn(parts: Parts, admin: mpsc::Receiver<AdminRequest>) -> Self {
        let (tx, rx) = mpsc::channel(16);
        let task = Task {
            parts,
            index: index::Index::default(),
            feed: None,
            last_request: crate::broker::clock::now(),
            commit_sample: None,
            trace: admin::AdminTrace::default(),
        };
        tokio::spawn(task.run(rx, admin));
        Self { tx }
    }

    /// A snapshot of what `watch` shows; `None` when the broker is gone.
    pub async fn snapshot(&self, watch: Watch, facts: SourceFacts) -> Option<model::Snapshot> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(SnapshotRequest {
                watch,
                facts,
                reply,
            })
            .await
            .ok()?;
        rx.await.ok()
    }
}

struct Task {
    parts: Parts,
    index: index::Index,
    /// The router's change feed while attached.
    feed: Option<mpsc::UnboundedReceiver<Change>>,
    last_request: Instant,
    /// The previous (time, commits) sample, for the commit rate.
    commit_sample: Option<(Instant, u64)>,
    /// The packet trace the admin channel asked for.
    trace: admin::AdminTrace,
}

impl Task {
    async fn run(
        mut self,
        mut requests: mpsc::Receiver<SnapshotRequest>,
        mut admin: mpsc::Receiver<AdminRequest>,
    ) {
        loop {
            let idle = tokio::time::sleep_until((self.last_request + IDLE).into());
            tokio::select! {
                req = requests.recv() => {
                    let Some(req) = req else { break };
                    let Some(snap) = self.build(&req.watch, &req.facts, 0).await else { break };
                    let _ = req.reply.send(snap);
                    // Idle counts from the answer: attaching to a large table takes a while.
                    self.last_request = crate::broker::clock::now();
                }
                req = admin.recv() => {
                    let Some(req) = req else { break };
                    if !admin::serve(&mut self, req).await {
                        break;
                    }
                    self.last_request = crate::broker::clock::now();
                }
                change = next_change(&mut self.feed) => match change {
                    Some(c) => self.index.apply(c),
                    None => self.detach(),
                },
                () = idle, if self.feed.is_some() => self.detach(),
            }
        }
        self.detach();
    }

    /// Attach to the router (the whole table once, then changes); `false`: it is gone.
    async fn attach(&mut self) -> bool {
        if self.feed.is_some() {
            return true;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        self.index = index::Index::default();
        self.parts.metrics.set_watched(true);
        crate::logs::ring().set_watching(true);
        if self
            .parts
            .router
            .send(RouterMsg::Observe(Query::Attach(tx)))
            .await
            .is_err()
        {
            return false;
        }
        self.feed = Some(rx);
        true
    }

    fn detach(&mut self) {
        // Nobody asks any more: a trace the admin channel started stops with it.
        admin::stop_trace(self);
        if self.feed.take().is_some() {
            self.index = index::Index::default();
            self.parts.metrics.set_watched(false);
            crate::logs::ring().set_watching(false);
        }
    }

    /// Apply every change the router sent so far.
    fn drain_feed(&mut self) {
        if let Some(feed) = &mut self.feed {
            while let Ok(c) = feed.try_recv() {
                self.index.apply(c);
            }
        }
    }

    async fn ask(&self, clients: Vec<ClientId>, inflight: usize) -> Option<Described> {
        let (reply, rx) = oneshot::channel();
        let q = Query::Describe {
            clients,
            inflight,
            reply,
        };
        self.parts.router.send(RouterMsg::Observe(q)).await.ok()?;
        rx.await.ok()
    }

    /// Subscriber counts for the watched topics (a trie walk each, on the router: capped).
    async fn subscribers(&self, watch: &Watch) -> Vec<(String, u64)> {
        let mut topics: Vec<String> = watch.topic.iter().chain(&watch.topics).cloned().collect();
        topics.retain(|t| crate::protocol::topic::valid_topic_name(t));
        topics.sort_unstable();
        topics.dedup();
        topics.truncate(SUBSCRIBER_TOPICS);
        if topics.is_empty() {
            return Vec::new();
        }
        let (reply, rx) = oneshot::channel();
        let q = Query::Subscribers { topics, reply };
        if self.parts.router.send(RouterMsg::Observe(q)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// The snapshot for `watch`: the table's page, the watched clients and the slowest
    /// consumers, described by the router in one round trip. `None`: the router is gone.
    async fn build(
        &mut self,
        watch: &Watch,
        facts: &SourceFacts,
        events_dropped: u64,
    ) -> Option<model::Snapshot> {
        self.last_request = crate::broker::clock::now();
        let fresh = self.feed.is_none();
        if !self.attach().await {
            return None;
        }
        if fresh {
            // A round trip: once answered, the router has sent the whole table.
            self.ask(Vec::new(), 0).await?;
        }
        self.drain_feed();
        let subscribers = self.subscribers(watch).await;
        let now_ms = unix_ms(SystemTime::now());
        self.index.tick(&self.parts.metrics, now_ms);
        let page = match &watch.table {
            Some(q) => self.index.page(q),
            None => index::PageIds {
                total: self.index.len() as u64,
                offset: 0,
                ids: Vec::new(),
            },
        };
        let mut seen: std::collections::HashSet<ClientId> = page.ids.iter().cloned().collect();
        let extra: Vec<ClientId> = watch
            .clients
            .iter()
            .map(|c| ClientId::from(c.as_str()))
            .chain(self.index.slowest(SLOW_ROWS))
            .filter(|id| seen.insert(id.clone()))
            .collect();
        let ids: Vec<ClientId> = page.ids.iter().chain(&extra).cloned().collect();
        let described = self.ask(ids, INFLIGHT_ROWS).await?;
        self.drain_feed();
        let details: std::collections::HashMap<&str, &_> =
            described.sessions.iter().map(|d| (&*d.client, d)).collect();
        let rows = |ids: &[ClientId]| -> Vec<model::ConnectionInfo> {
            ids.iter()
                .filter_map(|id| {
                    let row = self.index.row(id)?;
                    let mut c = snapshot::connection(row, details.get(&**id).copied());
                    links::sn_client(&mut c, &self.parts.links.sn);
                    Some(c)
                })
                .collect()
        };
        let mut connections = rows(&page.ids);
        let page_len = connections.len() as u32;
        connections.extend(rows(&extra));
        let m = &self.parts.metrics;
        let store = self
            .parts
            .store
            .as_ref()
            .map(|s| snapshot::store_info(s, &self.parts.sync_mode, &mut self.commit_sample));
        Some(model::Snapshot {
            taken_at_ms: now_ms,
            source: model::SourceInfo {
                kind: model::SourceKind::Embedded,
                version: Some(format!("midge {}", env!("CARGO_PKG_VERSION"))),
                listeners: facts.listeners.clone(),
                started_at_ms: Some(unix_ms(self.parts.started)),
                connected: true,
                own_client_id: facts.own_client_id.clone(),
            },
            counters: links::with_links(snapshot::counters(m), &self.parts.links),
            counters_at_ms: None,
            page: Some(Page {
                total: page.total,
                offset: page.offset,
                len: page_len,
                answers: watch.table.clone().unwrap_or_default(),
            }),
            connections: Some(connections),
            subscribers,
            inflight: Some(snapshot::inflight(
                self.index.with_inflight(),
                &described,
                INFLIGHT_ROWS,
            )),
            drops: Some(snapshot::drops(&self.parts.drops)),
            events_dropped: events_dropped
                + m.tap_dropped.load(std::sync::atomic::Ordering::Relaxed),
            store,
            bridges: Some(links::bridges(&self.parts.links)),
        })
    }
}

/// A log line as the dashboard shows it.
pub fn log_line(r: crate::logs::LogRecord) -> midge_model::LogLine {
    use midge_model::Level;
    midge_model::LogLine {
        at_ms: r.at_ms,
        level: match r.level {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::TRACE => Level::Trace,
        },
        target: r.target,
        message: r.message,
    }
}

async fn next_change(feed: &mut Option<mpsc::UnboundedReceiver<Change>>) -> Option<Change> {
    match feed {
        Some(f) => f.recv().await,
        None => std::future::pending().await,
    }
}
