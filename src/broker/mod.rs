//! The broker: a router task owning all shared state, one task per client connection,
//! the accept loops feeding them, and the observers watching them (`observe`, started
//! here and never called by the core). `Broker::start` wires them up from a `Config`.

pub mod access;
mod client;
pub mod clock;
pub mod drops;
pub mod inbox;
pub mod links;
pub mod message;
pub mod observe;
pub mod park;
pub mod persist;
pub mod retained;
pub mod router;
mod server;
pub mod session;
pub mod stats;
pub mod trace;
pub mod trie;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Semaphore};

use crate::config::Config;

pub use access::{Access, FileAccess, Open};
pub use router::RouterMsg;
pub use stats::Metrics;

/// Limits and policy the client tasks and the router read; built once from `Config`.
pub struct BrokerOptions {
    pub max_connections: usize,
    pub max_packet_size: u32,
    pub max_inflight: u16,
    pub max_queued: usize,
    pub connect_timeout: Duration,
    pub max_keepalive: u16,
    pub max_topic_levels: usize,
    pub max_topic_length: usize,
    /// Per-client PUBLISH packets per second; 0 = unlimited.
    pub max_publish_rate: u32,
    /// `$SYS` publish interval; `None` = off.
    pub sys_interval: Option<Duration>,
    pub access: Arc<dyn Access>,
    /// This broker's identity in bridge loop guards (`midge-origin`); random per start.
    pub broker_id: u64,
    /// The next `midge-origin` sequence number (assigned on first delivery to a bridge).
    pub origin_seq: std::sync::atomic::AtomicU64,
}

impl BrokerOptions {
    pub fn from_config(c: &Config, access: Arc<dyn Access>) -> Self {
        let l = &c.limits;
        Self {
            max_connections: l.max_connections,
            max_packet_size: l.max_packet_size,
            max_inflight: l.max_inflight,
            max_queued: l.max_queued_messages,
            connect_timeout: Duration::from_secs(l.connect_timeout_secs),
            max_keepalive: l.max_keepalive_secs,
            max_topic_levels: l.max_topic_levels,
            max_topic_length: l.max_topic_length,
            max_publish_rate: l.max_publish_rate,
            sys_interval: (c.sys.interval_secs > 0)
                .then(|| Duration::from_secs(c.sys.interval_secs)),
            access,
            broker_id: crate::os::random_u64(),
            origin_seq: std::sync::atomic::AtomicU64::new(1),
        }
    }
}

