//! A small MQTT 5 client over any byte stream, driven by dashboard commands: it
//! publishes, subscribes and unsubscribes, and streams what arrives as model events.
//! Used for the embedded dashboard's own client (the broker sees it as a client like any
//! other) and for `midge monitor`.

use std::num::NonZeroU16;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use midge_model::{Command, Event, Message};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::mqtt::conn::{self, ConnectOptions, Connected, PidAlloc};
use crate::protocol::{
    Ack, ByteStr, Packet, Properties, Props, ProtocolVersion, Publish, QoS, QosPid, Subscribe,
    SubscriptionOptions, Unsubscribe,
};

pub use crate::mqtt::ClientError;

/// How the client introduces itself.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Bytes>,
    pub keep_alive_secs: u16,
    /// MQTT 5 normally; 3.1.1 after a broker refused 5 (`midge monitor`'s fallback).
    pub protocol: ProtocolVersion,
    /// Subscribe to these at connect and report their messages as `Event::Tap`
    /// (the remote monitor's view of all traffic).
    pub tap_filters: Vec<String>,
}

/// A look at an inbound PUBLISH; `false` swallows it.
pub type Inspect = Box<dyn FnMut(&Publish) -> bool + Send>;

/// What the remote monitor adds to the plain client: a look at every inbound PUBLISH
/// before it becomes an event, extra publishes of its own, and word of the CONNACK.
#[derive(Default)]
pub struct Hooks {
    /// Sees every inbound PUBLISH first; returning `false` swallows it (no event).
    pub inspect: Option<Inspect>,
    /// Extra publishes to send as they are (e.g. admin requests), with no notice.
    pub outbound: Option<mpsc::Receiver<Publish>>,
    /// Called once when the broker accepted the connection.
    pub on_connected: Option<Box<dyn FnOnce() + Send>>,
}

/// Connect, then serve commands and inbound packets until the stream or the command
/// channel closes. Events that don't fit the channel are dropped and counted.
pub async fn drive<S>(
    stream: S,
    opts: ClientOptions,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
) -> Result<(), ClientError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    drive_with(stream, opts, commands, events, dropped, Hooks::default()).await
}

