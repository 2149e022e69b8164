//! CONNECT → CONNACK: the first packet under the connect timeout, identifier rules,
//! authentication, keep-alive, and the session from the router.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tracing::info;

use crate::protocol::{
    ByteStr, ConnAck, Connect, DecodeError, Packet, Properties, ProtocolVersion, ReasonCode,
};
use crate::transport::connection::{PacketReader, PacketWriter, ReadError};

use super::{Client, RECEIVE_MAXIMUM, TOPIC_ALIAS_MAXIMUM};
use crate::broker::router::{ConnectRequest, RouterMsg};
use crate::broker::stats::{ClientInfo, ClientStats};
use crate::broker::Context;

type Halves<S> = (
    PacketReader<tokio::io::ReadHalf<S>>,
    PacketWriter<tokio::io::WriteHalf<S>>,
);

/// Refuse the connection with a CONNACK carrying `reason` (v3 clients get the mapped
/// return code), then close.
async fn refuse<S: AsyncRead + AsyncWrite>(
    mut halves: Halves<S>,
    version: ProtocolVersion,
    reason: ReasonCode,
) {
    halves.1.version = version;
    halves.1.push(&Packet::ConnAck(ConnAck {
        session_present: false,
        reason,
        properties: Properties::default(),
    }));
    let _ = tokio::time::timeout(Duration::from_secs(1), halves.1.flush()).await;
    let _ = halves.1.shutdown().await;
}

