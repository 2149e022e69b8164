//! CONNECT → CONNACK as a sequence of named steps: the first packet under the connect
//! timeout, the client identifier, authentication, the will's ACL, keep-alive,
//! registration with the router, and the CONNACK. A step that says no returns a
//! `Refusal`, answered by `refuse` in one place.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tracing::info;

use crate::protocol::{
    ByteStr, ConnAck, Connect, DecodeError, Packet, Properties, Props, ProtocolVersion, ReasonCode,
};
use crate::transport::connection::{PacketReader, PacketWriter, ReadError};

use super::error::Refusal;
use super::{close, Client, RECEIVE_MAXIMUM, TOPIC_ALIAS_MAXIMUM};
use crate::broker::message::ClientId;
use crate::broker::router::{ConnectGranted, ConnectRequest, RouterMsg};
use crate::broker::stats::{ClientInfo, ClientStats};
use crate::broker::Context;

/// Prefix of assigned client identifiers, as Mosquitto's `auto-…`.
const ASSIGNED_PREFIX: &str = "auto-";

/// The keep-alive agreed at CONNECT.
struct KeepAlive {
    /// Seconds in effect (0: none).
    secs: u16,
    /// v5: the lower value we impose, sent as Server Keep Alive.
    server: Option<u16>,
}

/// What the router granted, with what the CONNACK and the client task need.
struct Registered {
    conn_id: u64,
    stats: Arc<ClientStats>,
    granted: ConnectGranted,
    session_expiry: u32,
}

/// Run the handshake; `None` when the connection was refused (and closed).
pub(super) async fn connect<S>(
    stream: S,
    peer: super::Peer,
    ctx: Arc<Context>,
) -> Option<Client<ReadHalf<S>, WriteHalf<S>>>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (r, w) = tokio::io::split(stream);
    let mut reader = PacketReader::new(r, ctx.options.max_packet_size);
    let mut writer = PacketWriter::new(w);
    let mut connect = match first_packet(&mut reader, &ctx).await {
        Ok(c) => c,
        // The client speaks no version we know, so a refusal goes in the 3.1.1 encoding
        // every 3.x client reads (as Mosquitto).
        Err(why) => return refuse(reader, writer, ProtocolVersion::V3_1_1, &why).await,
    };
    // What came with the CONNECT (e.g. a SUBSCRIBE in the same write) arrived now.
    let read_at = crate::broker::clock::now();
    let version = connect.protocol;
    reader.version = version;
    writer.version = version;
    let steps = async {
        let (client_id, assigned) = client_id(&connect)?;
        tracing::Span::current().record("client_id", &*client_id);
        let username = authenticate(&connect, &peer, &ctx).await?;
        will_allowed(&connect, &peer, &client_id, username.as_deref(), &ctx)?;
        let keep_alive = keep_alive(&connect, ctx.options.max_keepalive)?;
        let info = ClientInfo {
            client_id: client_id.clone(),
            address: peer.address.clone(),
            protocol: version,
            username,
            tls: peer.tls,
            keep_alive: keep_alive.secs,
            connected_since: SystemTime::now(),
            clean_start: connect.clean_start,
            internal: peer.internal,
            bridge: is_bridge(&connect, &peer),
        };
        let registered = register(&connect, info, &peer, &ctx).await?;
        Ok::<_, Refusal>((client_id, assigned, keep_alive, registered))
    };
    let (client_id, assigned, keep_alive, registered) = match steps.await {
        Ok(accepted) => accepted,
        Err(why) => return refuse(reader, writer, version, &why).await,
    };
    connack(
        &mut writer,
        &connect,
        assigned,
        &keep_alive,
        &registered,
        &ctx,
    );
    info!(version = ?version, keep_alive = keep_alive.secs, "client connected");
    let props = &connect.properties;
    let (alias_out_max, max_out) = (
        props.topic_alias_maximum.unwrap_or(0),
        props.maximum_packet_size.unwrap_or(u32::MAX),
    );
    let Registered {
        conn_id,
        stats,
        granted,
        session_expiry,
    } = registered;
    let ka = u64::from(keep_alive.secs);
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
        will: connect.will.take().map(Box::new),
        session_expiry,
        // [MQTT-3.1.2-24]: 1.5 × keep-alive.
        keep_alive: (ka > 0).then(|| Duration::from_millis(ka * 1500)),
        aliases: None,
        alias_out_max,
        max_out,
        pending_acks: Default::default(),
        store_failed: false,
        rate: Default::default(),
        detail_generation: u64::MAX,
        read_at,
        last_rx: tokio::time::Instant::now(),
        park_after: super::park::PARK_MIN,
    })
}

