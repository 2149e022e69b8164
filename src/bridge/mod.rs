//! Outgoing bridges to other brokers (`[[bridge]]`). Each bridge is one task: a remote
//! MQTT client ([`crate::mqtt`]) plus an in-process local client of this broker
//! ([`local`]), so local ACLs, sessions, durability, `$SYS` and the dashboard see the
//! bridge like any client. [`Bridges`] owns the running set: started with the broker,
//! changed on SIGHUP (added start, removed stop and drop their session, changed
//! reconnect; queues of bridges that stay are kept — they are durable sessions).
//! Statistics go to [`crate::broker::links`].

mod forward;
mod link;
mod local;
mod raw;
mod remote;
mod topics;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use crate::broker::links::BridgeStats;
use crate::broker::Context;
use crate::config::BridgeConfig;

pub use forward::LinkError;
pub use remote::{connector, tls_options, ConnectError};

/// How long a stopping bridge may take to say goodbye.
const STOP_GRACE: Duration = Duration::from_secs(5);

struct Running {
    config: BridgeConfig,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The running bridges of a broker. Cheap to clone (SIGHUP's task holds one).
#[derive(Clone)]
pub struct Bridges {
    ctx: Arc<Context>,
    running: Arc<Mutex<HashMap<String, Running>>>,
}

impl Bridges {
    /// Start `configs` on the broker of `ctx`. Must run inside a Tokio runtime.
    pub async fn start(ctx: Arc<Context>, configs: &[BridgeConfig]) -> Self {
        let b = Self {
            ctx,
            running: Arc::new(Mutex::new(HashMap::new())),
        };
        b.reload(configs).await;
        b
    }

    fn spawn(&self, config: BridgeConfig) -> Running {
        let stats = Arc::new(BridgeStats::new(
            &config.name,
            &config.client_id,
            config.protocol,
        ));
        self.ctx.links.add_bridge(stats.clone());
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(link::run(self.ctx.clone(), config.clone(), stats, stop_rx));
        Running { config, stop, task }
    }

    /// Make the running set match `configs`: stop removed and changed bridges, start
    /// added and changed ones. Returns (started, stopped) names.
    pub async fn reload(&self, configs: &[BridgeConfig]) -> (Vec<String>, Vec<String>) {
        let mut running = self.running.lock().await;
        let mut stopped = Vec::new();
        let names: Vec<String> = running.keys().cloned().collect();
        for name in names {
            let keep = configs
                .iter()
                .any(|c| c.name == name && running.get(&name).is_some_and(|r| r.config == *c));
            if keep {
                continue;
            }
            if let Some(r) = running.remove(&name) {
                let next = configs.iter().find(|c| c.name == name);
                stop(r.stop, r.task).await;
                // A new client id is a new session: the old one would queue forever.
                if next.is_none_or(|c| c.client_id != r.config.client_id) {
                    link::forget(&self.ctx, &r.config).await;
                }
                if next.is_none() {
                    self.ctx.links.remove_bridge(&name);
                }
                stopped.push(name);
            }
        }
        let mut started = Vec::new();
        for c in configs {
            if !running.contains_key(&c.name) {
                running.insert(c.name.clone(), self.spawn(c.clone()));
                started.push(c.name.clone());
            }
        }
        (started, stopped)
    }

    /// Stop every bridge (shutdown): each publishes "0" and disconnects; sessions stay.
    pub async fn stop_all(&self) {
        let mut running = self.running.lock().await;
        for (_, r) in running.drain() {
            stop(r.stop, r.task).await;
        }
    }
}

async fn stop(tx: watch::Sender<bool>, mut task: JoinHandle<()>) {
    let _ = tx.send(true);
    if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
        task.abort();
    }
}