/// [`drive`] with [`Hooks`].
pub async fn drive_with<S>(
    stream: S,
    opts: ClientOptions,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
    mut hooks: Hooks,
) -> Result<(), ClientError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let mut connect = ConnectOptions::new(&opts.client_id, opts.keep_alive_secs);
    connect.protocol = opts.protocol;
    connect.username.clone_from(&opts.username);
    connect.password.clone_from(&opts.password);
    let Connected {
        mut reader,
        mut writer,
        ..
    } = conn::handshake(stream, &connect, Duration::from_secs(10)).await?;
    let v5 = opts.protocol.is_v5();
    // v3 has no subscription identifiers: the user's filters tell deliveries apart.
    let mut user_filters: Vec<String> = Vec::new();
    if let Some(f) = hooks.on_connected.take() {
        f();
    }
    let mut pids = PidAlloc::default();
    // One SUBSCRIBE per tap filter: a broker that cannot take one (rumqttd 0.20 serves
    // nothing at all for `$SYS/#` + `#` in one packet) still gets the others.
    let mut tap_pids = Vec::with_capacity(opts.tap_filters.len());
    for filter in &opts.tap_filters {
        let pid = pids.next_id();
        tap_pids.push(pid);
        writer.push(&subscribe(
            pid,
            std::slice::from_ref(filter),
            QoS::AtMostOnce,
            TAP_SUB_ID,
        ));
    }
    let mut ping =
        tokio::time::interval(Duration::from_secs(u64::from(opts.keep_alive_secs.max(1))));
    ping.tick().await;
    let send = |e: Event| {
        if events.try_send(e).is_err() {
            dropped.fetch_add(1, Relaxed);
        }
    };
    loop {
        tokio::select! {
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return Ok(()) };
                match cmd {
                    Command::Publish { topic, payload, qos, retain, content_type, response_topic, user_properties, message_expiry_secs, correlation_data } => {
                        let qos = QoS::try_from(qos).unwrap_or(QoS::AtMostOnce);
                        let properties = Properties {
                            message_expiry_interval: message_expiry_secs,
                            correlation_data,
                            content_type: content_type.as_deref().map(ByteStr::from),
                            response_topic: response_topic.as_deref().map(ByteStr::from),
                            user_properties: user_properties
                                .iter()
                                .map(|(k, v)| (ByteStr::from(k.as_str()), ByteStr::from(v.as_str())))
                                .collect(),
                            ..Properties::default()
                        };
                        writer.push(&Packet::Publish(Publish {
                            dup: false,
                            qos_pid: QosPid::new(qos, pids.next_id()),
                            retain,
                            topic: ByteStr::from(topic.as_str()),
                            properties: properties.into(),
                            payload,
                        }));
                        send(Event::Notice(format!("published to {topic}")));
                    }
                    Command::Subscribe { filter, qos } => {
                        let qos = QoS::try_from(qos).unwrap_or(QoS::AtMostOnce);
                        writer.push(&subscribe(pids.next_id(), std::slice::from_ref(&filter), qos, USER_SUB_ID));
                        if !user_filters.contains(&filter) {
                            user_filters.push(filter);
                        }
                    }
                    Command::Unsubscribe { filter } => {
                        user_filters.retain(|f| *f != filter);
                        writer.push(&Packet::Unsubscribe(Unsubscribe {
                            pid: pids.next_id(),
                            properties: Props::default(),
                            filters: vec![ByteStr::from(filter.as_str())],
                        }));
                        send(Event::Notice(format!("unsubscribed from {filter}")));
                    }
                    Command::Kick { .. } | Command::Trace { .. } => {
                        send(Event::Notice("not available from this source".into()));
                    }
                    // What the dashboard shows: only a source that pages uses it.
                    Command::Watch(_) => {}
                }
            }
            extra = next_extra(&mut hooks.outbound) => match extra {
                Some(p) => { writer.push(&Packet::Publish(p)); }
                None => hooks.outbound = None,
            },
            res = reader.read_packet() => {
                let Some(packet) = res? else { return Err(ClientError::Closed) };
                match packet {
                    Packet::Publish(p) => {
                        let keep = hooks.inspect.as_mut().is_none_or(|f| f(&p));
                        let ids = &p.properties.subscription_identifiers;
                        let (tap, delivered) = if v5 {
                            (ids.contains(&TAP_SUB_ID), ids.contains(&USER_SUB_ID) || ids.is_empty())
                        } else {
                            let mine = user_filters.iter().any(|f| midge_topic::matches(f, &p.topic));
                            (!opts.tap_filters.is_empty(), mine || opts.tap_filters.is_empty())
                        };
                        if let Some(ack) = Packet::publish_ack(p.qos_pid) {
                            writer.push(&ack);
                        }
                        if !keep {
                            writer.flush().await?;
                            continue;
                        }
                        let msg = to_message(p);
                        if tap && delivered {
                            send(Event::Tap(msg.clone()));
                        }
                        send(if tap && !delivered { Event::Tap(msg) } else { Event::Delivered(msg) });
                    }
                    Packet::PubRel(a) => {
                        writer.push(&Packet::PubComp(Ack::new(a.pid)));
                    }
                    Packet::PubRec(a) => {
                        writer.push(&Packet::PubRel(Ack::new(a.pid)));
                    }
                    Packet::SubAck(s) if !tap_pids.contains(&s.pid) => {
                        let text = match s.reasons.first() {
                            Some(r) if r.is_error() => format!("subscribe refused: {r:?}"),
                            Some(r) => format!("subscribed (granted QoS {})", *r as u8),
                            None => "subscribed".into(),
                        };
                        send(Event::Notice(text));
                    }
                    Packet::Disconnect(d) => {
                        send(Event::Notice(format!("disconnected by the broker: {:?}", d.reason)));
                        return Err(ClientError::Closed);
                    }
                    _ => {}
                }
            }
            _ = ping.tick() => {
                writer.push(&Packet::PingReq);
            }
        }
        writer.flush().await?;
    }
}

/// The next extra publish, or never when there is no such channel.
async fn next_extra(rx: &mut Option<mpsc::Receiver<Publish>>) -> Option<Publish> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// Subscription identifiers tell the tap's deliveries from the user's [MQTT-3.3.4-3].
const TAP_SUB_ID: u32 = 1;
const USER_SUB_ID: u32 = 2;

fn subscribe(pid: NonZeroU16, filters: &[String], qos: QoS, sub_id: u32) -> Packet {
    Packet::Subscribe(Subscribe {
        pid,
        properties: Props::from(Properties {
            subscription_identifiers: vec![sub_id],
            ..Properties::default()
        }),
        filters: filters
            .iter()
            .map(|f| {
                (
                    ByteStr::from(f.as_str()),
                    SubscriptionOptions {
                        qos,
                        ..Default::default()
                    },
                )
            })
            .collect(),
    })
}

fn to_message(p: Publish) -> Message {
    let props = p.properties.into_inner();
    Message {
        at_ms: super::now_ms(),
        topic: p.topic.to_string(),
        payload: p.payload,
        qos: p.qos_pid.qos() as u8,
        retain: p.retain,
        content_type: props.content_type.map(|s| s.to_string()),
        response_topic: props.response_topic.map(|s| s.to_string()),
        user_properties: props
            .user_properties
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}
