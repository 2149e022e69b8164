//! The remote side of a bridge: reaching the remote broker (its addresses in order,
//! TCP or TLS) and introducing the bridge there (protocol level, `try_private`, the
//! session it keeps, credentials), and the SUBSCRIBE for the `in` lines.

use std::num::NonZeroU16;
use std::time::Duration;

use bytes::Bytes;
use tokio_rustls::TlsConnector;

use crate::config::BridgeConfig;
use crate::mqtt::conn::{self, ClientError, ConnectOptions};
use crate::mqtt::{tls, BrokerUrl, Io, OpenError, TlsOptions};
use crate::protocol::{Packet, Properties, SubscriptionOptions};

use super::forward::Remote;

/// How long opening the connection, and then the CONNACK, may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Packet id of the remote SUBSCRIBE (sent before any forwarded PUBLISH).
const SUBSCRIBE_PID: u16 = 1;

/// Why no address of a bridge could be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{url}: {source}")]
    Open { url: String, source: OpenError },
    #[error("{url}: timed out")]
    Timeout { url: String },
    #[error("{url}: {source}")]
    Mqtt { url: String, source: ClientError },
}

/// The TLS settings of `[bridge.tls]`: `insecure` skips only the host-name check.
pub fn tls_options(cfg: &BridgeConfig) -> TlsOptions {
    let t = cfg.tls.clone().unwrap_or_default();
    TlsOptions {
        cafile: t.ca,
        cert: t.cert,
        key: t.key,
        insecure: false,
        skip_name_check: t.insecure,
    }
}

/// The TLS connector when any address is `mqtts://`.
///
/// # Errors
/// A CA, certificate or key file that cannot be read or loaded.
pub fn connector(cfg: &BridgeConfig) -> Result<Option<TlsConnector>, tls::TlsError> {
    if cfg.addresses.iter().any(|a| a.tls) {
        tls::connector(&tls_options(cfg)).map(Some)
    } else {
        Ok(None)
    }
}

fn options(cfg: &BridgeConfig, receive_maximum: u16) -> ConnectOptions {
    let mut o = ConnectOptions::new(&cfg.client_id, cfg.keep_alive_secs);
    o.protocol = cfg.protocol;
    o.clean_start = cfg.clean_start;
    o.username.clone_from(&cfg.username);
    o.password = cfg.password.as_ref().map(|p| Bytes::from(p.clone()));
    o.bridge = cfg.try_private;
    if cfg.protocol.is_v5() {
        // The remote keeps the session (and its queue for us) unless clean_start.
        o.session_expiry = Some(if cfg.clean_start { 0 } else { u32::MAX });
        o.receive_maximum = Some(receive_maximum.max(1));
        // Another midge treats us as a bridge (no echo, retain as published, loop guard).
        o.user_properties = vec![("midge-bridge".to_owned(), "1".to_owned())];
    }
    o
}

/// Try each address in order; the first that accepts the bridge wins. Each failure is
/// written to `on_error` (the last one is the bridge's `last_error`).
pub async fn connect(
    cfg: &BridgeConfig,
    connector: Option<&TlsConnector>,
    receive_maximum: u16,
    mut on_attempt: impl FnMut(&BrokerUrl),
) -> Result<(Remote, BrokerUrl), ConnectError> {
    let opts = options(cfg, receive_maximum);
    let mut last = None;
    for url in &cfg.addresses {
        on_attempt(url);
        let name = url.to_string();
        let io: Box<dyn Io> = match tokio::time::timeout(TIMEOUT, tls::open(url, connector)).await {
            Ok(Ok(io)) => io,
            Ok(Err(source)) => {
                last = Some(ConnectError::Open { url: name, source });
                continue;
            }
            Err(_) => {
                last = Some(ConnectError::Timeout { url: name });
                continue;
            }
        };
        match conn::handshake(io, &opts, TIMEOUT).await {
            Ok(c) => return Ok((c, url.clone())),
            Err(source) => last = Some(ConnectError::Mqtt { url: name, source }),
        }
    }
    Err(last.unwrap_or(ConnectError::Timeout {
        url: "no address".to_owned(),
    }))
}

/// The SUBSCRIBE for the `in` lines (with remote prefixes); with `try_private` a v5
/// bridge asks for No Local and Retain As Published [MQTT-3.8.3-3, MQTT-3.3.1-12].
pub fn subscribe_in(cfg: &BridgeConfig) -> Option<(NonZeroU16, Packet)> {
    let private = cfg.try_private && cfg.protocol.is_v5();
    let filters: Vec<(String, SubscriptionOptions)> = cfg
        .topics
        .iter()
        .filter(|t| t.direction.inbound())
        .map(|t| {
            (
                t.remote_filter(),
                SubscriptionOptions {
                    qos: t.qos,
                    no_local: private,
                    retain_as_published: private,
                    ..SubscriptionOptions::default()
                },
            )
        })
        .collect();
    let pid = NonZeroU16::new(SUBSCRIBE_PID)?;
    (!filters.is_empty()).then(|| (pid, conn::subscribe(pid, filters, Properties::default())))
}
