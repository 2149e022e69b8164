//! The MQTT-SN 1.2 gateway, built in (transparent mode): every SN client is its own broker
//! session through an in-process connection, so ACLs, persistent sessions, `$SYS` and the
//! dashboard see it like any other client.
//!
//! Layout: `codec` (sans-IO wire format), `socket` (one task per UDP listener: receive,
//! per-source limits, SEARCHGW/ADVERTISE, QoS −1, dispatch by source address), `session`
//! (one task per SN client: its broker connection, timers, outgoing queue) with its SN
//! message handling in `flows`, `topics` (topic-id tables, sans-IO), `registry` (topic
//! registrations of persistent sessions, kept across restarts).

pub mod codec;
mod flows;
mod registry;
mod session;
mod socket;
#[cfg(test)]
mod tests;
mod topics;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::broker::links::Links;
use crate::broker::Connector;
use crate::config::{Config, ListenerConfig, MqttSnConfig};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot bind the MQTT-SN listener {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds `config`'s `kind = "mqttsn"` listeners and serves them for `broker` until it
/// shuts down; returns the bound addresses (none without such a listener). The broker
/// itself never names the gateway: the gateway reaches it as in-process clients.
///
/// # Errors
/// An address that cannot be bound.
pub async fn start(
    broker: &crate::broker::Broker,
    config: &Config,
) -> Result<Vec<SocketAddr>, Error> {
    let listeners: Vec<ListenerConfig> = config
        .listeners
        .iter()
        .filter(|l| l.kind == crate::config::ListenerKind::Mqttsn)
        .cloned()
        .collect();
    let Some(gateway) = Gateway::bind(&listeners, config).await? else {
        return Ok(Vec::new());
    };
    let addrs = gateway.local_addrs();
    gateway.spawn(broker.connector(), broker.shutting_down());
    Ok(addrs)
}

/// What every gateway task shares.
struct Common {
    cfg: MqttSnConfig,
    predefined: topics::Predefined,
    registry: registry::Registry,
    connector: Connector,
    links: Arc<Links>,
    /// Messages held for one sleeping client beyond those the broker keeps in flight.
    max_buffered: usize,
}

/// Bytes the kernel may hold for a gateway socket (capped by `net.core.rmem_max`): a
/// burst of datagrams waits there instead of being dropped while the socket task runs.
const RECV_BUFFER: usize = 4 << 20;

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the default still works, with more drops under bursts.
    let _ = sock.set_recv_buffer_size(RECV_BUFFER);
    // ADVERTISE is a broadcast (§6.1); failing to allow it only loses that.
    let _ = sock.set_broadcast(true);
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    UdpSocket::from_std(sock.into())
}

/// Bound UDP sockets, not yet serving.
pub struct Gateway {
    sockets: Vec<Arc<UdpSocket>>,
    cfg: MqttSnConfig,
    registrations: Option<std::path::PathBuf>,
    max_buffered: usize,
}

impl Gateway {
    /// Binds every `kind = "mqttsn"` listener; `None` when there is none. Must run inside
    /// a Tokio runtime.
    ///
    /// # Errors
    /// An address that cannot be bound.
    pub async fn bind(
        listeners: &[ListenerConfig],
        config: &Config,
    ) -> Result<Option<Gateway>, Error> {
        if listeners.is_empty() {
            return Ok(None);
        }
        let mut sockets = Vec::with_capacity(listeners.len());
        for l in listeners {
            let err = |source| Error::Bind {
                addr: l.bind,
                source,
            };
            let sock = bind_udp(l.bind).map_err(err)?;
            let addr = sock.local_addr().map_err(err)?;
            tracing::info!(target: "midge::transport", address = %addr, transport = "mqtt-sn/udp", "MQTT-SN gateway listening");
            sockets.push(Arc::new(sock));
        }
        Ok(Some(Gateway {
            sockets,
            cfg: config.mqttsn.clone(),
            registrations: (!config.storage.in_memory)
                .then(|| config.data_dir().join("mqttsn-topics.json")),
            max_buffered: config.limits.max_queued_messages.clamp(1, 100_000),
        }))
    }

    /// The bound addresses, in config order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// Serves every socket until `shutdown` turns true.
    pub fn spawn(self, connector: Connector, shutdown: watch::Receiver<bool>) {
        let links = connector.links();
        links.sn.enabled.store(true, Relaxed);
        let common = Arc::new(Common {
            predefined: topics::Predefined::new(&self.cfg.predefined),
            registry: registry::Registry::open(self.registrations),
            cfg: self.cfg,
            connector,
            links,
            max_buffered: self.max_buffered,
        });
        for sock in self.sockets {
            tokio::spawn(socket::run(sock, common.clone(), shutdown.clone()));
        }
    }
}