impl BrokerOptions {
    /// The message's loop-guard identity, numbered here if it has none yet.
    pub fn origin_of(&self, msg: &message::Message) -> message::Origin {
        *msg.origin.get_or_init(|| message::Origin {
            broker: self.broker_id,
            seq: self
                .origin_seq
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }
}

/// What every client task shares.
pub struct Context {
    pub options: Arc<BrokerOptions>,
    pub metrics: Arc<Metrics>,
    /// Into the router. Bounded: a publisher waits here when the router is behind.
    pub router: mpsc::Sender<RouterMsg>,
    pub next_conn_id: AtomicU64,
    /// One permit per open connection (`max_connections`).
    pub connections: Arc<Semaphore>,
    /// The dashboard's packet trace of one client.
    pub trace: trace::TraceHub,
    /// The durable store; `None` with `--in-memory`.
    pub store: Option<crate::storage::Store>,
    /// What was dropped for whom and why (shared with the router).
    pub drops: Arc<drops::DropLog>,
    /// Bridges' and the MQTT-SN gateway's published statistics.
    pub links: Arc<links::Links>,
    /// Where idle plain-TCP connections wait without a task; `None`: they never park.
    pub parking: Option<park::ParkingLot>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data directory could not be created.
    #[error("creating {}", dir.display())]
    DataDir {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    /// Opening the durable store (the error names the file).
    #[error("durable store")]
    Store(#[from] crate::storage::Error),
    /// A record in the store could not be restored.
    #[error("restoring {}: {source}", dir.display())]
    Restore {
        dir: std::path::PathBuf,
        source: router::RestoreError,
    },
    /// A listener: its address (cannot bind) or its TLS files; the message names which.
    #[error(transparent)]
    Transport(#[from] crate::transport::Error),
}

/// A running broker.
pub struct Broker {
    ctx: Arc<Context>,
    local_addrs: Vec<SocketAddr>,
    /// TLS settings of the listeners, for certificate reloads.
    listeners: crate::transport::ListenerSet,
    shutdown: watch::Sender<bool>,
    router_task: tokio::task::JoinHandle<()>,
    /// Set by the embedded dashboard: every published message, for its topic tree.
    tap: Option<mpsc::Receiver<Arc<message::Message>>>,
    /// Snapshots for the dashboard (and the admin channel's replies).
    observer: observe::Observer,
}

impl Broker {
    /// Bind every listener and start serving. Must run inside a Tokio runtime.
    pub async fn start(config: &Config, access: Arc<dyn Access>) -> Result<Self, Error> {
        let options = Arc::new(BrokerOptions::from_config(config, access));
        let metrics = Arc::new(Metrics::default());
        let (router_tx, router_rx) = mpsc::channel(4096);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let store = open_store(config)?;
        let mut router = router::Router::new(options.clone(), metrics.clone());
        if let Some(store) = &store {
            let t = std::time::Instant::now();
            let counts = router.restore(store).map_err(|source| Error::Restore {
                dir: config.data_dir(),
                source,
            })?;
            tracing::info!(
                retained = counts.retained,
                sessions = counts.sessions,
                messages = counts.messages,
                ms = t.elapsed().as_millis() as u64,
                "state restored"
            );
            router.set_store(store.clone());
        }
        let ctx = Arc::new(Context {
            connections: Arc::new(Semaphore::new(options.max_connections)),
            options: options.clone(),
            metrics: metrics.clone(),
            router: router_tx,
            next_conn_id: AtomicU64::new(1),
            trace: trace::TraceHub::default(),
            store,
            drops: router.drops(),
            links: Arc::default(),
            parking: park::ParkingLot::start(metrics.clone()),
        });
        // UDP (MQTT-SN) listeners are the gateway's: `mqttsn::start` binds them.
        let tcp_listeners: Vec<_> = config
            .listeners
            .iter()
            .filter(|l| l.kind != crate::config::ListenerKind::Mqttsn)
            .cloned()
            .collect();
        let bound = crate::transport::Bound::bind(&tcp_listeners).await?;
        let local_addrs = bound.local_addrs().to_vec();
        let listeners = bound.handle();
        let (tap_tx, tap_rx) = mpsc::channel(4096);
        router.set_tap(tap_tx);
        let (admin_tx, admin_rx) = mpsc::channel(64);
        router.set_admin(admin_tx);
        let observer = observe::Observer::spawn(
            observe::Parts {
                router: ctx.router.clone(),
                metrics: metrics.clone(),
                store: ctx.store.clone(),
                drops: ctx.drops.clone(),
                links: ctx.links.clone(),
                context: Arc::downgrade(&ctx),
                started: std::time::SystemTime::now(),
                sync_mode: format!("{:?}", config.storage.sync).to_lowercase(),
            },
            admin_rx,
        );
        if let Some(every) = options.sys_interval {
            observe::sys::spawn(
                ctx.router.clone(),
                metrics.clone(),
                ctx.store.clone(),
                every,
            );
        }
        let router_task = tokio::spawn(router.run(router_rx));
        server::spawn(bound, &ctx, &shutdown_rx);
        Ok(Self {
            ctx,
            local_addrs,
            listeners,
            shutdown,
            router_task,
            tap: Some(tap_rx),
            observer,
        })
    }

    /// The bound addresses (ephemeral ports resolved), in config order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    pub fn context(&self) -> Arc<Context> {
        self.ctx.clone()
    }

    /// The listeners' handle: `listeners().reload()` re-reads TLS certificates (SIGHUP).
    pub fn listeners(&self) -> crate::transport::ListenerSet {
        self.listeners.clone()
    }

    /// Bridges' and the MQTT-SN gateway's statistics (their owners register here).
    pub fn links(&self) -> Arc<links::Links> {
        self.ctx.links.clone()
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.ctx.metrics.clone()
    }

    /// Trace one client's packets into `sink` (`None` stops).
    pub fn set_trace(&self, target: Option<(String, mpsc::Sender<trace::TraceRecord>)>) {
        self.ctx.trace.set(target);
    }

    /// Turns true when a graceful shutdown begins (for readiness probes).
    pub fn shutting_down(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// The observer: snapshots of what a dashboard shows.
    pub fn observer(&self) -> observe::Observer {
        self.observer.clone()
    }

    pub fn router(&self) -> mpsc::Sender<RouterMsg> {
        self.ctx.router.clone()
    }

    /// The stream of every published message (once; for the embedded dashboard).
    pub fn take_tap(&mut self) -> Option<mpsc::Receiver<Arc<message::Message>>> {
        self.tap.take()
    }

    /// An in-process client connection, served like any socket (the dashboard's own
    /// client). Returns the client's end.
    pub fn connect_local(&self, label: &str) -> tokio::io::DuplexStream {
        self.connect_peer(Peer {
            address: label.to_owned(),
            internal: true,
            ..Peer::default()
        })
    }

    /// The local side of a bridge: an in-process connection that is not authenticated
    /// but passes the ACL under its client id, and is treated as a bridge (never sent its
    /// own messages, loop guard, its `$SYS/broker/connection/<id>/state`).
    pub fn connect_bridge(&self, label: &str) -> tokio::io::DuplexStream {
        self.connect_peer(Peer {
            address: label.to_owned(),
            bridge: true,
            ..Peer::default()
        })
    }

    /// An in-process connection for `peer` (e.g. an MQTT-SN client behind the gateway,
    /// whose mapped user goes in `cert_identity`), served like any socket. Returns the
    /// client's end; it closes at once when `max_connections` is reached.
    pub fn connect_peer(&self, peer: Peer) -> tokio::io::DuplexStream {
        self.connector().connect_peer(peer)
    }

    /// A handle that opens in-process connections after this borrow ends.
    pub fn connector(&self) -> Connector {
        Connector {
            ctx: self.ctx.clone(),
        }
    }

    /// Graceful shutdown: stop accepting, disconnect every client (v5: 0x8B), wait up to
    /// `grace` for them to close.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.shutdown.send(true); // listeners stop accepting
        let _ = self.ctx.router.send(RouterMsg::DisconnectAll).await;
        let max = self.ctx.options.max_connections as u32;
        let all = self.ctx.connections.clone();
        let _ = tokio::time::timeout(grace, all.acquire_many_owned(max)).await;
        let _ = self.ctx.router.send(RouterMsg::Stop).await;
        let _ = self.router_task.await;
        if let Some(store) = &self.ctx.store {
            let store = store.clone();
            match tokio::task::spawn_blocking(move || store.sync()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "final store sync failed"),
                Err(e) => tracing::error!(error = %e, "final store sync panicked"),
            }
        }
        tracing::info!("broker stopped");
    }
}

pub use client::{serve, Peer};

/// Opens in-process connections ([`Broker::connect_peer`]) for a component that outlives
/// the borrow of the `Broker` (the MQTT-SN gateway). Cheap to clone.
#[derive(Clone)]
pub struct Connector {
    ctx: Arc<Context>,
}

impl Connector {
    /// As [`Broker::connect_peer`].
    pub fn connect_peer(&self, peer: Peer) -> tokio::io::DuplexStream {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            let Ok(permit) = ctx.connections.clone().try_acquire_owned() else {
                return;
            };
            client::serve(server, peer, permit, ctx).await;
        });
        client
    }

    /// Bridges' and the MQTT-SN gateway's statistics.
    pub fn links(&self) -> Arc<links::Links> {
        self.ctx.links.clone()
    }

    /// `[limits]` as the broker applies them.
    pub fn options(&self) -> Arc<BrokerOptions> {
        self.ctx.options.clone()
    }
}

/// The durable store under the data directory, unless `--in-memory`.
fn open_store(config: &Config) -> Result<Option<crate::storage::Store>, Error> {
    use crate::config::SyncMode;
    use crate::storage::{Store, SyncPolicy};
    if config.storage.in_memory {
        return Ok(None);
    }
    let dir = config.data_dir();
    if let Err(source) = std::fs::create_dir_all(&dir) {
        return Err(Error::DataDir { dir, source });
    }
    let policy = match config.storage.sync {
        SyncMode::Always => SyncPolicy::Always,
        SyncMode::Interval => {
            SyncPolicy::Interval(Duration::from_millis(config.storage.sync_interval_ms))
        }
        SyncMode::Never => SyncPolicy::Never,
    };
    let store = Store::open(&dir, policy)?;
    tracing::info!(dir = %dir.display(), ?policy, "durable store open");
    Ok(Some(store))
}
