//! `midge monitor URL` end to end: the remote source against a real Mosquitto (`$SYS`
//! counters, taps, TLS, a dashboard render), against a headless midge over the admin
//! channel (sessions and in-flight state for an allowed user; nothing for anyone else), and
//! reconnecting when the broker goes away. This module holds the helpers the submodules
//! share: watching a URL, waiting on the link, starting midge, an MQTT 5 client.

mod admin;
mod admin_commands;
mod fallback;
mod mosquitto;
mod reconnect;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use midge::broker::{Access, Broker};
use midge::config::ListenerConfig;
use midge::monitor::remote::{self, BrokerUrl, RemoteOptions};
use midge_model::{Event, MonitorLink, Snapshot};

/// The longest any expected event may take.
const WAIT: Duration = Duration::from_secs(10);

// ---- helpers -------------------------------------------------------------------------

/// Start the remote source for `url`; returns the dashboard's end.
fn watch(url: &str) -> MonitorLink {
    let opts = RemoteOptions::new(BrokerUrl::parse(url).expect("test URL parses"));
    let (source, link) = midge_model::link(remote::initial_snapshot(&opts), 8192, 64);
    remote::start(opts, source);
    link
}

/// Wait until the latest snapshot satisfies `pred`, collecting events meanwhile.
async fn until_snapshot(
    link: &mut MonitorLink,
    seen: &mut Vec<Event>,
    what: &str,
    pred: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let deadline = Instant::now() + WAIT;
    loop {
        while let Ok(e) = link.events.try_recv() {
            seen.push(e);
        }
        let s = link.snapshots.borrow_and_update().clone();
        if pred(&s) {
            return s;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {what}; last: {s:#?}"
        );
        let _ = tokio::time::timeout(left, link.snapshots.changed()).await;
    }
}

/// Wait until an event satisfies `pred` (events before it are kept in `seen`).
async fn until_event(
    link: &mut MonitorLink,
    seen: &mut Vec<Event>,
    what: &str,
    pred: impl Fn(&Event) -> bool,
) {
    if seen.iter().any(&pred) {
        return;
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, link.events.recv()).await {
            Ok(Some(e)) => {
                let hit = pred(&e);
                seen.push(e);
                if hit {
                    return;
                }
            }
            Ok(None) => panic!("the source closed its events while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}; saw {} events", seen.len()),
        }
    }
}

async fn start_midge(bind: SocketAddr, access: Arc<dyn Access>) -> Broker {
    let listen = |c: &mut midge::config::Config| c.listeners = vec![ListenerConfig::tcp(bind)];
    crate::support::start_broker_access(access, listen)
        .await
        .broker
}

/// An MQTT 5 client (rumqttc, an independent implementation) with its event loop
/// polled in the background; every PUBLISH it receives goes to the returned channel.
fn v5_client(
    port: u16,
    id: &str,
    user: Option<&str>,
) -> (
    rumqttc::v5::AsyncClient,
    tokio::sync::mpsc::UnboundedReceiver<(String, bytes::Bytes)>,
) {
    let mut o = rumqttc::v5::MqttOptions::new(id, "127.0.0.1", port);
    if let Some(u) = user {
        o.set_credentials(u, "");
    }
    let (client, mut ev) = rumqttc::v5::AsyncClient::new(o, 64);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match ev.poll().await {
                Ok(rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::Publish(
                    p,
                ))) => {
                    let topic = String::from_utf8_lossy(&p.topic).into_owned();
                    if tx.send((topic, p.payload)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                // rumqttc reconnects on the next poll: a refused or slow first
                // connect under load must not leave the client silent for the test.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    });
    (client, rx)
}