/// Log the refusal; answer with a CONNACK carrying its reason code (v3 clients get the
/// mapped return code) when it has one, and close gracefully.
async fn refuse<S, T>(
    reader: PacketReader<ReadHalf<S>>,
    mut writer: PacketWriter<WriteHalf<S>>,
    version: ProtocolVersion,
    why: &Refusal,
) -> Option<T>
where
    S: AsyncRead + AsyncWrite,
{
    info!(reason = %why, "connection refused");
    // No reason code: closed without a CONNACK (nothing for the client to read).
    let reason = why.reason_code()?;
    writer.version = version;
    writer.push(&Packet::ConnAck(ConnAck {
        session_present: false,
        reason,
        properties: Props::default(),
    }));
    close::shut_write(&mut writer).await;
    close::drain(reader.into_inner()).await;
    None
}

/// The first packet, under the connect timeout: it must be CONNECT [MQTT-3.1.0-1].
async fn first_packet<R: AsyncRead + Unpin>(
    reader: &mut PacketReader<R>,
    ctx: &Context,
) -> Result<Box<Connect>, Refusal> {
    let first = tokio::time::timeout(ctx.options.connect_timeout, reader.read_packet()).await;
    match first {
        Err(_) => Err(Refusal::ConnectTimeout),
        Ok(Ok(Some(Packet::Connect(c)))) => Ok(c),
        Ok(Ok(Some(other))) => Err(Refusal::NotConnect(other.name())),
        Ok(Ok(None)) => Err(Refusal::Closed),
        // [MQTT-3.1.2-2]: CONNACK 0x01, then close.
        Ok(Err(ReadError::Decode(DecodeError::UnsupportedProtocolVersion(level)))) => {
            Err(Refusal::UnsupportedVersion(level))
        }
        Ok(Err(e)) => {
            ctx.metrics.protocol_errors.fetch_add(1, Relaxed);
            Err(Refusal::BadConnect(e))
        }
    }
}

/// The client identifier, and the one we assigned (sent to v5 clients in the CONNACK)
/// [MQTT-3.1.3-6], [MQTT-3.1.3-7], [MQTT-3.1.3-8].
fn client_id(connect: &Connect) -> Result<(ClientId, Option<ByteStr>), Refusal> {
    if !connect.client_id.is_empty() {
        return Ok((Arc::from(&*connect.client_id), None));
    }
    let version = connect.protocol;
    let may_assign = version.is_v5() || version == ProtocolVersion::V3_1_1 && connect.clean_start;
    if !may_assign {
        return Err(Refusal::EmptyClientId);
    }
    let id = assigned_id().map_err(Refusal::NoRandom)?;
    let assigned = version.is_v5().then(|| ByteStr::from(id.as_str()));
    Ok((Arc::from(id), assigned))
}

/// A new assigned client identifier: `auto-` and 128 random bits in hex, so one client
/// can't guess another's (with an ACL pattern on `%c` that would be its topics).
fn assigned_id() -> Result<String, getrandom::Error> {
    let mut bits = [0u8; 16];
    getrandom::fill(&mut bits)?;
    let mut id = String::with_capacity(ASSIGNED_PREFIX.len() + 32);
    id.push_str(ASSIGNED_PREFIX);
    for b in bits {
        let _ = write!(id, "{b:02x}");
    }
    Ok(id)
}