pub(super) async fn connect<S>(
    stream: S,
    peer: super::Peer,
    ctx: Arc<Context>,
) -> Option<Client<S, S>>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (r, w) = tokio::io::split(stream);
    let mut reader = PacketReader::new(r, ctx.options.max_packet_size);
    let writer = PacketWriter::new(w);
    let first = tokio::time::timeout(ctx.options.connect_timeout, reader.read_packet()).await;
    let connect: Box<Connect> = match first {
        Err(_) => {
            info!("no CONNECT within the connect timeout: closing");
            return None;
        }
        Ok(Ok(Some(Packet::Connect(c)))) => c,
        Ok(Ok(Some(other))) => {
            // The first packet must be CONNECT [MQTT-3.1.0-1].
            info!(
                packet = other.name(),
                "first packet is not CONNECT: closing"
            );
            return None;
        }
        Ok(Ok(None)) => return None,
        Ok(Err(ReadError::Decode(DecodeError::UnsupportedProtocolVersion(level)))) => {
            // [MQTT-3.1.2-2]: CONNACK 0x01, then close. The client speaks no version we
            // know, so answer in the 3.1.1 encoding every 3.x client reads (as Mosquitto).
            info!(level, "unsupported protocol level: refusing");
            let v = ProtocolVersion::V3_1_1;
            refuse((reader, writer), v, ReasonCode::UnsupportedProtocolVersion).await;
            return None;
        }
        Ok(Err(e)) => {
            ctx.metrics.protocol_errors.fetch_add(1, Relaxed);
            info!(error = %e, "bad CONNECT: closing");
            return None;
        }
    };
    let version = connect.protocol;
    reader.version = version;
    let mut halves = (reader, writer);
    halves.1.version = version;
    let v5 = version.is_v5();
    let props = &connect.properties;

    // Client identifier rules [MQTT-3.1.3-6], [MQTT-3.1.3-7], [MQTT-3.1.3-8].
    let mut assigned = None;
    let client_id: Arc<str> = if connect.client_id.is_empty() {
        if v5 || (version == ProtocolVersion::V3_1_1 && connect.clean_start) {
            let id = format!("midge-{:016x}", rand_id(&ctx));
            assigned = Some(ByteStr::from(id.as_str()));
            Arc::from(id)
        } else {
            refuse(halves, version, ReasonCode::ClientIdentifierNotValid).await;
            return None;
        }
    } else {
        Arc::from(&*connect.client_id)
    };
    tracing::Span::current().record("client_id", &*client_id);

    // Enhanced authentication is not offered: any method is refused [MQTT-4.12.0-1].
    if props.authentication_method.is_some() {
        refuse(halves, version, ReasonCode::BadAuthenticationMethod).await;
        return None;
    }
    // With `identity_as_username` the verified certificate is the credential.
    let username: Option<String> = match &peer.cert_identity {
        Some(cn) => Some(cn.clone()),
        None => connect.username.as_ref().map(|u| u.to_string()),
    };
    let verdict = if peer.cert_identity.is_some() || peer.internal {
        Ok(())
    } else if ctx.options.access.authenticate_is_cheap() {
        ctx.options
            .access
            .authenticate(username.as_deref(), connect.password.as_deref())
    } else {
        // Password hashing takes milliseconds: keep it off the runtime's worker threads.
        let access = ctx.options.access.clone();
        let (user, pass) = (username.clone(), connect.password.clone());
        tokio::task::spawn_blocking(move || access.authenticate(user.as_deref(), pass.as_deref()))
            .await
            .unwrap_or(Err(ReasonCode::ServerUnavailable))
    };
    if let Err(reason) = verdict {
        ctx.metrics.auth_failures.fetch_add(1, Relaxed);
        let address = &peer.address;
        info!(username = username.as_deref().unwrap_or(""), %address, ?reason, "authentication failed");
        refuse(halves, version, reason).await;
        return None;
    }
    if let Some(will) = &connect.will {
        let user = username.as_deref();
        if !peer.internal
            && (crate::broker::access::reserved_for_broker(&will.topic)
                || ctx.options.access.has_acl()
                    && !ctx
                        .options
                        .access
                        .allow_publish(&client_id, user, &will.topic))
        {
            info!(topic = %will.topic, "will topic not allowed by the ACL: refusing");
            refuse(halves, version, ReasonCode::NotAuthorized).await;
            return None;
        }
    }

    // Keep-alive: v5 clients are told a lower value with Server Keep Alive; v3 clients
    // asking for more than the maximum are refused, as Mosquitto does.
    let max_ka = ctx.options.max_keepalive;
    let mut keep_alive = connect.keep_alive;
    let mut server_keep_alive = None;
    if max_ka < u16::MAX && (keep_alive == 0 || keep_alive > max_ka) {
        if v5 {
            keep_alive = max_ka;
            server_keep_alive = Some(max_ka);
        } else if keep_alive > max_ka {
            refuse(halves, version, ReasonCode::ClientIdentifierNotValid).await;
            return None;
        }
    }

    let session_expiry = if v5 {
        props.session_expiry_interval.unwrap_or(0)
    } else if connect.clean_start {
        0
    } else {
        u32::MAX
    };
    let window = ctx
        .options
        .max_inflight
        .min(props.receive_maximum.unwrap_or(u16::MAX));
    let conn_id = ctx.next_conn_id.fetch_add(1, Relaxed);
    ctx.metrics.connections_total.fetch_add(1, Relaxed);
    let stats = ClientStats::new(ClientInfo {
        client_id: client_id.clone(),
        address: peer.address,
        protocol: version,
        username,
        tls: peer.tls,
        keep_alive,
        connected_since: SystemTime::now(),
        clean_start: connect.clean_start,
        internal: peer.internal,
    });
    let (tx, rx) = oneshot::channel();
    let req = ConnectRequest {
        client_id: client_id.clone(),
        conn_id,
        clean_start: connect.clean_start,
        session_expiry,
        window,
        stats: stats.clone(),
        reply: tx,
    };
    if ctx
        .router
        .send(RouterMsg::Connect(Box::new(req)))
        .await
        .is_err()
    {
        refuse(halves, version, ReasonCode::ServerUnavailable).await;
        return None;
    }
    let Ok(granted) = rx.await else {
        // Another connection with this id took the slot first.
        refuse(halves, version, ReasonCode::SessionTakenOver).await;
        return None;
    };

    let mut properties = Properties::default();
    if v5 {
        properties.assigned_client_identifier = assigned;
        properties.server_keep_alive = server_keep_alive;
        properties.receive_maximum = Some(RECEIVE_MAXIMUM);
        properties.maximum_packet_size = Some(ctx.options.max_packet_size);
        properties.topic_alias_maximum = Some(TOPIC_ALIAS_MAXIMUM);
        properties.retain_available = Some(true);
        properties.wildcard_subscription_available = Some(true);
        properties.subscription_identifier_available = Some(true);
        properties.shared_subscription_available = Some(true);
    }
    halves.1.push(&Packet::ConnAck(ConnAck {
        // [MQTT-3.2.2-2]: 0 after Clean Start, else whether a session was resumed.
        session_present: granted.session_present && !connect.clean_start,
        reason: ReasonCode::Success,
        properties,
    }));
    info!(version = ?version, keep_alive, "client connected");
    let (reader, writer) = halves;
    Some(Client {
        ctx,
        reader,
        writer,
        version,
        client_id,
        conn_id,
        stats,
        session: granted.session,
        inbox: granted.inbox,
        batch: Default::default(),
        clock: None,
        will: connect.will.map(Box::new),
        session_expiry,
        keep_alive: (keep_alive > 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500)),
        aliases_in: HashMap::new(),
        aliases_out: HashMap::new(),
        alias_out_max: props.topic_alias_maximum.unwrap_or(0),
        max_out: props.maximum_packet_size.unwrap_or(u32::MAX),
        pending_acks: Default::default(),
        store_failed: false,
        rate: Default::default(),
        detail_generation: u64::MAX,
    })
}

/// A unique-enough suffix for assigned client identifiers.
fn rand_id(ctx: &Context) -> u64 {
    let n = ctx.next_conn_id.load(Relaxed);
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ n.rotate_left(32)
}