/// Check the credentials; returns the username the client acts as. With
/// `identity_as_username` the verified certificate is the credential.
async fn authenticate(
    connect: &Connect,
    peer: &super::Peer,
    ctx: &Context,
) -> Result<Option<String>, Refusal> {
    // Enhanced authentication is not offered: any method is refused [MQTT-4.12.0-1].
    if let Some(method) = &connect.properties.authentication_method {
        return Err(Refusal::AuthMethod(method.to_string()));
    }
    let username: Option<String> = match &peer.cert_identity {
        Some(cn) => Some(cn.clone()),
        None => connect.username.as_ref().map(|u| u.to_string()),
    };
    let access = &ctx.options.access;
    let verdict = if peer.cert_identity.is_some() || peer.internal || peer.bridge {
        Ok(())
    } else if access.authenticate_is_cheap() {
        access.authenticate(username.as_deref(), connect.password.as_deref())
    } else {
        // Password hashing takes milliseconds: keep it off the runtime's worker threads.
        let access = access.clone();
        let (user, pass) = (username.clone(), connect.password.clone());
        tokio::task::spawn_blocking(move || access.authenticate(user.as_deref(), pass.as_deref()))
            .await
            .unwrap_or(Err(ReasonCode::ServerUnavailable))
    };
    match verdict {
        Ok(()) => Ok(username),
        Err(reason) => {
            ctx.metrics.auth_failures.fetch_add(1, Relaxed);
            Err(Refusal::Authentication { username, reason })
        }
    }
}

/// The will's topic must be one the client may publish to, and not the broker's own.
fn will_allowed(
    connect: &Connect,
    peer: &super::Peer,
    client_id: &str,
    username: Option<&str>,
    ctx: &Context,
) -> Result<(), Refusal> {
    let Some(will) = &connect.will else {
        return Ok(());
    };
    // A bridge's own state topic is always its to report, whatever the ACL says.
    if is_bridge(connect, peer) && crate::broker::access::bridge_state_topic(&will.topic, client_id)
    {
        return Ok(());
    }
    let access = &ctx.options.access;
    if !peer.internal
        && (crate::broker::access::reserved_for_broker(&will.topic)
            || access.has_acl() && !access.allow_publish(client_id, username, &will.topic))
    {
        return Err(Refusal::WillTopic(will.topic.to_string()));
    }
    Ok(())
}

/// A bridge between brokers: ours (in-process), a 3.x one with level | 0x80, or a v5 one
/// that says so with the user property `midge-bridge`.
fn is_bridge(connect: &Connect, peer: &super::Peer) -> bool {
    peer.bridge
        || connect.bridge
        || connect
            .properties
            .user_properties
            .iter()
            .any(|(k, _)| &**k == crate::broker::access::BRIDGE_PROPERTY)
}

/// Keep-alive: v5 clients are told a lower value with Server Keep Alive; v3 clients
/// asking for more than the maximum are refused, as Mosquitto does.
fn keep_alive(connect: &Connect, max: u16) -> Result<KeepAlive, Refusal> {
    let asked = connect.keep_alive;
    if max == u16::MAX || (asked != 0 && asked <= max) {
        return Ok(KeepAlive {
            secs: asked,
            server: None,
        });
    }
    if connect.protocol.is_v5() {
        Ok(KeepAlive {
            secs: max,
            server: Some(max),
        })
    } else if asked > max {
        Err(Refusal::KeepAlive { asked, max })
    } else {
        // v3 keep-alive 0 (off) is allowed.
        Ok(KeepAlive {
            secs: asked,
            server: None,
        })
    }
}

/// Ask the router for the session; another connection with this identifier may take the
/// slot first.
async fn register(
    connect: &Connect,
    info: ClientInfo,
    peer: &super::Peer,
    ctx: &Context,
) -> Result<Registered, Refusal> {
    let max_queued = peer.max_queued;
    let props = &connect.properties;
    let session_expiry = if connect.protocol.is_v5() {
        props.session_expiry_interval.unwrap_or(0)
    } else if connect.clean_start {
        0
    } else {
        u32::MAX
    };
    // One of our bridges asks for the remote's Receive Maximum: its window is the
    // remote's, not `max_inflight` (a bridge is one connection carrying many clients').
    let cap = if peer.bridge {
        u16::MAX
    } else {
        ctx.options.max_inflight
    };
    let window = cap.min(props.receive_maximum.unwrap_or(u16::MAX));
    let conn_id = ctx.next_conn_id.fetch_add(1, Relaxed);
    ctx.metrics.connections_total.fetch_add(1, Relaxed);
    let client_id = info.client_id.clone();
    let stats = ClientStats::new(info);
    let granted = super::ask(&ctx.router, |reply| {
        RouterMsg::Connect(Box::new(ConnectRequest {
            client_id,
            conn_id,
            clean_start: connect.clean_start,
            session_expiry,
            window,
            max_queued,
            stats: stats.clone(),
            reply,
        }))
    })
    .await
    .map_err(|u| match u {
        super::Unanswered::RouterGone => Refusal::Shutdown,
        super::Unanswered::Dropped => Refusal::TakenOver,
    })?;
    Ok(Registered {
        conn_id,
        stats,
        granted,
        session_expiry,
    })
}

/// Queue the accepting CONNACK; v5 clients learn our limits from its properties.
fn connack<W: AsyncWrite + Unpin>(
    writer: &mut PacketWriter<W>,
    connect: &Connect,
    assigned: Option<ByteStr>,
    keep_alive: &KeepAlive,
    registered: &Registered,
    ctx: &Context,
) {
    let mut properties = Properties::default();
    if connect.protocol.is_v5() {
        properties.assigned_client_identifier = assigned;
        properties.server_keep_alive = keep_alive.server;
        properties.receive_maximum = Some(RECEIVE_MAXIMUM);
        properties.maximum_packet_size = Some(ctx.options.max_packet_size);
        properties.topic_alias_maximum = Some(TOPIC_ALIAS_MAXIMUM);
        properties.retain_available = Some(true);
        properties.wildcard_subscription_available = Some(true);
        properties.subscription_identifier_available = Some(true);
        properties.shared_subscription_available = Some(true);
    }
    writer.push(&Packet::ConnAck(ConnAck {
        // [MQTT-3.2.2-2]: 0 after Clean Start, else whether a session was resumed.
        session_present: registered.granted.session_present && !connect.clean_start,
        reason: ReasonCode::Success,
        properties: properties.into(),
    }));
}

#[cfg(test)]
mod tests {
    use super::{assigned_id, ASSIGNED_PREFIX};

    #[test]
    fn assigned_ids_are_128_random_bits() {
        let ids: Vec<String> = (0..64).map(|_| assigned_id().expect("random")).collect();
        for id in &ids {
            let hex = id.strip_prefix(ASSIGNED_PREFIX).expect("prefix");
            assert_eq!(hex.len(), 32, "{id}");
            assert!(hex
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "ids repeat");
        // Every one of the 128 bits varies across the ids: none is fixed (e.g. a version
        // nibble, or a clock's high bits). The chance that a random bit doesn't vary in
        // 64 draws is 2^-63 per bit.
        let bits = |id: &String| u128::from_str_radix(&id[ASSIGNED_PREFIX.len()..], 16);
        let values: Vec<u128> = ids.iter().map(|id| bits(id).expect("hex")).collect();
        let ones = values.iter().fold(0u128, |a, v| a | v);
        let zeros = values.iter().fold(0u128, |a, v| a | !v);
        assert_eq!(ones, u128::MAX, "a bit is always 0");
        assert_eq!(zeros, u128::MAX, "a bit is always 1");
    }
}
